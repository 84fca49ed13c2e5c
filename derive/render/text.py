"""The plain-text format: ``solutions.txt``, for a terminal (what ``derive explain`` prints).

It prints the solution model directly, with no LaTeX anywhere: words as they are; titles and
statements as the sheet writes them; :class:`~derive.steps.Math`, :class:`~derive.steps.Note` and
:class:`~derive.steps.Prose` through :func:`words` (:func:`derive.render.prose.plain` with
formulas through :class:`TextPrinter`); formulas in SymPy syntax in the exercise's term order,
except equations, Leibniz derivatives and deltas, which read as a reader writes them (``u_1 =
cosh(y - t)``, ``∂E/∂w``, ``δ_3``, Greek names as letters: :class:`TextPrinter`); derivation
lines as ``lhs = rhs    [rule]    (✓ how it was checked)``, a part's checks by the full account
of its :class:`~derive.verify.summary.Summary`; tables as aligned columns; figures as their
caption and the file name of the drawing.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import sympy as sp

from derive.maths.display import TermOrder
from derive.render.notation import GREEK, SheetStrPrinter
from derive.render.prose import plain
from derive.render.registry import Document, Format, register_format
from derive.render.view import Printer, points_text
from derive.steps import Align, Figure, Line, Math, Solution, Table, Text

if TYPE_CHECKING:
    from derive.steps import PartResult

# Greek names as their letters (the parser reads the letter back as the name): alpha -> α
_LOWER = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho "
          "sigmaf sigma tau upsilon phi chi psi omega").split()
LETTERS = {n: chr(0x3B1 + k) for k, n in enumerate(_LOWER)}
LETTERS |= {n.capitalize(): chr(0x391 + k) for k, n in enumerate(_LOWER)
            if n.capitalize() in GREEK}
_GREEK_NAME = re.compile(r"([A-Za-z]+)_?(\d*)")

INDENT = "  "
RULE_GAP = "    "  # between a derivation line, its rule and its verification


class TextPrinter(SheetStrPrinter):
    """SymPy syntax, except Leibniz derivatives (``∂E/∂w``), deltas (``δ_3``) and explicit
    products (``a · b``) as a reader writes them."""

    def _print_Derivative(self, expr):
        var = " ".join(f"∂{self._print(v)}" for v, _ in expr.variable_count)
        f = self._print(expr.expr)
        return f"∂{f}/{var}" if expr.expr.is_Symbol else f"∂({f})/{var}"

    def _print_Dot(self, expr):
        return " · ".join(self.parenthesize(a, 50) for a in expr.args)

    def _print_Symbol(self, expr):
        name = super()._print_Symbol(expr)
        m = re.fullmatch(r"delta_?(\w+)", name)
        if m:
            return f"δ_{m.group(1)}"
        g = _GREEK_NAME.fullmatch(name)
        if g and g.group(1) in GREEK and g.group(1) in LETTERS:  # lambda_ -> λ, alpha1 -> α1
            return LETTERS[g.group(1)] + g.group(2)
        return name

    def _print_Equality(self, expr):
        return f"{self._print(expr.lhs)} = {self._print(expr.rhs)}"

    def _print_Nonlinearity(self, expr):
        """An activation's name alone, as a neuron shows it: ``relu``, ``leaky_relu(0.1)``."""
        if expr.kind == "leaky_relu":
            return f"leaky_relu({self._print(expr.slope)})"
        return expr.kind


def term(expr: sp.Basic, order: TermOrder) -> str:
    """``expr`` as terminal text in ``order``."""
    return TextPrinter(order).doprint(order.orient(expr))


def words(item, order: TermOrder) -> str:
    """A sentence, rule or caption as terminal text: its formulas through :class:`TextPrinter`
    (``u_1 = cosh(y - t)``, ``∂E/∂w``), its fixed phrases in their plain form."""
    return plain(item, lambda m: term(m.expr, m.order or order))


def check_text(verdict) -> str:
    """How a line was checked, for the terminal: ``✓ symbolic: identical``."""
    return f"✓ {verdict.method}" + (f": {verdict.detail}" if verdict.detail else "")


def _cell(cell, order: TermOrder) -> str:
    """A table cell: a formula (a SymPy object, or a :class:`Math` alone) through
    :class:`TextPrinter`, anything else through :func:`plain`."""
    if isinstance(cell, Math):
        return term(cell.expr, cell.order or order)
    return term(cell, order) if isinstance(cell, sp.Basic) else words(cell, order)


def align_text(lines: tuple[Line, ...], order: TermOrder) -> list[str]:
    """Derivation lines: ``lhs = rhs    [rule]    (verification)``."""
    out = []
    for ln in lines:
        lhs = term(ln.lhs, order) if ln.lhs is not None else ""
        rule = words(ln.rule, order)
        out.append(f"{INDENT}{lhs} {ln.relation} {term(ln.rhs, order)}"
                   + (f"{RULE_GAP}[{rule}]" if rule else "")
                   + (f"{RULE_GAP}({check_text(ln.verdict)})" if ln.verdict is not None else ""))
    return out


def table_text(table: Table, order: TermOrder) -> list[str]:
    """A table: its caption (with a colon unless it ends in a full stop), then the header and
    the rows in columns as wide as their widest cell."""
    rows = [[words(h, order) for h in table.header]] + [[_cell(c, order) for c in row]
                                                 for row in table.rows]
    widths = [max(len(r[k]) for r in rows if k < len(r)) for k in range(max(map(len, rows)))]
    caption = words(table.caption, order)
    out = [caption if caption.endswith((".", ":")) else caption + ":"] if caption else []
    for r in rows:
        out.append(INDENT + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False))
                   .rstrip())
    return out


def solution_text(sol: Solution, order: TermOrder) -> list[str]:
    """The lines of one part's solution, its answers and how it was verified."""
    out: list[str] = []
    for block in sol.blocks:
        if isinstance(block, Text):
            out.append(words(block.text, order))
        elif isinstance(block, Align):
            out.extend(align_text(block.lines, order))
        elif isinstance(block, Table):
            out.extend(table_text(block, order))
        elif isinstance(block, Figure):
            caption = words(block.caption, order)
            out.append(f"Figure{': ' + caption if caption else ''} (figures/{block.stem}.svg)")
        else:
            raise TypeError(f"unknown block {block!r}")
    if sol.answers:
        out.extend(f"answer ∂/∂{name}: {term(value, order)}"
                   for name, value in sol.answers.items())
    elif sol.answer is not None:
        out.append(f"answer: {term(sol.answer, order)}")
    if sol.summary is not None:
        out.append(f"verified: {sol.summary.account}")
    return out


def _in_points(value) -> str:
    return f" ({points_text(value)} P)" if value is not None else ""


def part_text(r: PartResult, order: TermOrder) -> list[str]:
    """One part: its label, points and statement, then its solution."""
    out = [f"({r.part.label}){_in_points(r.part.points)}"]
    out.extend(s for s in (r.part.text.strip(), r.part.hint.strip()) if s)
    out.extend(solution_text(r.solution, order))
    return out


def sheet_text(doc: Document) -> str:
    """The whole sheet: its title, then each exercise with its parts, a blank line between."""
    sheet = doc.sheet
    head = [sheet.title] + [", ".join(s for s in (sheet.course, sheet.date) if s)]
    paragraphs = ["\n".join(s for s in head if s)]
    for ex in sheet.exercises:
        order = Printer.for_exercise(ex).order
        paragraphs.append("\n".join(
            [f"Exercise {ex.number}: {ex.title}"
             f"{_in_points(ex.points if any(p.points is not None for p in ex.parts) else None)}"]
            + ([ex.text.strip()] if ex.text.strip() else [])))
        for r in doc.results:
            if r.exercise is ex:
                paragraphs.append("\n".join(part_text(r, order)))
    return "\n\n".join(p for p in paragraphs if p) + "\n"


def render(doc: Document) -> dict[str, str]:
    return {"solutions.txt": sheet_text(doc)}


FORMAT = register_format(Format("text", "solutions.txt", render, main="solutions.txt", rank=40))
