"""How the backward pass scales: tanh MLPs of growing depth and width, every parameter a target.

Run: ``.venv/bin/python benchmarks/bench_backprop.py`` (add ``--quick`` for a short table).

Columns: depth and width of the MLP, the number of edges of its computation graph, the seconds
for the derivation (:func:`derive.maths.backprop.backward`: every δ and gradient, one local
derivative
per edge), milliseconds per edge, the seconds for the whole solution
(:func:`derive.tasks.backprop.solve`: the derivation again, the lines, closed forms where small,
symbolic ``sympy.diff`` truths for the targets whose substituted loss stays under
``SYMBOLIC_LIMIT`` tree nodes, numeric checks for the others), and the seconds for numeric checks
of every gradient (forward-mode ``sympy.diff`` at 3 random points: one forward pass per point
along a random direction, see :mod:`derive.verify.gradients`). A derivation that substituted the
graph into itself would grow like width^depth; the milliseconds per edge stay flat instead.
"""

from __future__ import annotations

import sys
import time

import sympy as sp

from derive.maths.backprop import backward
from derive.maths.functions import symbol
from derive.maths.graph import build_graph
from derive.render.notation import TermOrder
from derive.sheet.model import Assignment
from derive.tasks.backprop import solve
from derive.verify.gradients import at_random_points


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
    bp = backward(g, "E", wrt)
    t1 = time.perf_counter()
    solve(g, "E", wrt, TermOrder())
    t2 = time.perf_counter()
    at_random_points(bp)
    t3 = time.perf_counter()
    return edges, t1 - t0, t2 - t1, t3 - t2


def main() -> None:
    quick = "--quick" in sys.argv
    sizes = [(2, 2), (4, 2), (8, 2), (16, 2), (2, 4), (4, 4), (8, 4), (16, 4), (4, 8), (8, 8)]
    if quick:
        sizes = [(2, 2), (4, 2), (8, 2), (4, 4)]
    print(f"{'depth':>5} {'width':>5} {'edges':>6} {'derive s':>9} {'ms/edge':>8} "
          f"{'solve s':>8} {'numeric s':>9}")
    for depth, width in sizes:
        edges, derive_s, lines_s, verify_s = measure(depth, width)
        print(f"{depth:5d} {width:5d} {edges:6d} {derive_s:9.3f} {1000 * derive_s / edges:8.2f} "
              f"{lines_s:8.3f} {verify_s:9.3f}", flush=True)


if __name__ == "__main__":
    main()
