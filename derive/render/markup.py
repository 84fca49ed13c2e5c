"""Sheet markup: plain text with ``$...$`` / ``$$...$$`` math and ``*emphasis*``.

Text is escaped for LaTeX and for Markdown; math is passed through after it is checked against
derive's allowlist of commands and environments (:mod:`derive.render.mathcheck`). A hostile
statement
therefore either prints literally (text) or is refused with a ``file:line`` error (math); it never
runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from derive.errors import InputError
from derive.render.mathcheck import check_math
from derive.render.notation import check_text_characters, escape_tex

MAX_TEXT = 20_000


@dataclass(frozen=True)
class Segment:
    kind: str  # "text", "emph", "math", "display"
    content: str


_TOKEN = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\*([^*\n]+)\*", re.DOTALL)


def parse_markup(text: str) -> list[Segment]:
    """Split markup into segments; raises InputError for unsafe math or unbalanced ``$``."""
    if len(text) > MAX_TEXT:
        raise InputError(f"text is too long ({len(text)} characters, at most {MAX_TEXT})")
    out: list[Segment] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        if m.start() > pos:
            out.append(Segment("text", text[pos : m.start()]))
        display, inline, emph = m.groups()
        if display is not None:
            out.append(Segment("display", _safe_math(display.strip())))
        elif inline is not None:
            out.append(Segment("math", _safe_math(inline.strip())))
        else:
            out.append(Segment("emph", emph))
        pos = m.end()
    if pos < len(text):
        out.append(Segment("text", text[pos:]))
    for seg in out:
        if seg.kind == "text" and "$" in seg.content:
            raise InputError("unbalanced $ in text (write \\$ ... \\$ pairs, or escape it)")
    return out


def _safe_math(math: str) -> str:
    return check_math(math)


def check_markup(text: str, *, heading: bool = False) -> None:
    """Raise InputError unless ``text`` is sheet markup derive can print everywhere: its math in
    the allowed subset (:mod:`derive.render.mathcheck`), its characters ones pdflatex can typeset.

    ``heading``: a title, course, date or class name, set on one line (in ``\\section{}``, a
    table cell, a figure label): no display math and no paragraph break.
    """
    segments = parse_markup(text)
    check_text_characters(text)
    if heading:
        if any(seg.kind == "display" for seg in segments):
            raise InputError("a title or name is one line: use $...$, not $$...$$")
        if re.search(r"\n[ \t]*\n", text):
            raise InputError("a title or name is one line: remove the blank line")


def to_tex(text: str) -> str:
    """LaTeX for a markup string (text escaped, math passed through).

    A display belongs to its paragraph: no blank line is set before it (that would make an empty
    paragraph and allow a page break between a sentence and its display); after it, the author's
    paragraph break is kept.
    """
    out = ""
    for seg in parse_markup(text):
        if seg.kind == "display":
            out = out.rstrip() + "\n\\[\n" + seg.content + "\n\\]\n"
            continue
        if out.endswith("\\]\n") and seg.kind == "text":
            new_paragraph = re.match(r"[ \t]*\n[ \t]*\n", seg.content)
            out += "\n" if new_paragraph else ""
            seg = Segment("text", seg.content.lstrip())
        if seg.kind == "text":
            out += _paragraphs_tex(escape_tex(seg.content))
        elif seg.kind == "emph":
            out += r"\emph{" + escape_tex(seg.content) + "}"
        else:
            out += "$" + seg.content + "$"
    return out.strip()


def _paragraphs_tex(text: str) -> str:
    return re.sub(r"\n\s*\n", "\n\n", text)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|])")
_ONE_CHAR_ARG = re.compile(r"(\\[A-Za-z]+)\{([A-Za-z0-9])\}_")
_OPENER = re.compile(r"(?<![A-Za-z0-9\\])_")
_CONTROL = re.compile(r"\\(?:[A-Za-z]+|.)(?=([A-Za-z])?)", re.S)
# control symbols GitHub reads as Markdown escapes (it drops the backslash), as control words
_AS_WORDS = {r"\{": r"\lbrace", r"\}": r"\rbrace", r"\,": r"\thinspace",
             r"\!": r"\negthinspace", r"\:": r"\mskip4mu{}", r"\;": r"\mskip5mu{}"}


def _brace_words(m: re.Match) -> str:
    word = _AS_WORDS.get(m.group(0))
    if word is None:
        return m.group(0)
    return word + (" " if m.group(1) and word[-1].isalpha() else "")


def md_math(tex: str) -> str:
    """Math LaTeX that survives Markdown parsers which do not know about math (MkDocs without
    arithmatex, many previewers) and still means the same to MathJax.

    * ``\\{`` and ``\\}`` become ``\\lbrace`` and ``\\rbrace``, the spaces ``\\,``, ``\\!``,
      ``\\:``, ``\\;`` become ``\\thinspace``, ``\\negthinspace`` and ``\\mskip``: GitHub reads
      ``\\{`` as an escaped brace and drops the backslash (a group instead of a brace, a comma
      instead of a thin space);
    * ``_`` after a non-alphanumeric (``\\mathbf{x}_k``, ``)_``) could open emphasis that a later
      ``w_{13}`` closes: ``\\mathbf{x}_k`` becomes ``\\mathbf x_k``, other cases get a zero kern
      (``\\kern0em_``), so every ``_`` follows a letter or digit (never an emphasis opener);
    * ``*`` becomes ``\\ast``; ``<``, ``>`` become ``\\lt``, ``\\gt`` (no HTML tags); ``|``
      becomes ``\\vert`` (no table cells);
    * no link, image or HTML entity can form: ``](``, ``][`` and ``]:`` get an empty group
      between (``]{}(``), as do ``//`` and a ``.`` before a letter (no URL or domain for a
      linkifier: ``evil.{}com``); an ``&`` before a letter or ``#`` gets a
      space (``&amp;`` is no entity then). Backticks and ``@`` never reach here (the math
      checker refuses them), so no code span or e-mail link either.
    """
    tex = _CONTROL.sub(_brace_words, tex)
    tex = _ONE_CHAR_ARG.sub(r"\1 \2_", tex)
    tex = _OPENER.sub(r"\\kern0em_", tex)
    for char, macro in (("*", r"\ast"), ("<", r"\lt"), (">", r"\gt"), ("|", r"\vert")):
        tex = re.sub(r"(?<!\\)" + re.escape(char) + r"(?=([A-Za-z])?)",
                     lambda m, macro=macro: macro + (" " if m.group(1) else ""), tex)
    tex = re.sub(r"\](?=\s*[(\[:])", "]{}", tex)
    tex = tex.replace("//", "/{}/")
    tex = re.sub(r"\.(?=[A-Za-z])", ".{}", tex)
    tex = re.sub(r"(?<!\\)&(?=[A-Za-z#])", "& ", tex)
    return tex


def to_md(text: str) -> str:
    """Markdown for a markup string: math as ``$...$`` and ``$$`` blocks on their own lines."""
    parts = []
    for seg in parse_markup(text):
        if seg.kind == "text":
            parts.append(_MD_SPECIAL.sub(r"\\\1", seg.content))
        elif seg.kind == "emph":
            parts.append("*" + _MD_SPECIAL.sub(r"\\\1", seg.content) + "*")
        elif seg.kind == "math":
            parts.append("$" + md_math(seg.content) + "$")
        else:  # an indented line inside the $$ paragraph continues it (it cannot become code)
            parts.append("\n\n$$\n" + md_math(seg.content) + "\n$$\n\n")
    return re.sub(r"\n{3,}", "\n\n", "".join(parts)).strip()


def to_math(text: str) -> str:
    """Math-mode LaTeX for a short annotation: text in ``\\text{}``, math inline."""
    parts = []
    for seg in parse_markup(text):
        if seg.kind in ("text", "emph"):
            if seg.content:
                parts.append(r"\text{" + escape_tex(seg.content) + "}")
        else:
            parts.append(seg.content)
    return " ".join(parts)
