"""The format-neutral view model: a solved sheet as the strings the sheet templates place.

All mathematics of the LaTeX and Markdown outputs is printed here, once, by
:mod:`derive.render.notation` (the same LaTeX serves the ``.tex`` files and, through
:func:`derive.render.markup.md_math`, the MathJax-rendered Markdown); templates only place
strings. Long derivation lines are broken here too (:mod:`derive.render.linebreak`), against
:data:`LINE_EM`, so that every row fits the text block of an ordinary document. Text that both
printers show is held twice, as ``<key>_tex`` and ``<key>_md``.

The printers that use the view are :mod:`derive.render.tex` and :mod:`derive.render.markdown`;
:mod:`derive.render.json` uses :class:`Printer` and :func:`verified_summary` too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sympy as sp

from derive import __version__
from derive.maths.display import TermOrder, product_pairs
from derive.render.figures.draw import Drawing, draw
from derive.render.figures.labels import RunsPrinter, runs_of
from derive.render.linebreak import break_expr, text_width, width
from derive.render.markup import to_math, to_md, to_tex
from derive.render.notation import SheetPrinter, escape_tex, sympy_str
from derive.render.prose import markup, plain
from derive.sheet.model import Exercise, Sheet
from derive.steps import Align, Figure, Math, Prose, Solution, Table, Text

if TYPE_CHECKING:
    from derive.steps import PartResult

# Layout, in ems of the body font. Rows are broken to fit LINE_EM, the text width of the standard
# classes at 10pt (345pt); the standalone sheets set 11pt on a 16 cm block (41 em), which leaves
# room for the rule annotations beside most rows.
LINE_EM = 34.0
SHEET_EM = 41.0
RULE_SCALE = 0.91  # the rule annotations are \small
REL_EM = 1.9  # "=" with its spaces, and the gap after the alignment point
INDENT_EM = 3.2  # "\qquad {}+" that starts a continuation row


@dataclass
class Printer:
    """Math printing for one exercise: its notation and its term order."""

    notation: dict[str, str]
    order: TermOrder

    @classmethod
    def for_exercise(cls, ex: Exercise) -> Printer:
        """Terms in the order the exercise introduces names, factors in the order its products
        write them (``w11*x1``: weights before inputs, in every product)."""
        return cls(ex.notation, TermOrder(ex.names, product_pairs(ex.sources)))

    @property
    def sheet_printer(self) -> SheetPrinter:
        return SheetPrinter(self.notation, self.order, sheet_factors=True)

    def tex(self, expr: sp.Basic) -> str:
        return self.sheet_printer.doprint(expr)

    def str(self, expr: sp.Basic) -> str:
        return sympy_str(expr, self.order)

    def lines(self, expr: sp.Basic, first: float, rest: float) -> list[str]:
        """``expr`` broken into rows of at most ``first`` (then ``rest``) ems."""
        return break_expr(expr, self.sheet_printer, first, rest)


# --- derivations ---------------------------------------------------------------------------------
def rows(lines: list[tuple[str, str, sp.Basic, str]], p: Printer) -> list[dict[str, str]]:
    """Display rows for ``(lhs LaTeX, relation, rhs, rule markup)`` lines, long ones broken.

    Each row is ``{lhs, rel, rhs, rule_tex, rule_md}``; a continuation row has an empty ``lhs``
    and ``rel`` and an ``rhs`` that starts with its operator. A row is broken when it would not
    fit :data:`LINE_EM`, or when its rule annotation would not fit beside it on the standalone
    sheet and breaking keeps the first part reasonably long.
    """
    lhs_em = max((width(lhs) for lhs, *_ in lines), default=0.0)
    room = LINE_EM - lhs_em - REL_EM
    out = []
    for lhs, rel, rhs, rule in lines:
        rule_tex = to_tex(rule) if rule else ""
        beside = SHEET_EM - lhs_em - REL_EM - RULE_SCALE * text_width(rule_tex) - 2.0
        first = beside if rule and beside >= 0.6 * room else room
        broken = p.lines(rhs, min(first, room), room - INDENT_EM)
        for k, text in enumerate(broken):
            out.append({
                "lhs": lhs if k == 0 else "",
                "rel": rel if k == 0 else "",
                "rhs": text,
                "rule_tex": rule_tex if k == 0 else "",
                "rule_md": to_math(rule) if rule and k == 0 else "",
            })
    return out


def _align(block: Align, p: Printer) -> dict[str, Any]:
    lines = [(p.tex(ln.lhs) if ln.lhs is not None else "", ln.relation, ln.rhs, markup(ln.rule))
             for ln in block.lines]
    return {"kind": "align", "rows": rows(lines, p)}


def _cell(cell: Any, p: Printer) -> dict[str, str]:
    if isinstance(cell, sp.Basic):
        return {"math": p.tex(cell), "tex": "", "md": ""}
    text = markup(cell)
    return {"math": "", "tex": to_tex(text), "md": to_md(text)}


def _alt_text(caption) -> str:
    """A figure's caption as plain text for Markdown alt text: its math as the figure's labels
    write it (``y = 1/2``, never the LaTeX of ``\\frac{1}{2}`` stripped to ``12``)."""
    parts = caption.parts if isinstance(caption, Prose) else (caption,)
    text = "".join(
        "".join(r.text for r in runs_of(RunsPrinter(p.notation, p.order).doprint(p.expr)))
        if isinstance(p, Math) else plain(p) for p in parts)
    return re.sub(r"[\[\]]", "", " ".join(text.split()))


def _block_view(block, p: Printer, drawings: dict[int, Drawing]) -> dict[str, Any]:
    if isinstance(block, Text):
        text = markup(block.text)
        return {"kind": "text", "tex": to_tex(text), "md": to_md(text)}
    if isinstance(block, Align):
        return _align(block, p)
    if isinstance(block, Table):
        return {
            "kind": "table",
            "columns": len(block.header),
            "header_tex": [to_tex(markup(h)) for h in block.header],
            "header_md": [to_md(markup(h)) for h in block.header],
            "rows": [[_cell(c, p) for c in row] for row in block.rows],
            "caption_tex": to_tex(markup(block.caption)),
            "caption_md": to_md(markup(block.caption)),
        }
    if isinstance(block, Figure):
        drawing = drawings[id(block)]
        return {
            "kind": "figure",
            "tikz": drawing.tikz.strip(),
            "svg": f"figures/{block.stem}.svg",
            "alt": _alt_text(block.caption) or f"Figure {block.stem}",
            "caption_tex": to_tex(markup(block.caption)),
            "caption_md": to_md(markup(block.caption)),
        }
    raise TypeError(f"unknown block {block!r}")


# --- answers and verification --------------------------------------------------------------------
def _answer_lhs(sol: Solution, wrt: str | None) -> sp.Basic | None:
    """The quantity an answer is the value of: the last derivation line ``∂L/∂wrt = ...``."""
    for line in reversed(sol.lines()):
        lhs = line.lhs
        if isinstance(lhs, sp.Derivative) and len(lhs.variables) == 1:
            if wrt is None or sympy_str(lhs.variables[0]) == wrt:
                return lhs
    return None


def answer_rows(sol: Solution, p: Printer) -> list[dict[str, str]]:
    """Rows ``∂E/∂w = value`` for the part's answers (none for drawings, or when the only
    derivation line already says exactly that)."""
    named = list(sol.answers.items()) or ([(None, sol.answer)] if sol.answer is not None else [])
    lines = []
    for wrt, value in named:
        lhs = _answer_lhs(sol, wrt)
        lines.append((p.tex(lhs) if lhs is not None else "", "=", value, ""))
    every = sol.lines()
    if len(lines) == 1 and len(every) == 1 and every[0].lhs is not None \
            and lines[0][0] == p.tex(every[0].lhs):
        return []  # the derivation is one line, and it is the answer
    return rows(lines, p)


def verified_summary(sol: Solution) -> str:
    """The short account of the checks, e.g. ``6 steps symbolically; answer = sympy.diff``
    (:attr:`derive.verify.summary.Summary.brief`; "" for a solution not verified).

    The full account (every line's method, every answer check) is in ``solutions.json``.
    """
    return sol.summary.brief if sol.summary is not None else ""


# --- the sheet -----------------------------------------------------------------------------------
def points_text(value) -> str:
    """Points as a sheet shows them: ``5``, ``2.5``; "" for none."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def _part_view(r: PartResult, p: Printer, drawings: dict[int, Drawing]) -> dict[str, Any]:
    sol = r.solution
    summary = verified_summary(sol)
    return {
        "label": r.part.label,
        "stem": f"ex{r.exercise.number}-{r.part.label}",
        "points": f"{points_text(r.part.points)} P" if r.part.points is not None else "",
        "task": r.part.task,
        "text_tex": to_tex(r.part.text),
        "text_md": to_md(r.part.text),
        "hint_tex": to_tex(r.part.hint),
        "hint_md": to_md(r.part.hint),
        "blocks": [_block_view(b, p, drawings) for b in sol.blocks],
        "answer": answer_rows(sol, p),
        "verified_tex": escape_tex(summary),
        "verified_md": to_md(summary.replace("$", r"\$")),
    }


def view(sheet: Sheet, results: list[PartResult], drawings: dict[int, Drawing] | None = None
         ) -> dict[str, Any]:
    """Everything the templates show, as strings. ``drawings`` holds each figure block's drawing
    by the block's identity (:attr:`derive.render.registry.Document.drawings`); without it, each
    figure is drawn here."""
    if drawings is None:
        drawings = {id(b): draw(b.model) for r in results if r.solution is not None
                    for b in r.solution.blocks if isinstance(b, Figure)}
    by_ex: dict[int, list[PartResult]] = {}
    for r in results:
        by_ex.setdefault(r.exercise.number, []).append(r)
    exercises = []
    for ex in sheet.exercises:
        p = Printer.for_exercise(ex)
        pts = [points_text(part.points) for part in ex.parts if part.points is not None]
        total = points_text(ex.points)
        points = f"{' + '.join(pts)} = {total} P" if len(pts) > 1 else (f"{total} P" if pts else "")
        exercises.append({
            "number": ex.number,
            "stem": f"ex{ex.number}",
            "title_tex": to_tex(ex.title),
            "title_md": to_md(ex.title),
            "points": points,
            "text_tex": to_tex(ex.text),
            "text_md": to_md(ex.text),
            "parts": [_part_view(r, p, drawings) for r in by_ex.get(ex.number, [])],
        })
    return {
        "id": sheet.id,
        "title_tex": to_tex(sheet.title),
        "title_md": to_md(sheet.title),
        "course_tex": to_tex(sheet.course),
        "course_md": to_md(sheet.course),
        "date_tex": to_tex(sheet.date),
        "date_md": to_md(sheet.date),
        "version": __version__,
        "exercises": exercises,
    }
