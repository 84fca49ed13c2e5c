"""The format registry (derive.render.registry, derive.render.formats): it drives ``--format``,
``derive build`` and ``derive check``; the plain-text format; and the rule that only the pipeline
imports the printers from outside derive/render/."""

from __future__ import annotations

import ast
import io
from pathlib import Path

import pytest
from conftest import tiny_sheet

import derive
from derive import cli, pipeline
from derive.errors import InputError
from derive.io.manifest import OUTPUT_NAME, load_manifest
from derive.maths.display import TermOrder
from derive.maths.functions import symbol
from derive.render.formats import (
    FORMATS,
    Format,
    default_formats,
    format_names,
    register_format,
    unregister_format,
)
from derive.render.text import term
from derive.sheet.load import bundled_sheet_path, parse_sheet
from derive.sheet.parse import parse_expr

PACKAGE = Path(derive.__file__).parent


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(tiny_sheet(model="E = (y - t)**2"))
    return path


@pytest.fixture
def shout():
    """A throwaway format, registered for one test: each part's task name, in capitals."""
    def render(doc):
        return {"shout.md": "".join(r.part.task.upper() + "\n" for r in doc.results)}

    register_format(Format("shout", "shout.md", render, main="shout.md"))
    yield "shout"
    unregister_format("shout")


def test_defaults_and_order_come_from_the_registry():
    assert default_formats() == ("tex", "md", "json")
    assert format_names()[:3] == ("tex", "md", "json") and "text" in format_names()
    assert pipeline.choose_formats(None) == default_formats()
    assert pipeline.choose_formats("json, tex,json") == ("tex", "json")  # registry order, once
    with pytest.raises(InputError, match="tex,md,json,text"):
        pipeline.choose_formats("tex,pdf")
    with pytest.raises(ValueError, match="twice"):
        register_format(FORMATS["tex"])


def test_a_registered_format_is_built_and_checked(tiny, tmp_path, shout, capsys):
    out = tmp_path / "out"
    assert cli.main(["build", str(tiny), "--out", str(out), "--format", "shout,json"]) == 0
    assert (out / "tiny" / "shout.md").read_text() == "DERIVATIVE\n"
    assert not (out / "tiny" / "solutions.tex").exists()
    assert load_manifest(out / "tiny").formats == ("json", "shout")
    assert cli.main(["check", str(tiny), "--out", str(out)]) == 0  # the recorded formats
    (out / "tiny" / "shout.md").write_text("derivative\n")
    capsys.readouterr()
    assert cli.main(["check", str(tiny), "--out", str(out)]) == 1
    assert "+DERIVATIVE" in capsys.readouterr().out


def test_an_unregistered_format_is_refused(tiny, tmp_path, capsys):
    assert cli.main(["build", str(tiny), "--out", str(tmp_path), "--format", "shout"]) == 2
    assert "--format must be a comma-separated subset of" in capsys.readouterr().err
    assert not (tmp_path / "tiny").exists()


def test_text_format_of_a_bundled_part():
    text = bundled_sheet_path().read_text().replace("[sheet]\n", '[sheet]\ndetail = "full"\n', 1)
    sheet = parse_sheet(text, "sheet02.toml")  # every rule level: the intermediates on lines
    files = pipeline.render(sheet, pipeline.solve_sheet(sheet), ("text",))
    assert set(files) == {"solutions.txt"} | {f for f in files if f.startswith("figures/")}
    text = files["solutions.txt"]
    part = text[text.index("\n(a) (10 P)\n"):].split("\n\n")[0]  # exercise 2 (a)
    solution = part[part.index("  u_1 := cosh(y - t)"):]
    assert "  ∂E/∂y = ∂(log(u_1))/∂u_1*∂(cosh(u_2))/∂u_2*∂(y - t)/∂y    [chain rule]    (" \
        in solution
    assert "    [log(u)' = 1/u; cosh' = sinh; linear in y]    (" in solution
    assert "\nanswer: tanh(y - t)\nverified: " in solution
    assert not any(c in solution for c in "\\${}"), solution
    assert "Figure: Inputs on the left" in text and "(figures/ex1-a.svg)" in text
    # tables in columns: the header and every row start their columns at the same places
    table = text[text.index("  neuron  layer"):].split("\n")[:5]
    layer, bias = table[0].index("layer"), table[0].index("bias b")
    assert [row[layer] for row in table[1:]] == ["1", "1", "1", "2"]
    assert [row[bias:] for row in table[1:]] == ["0", "0", "0", "1"]


# --- structure: the printers are reached through the pipeline ---------------------------------
def printer_modules() -> set[str]:
    """The modules that register a format (they call register_format), and the registry of
    the built-in ones (derive.render.formats)."""
    found = {"derive.render.formats"}
    for path in (PACKAGE / "render").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
               and n.func.id == "register_format" for n in ast.walk(tree)):
            found.add(f"derive.render.{path.stem}")
    return found


def printer_imports(source: str, printers: set[str]) -> list[str]:
    """The printer modules that ``source`` imports (functions included)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name in printers]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            out += sorted(names & printers)
    return out


def test_printer_modules_are_found():
    assert {"derive.render.tex", "derive.render.markdown", "derive.render.json",
            "derive.render.text"} <= printer_modules()


def test_only_the_pipeline_imports_the_printers_from_outside_render():
    printers = printer_modules()
    offenders = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "render" or rel == Path("pipeline.py"):
            continue
        found = printer_imports(path.read_text(encoding="utf-8"), printers)
        if found:
            offenders[str(rel)] = found
    assert offenders == {}


@pytest.mark.parametrize("source", [
    "from derive.render import tex\n",
    "import derive.render.text\n",
    "def f():\n    from derive.render.formats import render\n",
    "from derive.render.json import json_text\n",
])
def test_a_planted_printer_import_is_caught(source):
    assert printer_imports(source, printer_modules())


def test_build_reports_through_the_given_streams(tiny, tmp_path):
    out, err = io.StringIO(), io.StringIO()
    assert pipeline.build([str(tiny)], tmp_path, ("text",), stdout=out, stderr=err) == 0
    assert out.getvalue().startswith("tiny: 1 parts solved and verified; wrote 1 ")
    assert (tmp_path / "tiny" / "solutions.txt").read_text().startswith("Tiny\n\nExercise 1: ")


@pytest.mark.parametrize(("name", "ours"), [
    ("solutions.txt", True), ("exercises.txt", True), ("notes.txt", False),
    ("parts/solutions.txt", False), ("figures/x.txt", False), ("solutions.md", True),
])
def test_only_the_text_formats_names_are_plain_text_outputs(name, ours):
    """A forged manifest listing a user's notes.txt with its real hash must not make it derive's
    (it would be deleted by the next build): .txt outputs are the text format's names only."""
    assert bool(OUTPUT_NAME.match(name)) is ours


@pytest.mark.parametrize(("name", "shown"), [("lambda_", "λ"), ("alpha1", "α1"), ("Omega", "Ω"),
                                             ("sigma", "σ"), ("lam", "lam"), ("w13", "w13")])
def test_text_prints_greek_names_as_letters_the_parser_reads_back(name, shown):
    assert term(symbol(name), TermOrder()) == shown
    assert parse_expr(shown) == symbol(name)
