"""The claim :class:`~derive.verify.claims.AtRandomPoints`: derived gradients against forward-mode
``sympy.diff`` through the graph, at random points.

For graphs too deep for the substituted loss to be built (see :mod:`derive.maths.backprop`): the
forward values are computed node by node in topological order (never substituted symbolically),
the derived gradient comes from the δ recurrences of the derivation, and the truth from
forward-mode differentiation with ``sympy.diff`` of each node's expression (an independent
algorithm), at ``POINTS`` random points with ``DIGITS`` digits. Each (gradient, point) is one
answer check: :func:`derive.verify.equality.check_equal` of the two values.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection

import mpmath
import sympy as sp

from derive.errors import VerificationFailure
from derive.maths.backprop import BackwardPass
from derive.maths.functions import to_elementary
from derive.maths.graph import Graph
from derive.verify.points import random_value

POINTS = 3
DIGITS = 40


def at_random_points(bp: BackwardPass, targets: Collection[str] | None = None,
                   points: int = POINTS, digits: int = DIGITS, seed: int = 0
                   ) -> list[tuple[str, sp.Float, sp.Float]]:
    """Each gradient (of ``targets``, default all) at random points: (label, derived value,
    forward-mode sympy.diff truth).

    Forward values are computed node by node in topological order (never substituted
    symbolically); the derived gradient comes from the δ recurrences of the derivation; the
    truth from forward-mode differentiation with ``sympy.diff`` of each node's expression.
    """
    g = bp.graph
    live = [n for n in g.order if n == bp.loss or n in g.ancestors(bp.loss)]
    leaves = [n for n in g.leaves if n in g.ancestors(bp.loss)]
    value_fn = {n: _compile(g.exprs[n], [g.sym(p) for p in g.parents[n]]) for n in live}
    partial_fn = {
        n: {p: _compile(sp.diff(g.exprs[n], g.sym(p)), [g.sym(q) for q in g.parents[n]])
            for p in g.parents[n]}
        for n in live
    }
    delta_fn = [(d.symbol, _compile_free(d.value)) for d in bp.deltas]
    grad_fn = [(gr.wrt, _compile_free(gr.value)) for gr in bp.gradients
               if targets is None or gr.wrt in targets]
    rng = random.Random(seed)
    out: list[tuple[str, sp.Float, sp.Float]] = []
    found = attempts = 0
    with mpmath.workdps(digits + 10):
        while found < points and attempts < 20 * points:
            attempts += 1
            env: dict[str, object] = {n: _random_mpf(rng) for n in leaves}
            try:
                for n in live:
                    env[n] = _real(value_fn[n](*[env[p] for p in g.parents[n]]))
                for s, (args, fn) in delta_fn:
                    env[s.name] = _real(fn(*[env[a] for a in args]))
                rows = []
                for w, (args, fn) in grad_fn:
                    derived = _real(fn(*[env[a] for a in args]))
                    true = _real(_tangent(g, live, partial_fn, env, w, bp.loss))
                    rows.append((w, derived, true))
            except (ValueError, ZeroDivisionError, TypeError, OverflowError):
                continue
            found += 1
            for w, derived, true in rows:
                out.append((f"d{bp.loss}/d{w} at random point {found}: forward-mode sympy.diff",
                            sp.Float(mpmath.nstr(derived, digits), digits),
                            sp.Float(mpmath.nstr(true, digits), digits)))
    if found < points:
        raise VerificationFailure(
            f"backprop: could not evaluate the graph at {points} random points")
    return out


def _tangent(g: Graph, live, partial_fn, env, wrt: str, loss: str):
    """d(loss)/d(wrt) in forward mode: each node's tangent from its parents' tangents."""
    dot: dict[str, object] = {wrt: mpmath.mpf(1)}
    for n in live:
        if n == wrt:
            continue
        args = [env[p] for p in g.parents[n]]
        total = mpmath.mpf(0)
        for p in g.parents[n]:
            if p in dot and dot[p] != 0:
                total += partial_fn[n][p](*args) * dot[p]
        dot[n] = total
    return dot.get(loss, mpmath.mpf(0))


def _compile(expr: sp.Expr, args: list[sp.Symbol]):
    return sp.lambdify(args, to_elementary(expr), modules="mpmath")


def _compile_free(expr: sp.Expr) -> tuple[list[str], Callable]:
    syms = sorted(expr.free_symbols, key=lambda s: s.name)
    return [s.name for s in syms], _compile(expr, syms)


def _real(x):
    if isinstance(x, (int, float)):
        x = mpmath.mpf(x)
    if not isinstance(x, mpmath.mpf) or not mpmath.isfinite(x):
        raise ValueError("not a finite real number")
    return x


def _random_mpf(rng: random.Random):
    """A random coordinate as the equality check draws them (:func:`random_value`), in mpmath."""
    value = random_value(rng)
    return mpmath.mpf(int(value.p)) / int(value.q)
