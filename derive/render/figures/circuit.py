"""Circuit diagrams: a computation graph with each node's value above it and its gradient below
it (a :class:`derive.steps.CircuitDrawing`), in the manner of the CS231n backpropagation circuits.

Layout: every node in the column of its depth (one more than its deepest parent's); every leaf in
the column just before its first reader; in a column, computed nodes by the mean row of their
computed parents and each leaf beside its first reader, the column centred vertically. A leaf's
value is written on its left, a computed node's above it; a gradient below its node. Edges are
straight arrows from the reader's parents. The diagram is a
:class:`derive.render.figures.layout.Diagram`, drawn by the network templates.
"""

from __future__ import annotations

import sympy as sp

from derive.maths.display import TermOrder
from derive.render.figures.labels import PX_PER_CM, label
from derive.render.figures.layout import Diagram, Edge, Frame, Node, Text
from derive.steps import CircuitDrawing

COLUMN = 2.9  # cm between columns
ROW = 2.5  # cm between rows
DIAMETER = 0.95  # cm
GAP = 0.28  # cm between a node and its value or gradient
MARGIN = 0.3


def _text(frame: Frame, lab, x: float, y: float, background: bool = True) -> Text:
    corner = frame.p(x - lab.width / 2, y + lab.height / 2)
    return Text(lab, frame.p(x, y), corner, lab.width * PX_PER_CM, lab.height * PX_PER_CM,
                background)


def _quantity(q: sp.Basic) -> tuple:
    """A gradient's name as label items: ``∂E/∂w`` written out, a δ symbol as it is."""
    if isinstance(q, sp.Derivative):
        return ("∂", q.expr, "/∂", q.variables[0])
    return (q,)


def circuit_diagram(c: CircuitDrawing) -> Diagram:
    """The layout of ``c``."""
    order = TermOrder(c.names)
    parents: dict[str, list[str]] = {n: [] for n, _ in c.nodes}
    readers: dict[str, list[str]] = {n: [] for n, _ in c.nodes}
    for reader, read in c.edges:
        parents[reader].append(read)
        readers[read].append(reader)
    depth: dict[str, int] = {}
    for n, _ in c.nodes:  # topological order: parents first
        depth[n] = 1 + max((depth[p] for p in parents[n]), default=-1)
    for n, _ in c.nodes:
        if not parents[n] and readers[n]:
            depth[n] = min(depth[r] for r in readers[n]) - 1
    columns: dict[int, list[str]] = {}
    for n, _ in c.nodes:
        columns.setdefault(depth[n], []).append(n)
    # rows: computed nodes by the mean row of their computed parents, column by column; then
    # each leaf beside its first reader (fewer crossings than the order of introduction)
    key: dict[str, float] = {}
    for d in sorted(columns):
        inner = [n for n in columns[d] if parents[n]]
        for n in inner:
            above = [key[p] for p in parents[n] if parents[p]]
            key[n] = sum(above) / len(above) if above else float(inner.index(n))
        for i, n in enumerate(sorted(inner, key=lambda m: key[m])):
            key[n] = i - (len(inner) - 1) / 2
    for n, _ in c.nodes:
        if not parents[n]:
            first = readers[n][0] if readers[n] else None
            key[n] = key.get(first, 0.0) + 0.001 * [m for m, _ in c.nodes].index(n)
    at = {}
    for d, col in columns.items():  # each column centred on y = 0, in the order of its keys
        ranked = sorted(col, key=lambda m: key[m])
        for i, n in enumerate(ranked):
            at[n] = (d * COLUMN, ((len(col) - 1) / 2 - i) * ROW)
    names = {n: label(sp.Symbol(n, real=True), notation=c.notation, order=order)
             for n, _ in c.nodes}
    values = {n: label(v) for n, v in c.value.items()}
    grads = {n: label(*_quantity(q), f" = {v}", notation=c.notation, order=order)
             for n, (q, v) in c.gradient.items()}
    half_w = max([lab.width for lab in (*values.values(), *grads.values())] + [DIAMETER]) / 2
    r = DIAMETER / 2
    tall = max([lab.height for lab in (*values.values(), *grads.values())] + [0.0])
    xs = [x for x, _ in at.values()]
    ys = [y for _, y in at.values()]
    left = max([values[n].width for n in values if not parents[n]] + [0.0])
    frame = Frame(min(xs) - max(half_w, r + GAP + left) - MARGIN, min(ys) - r - GAP - tall - MARGIN,
                  max(xs) + half_w + MARGIN, max(ys) + r + GAP + tall + MARGIN)
    nodes = []
    for n, kind in c.nodes:
        x, y = at[n]
        texts = []
        if n in values and not parents[n]:  # a leaf: its value on its left
            texts.append(_text(frame, values[n], x - r - GAP - values[n].width / 2, y))
        elif n in values:
            texts.append(_text(frame, values[n], x, y + r + GAP + values[n].height / 2))
        if n in grads:
            texts.append(_text(frame, grads[n], x, y - r - GAP - grads[n].height / 2))
        centre = frame.p(x, y)
        nodes.append(Node(n, kind, "circle", centre, DIAMETER, DIAMETER, r * PX_PER_CM,
                          DIAMETER * PX_PER_CM, DIAMETER * PX_PER_CM, frame.p(x - r, y + r),
                          _text(frame, names[n], x, y, background=False), tuple(texts)))
    edges = []
    for reader, read in c.edges:
        (x0, y0), (x1, y1) = at[read], at[reader]
        dx, dy = x1 - x0, y1 - y0
        length = (dx * dx + dy * dy) ** 0.5 or 1.0
        a = (x0 + dx / length * r, y0 + dy / length * r)
        b = (x1 - dx / length * r, y1 - dy / length * r)
        edges.append(Edge((frame.p(*a), frame.p(*b)), None))
    return Diagram(frame, tuple(nodes), tuple(edges), 0, 0)
