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

from derive.errors import InputError
from derive.maths import trees
from derive.maths.backprop import BackwardPass, backward, select
from derive.maths.display import Names, TermOrder
from derive.maths.network import Network, build_network
from derive.render.prose import note_form
from derive.sheet.model import Exercise
from derive.sheet.variants import decimal_text
from derive.steps import (
    CircuitDrawing,
    Figure,
    Math,
    NetworkDrawing,
    NetworkValues,
    Note,
    Solution,
    Table,
    Text,
    Value,
)
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


def shown_value(v: sp.Expr, digits: int) -> Value:
    """A value as a figure writes it: exact when rational, else rounded (LaTeX math)."""
    if v.is_Rational:
        return Value(decimal_text(v))
    return Value(rounded_text(v, digits), exact=False)


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
    value = {n: shown_value(v, digits) for n, v in {**at, **values}.items() if n in kind}
    gradient: dict[str, tuple] = {d.node: (d.symbol, shown_value(deltas[d.node], digits))
                                  for d in bp.deltas}
    E = g.sym(bp.loss)
    for w, v in grads.items():
        if w not in gradient:
            gradient[w] = (D(E, g.sym(w), evaluate=False), shown_value(v, digits))
    return CircuitDrawing(nodes, edges, value, gradient, dict(notation), Names(names))


def network_of(bp: BackwardPass, model: list[tuple[str, sp.Expr]], at: dict[str, sp.Rational],
               values: dict[str, sp.Expr]) -> Network | None:
    """The network the graph of ``bp`` is (the network task's reading of the computation list,
    with the graph's inputs), when every node the figure would draw is a quantity the tables
    have, its targets are the graph's and every weight and bias is a number or a drawn leaf;
    else None."""
    g = bp.graph
    try:
        net = build_network(model, bp.loss, list(g.inputs))
    except InputError:
        return None
    drawn = [n.name for n in net.neurons] + [n.pre for n in net.neurons if n.pre is not None]
    drawn += [loss.name for loss in net.losses]
    coefficients = [w for n in net.neurons for _, w in n.weights] + [n.bias for n in net.neurons]
    if sorted(drawn) != sorted(values) or set(net.targets) != set(g.targets) & set(at) \
            or not all(x in at for x in (*net.inputs, *net.targets)):
        return None  # a node the tables do not have, or a parameter read as a target
    if not all(c.is_number or (isinstance(c, sp.Symbol) and c.name in at) for c in coefficients):
        return None
    return net


def network_values(bp: BackwardPass, net: Network, at: dict[str, sp.Rational],
                   values: dict[str, sp.Expr], deltas: dict[str, sp.Expr],
                   grads: dict[str, sp.Expr], digits: int) -> NetworkValues:
    """The numbers on the network ``net`` of ``bp`` (see :func:`network_of`): every quantity's
    value, each δ on its node, and in the legend each asked gradient that is not a δ drawn and
    each leaf the loss reads that the drawing has no place for (a regulariser's λ)."""
    g = bp.graph
    shown = {n: shown_value(v, digits) for n, v in {**at, **values}.items()
             if n in values or n in g.ancestors(bp.loss)}
    on_nodes = {d.node: (d.symbol, shown_value(deltas[d.node], digits)) for d in bp.deltas}
    placed = {*net.inputs, *net.targets, *values}
    placed |= {c.name for n in net.neurons for c in (n.bias, *(w for _, w in n.weights))
               if isinstance(c, sp.Symbol)}
    E = g.sym(bp.loss)
    notes = [(D(E, g.sym(w), evaluate=False), shown_value(v, digits))
             for w, v in grads.items() if w not in on_nodes]
    notes += [(g.sym(n), shown[n]) for n in at if n in shown and n not in placed]
    return NetworkValues(shown, on_nodes, tuple(notes))


def _figure(stem: str, bp: BackwardPass, model: list[tuple[str, sp.Expr]],
            at: dict[str, sp.Rational], values, deltas, grads, digits: int,
            notation: dict[str, str], names: tuple[str, ...]) -> Figure:
    """The figure with the numbers: on the network when the graph is one, else a circuit."""
    rounding = f"≈ marks a value rounded to {digits} significant digits"
    net = network_of(bp, model, at, values)
    if net is None:
        return Figure(f"{stem}-values", circuit(bp, at, values, deltas, grads, digits, notation,
                                                names),
                      caption="The computation graph at this variant's values: each "
                      "computed node's value above it and its δ below it, each leaf's value "
                      "(and the asked gradient) on its left. "
                      + rounding[0].upper() + rounding[1:] + ".")
    nv = network_values(bp, net, at, values, deltas, grads, digits)
    said = ["each edge carries its weight",
            "below each node, its value" + (" and (where the derivation has one) its δ"
                                            if nv.deltas else "")]
    biased = any(isinstance(n.bias, sp.Symbol) or n.bias != 0 for n in net.neurons)
    if any(n.pre for n in net.neurons):
        said.append("above each neuron, " + ("its bias and " if biased else "")
                    + "its pre-activation where the sheet names one")
    elif biased:
        said.append("above each neuron, its bias")
    if nv.notes:
        asked = len(nv.notes) - len([n for n in nv.notes if not isinstance(n[0], D)])
        what = "the asked gradient" + ("s" if asked > 1 else "") if asked else ""
        if len(nv.notes) > asked:
            what += (" and " if what else "") + "the other values the loss reads"
        said.append("below the drawing, " + what)
    zero = any(n.bias == 0 for n in net.neurons)
    return Figure(f"{stem}-values", NetworkDrawing(net, dict(notation), Names(names),
                                                   values=nv),
                  caption="The network at this variant's values: " + "; ".join(said) + ". "
                  + rounding[0].upper() + rounding[1:]
                  + ("; biases that are 0 are not drawn." if zero else "."))


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
    # a formula is written through the named nodes above it: 1 - a_6^2, not 1 - tanh^2(z_6)
    named = {graph.exprs[n]: graph.sym(n) for n in values
             if n in graph.exprs and not graph.exprs[n].is_Atom}
    forward = tuple(row(n, graph.sym(n), values[n], graph.exprs[n]) for n in values)
    backward_rows = tuple(row(f"delta {d.node}", d.symbol, deltas[d.node],
                              d.value.xreplace(named)) for d in bp.deltas)
    backward_rows += tuple(row(f"d{loss}/d{gr.wrt}", D(E, graph.sym(gr.wrt), evaluate=False),
                               grads[gr.wrt], gr.value.xreplace(named)) for gr in bp.gradients)
    blocks = [*solution.blocks,
              Text(f"The numbers at this variant's values: exact where they are rational, "
                   f"otherwise rounded to {digits} significant digits with the exact closed form "
                   "beside them (or, when that is long, the row's formula in the quantities of "
                   "the rows above)."),
              Table(("quantity", "value", "exact"), forward,
                    caption="Forward pass: every node the loss reads"),
              Table(("quantity", "value", "exact"), backward_rows,
                    caption="Backward pass: every δ, then the gradients")]
    blocks.append(_figure(ctx.stem, bp, [(a.name, a.expr) for a in ctx.model], at, values,
                          deltas, grads, digits, notation, ctx.names))
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
