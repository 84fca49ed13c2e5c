"""Faster paths of the MLP and regions benchmarks (issue 15) give exactly what the plain ways give:
the same SymPy trees (compared by ``srepr``), the same floats."""

from __future__ import annotations

import sympy as sp
from conftest import tanh_mlp

from derive.maths import backprop
from derive.maths.graph import build_graph
from derive.render.notation import TermOrder


def _closed_values(depth: int, width: int):
    g = build_graph(tanh_mlp(depth, width))
    bp = backprop.backward(g, "E", list(g.parameters), TermOrder())
    return g, [c.value for c in backprop.closed_forms(bp).values()]


def test_memoized_factor_terms_is_sympys_factor_terms_on_closed_gradients():
    g, values = _closed_values(3, 3)
    assert len(values) > 10
    for value in values:
        assert sp.srepr(backprop.factor_terms(g, value)) == sp.srepr(sp.factor_terms(value))
    assert g.memo["factor_terms"]  # the shared factors were memoized


def test_memoized_factor_terms_is_sympys_factor_terms_on_products_with_content():
    x, y, t = sp.symbols("x y t")
    g = build_graph(tanh_mlp(1, 1))
    for expr in (6 * x * (2 * y + 4 * t), -3 * (x - y) * (2 * x + 2) / 4, sp.S(2) / 3 * x,
                 (4 * x + 2) * sp.tanh(2 * y + 2 * t) * (1 - sp.tanh(x) ** 2),
                 -(x + 1) * (y - 1), x * (y + t), 2 * x + 4 * y, sp.exp(-(2 * x + 2)) * 3,
                 sp.Float(2.5) * (2 * x + 4)):
        assert sp.srepr(backprop.factor_terms(g, expr)) == sp.srepr(sp.factor_terms(expr)), expr
