"""Where the verifier evaluates: the quantities of an expression and random rational points.

Shared by the equality check (:mod:`derive.verify.equality`), the fast evaluation
(:mod:`derive.verify.numeric`), the gradient check at random points
(:mod:`derive.verify.gradients`) and the sheet's model check (:mod:`derive.sheet.modelcheck`).
"""

from __future__ import annotations

import random

import sympy as sp


def free_quantities(expr: sp.Basic) -> list[sp.Basic]:
    """Free symbols and indexed quantities (an ``x[i, k]`` is substituted whole)."""
    indexed = expr.atoms(sp.Indexed)
    outside = outside_indexed(expr) if indexed else None
    free = {s for s in expr.free_symbols if isinstance(s, sp.Symbol)
            and (outside is None or s in outside)}
    return sorted(free | indexed, key=sp.default_sort_key)


def outside_indexed(expr: sp.Basic) -> set[sp.Symbol]:
    """The symbols of ``expr`` met outside its indexed quantities (the ``i`` of ``x[i]`` is part
    of ``x[i]``; bound variables of sums included). Nothing is rebuilt: replacing ``w[i]`` by 0
    in ``max(x, 1/w[i])`` would raise."""
    out: set[sp.Symbol] = set()
    stack, seen = [expr], set()
    while stack:
        e = stack.pop()
        if e in seen or isinstance(e, sp.Indexed | sp.IndexedBase):
            continue
        seen.add(e)
        if isinstance(e, sp.Symbol):
            out.add(e)
        stack.extend(e.args)
    return out


def random_value(rng: random.Random, scale: int = 1) -> sp.Rational:
    """A rational in [-2, 2] away from 0 with an awkward denominator, times ``scale``: the
    verifier's random coordinates (:func:`derive.verify.equality.numeric_equal`)."""
    num = rng.choice([-1, 1]) * rng.randint(7, 200)
    return sp.Rational(num * scale, rng.choice([97, 101, 103, 107, 109]))


SEARCH_SCALES = (1, 3, 10, 30, 100, 1000)  # finer than SCALES: a real value may be rare
SEARCH_POINTS = 24  # random points per scale when looking for a real value (each in 3 variants)


def fraction(rng: random.Random, scale: int) -> sp.Rational:
    """A random value as :func:`random_value` draws it, never an integer: (-1)**y is real at
    integers only, which is no real value of a function of real y."""
    while True:
        value = random_value(rng, scale)
        if not value.is_Integer:
            return value


def real_points(free: list[sp.Basic], seed: int = 0, per_scale: int = SEARCH_POINTS,
                integers: frozenset = frozenset()):
    """Points at which to look for real values of expressions in ``free``: scale by scale
    (``SEARCH_SCALES``), ``per_scale`` random points (drawn as
    :func:`derive.verify.equality.numeric_equal` draws them; integer symbols, such as a summation
    index, get an integer from 1 to 4), each followed by the same point with every value made
    positive and with every value moved into (0, 1) (log(y) and log(1 - y) of a probability are
    real together only there). The symbols in ``integers`` (the limits of a sum) are integers
    like summation indices. A single point when ``free`` is empty. Callers stop at the first
    point that settles their question."""
    if not free:
        yield {}
        return
    rng = random.Random(seed)
    for scale in SEARCH_SCALES:
        for _ in range(per_scale):
            whole = {s for s in free if s.is_integer or s in integers}
            point = {s: sp.Integer(rng.randint(1, 4)) if s in whole else fraction(rng, scale)
                     for s in free}
            yield point
            if any(v < 0 for v in point.values()):
                yield {s: abs(v) for s, v in point.items()}
            yield {s: v if s in whole else abs(v) / (sp.Rational(21, 10) * scale)
                   for s, v in point.items()}
