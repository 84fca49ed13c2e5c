"""Checks over the output of every test sheet and the bundled sheet, solved once in this process:
the Markdown that GitHub renders, and the figures' layout."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

import pytest
from conftest import need_tool

from derive.pipeline import derive_files
from derive.render.figures.draw import draw
from derive.render.figures.layout import Diagram, label_clashes, network_diagram, region_plot
from derive.render.markup import md_math
from derive.sheet.load import bundled_sheet_path, load_sheet
from derive.steps import Figure, NetworkDrawing

SHEETS = [bundled_sheet_path(), *sorted((Path(__file__).parent / "sheets").glob("*.toml"))]
MATH = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$", re.S)


@pytest.fixture(scope="module")
def derived():
    """path stem -> (sheet, results, {file: text}) with the Markdown format."""
    out = {}
    for path in SHEETS:
        sheet = load_sheet(str(path))
        results, files = derive_files(sheet, ("md",))
        out[path.stem] = (sheet, results, files)
    return out


def math_spans(markdown: str) -> list[str]:
    """Every math span of a Markdown text (``$$`` blocks and inline ``$...$``)."""
    return [m.group(1) or m.group(2) for m in MATH.finditer(markdown)]


def test_markdown_math_spans_are_found():
    spans = math_spans("a $x \\lbrace$ b\n\n$$\ny\n$$\n")
    assert spans == ["x \\lbrace", "\ny\n"]


@pytest.mark.parametrize("tex, md", [
    (r"t \in \{0, 1\}", r"t \in \lbrace0, 1\rbrace"),
    (r"\{x_1 \lt 1\} \cup \{a\}", r"\lbrace x_1 \lt 1\rbrace \cup \lbrace a\rbrace"),
    (r"\left\{x\right\}", r"\left\lbrace x\right\rbrace"),
    (r"a \\{b}", r"a \\{b}"),  # a row break before a group stays as it is
    (r"\text{for}\: z \, \!x\;y",
     r"\text{for}\mskip4mu{} z \thinspace \negthinspace x\mskip5mu{}y"),
])
def test_escaped_braces_become_words_github_keeps(tex, md):
    assert md_math(tex) == md


def test_no_escaped_brace_in_any_markdown_math(derived):
    """GitHub drops the backslash of ``\\{`` in math: the set braces of region descriptions and
    of statements (``t \\in \\{0, 1\\}``) must be written ``\\lbrace``/``\\rbrace``, and the
    spaces ``\\,``, ``\\:`` (``\\text{for}\\: z``) as control words."""
    seen = 0
    for stem, (_, _, files) in derived.items():
        for name in ("solutions.md", "exercises.md"):
            for span in math_spans(files[name]):
                seen += 1
                assert not re.search(r"(?<!\\)(\\\\)*\\[{},;:!]", span), (stem, name, span)
    assert seen > 1000
    braces = sum(files["solutions.md"].count(r"\lbrace") for _, _, files in derived.values())
    assert braces >= 10  # the sets are still there, as words



# --- figures ------------------------------------------------------------------------------------
def _layouts(derived):
    for stem, (_, results, _) in derived.items():
        for r in results:
            for block in r.solution.blocks if r.solution else ():
                if isinstance(block, Figure):
                    m = block.model
                    if isinstance(m, NetworkDrawing):
                        yield stem, block.stem, network_diagram(m.net, m.notation, m.names)
                    else:
                        yield stem, block.stem, region_plot(m.analysis, m.classes, m.notation,
                                                            m.points)


def test_no_figure_label_overlaps_another_or_crosses_an_edge(derived):
    """Checked on the layout model of every figure of every test sheet."""
    layouts = list(_layouts(derived))
    assert len(layouts) >= 20
    assert {type(d).__name__ for _, _, d in layouts} == {"Diagram", "Plot"}
    problems = [(stem, fig, p) for stem, fig, d in layouts for p in label_clashes(d)]
    assert not problems, problems


def test_the_clash_check_sees_overlaps_and_edges(derived):
    stem, fig, d = next(x for x in _layouts(derived) if isinstance(x[2], Diagram))
    first, second = d.edges[0].text, next(e.text for e in d.edges[1:] if e.text)
    moved = dataclasses.replace(d, edges=(dataclasses.replace(d.edges[0], text=first),
                                          dataclasses.replace(d.edges[1], text=dataclasses.replace(
                                              second, at=first.at)), *d.edges[2:]))
    assert any("overlaps" in p for p in label_clashes(moved))
    small = dataclasses.replace(d, frame=dataclasses.replace(d.frame, x1=d.frame.x1 - 2))
    assert any("crosses the figure's edge" in p for p in label_clashes(small))


def test_a_symbolic_bias_is_labelled_by_itself(derived):
    """A bias that is a symbol reads b (or b_3), never b = b; a number reads b = 1/2."""
    seen = set()
    for _, _, d in _layouts(derived):
        if not isinstance(d, Diagram):
            continue
        for n in d.nodes:
            for t in n.texts:
                tex = "".join(p.tex for p in t.label.parts)
                assert not re.fullmatch(r"b = (b|b_\{\d+\})", tex), tex
                seen.add("symbol" if "=" not in tex and tex.startswith("b") else
                         "number" if tex.startswith("b = ") else "other")
    assert {"symbol", "number"} <= seen


# --- region figures: threshold, class names, data points ------------------------------------------
def test_a_threshold_reaches_the_legend_and_the_alt_text(derived):
    sheet, results, files = derived["regions_threshold"]
    (plot,) = [d for stem, _, d in _layouts({"regions_threshold": derived["regions_threshold"]})]
    legend = [t.text.label for t in plot.legend]
    tex = ["".join(p.tex for p in lab.parts) for lab in legend]
    assert r"XOR false: y < \frac{1}{2}" in tex and r"XOR true: y > \frac{1}{2}" in tex
    assert r"decision boundary y = \frac{1}{2}" in tex
    md = files["solutions.md"]
    assert "![Decision regions in the window; the boundary y = 1/2 is thick" in md
    assert "XOR false (2 connected parts, unbounded):" in md  # as written, not "Xor false"
    assert "y < 0" not in md and "y \\lt 0" not in md


def test_data_points_are_marked_inside_the_window(derived):
    _, results, _ = derived["regions_threshold"]
    (plot,) = [d for _, _, d in _layouts({"regions_threshold": derived["regions_threshold"]})]
    assert len(plot.points) == 4
    assert any(s.kind == "point" for s in plot.legend)
    (figure,) = [b for r in results for b in r.solution.blocks if isinstance(b, Figure)]
    model = figure.model
    assert model.points == ((0, 0), (1, 1), (1, 0), (0, 1))
    outside = region_plot(model.analysis, model.classes, model.notation, [(5, 5), (0, 0)])
    assert len(outside.points) == 1
    (lo, hi) = (plot.lo, plot.hi)
    assert all(lo.x <= q.x <= hi.x and lo.y <= q.y <= hi.y for q in plot.points)
    svg = draw(model).svg
    assert svg.count("<circle") == 5  # four points and the legend's mark


# --- PDF: no line of any sheet runs past the text block -------------------------------------------
@pytest.mark.slow  # one pdflatex run per sheet: about a minute (CI runs -m slow)
@pytest.mark.tex
@pytest.mark.parametrize("path", SHEETS, ids=[p.stem for p in SHEETS])
def test_no_line_runs_past_the_page(path, tmp_path):
    """Every test sheet's standalone solutions compile with no overfull line: long formulas
    break (a rational coefficient before a sum included), long rules wrap."""
    need_tool("pdflatex", "DERIVE_REQUIRE_TEX")
    sheet = load_sheet(str(path))
    _, files = derive_files(sheet, ("tex",))
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                           "-no-shell-escape", "solutions.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    log = (tmp_path / "solutions.log").read_text(encoding="utf-8", errors="replace")
    assert proc.returncode == 0, "\n".join(log.splitlines()[-30:])
    overfull = [float(x) for x in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]
    assert all(x <= 1.0 for x in overfull), overfull
