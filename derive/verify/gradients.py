"""The claim :class:`~derive.verify.claims.AtRandomPoints`: derived gradients against forward-mode
``sympy.diff`` through the graph, at random points.

For graphs too deep for the substituted loss to be built (see :mod:`derive.maths.backprop`): the
forward values are computed node by node in topological order (never substituted symbolically),
the derived gradient comes from the δ recurrences of the derivation, and the truth from
forward-mode differentiation with ``sympy.diff`` of each node's expression (an independent
algorithm), at ``POINTS`` random points with ``DIGITS`` digits.

At each point, one forward pass checks all the gradients with respect to leaves at once: the
tangents are seeded with a random direction ``r`` (a random rational per target), so that the
pass gives ``Σ_w r_w ∂E/∂w``, and the derived side is the same combination of the derived
gradients. A wrong gradient changes that sum unless its error is exactly orthogonal to ``r``,
which a random ``r`` makes as unlikely as a false agreement at a random point. Only when the
combination disagrees is each target given a forward pass of its own, so that the check names
the failing gradient. A target that is a node (``wrt = "z3"``: ∂E/∂z3 with z3 held as a
variable) always gets its own pass. Each pair (combination or single gradient, point) is one
answer check: :func:`derive.verify.equality.check_equal` of the two values.

Values are computed with :class:`derive.verify.numeric.Evaluator` (mpmath, each distinct
subexpression once): the local partial derivatives are taken with ``sympy.diff`` once per edge,
and nothing is compiled. A point where a value is not a finite real number, or where the fast
evaluation is not sure of one (a Heaviside at its jump), is skipped for another.
"""

from __future__ import annotations

import random
from collections.abc import Collection

import mpmath
import sympy as sp

from derive.errors import VerificationFailure
from derive.maths.backprop import BackwardPass
from derive.maths.functions import to_elementary
from derive.verify import numeric
from derive.verify.points import random_value

POINTS = 3
DIGITS = 40
TOLERANCE = mpmath.mpf(10) ** -25  # relative: the combination agrees, no per-target passes


def at_random_points(bp: BackwardPass, targets: Collection[str] | None = None,
                     points: int = POINTS, digits: int = DIGITS, seed: int = 0
                     ) -> list[tuple[str, sp.Float, sp.Float]]:
    """The gradients (of ``targets``, default all) at random points: (label, derived value,
    forward-mode sympy.diff truth) per point for the random combination of the gradients with
    respect to leaves, and per point and target for each node target and for every target of
    a point where the combination disagrees."""
    g = bp.graph
    ancestors = g.ancestors(bp.loss)
    live = [n for n in g.order if n == bp.loss or n in ancestors]
    leaves = [n for n in g.leaves if n in ancestors]
    partials = {n: {p: to_elementary(_diff(g.exprs[n], g.sym(p))) for p in g.parents[n]}
                for n in live}
    exprs = {n: to_elementary(g.exprs[n]) for n in live}
    deltas = [(d.symbol, to_elementary(d.value)) for d in bp.deltas]
    grads = [(gr.wrt, to_elementary(gr.value)) for gr in bp.gradients
             if targets is None or gr.wrt in targets]
    combined = [w for w, _ in grads if not g.is_node(w)]
    rng = random.Random(seed)
    out: list[tuple[str, sp.Float, sp.Float]] = []
    found = attempts = 0
    with mpmath.workdps(digits + 10):
        while found < points and attempts < 20 * points:
            attempts += 1
            env: dict[str, object] = {n: _random_mpf(rng) for n in leaves}
            direction = {w: _random_mpf(rng) for w in combined}
            try:
                ev = _forward(g, live, exprs, deltas, env)
                derived = {w: _real(ev(e)) for w, e in grads}
                rows = []
                singles = [w for w, _ in grads if g.is_node(w)]
                if combined:
                    mine = mpmath.fsum(direction[w] * derived[w] for w in combined)
                    true = _tangent(g, live, partials, ev, direction, bp.loss)
                    if _close(mine, true):
                        rows.append((_combination_label(bp.loss, combined), mine, true))
                    else:  # name the failing gradient: one pass per target
                        singles = [w for w, _ in grads]
                rows += [(f"d{bp.loss}/d{w}", derived[w],
                          _tangent(g, live, partials, ev, {w: mpmath.mpf(1)}, bp.loss))
                         for w in singles]
            except (ValueError, ZeroDivisionError, TypeError, OverflowError, numeric.Unsure):
                continue
            found += 1
            for label, derived_value, true_value in rows:
                out.append((f"{label} at random point {found}: forward-mode sympy.diff",
                            sp.Float(mpmath.nstr(derived_value, digits), digits),
                            sp.Float(mpmath.nstr(true_value, digits), digits)))
    if found < points:
        raise VerificationFailure(
            f"backprop: could not evaluate the graph at {points} random points")
    return out


def _diff(expr: sp.Expr, var: sp.Symbol) -> sp.Expr:
    """``sympy.diff(expr, var)``; of a sum, only of its terms that contain ``var`` (the others
    have derivative 0), so that an edge into a wide sum costs one term."""
    if isinstance(expr, sp.Add):
        expr = sp.Add(*(t for t in expr.args if t.has(var)))
    return sp.diff(expr, var)


def _combination_label(loss: str, targets: list[str]) -> str:
    if len(targets) == 1:
        return f"d{loss}/d{targets[0]}"
    return (f"d{loss}/d({targets[0]}, ..., {targets[-1]}) along a random direction of the "
            f"{len(targets)} targets")


def _forward(g, live, exprs, deltas, env) -> numeric.Evaluator:
    """An evaluator holding every forward value and every δ at the point ``env`` (leaf ->
    value): nodes in topological order, then the δ's in the order the derivation computed
    them (each reads only δ's computed before it)."""
    ev = numeric.Evaluator({g.sym(n): v for n, v in env.items()})
    for n in live:
        ev.memo[g.sym(n)] = _real(ev(exprs[n]))
    for s, value in deltas:
        ev.memo[s] = _real(ev(value))
    return ev


def _tangent(g, live, partials, ev: numeric.Evaluator, seed: dict, loss: str):
    """The directional derivative of the loss in forward mode: the tangents of the leaves or
    the node in ``seed`` (name -> tangent), each node's tangent from its parents' tangents
    times ``sympy.diff`` of its expression (evaluated by ``ev``). A seeded node keeps its
    tangent (it is the variable)."""
    dot: dict[str, object] = dict(seed)
    for n in live:
        if n in seed:
            continue
        total = mpmath.mpf(0)
        for p in g.parents[n]:
            t = dot.get(p)
            if t is not None and t != 0:
                total += _real(ev(partials[n][p])) * t
        dot[n] = total
    return dot.get(loss, mpmath.mpf(0))


def _close(a, b) -> bool:
    return abs(a - b) <= TOLERANCE * max(abs(a), abs(b), 1)


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
