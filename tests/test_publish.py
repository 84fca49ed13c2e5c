"""Publishing checks with the real tools: pdflatex on every generated .tex and on host documents
in other classes, MathJax on every math span of the Markdown, `derive build --pdf`, and drift
detection by `derive check` in every artefact.

TeX tests skip without pdflatex and fail instead when DERIVE_REQUIRE_TEX=1; the MathJax test
skips without node (or without `npm ci` in tests/mathjax) and fails instead when
DERIVE_REQUIRE_NODE=1. CI sets both.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, need_tool, run_cli

from derive.io import pdf
from derive.io.compare import compare_outputs
from derive.io.manifest import read_manifest

HOSTS = ROOT / "tests" / "hosts"
MATHJAX = ROOT / "tests" / "mathjax"
# A4 with a 16 cm text block: nothing may be set right of it (bp); microtype lets punctuation
# protrude up to about 3pt, which is intended
TEXT_RIGHT_BP = (595.276 + 16 / 2.54 * 72) / 2 + 3.5


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    """A fresh `derive build` of the bundled sheet: OUT/sheet02."""
    folder = tmp_path_factory.mktemp("publish")
    proc = run_cli("build", "--out", str(folder / "output"))
    assert proc.returncode == 0, proc.stderr
    return folder / "output" / "sheet02"


def _compile(folder: Path, name: str) -> str:
    """pdflatex twice in a copy-free folder; returns the log of the last run."""
    for _ in range(2):
        proc = subprocess.run(
            ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", name],
            cwd=folder, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
        log = (folder / name).with_suffix(".log").read_text(encoding="utf-8", errors="replace")
        assert proc.returncode == 0, f"{name} failed:\n" + "\n".join(log.splitlines()[-40:])
    return log


def _workdir(out: Path, tmp_path: Path) -> Path:
    work = tmp_path / "work"
    shutil.copytree(out, work)
    return work


def _assert_clean(log: str, name: str, overfull_limit_pt: float = 0.0) -> None:
    assert not re.search(r"^! ", log, re.M), name
    assert "undefined" not in log.lower(), name
    assert "Rerun to get" not in log and "There were undefined references" not in log, name
    overfull = [float(x) for x in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]
    assert all(x <= overfull_limit_pt for x in overfull), (name, overfull)


@pytest.mark.tex
@pytest.mark.parametrize("name", ["solutions.tex", "exercises.tex"])
def test_standalone_documents_compile_without_overfull_boxes(out, tmp_path, name):
    need_tool("pdflatex", "DERIVE_REQUIRE_TEX")
    work = _workdir(out, tmp_path)
    log = _compile(work, name)
    _assert_clean(log, name)
    assert "Underfull" not in log or name == "exercises.tex"


@pytest.mark.tex
def test_nothing_is_set_outside_the_text_block(out, tmp_path):
    """What the reader sees: no word of solutions.pdf right of the 16 cm text block."""
    need_tool("pdflatex", "DERIVE_REQUIRE_TEX")
    need_tool("pdftotext", "DERIVE_REQUIRE_TEX")
    work = _workdir(out, tmp_path)
    _compile(work, "solutions.tex")
    subprocess.run(["pdftotext", "-bbox", "solutions.pdf", "words.html"], cwd=work, check=True,
                   timeout=120)
    html = (work / "words.html").read_text(encoding="utf-8")
    boxes = re.findall(r'xMax="([\d.]+)" yMax="[\d.]+">([^<]*)<', html)
    assert len(boxes) > 500
    outside = [word for x, word in boxes if float(x) > TEXT_RIGHT_BP]
    assert not outside, outside


@pytest.mark.tex
def test_every_fragment_and_figure_compiles(out, tmp_path):
    """Every generated .tex that is not a document: parts/*.tex and figures/*.tex, \\input into
    one article."""
    need_tool("pdflatex", "DERIVE_REQUIRE_TEX")
    work = _workdir(out, tmp_path)
    inputs = sorted(p.relative_to(work).as_posix() for p in work.glob("parts/*.tex"))
    inputs += sorted(p.relative_to(work).as_posix() for p in work.glob("figures/*.tex"))
    assert len(inputs) > 20
    body = "\n".join(f"\\input{{{p}}}" for p in inputs)
    (work / "all-fragments.tex").write_text(
        "\\documentclass{article}\n\\usepackage{derive}\n\\begin{document}\n"
        f"{body}\n\\end{{document}}\n")
    log = _compile(work, "all-fragments.tex")
    assert not re.search(r"^! ", log, re.M)
    assert "undefined" not in log.lower()


@pytest.mark.tex
@pytest.mark.parametrize("host", sorted(p.name for p in HOSTS.glob("*.tex")))
def test_host_documents_in_other_classes_compile(out, tmp_path, host):
    """A course document that is not an article \\input's fragments with \\usepackage{derive}."""
    need_tool("pdflatex", "DERIVE_REQUIRE_TEX")
    source = (HOSTS / host).read_text(encoding="utf-8")
    cls = re.search(r"\\documentclass(?:\[[^]]*\])?\{(\w+)\}", source).group(1)
    assert cls != "article"
    assert r"\usepackage{derive}" in source
    assert len(re.findall(r"\\input\{parts/", source)) >= 3
    work = _workdir(out, tmp_path)
    shutil.copy(HOSTS / host, work / host)
    log = _compile(work, host)
    assert not re.search(r"^! ", log, re.M), host
    assert "undefined" not in log.lower(), host
    assert "There were undefined references" not in log


@pytest.mark.tex
def test_a_display_longer_than_a_page_breaks_between_rows(tmp_path):
    """An Answer block of many gradients (a `wrt = "all"` part) used to be one unbreakable align*:
    rows fell off the page ('Overfull \\vbox (666pt too high)'). Every row must reach the PDF, and a
    row's continuation rows stay on its page."""
    need_tool("pdflatex", "DERIVE_REQUIRE_TEX")
    need_tool("pdftotext", "DERIVE_REQUIRE_TEX")
    from derive.render.templates import environment, style_text

    rows = []
    for k in range(1, 41):
        rows.append({"lhs": rf"\frac{{\partial E}}{{\partial w_{{{k}}}}}", "rel": "=",
                     "rhs": rf"a_{{{k}}} (y - t)", "rule_tex": "", "rule_md": ""})
        rows.append({"lhs": "", "rel": "", "rhs": rf"{{}}\cdot \mathrm{{row}}_{{{k}}}",
                     "rule_tex": "", "rule_md": ""})
    part = {"task": "backprop", "blocks": [], "answer": rows,
            "verified_tex": "test"}
    body = environment("tex").get_template("blocks.tex.j2").module.solution(part)
    assert body.count("\\\\*") == 40  # each row is tied to its continuation
    (tmp_path / "derive.sty").write_text(style_text())
    (tmp_path / "long.tex").write_text(
        "\\documentclass{article}\n\\usepackage{derive}\n\\begin{document}\n"
        f"{body}\n\\end{{document}}\n")
    log = _compile(tmp_path, "long.tex")
    assert "Overfull \\vbox" not in log
    subprocess.run(["pdftotext", "-layout", "long.pdf"], cwd=tmp_path, check=True, timeout=60)
    pages = [p for p in (tmp_path / "long.txt").read_text(encoding="utf-8").split("\f")
             if p.strip()]
    assert len(pages) >= 2
    assert [p.count("row") for p in pages] == [p.count("∂E") for p in pages]
    assert sum(p.count("row") for p in pages) == 40


def test_host_classes_cover_report_and_beamer():
    classes = {re.search(r"\\documentclass(?:\[[^]]*\])?\{(\w+)\}", p.read_text()).group(1)
               for p in HOSTS.glob("*.tex")}
    assert {"report", "beamer"} <= classes


# --- PDF -----------------------------------------------------------------------------------------
@pytest.mark.tex
def test_build_pdf_writes_pdfs_listed_in_the_manifest(tmp_path):
    need_tool("pdflatex", "DERIVE_REQUIRE_TEX")
    proc = run_cli("build", "--pdf", "--out", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    folder = tmp_path / "o" / "sheet02"
    for name in ("solutions.pdf", "exercises.pdf"):
        assert (folder / name).read_bytes().startswith(b"%PDF")
    assert {"solutions.pdf", "exercises.pdf"} <= set(read_manifest(folder))
    assert not list(folder.glob("*.aux")) and not list(folder.glob("*.log"))
    check = run_cli("check", "--out", str(tmp_path / "o"))
    assert check.returncode == 0, check.stdout


def test_pdf_without_tex_is_a_notice_not_a_failure(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pdf.shutil, "which", lambda name: None)
    (tmp_path / "solutions.tex").write_text(
        r"\documentclass{article}\begin{document}x\end{document}")
    assert pdf.compile_pdfs(tmp_path, ["solutions.tex"]) is True
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "pdflatex is not installed" in err
    assert not (tmp_path / "solutions.pdf").exists()


@pytest.mark.tex
def test_pdf_reports_latex_errors(tmp_path, capsys):
    need_tool("pdflatex", "DERIVE_REQUIRE_TEX")
    (tmp_path / "bad.tex").write_text("\\documentclass{article}\\begin{document}\\nosuchmacro\n"
                                      "\\end{document}\n")
    assert pdf.compile_pdfs(tmp_path, ["bad.tex"]) is False
    assert "nosuchmacro" in capsys.readouterr().err
    assert not (tmp_path / "bad.pdf").exists()


# --- Markdown through MathJax --------------------------------------------------------------------
@pytest.mark.node
def test_every_markdown_math_span_renders_in_mathjax(out):
    need_tool("node", "DERIVE_REQUIRE_NODE")
    if not (MATHJAX / "node_modules" / "mathjax-full").is_dir():
        message = "tests/mathjax/node_modules is missing: run `npm ci` in tests/mathjax"
        if os.environ.get("DERIVE_REQUIRE_NODE") == "1":
            pytest.fail(message)
        pytest.skip(message)
    proc = subprocess.run(["node", str(MATHJAX / "check.mjs"), str(out / "solutions.md"),
                           str(out / "exercises.md")], capture_output=True, text=True, timeout=300)
    report = json.loads(proc.stdout)
    assert report["errors"] == [], json.dumps(report["errors"][:5], indent=1)
    assert proc.returncode == 0
    assert report["spans"] > 200


# --- drift ---------------------------------------------------------------------------------------
def test_check_compares_every_artefact(out, tmp_path):
    """A change to any file `derive build` wrote (fragments and derive.sty included) is drift."""
    from derive.pipeline import render, solve_sheet
    from derive.sheet.load import bundled_sheet_path, load_sheet

    sheet = load_sheet(bundled_sheet_path())
    files = render(sheet, solve_sheet(sheet))
    assert set(files) == set(read_manifest(out))
    work = _workdir(out, tmp_path)
    assert compare_outputs(work, files) == {}
    for rel in files:
        path = work / rel
        original = path.read_text(encoding="utf-8")
        path.write_text(original + "% edited by hand\n", encoding="utf-8")
        assert set(compare_outputs(work, files)) == {rel}, rel
        path.unlink()
        assert set(compare_outputs(work, files)) == {rel}, rel
        path.write_text(original, encoding="utf-8")


def test_derive_check_reports_a_drifted_fragment_and_style(out, tmp_path):
    root = tmp_path / "o"
    shutil.copytree(out, root / "sheet02")
    (root / "sheet02" / "parts" / "ex2-a-solution.tex").write_text("edited\n")
    (root / "sheet02" / "derive.sty").unlink()
    proc = run_cli("check", "--out", str(root))
    assert proc.returncode == 1
    assert "ex2-a-solution.tex" in proc.stdout and "derive.sty: missing" in proc.stdout
