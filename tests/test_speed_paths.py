"""The shortcuts that make builds fast (issue 15) give the results the long ways give."""

from __future__ import annotations

import sympy as sp

from derive.maths import backprop
from derive.maths.functions import symbol
from derive.maths.graph import build_graph
from derive.sheet.model import Assignment


def _mlp(depth: int, width: int):
    out, prev = [], [symbol(f"x{i}") for i in range(1, width + 1)]
    for layer in range(1, depth + 1):
        cur = []
        for j in range(1, width + 1):
            z = sp.Add(*(symbol(f"w{layer}_{i}_{j}") * p for i, p in enumerate(prev, 1)))
            out.append(Assignment(f"z{layer}_{j}", z, "", None))
            out.append(Assignment(f"a{layer}_{j}", sp.tanh(symbol(f"z{layer}_{j}")), "", None))
            cur.append(symbol(f"a{layer}_{j}"))
        prev = cur
    out.append(Assignment("y", sp.Add(*(symbol(f"v{i}") * p for i, p in enumerate(prev, 1))),
                          "", None))
    out.append(Assignment("E", sp.log(sp.cosh(symbol("y") - symbol("t"))), "", None))
    return out


def test_expanded_size_with_a_limit_decides_as_the_full_count():
    g = build_graph(_mlp(4, 3))
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
    g = build_graph(_mlp(2, 2))
    bp = backprop.backward(g, "E", ["v1"])
    calls = []
    real = backprop.sp.diff
    monkeypatch.setattr(backprop.sp, "diff", lambda *a: calls.append(a) or real(*a))
    first = backprop.truth(bp, "v1")
    assert first is not None and len(calls) == 1
    assert backprop.truth(bp, "v1") is first and len(calls) == 1
    assert backprop.truth(bp, "v1", limit=10**6) == first and len(calls) == 2  # another key
