"""Circuit diagrams: a computation graph with each node's value above it and its gradient below
it (a :class:`derive.steps.CircuitDrawing`), in the manner of the CS231n backpropagation circuits.

The labels are made here (a node's name inside it; its value, ``≈`` before a rounded one,
above; its δ, ``δ3 ≈ 0.05754``, below; a leaf's value and asked gradient, ``∂E/∂w13 = −0.3``,
on its left, where no edge comes in) and laid out by
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
    computed = {reader for reader, _ in c.edges}
    nodes = []
    for n, kind in c.nodes:
        inner = label(sp.Symbol(n, real=True), notation=c.notation, order=order)
        value = (value_label(c.value[n]),) if n in c.value else ()
        gradient = ()
        if n in c.gradient:
            q, v = c.gradient[n]
            gradient = (value_label(v, q, c.notation, order),)
        if n in computed:
            nodes.append(GraphNode(n, kind, inner, value, gradient))
        else:  # a leaf: only edges out, to the right, so both on its left
            nodes.append(GraphNode(n, kind, inner, left=value + gradient))
    return graph_diagram(nodes, [(read, reader) for reader, read in c.edges])
