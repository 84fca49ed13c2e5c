"""How the backward pass scales: tanh MLPs of growing depth and width, every parameter a target.

Run: ``.venv/bin/python benchmarks/bench_backprop.py`` (add ``--quick`` for a short table).

Columns: depth and width of the MLP, the number of edges of its computation graph, the seconds
for the derivation (:func:`derive.backprop.backward`: every δ and gradient, one local derivative
per edge), milliseconds per edge, the seconds for the whole solution without its numeric
verification (:func:`derive.tasks.backprop.solve`: lines, closed forms, and symbolic
``sympy.diff`` truths for the targets whose substituted loss stays under ``SYMBOLIC_LIMIT`` tree
nodes, so each costs a bounded amount), and the seconds for the numeric verification
(forward-mode ``sympy.diff`` at 3 random points for every gradient, which is quadratic: one
forward pass per target). A derivation that substituted the graph into itself
would grow like width^depth; the seconds per edge stay flat instead.
"""

from __future__ import annotations

import sys
import time

import sympy as sp

from derive import backprop
from derive.backprop import backward
from derive.functions import symbol
from derive.graph import build_graph
from derive.latex import TermOrder
from derive.tasks import Assignment
from derive.tasks.backprop import solve


def mlp(depth: int, width: int) -> list[Assignment]:
    """x -> depth tanh layers of ``width`` units -> y; E = (y - t)^2 / 2."""
    out, prev = [], [symbol(f"x{i}") for i in range(1, width + 1)]
    for layer in range(1, depth + 1):
        cur = []
        for j in range(1, width + 1):
            z = sum(symbol(f"w{layer}_{i}_{j}") * p for i, p in enumerate(prev, 1))
            out.append(Assignment(f"z{layer}_{j}", z + symbol(f"b{layer}_{j}"), "", None))
            out.append(Assignment(f"a{layer}_{j}", sp.tanh(symbol(f"z{layer}_{j}")), "", None))
            cur.append(symbol(f"a{layer}_{j}"))
        prev = cur
    out.append(Assignment("y", sum(symbol(f"v{i}") * p for i, p in enumerate(prev, 1)), "", None))
    out.append(Assignment("E", (symbol("y") - symbol("t")) ** 2 / 2, "", None))
    return out


def measure(depth: int, width: int) -> tuple[int, float, float, float]:
    g = build_graph(mlp(depth, width))
    edges = sum(len(p) for p in g.parents.values())
    wrt = list(g.parameters)
    t0 = time.perf_counter()
    backward(g, "E", wrt)
    t1 = time.perf_counter()
    real = backprop.numeric_checks
    backprop_tasks = sys.modules["derive.tasks.backprop"]
    backprop_tasks.numeric_checks = lambda bp: []  # time the lines alone
    try:
        solve(g, "E", wrt, TermOrder())
    finally:
        backprop_tasks.numeric_checks = real
    t2 = time.perf_counter()
    real(backward(g, "E", wrt))
    t3 = time.perf_counter()
    return edges, t1 - t0, t2 - t1, t3 - t2


def main() -> None:
    quick = "--quick" in sys.argv
    sizes = [(2, 2), (4, 2), (8, 2), (16, 2), (2, 4), (4, 4), (8, 4), (16, 4), (4, 8), (8, 8)]
    if quick:
        sizes = [(2, 2), (4, 2), (8, 2), (4, 4)]
    print(f"{'depth':>5} {'width':>5} {'edges':>6} {'derive s':>9} {'ms/edge':>8} "
          f"{'solve s':>8} {'verify s':>9}")
    for depth, width in sizes:
        edges, derive_s, lines_s, verify_s = measure(depth, width)
        print(f"{depth:5d} {width:5d} {edges:6d} {derive_s:9.3f} {1000 * derive_s / edges:8.2f} "
              f"{lines_s:8.3f} {verify_s:9.3f}", flush=True)


if __name__ == "__main__":
    main()
