"""Statement markup to LaTeX and Markdown (derive.render.markup)."""

from __future__ import annotations

import re

import pytest

from derive.errors import InputError
from derive.render.markup import md_math, parse_markup, to_math, to_md, to_tex


def test_text_is_escaped_and_math_passes_through():
    assert to_tex(r"50% of $x_1$ & *more* #1") == r"50\% of $x_1$ \& \emph{more} \#1"
    assert to_md(r"a_b *c* $x_1$") == r"a\_b *c* $x_1$"


def test_a_display_stays_in_its_paragraph():
    """No blank line before a display (an empty paragraph, a page break above it)."""
    assert to_tex("We define\n$$E = 1$$\nState it.") == "We define\n\\[\nE = 1\n\\]\nState it."
    assert to_tex("A $$E$$\n\nNew paragraph.") == "A\n\\[\nE\n\\]\n\nNew paragraph."


def test_markdown_displays_are_blocks_on_their_own_lines():
    md = to_md("We define $$E = \\log\\cosh(y - t).$$ This error")
    assert "\n\n$$\nE = \\log\\cosh(y - t).\n$$\n\n" in md


@pytest.mark.parametrize(
    "hostile",
    [r"$\input{/etc/passwd}$", r"$\write18{rm -rf /}$", r"$\catcode`\^=7$", "$^^5c$",
     r"$\begin{verbatim}x\end{verbatim}$", "$a{$", "one $ dollar"],
)
def test_unsafe_math_is_refused(hostile):
    with pytest.raises(InputError):
        parse_markup(hostile)


def test_hostile_text_prints_literally():
    assert to_tex(r"\input{x} \def") == r"\textbackslash{}input\{x\} \textbackslash{}def"


def test_rule_annotations_in_math_mode():
    assert to_math("linear in $y$") == r"\text{linear in } y"


# --- Markdown math that survives math-unaware parsers --------------------------------------------
_OPENER = re.compile(r"(?<![A-Za-z0-9\\])_")


@pytest.mark.parametrize(
    ("tex", "expected"),
    [
        (r"y_k(\mathbf{x}_k, \mathbf{w})", r"y_k(\mathbf x_k, \mathbf{w})"),
        (r"\operatorname{LReLU}_{a}(x)", r"\operatorname{LReLU}\kern0em_{a}(x)"),
        (r"\left(a\right)_{i}", r"\left(a\right)\kern0em_{i}"),
        ("a < b > c", r"a \lt b \gt c"),
        ("f^*", r"f^\ast"),
        (r"\left|x\right|", r"\left\vert x\right\vert"),
        (r"w_{13} x_{i}^{(k)}", r"w_{13} x_{i}^{(k)}"),
        (r"\text{a\_b}", r"\text{a\_b}"),
    ],
)
def test_md_math(tex, expected):
    assert md_math(tex) == expected


def test_md_math_leaves_no_emphasis_opener():
    for tex in (r"\mathbf{x}_1 + \mathrm{loss}_{1} + (a)_b + \{c\}_{d} + \sum_{k=1}^{N}", "}_"):
        assert not _OPENER.search(md_math(tex))
