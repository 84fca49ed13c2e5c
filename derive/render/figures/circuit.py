"""Circuit diagrams: a computation graph with each node's value above it and its gradient below
it (a :class:`derive.steps.CircuitDrawing`), in the manner of the CS231n backpropagation circuits.

The labels are made here (a node's name inside it; its value, ``≈`` before a rounded one,
above; its δ or asked gradient, ``δ3 ≈ 0.05754``, ``∂E/∂w13 = −0.3``, below) and laid out by
:func:`derive.render.figures.layout.graph_diagram`: columns by depth, edges routed around
nodes, each column ordered to minimise crossings, labels placed clear of each other and of the
edges. The diagram is drawn by the network templates.
"""

from __future__ import annotations

import sympy as sp

from derive.maths.display import TermOrder
from derive.render.figures.labels import label, value_label
from derive.render.figures.layout import Diagram, GraphNode, graph_diagram
from derive.steps import CircuitDrawing


def circuit_diagram(c: CircuitDrawing) -> Diagram:
    """The layout of ``c``."""
    order = TermOrder(c.names)
    nodes = []
    for n, kind in c.nodes:
        inner = label(sp.Symbol(n, real=True), notation=c.notation, order=order)
        above = (value_label(c.value[n]),) if n in c.value else ()
        below = ()
        if n in c.gradient:
            q, v = c.gradient[n]
            below = (value_label(v, q, c.notation, order),)
        nodes.append(GraphNode(n, kind, inner, above, below))
    return graph_diagram(nodes, [(read, reader) for reader, read in c.edges])
