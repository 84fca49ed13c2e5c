"""Task ``derivative``: d(of)/d(wrt) step by step, every line verified.

Parameters: ``of`` — a name defined in the exercise's model (its right-hand side is
differentiated), or an expression; ``wrt`` — the variable.

Model names in ``of`` that depend on ``wrt`` (directly or through other model names) are not
constants: their definitions are substituted first, only those on a path from ``wrt`` to ``of``
(model names that do not depend on ``wrt`` stay as they are, so the composite stays small), and the
composite is differentiated by the step engine. The solution says which definitions were
substituted and, when it is shorter, writes the answer back in the model's names
(``2 (y - t)(1 - y^2) x`` rather than ``2 (tanh(wx + b) - t)(1 - tanh^2(wx + b)) x``). When
``of`` does not depend on ``wrt`` at all, that is an input error. The result is the total
derivative, as backprop computes it, and agrees with ``sympy.diff`` of the fully substituted
``of``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

from derive.errors import InputError
from derive.maths import trees
from derive.maths.calculus import derivation
from derive.maths.display import TermOrder
from derive.maths.functions import symbol
from derive.sheet.model import Assignment
from derive.sheet.parse import parse_expr
from derive.steps import Align, Derived, Line, Math, Prose, Solution, Text, joined, prose
from derive.tasks.spec import Context, task
from derive.verify.claims import Answer

COMPOSITE_LIMIT = 400  # tree nodes: larger composites are left to the backprop task


@task(
    "derivative",
    required={"of": str, "wrt": str},
    summary="step-by-step derivative of an expression (chain, product, quotient rules, ...)",
)
def run(ctx: Context) -> Solution:
    assignment = ctx.assignment(ctx.params["of"])
    if assignment is not None:
        expr, lhs_name = assignment.expr, symbol(assignment.name)
    else:
        try:
            expr = parse_expr(ctx.params["of"])
        except InputError as e:
            raise ctx.error(f"'of' is neither a name in the model nor an expression: {e.message}",
                            "of") from None
        lhs_name = None
    wrt_text = ctx.params["wrt"]
    try:
        var = parse_expr(wrt_text)
    except InputError as e:
        raise ctx.error(f"'wrt': {e.message}", "wrt") from None
    if not isinstance(var, sp.Symbol):
        raise ctx.error(f"'wrt' must be a single name, not {wrt_text!r}", "wrt")
    through = path_definitions(ctx.model, expr, var,
                               exclude=assignment.name if assignment is not None else None)
    if var not in expr.free_symbols and not through:
        raise ctx.error(f"{ctx.params['of']} does not depend on {wrt_text}, neither directly "
                        "nor through the model", "wrt")
    if not through:
        cited = ctx.cite(expr, var, ctx.notation, TermOrder(ctx.names))
        if cited is not None:
            return _cited(expr, var, lhs_name, *cited)
        return solve(expr, var, lhs_name, ctx.names, ctx.detail, ctx.notation)
    composite = substitute(expr, through)
    if sum(1 for _ in sp.preorder_traversal(composite)) > COMPOSITE_LIMIT:
        names = ", ".join(a.name for a in through)
        raise ctx.error(f"{ctx.params['of']} depends on {wrt_text} through {names}; the "
                        "substituted expression is too large to differentiate in one piece: "
                        "use task = \"backprop\"", "wrt")
    return solve_through(expr, composite, var, lhs_name, through, ctx.names, ctx.notation,
                         ctx.detail)


def path_definitions(model: Sequence[Assignment], expr: sp.Expr, var: sp.Symbol,
                     exclude: str | None = None) -> list[Assignment]:
    """The model assignments on a path from ``var`` to ``expr``, in dependency order.

    Those that ``expr`` reads, directly or through other assignments, and that depend on
    ``var``; ``exclude`` (the assignment that defines ``expr`` itself) and ``var`` never count.
    """
    defs = {a.name: a for a in model if a.name not in (exclude, var.name)}
    reads = {n: {s.name for s in a.expr.free_symbols} & set(defs) for n, a in defs.items()}
    depends: set[str] = set()
    changed = True
    while changed:  # names that depend on var (a fixpoint: the model may list them in any order)
        changed = False
        for n, a in defs.items():
            if n not in depends and (var in a.expr.free_symbols or reads[n] & depends):
                depends.add(n)
                changed = True
    needed: list[str] = []
    stack = [s.name for s in expr.free_symbols if s.name in depends]
    while stack:
        n = stack.pop()
        if n not in needed:
            needed.append(n)
            stack.extend(reads[n] & depends)
    order: list[str] = []

    def visit(n: str, seen: frozenset[str]) -> None:
        if n in order or n in seen:
            return
        for m in sorted(reads[n] & set(needed)):
            visit(m, seen | {n})
        order.append(n)

    for n in (a.name for a in model if a.name in needed):
        visit(n, frozenset())
    return [defs[n] for n in order]


def substitute(expr: sp.Expr, definitions: Sequence[Assignment]) -> sp.Expr:
    """``expr`` with ``definitions`` (in dependency order) substituted, innermost first."""
    done: dict[sp.Symbol, sp.Expr] = {}
    for a in definitions:
        done[symbol(a.name)] = a.expr.xreplace(done)
    return expr.xreplace(done)


def solve(expr: sp.Expr, var: sp.Symbol, name: sp.Symbol | None, names=(),
          detail: str = "full", notation=None) -> Solution:
    """The derivative solution of d(expr)/d(var); ``name`` is what the sheet calls ``expr``."""
    lhs = sp.Derivative(name if name is not None else expr, var, evaluate=False)
    order = TermOrder(names)
    d = derivation(expr, var, lhs=lhs, reserved=names, order=order, detail=detail)
    truth = sp.diff(expr, var)
    lines, answer = _one_fraction(list(d.lines), d.answer, truth)
    blocks: list = [Align(tuple(lines))]
    if detail == "standard" and d.intermediates:
        blocks.insert(0, Text(where(d.intermediates, notation, order)))
    return Solution(
        blocks=blocks,
        answer=answer,
        data={"rules": d.rules},
        claims=[Answer("answer = sympy.diff", answer, truth)],
        derived=[Derived(expr, var, answer)],
    )


def where(intermediates, notation, order) -> Prose:
    """"With u_1 = cosh(y - t) and u_2 = y - t:", the intermediates a derivation's chain rule
    names (at ``standard`` detail they have no lines of their own)."""
    return prose("With ", joined([Math(sp.Eq(u, inner, evaluate=False), notation or {}, order)
                                  for u, inner in intermediates], ", ", " and "), ":")


def _cited(expr: sp.Expr, var: sp.Symbol, name: sp.Symbol | None, value: sp.Expr, note
           ) -> Solution:
    """d(expr)/d(var) cited from an earlier part: one line, checked against ``sympy.diff``."""
    lhs = sp.Derivative(name if name is not None else expr, var, evaluate=False)
    truth = sp.diff(expr, var)
    return Solution(
        blocks=[Align((Line(lhs, value, note, (value, truth)),))],
        answer=value,
        data={"rules": [note]},
        claims=[Answer("answer = sympy.diff", value, truth)],
        derived=[Derived(expr, var, value)],
    )


def _one_fraction(lines: list[Line], answer: sp.Expr, truth: sp.Expr
                  ) -> tuple[list[Line], sp.Expr]:
    """A sum of fractions over one denominator, when that is strictly shorter:
    −(t/y + (t − 1)/(1 − y)) = (y − t)/(y(1 − y)), the textbook derivative of cross-entropy."""
    if sp.count_ops(answer) > 60:
        return lines, answer
    n, den = sp.fraction(sp.together(answer))
    if den == 1 or not trees.factorable(n, den):
        return lines, answer  # factor's gcds grow quickly with the degree (minutes with pi in it)
    try:
        n, den = sp.fraction(sp.factor(sp.cancel(n / den)))
    except (sp.PolynomialError, TypeError, ValueError):
        return lines, answer
    candidates = [n / den]
    factors = sp.Mul.make_args(den)
    for i, f in enumerate(factors):  # (y - 1) -> (1 - y) with the sign moved to the numerator
        if isinstance(f, sp.Add):
            flipped = sp.Mul(*factors[:i], -f, *factors[i + 1:], evaluate=False)
            candidates.append(sp.Mul(-n, sp.Pow(flipped, -1, evaluate=False), evaluate=False))
    def negative_constants(c: sp.Expr) -> int:  # y - 1 rather than 1 - y in the denominator
        return sum(1 for f in sp.Mul.make_args(sp.fraction(c)[1])
                   if isinstance(f, sp.Add) and f.as_coeff_Add()[0] < 0)

    best = min(candidates, key=lambda c: (sp.count_ops(c), negative_constants(c)))
    if sp.count_ops(best) >= sp.count_ops(answer):
        return lines, answer
    return [*lines, Line(None, best, "one denominator", (best, truth))], best


def solve_through(expr: sp.Expr, composite: sp.Expr, var: sp.Symbol, name: sp.Symbol | None,
                  through: Sequence[Assignment], names=(), notation=None, detail: str = "full"
                  ) -> Solution:
    """d(expr)/d(var) where ``expr`` reads model names that depend on ``var``: the definitions
    ``through`` substituted, the composite differentiated step by step."""
    order = TermOrder(names)

    def m(e: sp.Basic) -> Math:  # a formula in the exercise's notation and term order
        return Math(e, notation or {}, order)

    shown = name if name is not None else expr
    defs = [sp.Eq(symbol(a.name), a.expr, evaluate=False) for a in through]
    result = m(sp.Eq(shown, composite, evaluate=False)) if name is not None else \
        prose("the expression ", m(composite))
    which = "which is therefore not a constant" if len(defs) == 1 else \
        "which are therefore not constants"
    lhs_names = joined([m(e.lhs) for e in defs], ", ", " and ")
    intro = prose(m(shown), " depends on ", m(var), " through ", lhs_names,
                  f", {which}; substituting ",
                  joined([m(e) for e in defs], ", ", " and "), " gives ", result)
    lhs = sp.Derivative(shown, var, evaluate=False)
    d = derivation(composite, var, lhs=lhs, reserved=names, order=order, detail=detail)
    truth = sp.diff(composite, var)
    lines, answer = _one_fraction(list(d.lines), d.answer, truth)
    named = _in_model_names(answer, through)
    if named is not None:
        lines.append(Line(None, named, prose("in the model's names: ", joined(
            [m(e) for e in reversed(defs)])), (substitute(named, through), truth)))
        answer = named
    blocks: list = [Text(intro + ":"), Align(tuple(lines))]
    if detail == "standard" and d.intermediates:
        blocks.insert(1, Text(where(d.intermediates, notation, order)))
    return Solution(
        blocks=blocks,
        answer=answer,
        data={"rules": d.rules, "substituted": [a.name for a in through]},
        claims=[Answer("answer = sympy.diff of the substituted expression",
                       substitute(answer, through), truth)],
        derived=[Derived(composite, var, substitute(answer, through))],
    )


def _in_model_names(answer: sp.Expr, through: Sequence[Assignment]) -> sp.Expr | None:
    """``answer`` with the substituted definitions written back as their names (outermost
    first), when that is strictly shorter; else None."""
    expanded: list[tuple[sp.Symbol, sp.Expr]] = []
    done: dict[sp.Symbol, sp.Expr] = {}
    for a in through:
        done[symbol(a.name)] = a.expr.xreplace(done)
        expanded.append((symbol(a.name), done[symbol(a.name)]))
    named = answer
    for sym, full in reversed(expanded):
        if isinstance(full, sp.Symbol) or full.is_number:
            continue
        named = named.xreplace({full: sym})
    if named == answer or sp.count_ops(named) >= sp.count_ops(answer):
        return None
    return named
