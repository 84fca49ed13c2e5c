"""The shortcuts that make builds fast (issue 15) give the results the long ways give."""

from __future__ import annotations

import sympy as sp
from conftest import tanh_mlp

from derive.maths import backprop
from derive.maths.graph import build_graph


def test_expanded_size_with_a_limit_decides_as_the_full_count():
    g = build_graph(tanh_mlp(4, 3))
    E = g.sym("E")
    for name in g.names:
        over = set(g.descendants(name)) - {name}
        full = g.expanded_size(E, over)
        for limit in (10, 100, 400, 5000):
            early = g.expanded_size(E, over, limit)
            assert (early > limit) == (full > limit), (name, limit)
            if full <= limit:
                assert early == full


def test_truths_are_computed_once_per_graph(monkeypatch):
    g = build_graph(tanh_mlp(2, 2))
    bp = backprop.backward(g, "E", ["v1"])
    calls = []
    real = backprop.sp.diff
    monkeypatch.setattr(backprop.sp, "diff", lambda *a: calls.append(a) or real(*a))
    first = backprop.truth(bp, "v1")
    assert first is not None and len(calls) == 1
    assert backprop.truth(bp, "v1") is first and len(calls) == 1
    assert backprop.truth(bp, "v1", limit=10**6) == first and len(calls) == 2  # another key


def test_rational_zero_decides_as_cancel_of_expand_and_skips_cancel_when_it_can(monkeypatch):
    from derive.maths.functions import to_elementary
    from derive.sheet.parse import parse_expr
    from derive.verify import equality

    x, y = sp.symbols("x y", real=True)
    cases = [(x + 1) ** 2 - x**2 - 2 * x - 1, 1 / (x + y) ** 3 - 1 / (x + y) ** 3 + x - x,
             x / (x + 1) - 1 / (1 + 1 / x), sp.exp(2 * x) - sp.exp(x) ** 2,
             sp.Max(0, x) ** 2 - sp.Max(0, x) * sp.Max(x, 0), (x + 1) ** 2 - x**2,
             1 / (x + 1) - 1 / (x - 1), sp.Piecewise((x, x > 0), (0, True)) - x]
    for e in cases:
        assert equality._rational_zero(e) == (sp.cancel(sp.expand(e)) == 0), e
    # micrograd's loss line: 0 without cancel's gcds
    lhs = parse_expr("-24*(1/2 - 10/(c3 - 12*d - relu(-a + b) - 4*relu(a + b))**4)"
                     "*(c3 - 12*d - relu(-a + b) - 4*relu(a + b))")
    rhs = parse_expr("-12*c3 + 144*d + 12*relu(-a + b) + 48*relu(a + b) + "
                     "240/(c3 - 12*d - relu(-a + b) - 4*relu(a + b))**3")

    def refuse(*args, **kwargs):
        raise AssertionError("cancel was called")

    monkeypatch.setattr(equality.sp, "cancel", refuse)
    assert equality._rational_zero(to_elementary(lhs - rhs))
