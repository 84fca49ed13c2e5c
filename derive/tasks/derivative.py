"""Task ``derivative``: d(of)/d(wrt) step by step, every line verified.

Parameters: ``of`` — a name defined in the exercise's model (its right-hand side is
differentiated, other model names are treated as variables: a partial derivative), or an
expression; ``wrt`` — the variable.
"""

from __future__ import annotations

import sympy as sp

from derive.calculus import derivation
from derive.errors import InputError
from derive.functions import symbol
from derive.latex import TermOrder
from derive.model import Align, Solution
from derive.parse import parse_expr
from derive.tasks import Context, task


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
    if var not in expr.free_symbols:
        raise ctx.error(f"{wrt_text} does not occur in {ctx.params['of']}", "wrt")
    return solve(expr, var, lhs_name, ctx.names)


def solve(expr: sp.Expr, var: sp.Symbol, name: sp.Symbol | None, names=()) -> Solution:
    """The derivative solution of d(expr)/d(var); ``name`` is what the sheet calls ``expr``."""
    lhs = sp.Derivative(name if name is not None else expr, var, evaluate=False)
    d = derivation(expr, var, lhs=lhs, reserved=names, order=TermOrder(names))
    truth = sp.diff(expr, var)
    return Solution(
        blocks=[Align(tuple(d.lines))],
        answer=d.answer,
        data={"rules": d.rules},
        answer_checks=[("answer = sympy.diff", d.answer, truth)],
    )
