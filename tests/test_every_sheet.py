"""Checks over the output of every test sheet and the bundled sheet, solved once in this process:
the Markdown that GitHub renders, and the figures' layout."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from derive.pipeline import derive_files
from derive.render.markup import md_math
from derive.sheet.load import bundled_sheet_path, load_sheet

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

