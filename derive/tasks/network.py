"""Task ``network``: draw the network behind an expression or a computation list (1a, 3a, 4a).

Parameters (TOML, in the part), exactly one of:

* ``of``: a name in the exercise's model. With ``model = ["y = 1 - relu(x1) - ..."]`` and
  ``of = "y"`` each ReLU/max unit becomes a hidden neuron (1a); with a computation list
  (``z3 = x1*w13 + ...``, ``a3 = tanh(z3)``) the z/a pairs are the neurons (3a, 4a). The loss
  computed from ``of`` (``E = (y - t)**2``) is drawn too, with its target, unless ``loss = false``;
  ``of = "E"`` draws the same graph.
* ``expr``: an expression for the output, e.g. ``"1 - relu(x1) - relu(x2) + relu(x1 + x2)"``; its
  name is ``output`` (default ``y``).

Optional: ``inputs`` (list of names; default: the names starting with ``x``), ``loss`` (bool),
``output`` (str). See :mod:`derive.maths.network` for the rules.

The solution: a sentence on how the network was read, a table of neurons (layer, pre-activation,
nonlinearity, bias), the neuron definitions, and the diagram. ``data``: ``inputs``, ``neurons``
(name, pre, layer, activation, f, bias, weights), ``outputs``, ``targets``, ``losses``.
"""

from __future__ import annotations

import sympy as sp

from derive.errors import InputError
from derive.maths.display import Names
from derive.maths.functions import symbol
from derive.maths.network import Network, Z, build_network, expanded, nonlinearity
from derive.sheet.parse import parse_expr
from derive.steps import (
    Align,
    Figure,
    Line,
    Math,
    NetworkDrawing,
    Note,
    Prose,
    Solution,
    Table,
    Text,
    prose,
)
from derive.tasks.spec import Context, task
from derive.verify.claims import Recomputes


@task(
    "network",
    optional={"of": str, "expr": str, "inputs": list, "loss": bool, "output": str},
    summary="draw the network of an expression or a computation list (weights, biases, "
    "nonlinearities)",
)
def run(ctx: Context) -> Solution:
    model, of = model_for(ctx)
    inputs = ctx.params.get("inputs")
    try:
        net = build_network(model, of, inputs, include_loss=ctx.params.get("loss", True))
    except InputError as e:
        raise ctx.error(e.message, "expr" if "expr" in ctx.params else "of") from None
    return solve(net, model, of, ctx.notation, ctx.names, ctx.stem)


def model_for(ctx: Context) -> tuple[list[tuple[str, sp.Expr]], str]:
    """The computation list and the drawn quantity, from ``of`` or ``expr``."""
    of, text = ctx.params.get("of"), ctx.params.get("expr")
    if (of is None) == (text is None):
        raise ctx.error("give either 'of' (a name in the model) or 'expr' (an expression)")
    if text is not None:
        try:
            expr = parse_expr(text)
        except InputError as e:
            raise ctx.error(f"'expr': {e.message}", "expr") from None
        name = ctx.params.get("output", "y")
        return [(name, expr)], name
    if ctx.assignment(of) is None:
        names = ", ".join(a.name for a in ctx.model) or "nothing"
        raise ctx.error(f"{of!r} is not defined in the model (it defines {names})", "of")
    return [(a.name, a.expr) for a in ctx.model], of


def nonlinearity_cell(n) -> sp.Basic:
    """The table's nonlinearity of a neuron: its name, or ``z -> f(z)``."""
    named = nonlinearity(n.activation)
    return named if named is not None else sp.Lambda(Z, n.activation.formula)


def solve(net: Network, model, of: str, notation, names, stem: str) -> Solution:
    """The write-up and the figure for a network already built; it claims that the network
    recomputes the model."""
    hidden = [n for n in net.neurons if n.name not in net.outputs]
    anonymous = [n for n in hidden if n.pre is None and not any(n.name == m for m, _ in model)]
    inputs = _listed([Math(symbol(x), notation) for x in net.inputs])
    if anonymous:
        intro = prose("Each nonlinear unit of ", Math(symbol(of), notation), " is a hidden neuron "
                      "with an affine pre-activation; nested units sit in deeper layers and the "
                      "output is affine in the units. Inputs: ", inputs, ".")
    else:
        intro = prose("Each pre-activation ", Note("neuron-preactivation"), " with its activation ",
                      Note("neuron-activation"), " is one neuron; the weights label the edges. "
                      "Inputs: ", inputs, ".")
    rows = []
    lines = []
    for n in net.neurons:
        pre = n.preactivation({s: symbol(s) for s, _ in n.weights})
        rows.append((symbol(n.name), str(n.layer), pre, nonlinearity_cell(n), n.bias))
        zsym = symbol(n.pre) if n.pre else None
        if zsym is not None:
            rule = prose("pre-activation of ", Math(symbol(n.name)))
            lines.append(Line(zsym, pre, rule=rule, relation=":="))
            lines.append(Line(symbol(n.name), n.activation(zsym), rule="activation",
                              relation=":="))
        else:
            kind = "output" if n.name in net.outputs else f"layer {n.layer}"
            lines.append(Line(symbol(n.name), n.activation(pre), rule=f"neuron, {kind}",
                              relation=":="))
    for loss in net.losses:
        lines.append(Line(symbol(loss.name), loss.expr, rule="loss", relation=":="))
    blocks = [Text(intro),
              Table(("neuron", "layer", prose("pre-activation ", Math(symbol("z"))),
                     "nonlinearity", prose("bias ", Math(symbol("b")))),
                    tuple(rows)),
              Align(tuple(lines))]
    value = net.values()
    if anonymous:  # the network recomputes the expression: a checked line
        original = expanded(model, of, set())
        blocks.append(Align((Line(symbol(of), original, rule="the expression",
                                  check=(value[of], original)),)))
    drawing = NetworkDrawing(net, notation, Names(names), title=f"network of {of}")
    blocks.append(Figure(stem, drawing, caption=_caption(net)))
    return Solution(blocks=blocks, data=net.to_json(), claims=[Recomputes(net, model, of)])


def _listed(items: list[Math]) -> Prose:
    """``a, b, c``."""
    parts: list[str | Math] = []
    for item in items:
        parts += [", ", item] if parts else [item]
    return prose(*parts)


def _caption(net: Network) -> Prose:
    text = prose("Inputs on the left; each neuron shows its nonlinearity inside, its bias ",
                 Math(symbol("b")), " above and its name below; each edge carries its weight.")
    if net.losses:
        text += " The loss node reads the output and the target (dashed)."
    return text
