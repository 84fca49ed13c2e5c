"""The enumeration of activation patterns as it was before the integer arithmetic (Fractions,
a square of radius R clipped neuron by neuron, the radius bound pairwise per state, the cells
enumerated again whenever R doubles): a test oracle for :func:`derive.maths.regions.pieces_of`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from derive.maths.geometry import Affine, F, Poly, area2, clip


@dataclass
class _State:
    poly: Poly
    value: dict[str, Affine]
    pattern: str
    lines: list[tuple[Affine, int, tuple]]  # (f with f >= 0 on the cell, neuron index, f.key())


def _enumerate(us: Sequence, inputs: Sequence[str], radius: Fraction) -> list[_State]:
    """Split the square by every neuron's switching line, neuron by neuron (exact)."""
    r = radius
    start = _State(((-r, -r), (r, -r), (r, r), (-r, r)),
                   {inputs[0]: Affine(F(1), F(0), F(0)), inputs[1]: Affine(F(0), F(1), F(0))},
                   "", [])
    states = [start]
    for k, u in enumerate(us):
        nxt = []
        for s in states:
            pre = Affine(F(0), F(0), u.bias)
            for src, w in u.sources:
                pre = pre + s.value[src].scale(w)
            if u.slopes[0] == u.slopes[1]:
                nxt.append(_State(s.poly, {**s.value, u.name: pre.scale(u.slopes[0])},
                                  s.pattern + ".", s.lines))
                continue
            for sign, f, slope in (("+", pre, u.slopes[1]), ("-", pre.scale(F(-1)), u.slopes[0])):
                part = s.poly if f.constant and f.c >= 0 else clip(s.poly, f)
                if f.constant and (f.c < 0 or (f.c == 0 and sign == "-")):
                    continue
                if len(part) >= 3 and area2(part) > 0:
                    lines = s.lines if f.constant else [*s.lines, (f, k, f.key())]
                    nxt.append(_State(part, {**s.value, u.name: pre.scale(slope)},
                                      s.pattern + sign, lines))
        states = nxt
    return states


def _needed_radius(states: Sequence[_State]) -> Fraction:
    """Twice the largest coordinate of any vertex the cells' lines can make, plus one."""
    bound = F(0)
    fbound = 0.0
    seen: set[tuple] = set()
    done: set[tuple] = set()
    for s in states:
        keys = sorted({key for _, _, key in s.lines})
        for i, a in enumerate(keys):
            if a not in done:
                done.add(a)
                bound = max(bound, abs(a[2]) / max(abs(a[0]), abs(a[1])))
            for b in keys[i + 1:]:
                if (a, b) in seen:
                    continue
                seen.add((a, b))
                det = a[0] * b[1] - a[1] * b[0]
                if det != 0:  # an upper bound is enough: floats, rounded up by 1e-9 relative
                    fd = float(det)
                    x = float(a[1] * b[2] - a[2] * b[1]) / fd
                    y = float(a[2] * b[0] - a[0] * b[2]) / fd
                    fbound = max(fbound, abs(x), abs(y))
    return 2 * max(bound, F(math.ceil(fbound * (1 + 1e-9)))) + 1


def pieces_of(us: Sequence, inputs: Sequence[str], output: str,
              threshold: Fraction | int = 0, at_least: Fraction | int = 4
              ) -> tuple[Fraction, list]:
    """The square's radius R and the states of every feasible activation pattern.

    R bounds every vertex that the cells' lines, and the lines where the output crosses the
    threshold, can make (so the boundary y = 0 has all its vertices inside the square too)."""
    first = [u for u in us if all(src in inputs for src, _ in u.sources)]
    lines = [(f, 0, f.key()) for u in first for f in [Affine(
        sum((w for src, w in u.sources if src == inputs[0]), F(0)),
        sum((w for src, w in u.sources if src == inputs[1]), F(0)), u.bias)] if not f.constant]
    at_least = max(F(at_least), _needed_radius([_State((), {}, "", lines)]))
    radius = F(4)
    while radius < at_least:
        radius *= 2
    for _ in range(64):
        states = _enumerate(us, inputs, radius)
        shift = Affine(F(0), F(0), -F(threshold))
        need = _needed_radius([_State(s.poly, s.value, s.pattern, [*s.lines, (y, -1, y.key())])
                               if not (y := s.value[output] + shift).constant else s
                               for s in states])
        if radius >= need:
            return radius, states
        while radius < need:
            radius *= 2
    raise AssertionError("the arrangement's vertices do not fit any square")
