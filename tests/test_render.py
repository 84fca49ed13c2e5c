"""The view model and the rendered files (derive.render.view and the templates), without TeX."""

from __future__ import annotations

import json
import re

import pytest

from derive.pipeline import render, solve_sheet
from derive.render.linebreak import width
from derive.render.templates import STYLE
from derive.render.view import LINE_EM, REL_EM, view
from derive.sheet.load import bundled_sheet_path, load_sheet, parse_sheet


@pytest.fixture(scope="module")
def solved():
    sheet = load_sheet(bundled_sheet_path())
    return sheet, solve_sheet(sheet)


@pytest.fixture(scope="module")
def files(solved):
    return render(*solved)


def test_every_artefact_is_rendered(solved, files):
    sheet, results = solved
    expected = {"exercises.tex", "exercises.md", "solutions.tex", "solutions.md",
                "solutions.json", STYLE}
    for ex in sheet.exercises:
        expected.add(f"parts/ex{ex.number}-intro.tex")
        for part in ex.parts:
            expected.add(f"parts/ex{ex.number}-{part.label}-statement.tex")
            expected.add(f"parts/ex{ex.number}-{part.label}-solution.tex")
    assert expected <= set(files)
    assert not [f for f in files if f.endswith(".pdf")]  # PDFs are never part of the check set


def test_formats_select_files(solved):
    only_md = render(*solved, formats=("md",))
    assert set(only_md) - {f for f in only_md if f.startswith("figures/")} == {
        "exercises.md", "solutions.md"}


def test_rendering_is_deterministic(solved, files):
    assert render(*solved) == files


def test_student_sheets_hold_statements_and_points_only(solved, files):
    sheet, _ = solved
    for name in ("exercises.tex", "exercises.md"):
        text = files[name]
        for word in ("Solution", "derivesolution", "verified", "Answer"):
            assert word not in text, (name, word)
        for ex in sheet.exercises:
            assert ex.title in text
    assert r"\derivepart{b}{15 P}" in files["exercises.tex"]
    assert "### (b) [15 P]" in files["exercises.md"]


def test_parts_appear_in_order_with_points(solved, files):
    _, results = solved
    labels = re.findall(r"\\derivepart\{(\w+)\}\{([^}]*)\}", files["solutions.tex"])
    assert labels == [(r.part.label, f"{r.part.points:g} P") for r in results]


def test_fragments_have_no_preamble_and_only_derive_macros(files):
    style = files[STYLE]
    defined = set(re.findall(r"\\newcommand\{\\(derive\w+)\}", style))
    defined |= set(re.findall(r"\\newenvironment\{(derive\w+)\}", style))
    for name, text in files.items():
        if not name.endswith(".tex"):
            continue
        used = set(re.findall(r"\\(derive[a-z]+)", text)) | set(
            re.findall(r"\\begin\{(derive[a-z]+)\}", text))
        assert used <= defined, (name, used - defined)
        if name.startswith("parts/"):
            code = re.sub(r"(?<!\\)%.*", "", text)
            for forbidden in (r"\documentclass", r"\begin{document}", r"\usepackage", r"\label"):
                assert forbidden not in code, (name, forbidden)
    for name in ("solutions.tex", "exercises.tex"):
        assert r"\usepackage{derive}" in files[name]


def test_style_loads_only_base_recommended_and_pictures_packages(files):
    allowed = {"amsmath", "amssymb", "mathtools", "graphicx", "xcolor", "booktabs", "tikz"}
    loaded = set()
    for names in re.findall(r"\\RequirePackage(?:\[[^]]*\])?\{([^}]*)\}", files[STYLE]):
        loaded |= {n.strip() for n in names.split(",")}
    assert loaded <= allowed
    assert r"\ProvidesPackage{derive}" in files[STYLE]


def test_rows_fit_the_line(solved):
    """Every derivation row fits LINE_EM (estimated), unless it is one unbreakable piece."""
    v = view(*solved)
    for ex in v["exercises"]:
        for part in ex["parts"]:
            blocks = [b for b in part["blocks"] if b["kind"] == "align"]
            for rows in [b["rows"] for b in blocks] + [part["answer"]]:
                lhs = max((width(r["lhs"]) for r in rows), default=0)
                for r in rows:
                    assert lhs + REL_EM + width(r["rhs"]) <= LINE_EM + 1, (part["stem"], r["rhs"])


def test_long_lines_are_broken_into_continuation_rows():
    text = bundled_sheet_path().read_text().replace("[sheet]\n", '[sheet]\ndetail = "full"\n', 1)
    sheet = parse_sheet(text, "sheet02.toml")  # at full detail 3b's closed form is long
    v = view(sheet, solve_sheet(sheet))
    part = v["exercises"][2]["parts"][1]  # 3b, the backward pass
    continued = [r for b in part["blocks"] if b["kind"] == "align" for r in b["rows"]
                 if not r["lhs"] and not r["rel"]]
    assert continued
    assert all(re.sub(r"^(\\quad )*", "", r["rhs"]).startswith(("{}+", "{}-", r"{}\cdot"))
               for r in continued)


def test_answers_are_shown_with_what_they_are(solved):
    v = view(*solved)
    answer = v["exercises"][1]["parts"][0]["answer"]  # 2a
    assert [(r["lhs"], r["rhs"]) for r in answer] == [(r"\frac{\partial E}{\partial y}",
                                                       r"\tanh(y - t)")]
    both = v["exercises"][3]["parts"][1]["answer"]  # 4b: two gradients
    assert [r["lhs"] for r in both if r["lhs"]] == [
        r"\frac{\partial E}{\partial w_{13}}", r"\frac{\partial E}{\partial w_{24}}"]


def test_verified_mark_is_short_and_json_keeps_the_detail(files):
    marks = re.findall(r"\\deriveverified\{(.*)\}", files["solutions.tex"])
    assert marks and all(len(m) <= 80 for m in marks), marks
    assert any("answer = sympy.diff" in m for m in marks)
    doc = json.loads(files["solutions.json"])
    part = doc["exercises"][1]["parts"][2]  # 2c
    assert len(part["verified_by"]) > len(part["verified_summary"])
    assert "sympy.diff" in part["verified_by"]


def test_network_table_and_solution_write_products_as_the_sheet_does(tmp_path):
    """The network table of a sheet that writes w11*x1 and w12*x1 showed 'w_{11} x_{1} + ...'
    next to 'x_{1} w_{12} + ...'."""
    from derive.sheet.load import parse_sheet

    sheet = parse_sheet("""
[sheet]
id = "order"
title = "t"
[[exercise]]
title = "t"
text = "t"
model = ["z1 = w11*x1 + w21*x2 + b1", "a1 = tanh(z1)", "z2 = w12*x1 + w22*x2 + b2",
         "a2 = tanh(z2)", "y = v1*a1 + v2*a2"]
[[exercise.part]]
points = 1
text = "t"
task = "network"
of = "y"
""", "order.toml")
    v = view(sheet, solve_sheet(sheet))
    part = v["exercises"][0]["parts"][0]
    cells = [c["math"] for b in part["blocks"] if b["kind"] == "table" for row in b["rows"]
             for c in row if "+" in c["math"]]
    assert cells == [r"w_{11} x_{1} + w_{21} x_{2} + b_{1}", r"w_{12} x_{1} + w_{22} x_{2} + b_{2}",
                     r"v_{1} a_{1} + v_{2} a_{2}"]
    rows = [r["rhs"] for b in part["blocks"] if b["kind"] == "align" for r in b["rows"]]
    assert r"w_{12} x_{1} + w_{22} x_{2} + b_{2}" in rows


def test_a_display_breaks_across_pages_only_between_whole_rows():
    """Displays may break across pages (a long Answer block fell off the page), but never inside
    a row broken into continuation rows, nor after the first or before the last row."""
    from derive.render.templates import environment, style_text

    def row(lhs):
        return {"lhs": lhs, "rel": "=" if lhs else "", "rhs": "x", "rule_tex": "", "rule_md": ""}

    rows = [row("a"), row("b"), row(""), row("c"), row("d"), row("e")]
    tex = environment("tex").get_template("blocks.tex.j2").module.rows(rows)
    ends = re.findall(r"(\\\\\*?)\n", tex)
    assert ends == ["\\\\*", "\\\\*", "\\\\", "\\\\", "\\\\*"]
    style = style_text()
    solution = style[style.index(r"\newenvironment{derivesolution}"):]
    assert r"\allowdisplaybreaks" in solution.split("\n\n")[0]


# --- Markdown ------------------------------------------------------------------------------------
def _math_spans(md: str) -> list[str]:
    blocks = re.findall(r"^\$\$\n(.*?)\n\$\$$", md, re.S | re.M)
    rest = re.sub(r"^\$\$\n.*?\n\$\$$", "", md, flags=re.S | re.M)
    return blocks + re.findall(r"(?<![\\$])\$([^$\n]+?)\$", rest)


@pytest.mark.parametrize("name", ["solutions.md", "exercises.md"])
def test_markdown_math_is_github_and_mkdocs_safe(files, name):
    md = files[name]
    for line in md.splitlines():
        if "$$" in line:
            assert line == "$$", line  # $$ blocks on their own lines
    spans = _math_spans(md)
    assert len(spans) > 20
    for span in spans:
        if r"\\" in span:
            assert span.startswith(r"\begin{aligned}") or span.startswith(r"\begin{array}"), span
        assert not re.search(r"(?<![A-Za-z0-9\\])_", span), span  # no emphasis openers
        assert "<" not in span and ">" not in span and "*" not in span, span


def test_markdown_figures_by_relative_path(files):
    refs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", files["solutions.md"])
    assert refs
    for ref in refs:
        assert not ref.startswith(("/", "http")) and ref in files
