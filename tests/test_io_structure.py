"""The structure of derive/io/: no import inside a function, neither render/ nor verify/ among its
imports (the caller passes the formats and pauses the CPU budget), and no use of another module's
underscore names from derive.io anywhere in derive/ or tests/."""

from __future__ import annotations

import ast
import json
import signal
import threading
from pathlib import Path

import pytest
from conftest import ROOT, tiny_sheet

from derive import cli
from derive.io import writer
from derive.io.manifest import MANIFEST, manifest_text, recorded_formats

IO = ROOT / "derive" / "io"
IO_MODULES = sorted(IO.glob("*.py"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(tree: ast.AST, module: str) -> set[str]:
    """The modules an AST imports (relative imports resolved against ``module``)."""
    package = module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)  # `from derive.io import x`
    return found


def _source(module: str) -> Path | None:
    path = ROOT.joinpath(*module.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@pytest.mark.parametrize("path", IO_MODULES, ids=lambda p: p.name)
def test_no_import_inside_a_function(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    inner = [f"{path.name}:{node.lineno}" for fn in ast.walk(tree)
             if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
             for node in ast.walk(fn) if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert not inner, f"imports inside functions: {inner}"


def test_io_imports_neither_render_nor_verify():
    """Everything derive/io/ imports, transitively inside derive, stays out of render/ and
    verify/."""
    seen: set[str] = set()
    todo = [_module_name(p) for p in IO_MODULES]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        source = _source(module)
        if source is None:
            continue
        for name in _imported(ast.parse(source.read_text(encoding="utf-8")), module):
            if name == "derive" or name.startswith("derive."):
                todo.append(name)
    bad = sorted(m for m in seen if m.startswith(("derive.render", "derive.verify")))
    assert not bad, f"derive/io/ reaches {bad}"
    assert "derive.io.writer" in seen and "derive.errors" in seen  # the walk did walk


def _private_uses(path: Path) -> list[str]:
    """Uses in ``path`` of an underscore name of a derive.io module other than its own: imported
    by name, read as an attribute, or patched by name (``monkeypatch.setattr(mod, "_x", ...)``)."""
    module = _module_name(path) if path.is_relative_to(ROOT / "derive") else path.stem
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases: dict[str, str] = {}  # local name -> derive.io module
    uses = []

    def private(name: str) -> bool:
        return name.startswith("_") and not name.startswith("__")

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative, inside derive/
                anchor = module.rsplit(".", node.level)[0]
                base = f"{anchor}.{base}" if base else anchor
            for a in node.names:
                if base == "derive.io":
                    aliases[a.asname or a.name] = f"derive.io.{a.name}"
                elif base.startswith("derive.io.") and base != module and private(a.name):
                    uses.append(f"{path.name}:{node.lineno}: from {base} import {a.name}")
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("derive.io.") and a.asname:
                    aliases[a.asname] = a.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and aliases.get(node.value.id, module) != module and private(node.attr):
            uses.append(f"{path.name}:{node.lineno}: {node.value.id}.{node.attr}")
        elif isinstance(node, ast.Call) and len(node.args) >= 2 \
                and isinstance(node.args[0], ast.Name) and node.args[0].id in aliases \
                and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str) \
                and private(node.args[1].value):
            uses.append(f"{path.name}:{node.lineno}: {node.args[0].id}, {node.args[1].value!r}")
    return uses


def test_no_use_of_another_modules_private_names_from_derive_io():
    paths = sorted((ROOT / "derive").rglob("*.py")) + sorted((ROOT / "tests").glob("*.py"))
    uses = [use for path in paths for use in _private_uses(path)]
    assert not uses, "underscore names of derive.io used elsewhere:\n" + "\n".join(uses)


def test_the_private_name_check_finds_each_kind_of_use(tmp_path):
    """The check above can fail: each of the three kinds of use is found."""
    probe = tmp_path / "probe.py"
    probe.write_text("from derive.io import writer\nfrom derive.io.safefs import _O_NOFOLLOW\n"
                     "writer._jobs([])\nmonkeypatch.setattr(writer, '_locked', None)\n"
                     "writer.write_new\n")
    assert sorted(u.split(": ", 1)[1] for u in _private_uses(probe)) == [
        "from derive.io.safefs import _O_NOFOLLOW", "writer, '_locked'", "writer._jobs"]


# --- what the caller now passes in -------------------------------------------------------------
def test_manifest_records_the_formats_as_given(tmp_path):
    """io/ knows no format registry: the manifest records the formats the caller passes, and
    ``recorded_formats`` trusts only those in the registry it is given."""
    files = {"solutions.md": "x\n"}
    assert json.loads(manifest_text(files, ("md", "tex")))["formats"] == ["md", "tex"]
    assert "formats" not in json.loads(manifest_text(files))
    (tmp_path / MANIFEST).write_text(manifest_text(files, ("md", "tex")))
    assert recorded_formats(tmp_path, ("tex", "md", "json")) == ("md", "tex")
    assert recorded_formats(tmp_path, ("md", "json")) is None  # "tex" is unknown to it
    assert recorded_formats(tmp_path / "absent", ("md",)) is None


def test_build_writes_with_the_cpu_budget_paused(tmp_path, monkeypatch, capsys):
    """``derive build`` checks the folders inside its CPU budget and writes with it paused (io/
    does not pause it itself), and records the formats in the registry's order."""
    if threading.current_thread() is not threading.main_thread() \
            or not hasattr(signal, "ITIMER_VIRTUAL"):
        pytest.skip("the CPU budget runs only in the main thread, with a virtual timer")
    monkeypatch.setenv("DERIVE_TIME_LIMIT", "600")
    timers: dict[str, float] = {}
    real_validate, real_write = writer.validate_outputs, writer.write_many

    def validate(folder, files):
        timers["validate"] = signal.getitimer(signal.ITIMER_VIRTUAL)[0]
        return real_validate(folder, files)

    def write(specs):
        timers["write"] = signal.getitimer(signal.ITIMER_VIRTUAL)[0]
        return real_write(specs)

    monkeypatch.setattr(writer, "validate_outputs", validate)
    monkeypatch.setattr(writer, "write_many", write)
    src = tmp_path / "tiny.toml"
    src.write_text(tiny_sheet())
    out = tmp_path / "out"
    assert cli.main(["build", str(src), "--out", str(out), "--format", "md,tex,md"]) == 0
    assert timers["validate"] > 0 and timers["write"] == 0
    manifest = json.loads((out / "tiny" / MANIFEST).read_text())
    assert manifest["formats"] == ["tex", "md"]
    capsys.readouterr()
    assert cli.main(["check", str(src), "--out", str(out)]) == 0
    assert "0 files drifted: clean" in capsys.readouterr().out
