"""The worked numbers of a variant: what a ``backprop`` part's solution adds at the drawn values.

:func:`add_numbers` takes the solution the task derived (the symbolic derivation, unchanged) and
appends two tables, the forward table (every node the loss reads, in topological order) and the
backward table (every δ of the derivation, in the order computed, then every asked gradient), and
the computation graph with each node's value and δ on it (a :class:`~derive.steps.
CircuitDrawing`, like the CS231n circuit diagrams).
Each value is exact: a fraction when it is rational, else rounded to the exercise's ``digits``
significant digits (``≈ 0.4621``) with the exact closed form beside it, or, when that closed form
is long, the row's formula in the quantities of the rows above (which is exact too). The numbers
are recorded as a :class:`~derive.verify.claims.Numbers` claim, so the verify step checks them
like every other claim (:mod:`derive.verify.numbers`), and in ``data`` (``values``,
``deltas_at``, ``gradients``: exact when rational, else 20 significant digits; ``variant``: the
drawn values and the rejected draws).
"""

from __future__ import annotations

import re
from dataclasses import replace

import mpmath
import sympy as sp

from derive.maths import trees
from derive.maths.backprop import BackwardPass, backward, select
from derive.maths.display import TermOrder
from derive.render.prose import note_form
from derive.sheet.model import Exercise
from derive.sheet.variants import decimal_text
from derive.steps import CircuitDrawing, Figure, Math, Note, Solution, Table, Text
from derive.tasks.backprop import graph_for
from derive.tasks.spec import Context
from derive.verify.claims import Numbers

D = sp.Derivative
EXACT_SIZE = 24  # tree nodes: a longer closed form is shown as the row's formula instead
DATA_DIGITS = 20


def _plain_number(text: str) -> str:
    return re.sub(r" \\cdot 10\^\{(-?[0-9]+)\}$", r"e\1", text)


note_form("decimal", lambda text: f"${text}$", lambda text: text)  # an exact decimal: 0.7
note_form("approx", lambda text: rf"$\approx {text}$", lambda text: "≈ " + _plain_number(text))


def exact_values(bp: BackwardPass, at: dict[str, sp.Rational]
                 ) -> tuple[dict[str, sp.Expr], dict[str, sp.Expr], dict[str, sp.Expr]]:
    """The exact forward values (every node the loss reads), δ's and gradients of ``bp`` at the
    leaf values ``at``, each a closed form (SymPy's evaluation of the substituted expression)."""
    g = bp.graph
    env: dict[sp.Symbol, sp.Expr] = {g.sym(n): v for n, v in at.items() if n in g}
    values: dict[str, sp.Expr] = {}
    for n in g.order:
        if n == bp.loss or n in g.ancestors(bp.loss):
            env[g.sym(n)] = values[n] = g.exprs[n].xreplace(env)
    deltas: dict[str, sp.Expr] = {}
    for d in bp.deltas:
        env[d.symbol] = deltas[d.node] = d.value.xreplace(env)
    grads = {gr.wrt: gr.value.xreplace(env) for gr in bp.gradients}
    return values, deltas, grads


def rounded_text(v: sp.Expr, digits: int) -> str:
    """A number as the tables show it: the fraction's decimal when rational with a short one,
    else ``v`` to ``digits`` significant digits (mpmath's rounding of 30 digits)."""
    with mpmath.workdps(digits + 30):
        x = mpmath.mpf(sp.N(v, digits + 30))
        text = mpmath.nstr(x, digits, min_fixed=-6, max_fixed=12, strip_zeros=False)
    if "e" in text:
        mant, exp = text.split("e")
        return rf"{mant} \cdot 10^{{{int(exp)}}}"
    return text


def _cells(v: sp.Expr, formula: sp.Expr, digits: int) -> tuple:
    """(value cell, exact cell): a rational as itself, beside nothing; otherwise ``≈`` its
    rounding, beside the closed form (or ``formula`` when the closed form is long)."""
    if v.is_Rational:
        text = decimal_text(v)
        return (v if "/" in text else Note("decimal", (text,))), ""
    return (Note("approx", (rounded_text(v, digits),)),
            v if trees.size(v) <= EXACT_SIZE else formula)


def _data(v: sp.Expr) -> sp.Expr:
    return v if v.is_Rational else sp.N(v, DATA_DIGITS)


def shown_text(v: sp.Expr, digits: int) -> str:
    """A value as a figure writes it (plain text): exact when rational, else rounded."""
    if v.is_Rational:
        return decimal_text(v)
    return _plain_number(rounded_text(v, digits))


def circuit(bp: BackwardPass, at: dict[str, sp.Rational], values: dict[str, sp.Expr],
            deltas: dict[str, sp.Expr], grads: dict[str, sp.Expr], digits: int,
            notation: dict[str, str], names: tuple[str, ...]) -> CircuitDrawing:
    """The circuit diagram of ``bp`` at the point: every leaf the loss reads and every node
    with its value, each δ on its node and each asked gradient on its leaf."""
    g = bp.graph
    leaves = [n for n in g.leaves if n in g.ancestors(bp.loss)]
    kind = {n: "target" if n in g.targets else "input" for n in leaves}
    kind.update({n: "loss" if n == bp.loss else "neuron" for n in values})
    nodes = tuple((n, kind[n]) for n in (*leaves, *values))
    edges = tuple((n, p) for n in values for p in g.parents[n])
    value = {n: shown_text(v, digits) for n, v in {**at, **values}.items() if n in kind}
    gradient: dict[str, tuple] = {d.node: (d.symbol, shown_text(deltas[d.node], digits))
                                  for d in bp.deltas}
    E = g.sym(bp.loss)
    for w, v in grads.items():
        if w not in gradient:
            gradient[w] = (D(E, g.sym(w), evaluate=False), shown_text(v, digits))
    return CircuitDrawing(nodes, edges, value, gradient, dict(notation), tuple(names))


def add_numbers(solution: Solution, ctx: Context, ex: Exercise) -> Solution:
    """``solution`` (a backprop part's, symbolic) with the worked numbers at ``ex``'s drawn
    values: the two tables, their claim and their data."""
    assert ex.drawn is not None and ex.variants is not None
    digits = ex.variants.digits
    graph = graph_for(ctx)
    loss, wrt = select(graph, ctx.params.get("loss"), ctx.params["wrt"], ctx.error)
    bp = backward(graph, loss, wrt, TermOrder(ctx.names))
    at = dict(ex.drawn.values)
    values, deltas, grads = exact_values(bp, at)
    notation, order = ctx.notation, TermOrder(ctx.names)

    def math(e: sp.Basic) -> Math:
        return Math(e, notation, order)

    shown: list[tuple[str, sp.Expr, str]] = []  # (what, exact, the rounding printed)

    def row(what: str, quantity: sp.Basic, v: sp.Expr, formula: sp.Expr) -> tuple:
        value, beside = _cells(v, formula, digits)
        if not v.is_Rational:
            shown.append((what, v, rounded_text(v, digits)))
        return (math(quantity), value, beside)

    E = graph.sym(loss)
    forward = tuple(row(n, graph.sym(n), values[n], graph.exprs[n]) for n in values)
    backward_rows = tuple(row(f"delta {d.node}", d.symbol, deltas[d.node], d.value)
                          for d in bp.deltas)
    backward_rows += tuple(row(f"d{loss}/d{gr.wrt}", D(E, graph.sym(gr.wrt), evaluate=False),
                               grads[gr.wrt], gr.value) for gr in bp.gradients)
    blocks = [*solution.blocks,
              Text(f"The numbers at this variant's values: exact where they are rational, "
                   f"otherwise rounded to {digits} significant digits with the exact closed form "
                   "beside them (or, when that is long, the row's formula in the quantities of "
                   "the rows above)."),
              Table(("quantity", "value", "exact"), forward,
                    caption="Forward pass: every node the loss reads"),
              Table(("quantity", "value", "exact"), backward_rows,
                    caption="Backward pass: every δ, then the gradients")]
    blocks.append(Figure(f"{ctx.stem}-values", circuit(bp, at, values, deltas, grads, digits,
                                                       notation, ctx.names),
                         caption="The computation graph at this variant's values: each node's "
                         "value above it, its δ (or the asked gradient) below it"))
    claim = Numbers(bp, at, values, deltas, grads, dict(solution.answers), tuple(shown), digits)
    data = {**solution.data,
            "variant": {"values": {n: decimal_text(v) for n, v in at.items()},
                        "rejected": dict(ex.drawn.rejected)},
            "values": {**{n: v for n, v in at.items() if n in graph.ancestors(loss)},
                       **{n: _data(v) for n, v in values.items()}},
            "deltas_at": {n: _data(v) for n, v in deltas.items()},
            "gradients": {w: _data(v) for w, v in grads.items()},
            "digits": digits}
    return replace(solution, blocks=blocks, data=data, claims=[*solution.claims, claim])
