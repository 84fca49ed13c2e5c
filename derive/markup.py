"""Sheet markup: plain text with ``$...$`` / ``$$...$$`` math and ``*emphasis*``.

Text is escaped for LaTeX and for Markdown; math is passed through after a safety check that
rejects TeX primitives which read or write files, run commands or change category codes
(``\\input``, ``\\write18``, ``\\catcode``, ``^^`` escapes, ...). A hostile statement therefore either
prints literally (text) or is refused with a ``file:line`` error (math); it never runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from derive.errors import InputError
from derive.latex import escape_tex

FORBIDDEN_MATH = re.compile(
    r"\\(input|include|includeonly|write|immediate|read|openin|openout|closein|closeout|newwrite"
    r"|newread|catcode|lccode|uccode|def|edef|gdef|xdef|let|futurelet|csname|endcsname"
    r"|expandafter|newcommand|renewcommand|providecommand|DeclareRobustCommand|usepackage"
    r"|RequirePackage|documentclass|special|directlua|latelua|outer|jobname|loop|makeatletter"
    r"|makeatother|endinput|shipout|output|everypar|everymath|scantokens|detokenize"
    r"|string|meaning|message|errmessage|typeout|batchmode|nonstopmode|scrollmode|errorstopmode"
    r"|pdfprimitive|primitive|afterassignment|aftergroup|globaldefs|openin|verbatiminput"
    r"|lstinputlisting|href|url)(?![A-Za-z])"
)
MATH_ENVIRONMENTS = {"array", "aligned", "cases", "matrix", "pmatrix", "bmatrix", "vmatrix", "split"}
_ENV = re.compile(r"\\(begin|end)\s*(\{([^}]*)\})?")
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
    m = FORBIDDEN_MATH.search(math)
    if m:
        raise InputError(f"math may not use \\{m.group(1)} (it could read or write files)")
    for env in _ENV.finditer(math):
        if env.group(3) not in MATH_ENVIRONMENTS:
            allowed = ", ".join(sorted(MATH_ENVIRONMENTS))
            raise InputError(f"math may only use the environments {allowed}")
    if "^^" in math:
        raise InputError("math may not use ^^ character escapes")
    if math.count("{") != math.count("}"):
        raise InputError(f"unbalanced braces in math ${math}$")
    return math


def check_markup(text: str) -> None:
    parse_markup(text)


def to_tex(text: str) -> str:
    """LaTeX for a markup string (text escaped, math passed through)."""
    parts = []
    for seg in parse_markup(text):
        if seg.kind == "text":
            parts.append(_paragraphs_tex(escape_tex(seg.content)))
        elif seg.kind == "emph":
            parts.append(r"\emph{" + escape_tex(seg.content) + "}")
        elif seg.kind == "math":
            parts.append("$" + seg.content + "$")
        else:
            parts.append("\n\\[\n" + seg.content + "\n\\]\n")
    return "".join(parts).strip()


def _paragraphs_tex(text: str) -> str:
    return re.sub(r"\n\s*\n", "\n\n", text)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|])")


def to_md(text: str) -> str:
    """Markdown for a markup string: math as ``$...$`` and ``$$`` blocks on their own lines."""
    parts = []
    for seg in parse_markup(text):
        if seg.kind == "text":
            parts.append(_MD_SPECIAL.sub(r"\\\1", seg.content))
        elif seg.kind == "emph":
            parts.append("*" + _MD_SPECIAL.sub(r"\\\1", seg.content) + "*")
        elif seg.kind == "math":
            parts.append("$" + seg.content + "$")
        else:
            parts.append("\n\n$$\n" + seg.content + "\n$$\n\n")
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
