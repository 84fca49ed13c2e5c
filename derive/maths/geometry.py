"""Exact plane geometry over the rationals: half-planes, convex polygons, their unions.

Points are ``(x1, x2)`` with :class:`fractions.Fraction` coordinates; an :class:`Affine`
``(a1, a2, c)`` is the function ``a1 x1 + a2 x2 + c`` and a :class:`Side` the half-plane where it
is positive (or non-negative). Polygons are convex and counter-clockwise unless said otherwise;
:func:`union` returns rings (outer counter-clockwise, holes clockwise). No floating point is used
except to order edges by angle in :func:`union` (the chosen edge is then exact) and in
:func:`seg_dist` (for sampled checks). :mod:`derive.maths.regions` builds decision regions from
these.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cache

import sympy as sp

F = Fraction
Point = tuple[Fraction, Fraction]
Poly = tuple[Point, ...]


@dataclass(frozen=True)
class Affine:
    """``a1 x1 + a2 x2 + c``."""

    a1: Fraction
    a2: Fraction
    c: Fraction

    def at(self, p: Point) -> Fraction:
        return self.a1 * p[0] + self.a2 * p[1] + self.c

    def __add__(self, o: Affine) -> Affine:
        return Affine(self.a1 + o.a1, self.a2 + o.a2, self.c + o.c)

    def scale(self, k: Fraction) -> Affine:
        return Affine(k * self.a1, k * self.a2, k * self.c)

    @property
    def constant(self) -> bool:
        return self.a1 == 0 and self.a2 == 0

    def key(self) -> tuple[Fraction, Fraction, Fraction]:
        """The line ``self = 0`` independent of scale and orientation."""
        lead = self.a1 if self.a1 != 0 else self.a2
        return (self.a1 / lead, self.a2 / lead, self.c / lead)

    def expr(self, x: Sequence[sp.Symbol]) -> sp.Expr:
        return rational(self.a1) * x[0] + rational(self.a2) * x[1] + rational(self.c)

@dataclass(frozen=True)
class Side:
    """The half-plane ``f > 0`` (``strict``) or ``f >= 0``."""

    f: Affine
    strict: bool = True

    def relation(self, x: Sequence[sp.Symbol]) -> sp.Basic:
        """``x1 > -1``, ``x1 + x2 <= 2``, ``2 x1 - 3 x2 > -15/8``: coprime integer coefficients
        on the left, the first one positive (built once per side and symbols)."""
        return _relation(self.f.a1, self.f.a2, self.f.c, self.strict, x[0], x[1])


@cache
def _relation(a1: Fraction, a2: Fraction, c: Fraction, strict: bool, x1: sp.Symbol,
              x2: sp.Symbol) -> sp.Basic:
    scale = math.lcm(a1.denominator, a2.denominator, c.denominator)
    a1, a2, c = (int(v * scale) for v in (a1, a2, c))
    g = math.gcd(a1, a2, c)
    a1, a2, c = a1 // g, a2 // g, c // g
    flip = (a1 or a2) < 0
    rel = (sp.Lt if strict else sp.Le) if flip else (sp.Gt if strict else sp.Ge)
    if flip:
        a1, a2, c = -a1, -a2, -c
    # not evaluated: a side with a variable is never decided, so the relation is the same
    if a2 == 0 or a1 == 0:  # one variable: solve for it
        var, coef = (x1, a1) if a2 == 0 else (x2, a2)
        return rel(var, sp.Rational(-c, coef), evaluate=False)
    k = math.gcd(a1, a2)  # x1 + x2 < 1/2 rather than 2 x1 + 2 x2 < 1, printed 2(x1 + x2) < 1
    return rel(a1 // k * x1 + a2 // k * x2, sp.Rational(-c, k), evaluate=False)

class Conditions(sp.Basic):
    """Relations that hold together (an intersection of half-planes), e.g. ``x1 < 0, x2 > 0``;
    the printers write them as a list."""


class SetOf(sp.Basic):
    """A union of convex sets, each given by its :class:`Conditions`; the printers write it as
    ``{...} ∪ {...}``."""


@dataclass(frozen=True)
class Ring:
    """A region's boundary in the window: outer ring counter-clockwise, holes clockwise."""

    outer: Poly
    holes: tuple[Poly, ...] = ()

def rational(v: Fraction) -> sp.Rational:
    return sp.Rational(v.numerator, v.denominator)

def clip(poly: Poly, f: Affine) -> Poly:
    """The part of a convex polygon where ``f >= 0``."""
    out: list[Point] = []
    n = len(poly)
    for i in range(n):
        p, q = poly[i], poly[(i + 1) % n]
        fp, fq = f.at(p), f.at(q)
        if fp >= 0:
            out.append(p)
        if fp * fq < 0:
            t = fp / (fp - fq)
            out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    return tuple(p for i, p in enumerate(out) if p != out[i - 1]) if len(out) > 1 else tuple(out)

def area2(poly: Sequence[Point]) -> Fraction:
    """Twice the signed area (positive for counter-clockwise)."""
    n = len(poly)
    return sum((poly[i][0] * poly[(i + 1) % n][1] - poly[(i + 1) % n][0] * poly[i][1]
                for i in range(n)), F(0))

def cross(o: Point, a: Point, b: Point) -> Fraction:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

def edge_side(p: Point, q: Point) -> Affine:
    """The half-plane left of p -> q (the inside of a counter-clockwise polygon)."""
    return Affine(p[1] - q[1], q[0] - p[0], p[0] * q[1] - p[1] * q[0])

def hull(points: Sequence[Point]) -> Poly:
    pts = sorted(set(points))
    if len(pts) < 3:
        return tuple(pts)
    lower: list[Point] = []
    upper: list[Point] = []
    for seq, chain in ((pts, lower), (reversed(pts), upper)):
        for p in seq:
            while len(chain) >= 2 and cross(chain[-2], chain[-1], p) <= 0:
                chain.pop()
            chain.append(p)
    return tuple(lower[:-1] + upper[:-1])

def in_ring(p: Point, ring: Sequence[Point]) -> bool:
    """Ray casting (points on the ring count as either)."""
    n, hit = len(ring), False
    for i in range(n):
        a, b = ring[i], ring[(i + 1) % n]
        if (a[1] > p[1]) != (b[1] > p[1]):
            if p[0] < a[0] + (p[1] - a[1]) * (b[0] - a[0]) / (b[1] - a[1]):
                hit = not hit
    return hit

def centroid(poly: Sequence[Point]) -> Point:
    n = len(poly)
    return (sum((p[0] for p in poly), F(0)) / n, sum((p[1] for p in poly), F(0)) / n)

def simplify_ring(ring: list[Point]) -> Poly:
    """Drop vertices in the middle of straight runs: again and again the first vertex (in the
    ring's order) that is in line with its two neighbours, while more than three are left.

    One scan: after dropping vertex i, only its two neighbours can have become such a vertex,
    and the first one can be no earlier than i - 1 (or 0, when the last vertex went)."""
    i = 0
    while i < len(ring) and len(ring) > 3:
        n = len(ring)
        if cross(ring[i - 1], ring[i], ring[(i + 1) % n]) == 0:
            del ring[i]
            i = 0 if i == n - 1 else max(i - 1, 0)
        else:
            i += 1
    return tuple(ring)

def union(polys: Sequence[Poly]) -> list[Ring]:
    """The union of convex polygons with disjoint interiors, as rings with holes."""
    by_line: dict[tuple, set[Point]] = defaultdict(set)
    edges: list[tuple[Point, Point, tuple]] = []
    for poly in polys:
        for i in range(len(poly)):
            p, q = poly[i], poly[(i + 1) % len(poly)]
            key = edge_side(p, q).key()
            edges.append((p, q, key))
            by_line[key].update((p, q))
    # the points of one line in lexicographic order, which is their order along the line
    along = {key: sorted(points) for key, points in by_line.items()}
    count: Counter = Counter()
    for p, q, key in edges:  # split at vertices of collinear edges (T-junctions)
        line = along[key]
        if p < q:
            inner = line[bisect.bisect_right(line, p):bisect.bisect_left(line, q)]
        else:
            inner = line[bisect.bisect_right(line, q):bisect.bisect_left(line, p)][::-1]
        chain = [p, *inner, q]
        count.update(zip(chain, chain[1:], strict=False))
    for (p, q), k in list(count.items()):
        m = min(k, count.get((q, p), 0))
        if m and p < q:
            count[(p, q)] -= m
            count[(q, p)] -= m
    out_edges: dict[Point, list[Point]] = defaultdict(list)
    for (p, q), k in count.items():
        out_edges[p].extend([q] * k)
    rings: list[Poly] = []
    for start in sorted(out_edges):
        while out_edges[start]:
            ring, prev, cur = [start], start, out_edges[start].pop()
            while cur != start:
                ring.append(cur)
                back = math.atan2(float(prev[1] - cur[1]), float(prev[0] - cur[0]))
                options = out_edges[cur]
                # the face stays on the left: first outgoing edge clockwise from the way back
                best = min(range(len(options)), key=lambda j: (back - math.atan2(
                    float(options[j][1] - cur[1]), float(options[j][0] - cur[0]))) % (2 * math.pi)
                    or 2 * math.pi)
                prev, cur = cur, options.pop(best)
            rings.append(simplify_ring(ring))
    outers = [r for r in rings if area2(r) > 0]
    holes = [r for r in rings if area2(r) < 0]
    result = []
    for o in outers:
        mine = tuple(h for h in holes if in_ring(probe(h), o) and not any(
            in_ring(probe(h), o2) and area2(o2) < area2(o) for o2 in outers if o2 is not o))
        result.append(Ring(o, mine))
    return result

def probe(ring: Poly) -> Point:
    """A point just inside a hole's ring (so not on the outer boundary)."""
    a, b = ring[0], ring[1]
    mid = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
    return mid

def member(p: Point, group: Sequence[Side]) -> bool:
    return all(s.f.at(p) > 0 if s.strict else s.f.at(p) >= 0 for s in group)

def collinear_overlaps(p: Point, q: Point, edges: Sequence[tuple[Point, Point]]) -> list[tuple]:
    """Parameter intervals (in units of p -> q) of ``edges`` lying on segment pq."""
    d = (q[0] - p[0], q[1] - p[1])
    n = d[0] * d[0] + d[1] * d[1]
    out = []
    for a, b in edges:
        if cross(p, q, a) == 0 and cross(p, q, b) == 0:
            ta = ((a[0] - p[0]) * d[0] + (a[1] - p[1]) * d[1]) / n
            tb = ((b[0] - p[0]) * d[0] + (b[1] - p[1]) * d[1]) / n
            lo, hi = max(min(ta, tb), F(0)), min(max(ta, tb), F(1))
            if lo < hi:
                out.append((lo, hi))
    return sorted(out)

class ByLine:
    """Segments filed by the line they lie on, for :func:`collinear_overlaps` against many of
    them (a segment of zero length overlaps nothing, so it is left out)."""

    def __init__(self, segments: Sequence[tuple[Point, Point]]) -> None:
        self.lines: dict[tuple, list[tuple[Point, Point]]] = defaultdict(list)
        for a, b in segments:
            if a != b:
                self.lines[edge_side(a, b).key()].append((a, b))

    def on(self, p: Point, q: Point) -> list[tuple[Point, Point]]:
        """The segments on the line through p and q (p != q)."""
        return self.lines.get(edge_side(p, q).key(), [])

def on_extra(p: Point, seg: tuple[Point, Point], r: Fraction) -> bool:
    """Whether p is on an extra segment (which goes on as a ray past an end on the square)."""
    a, b = seg
    if a == b:
        return p == a
    if cross(a, b, p) != 0:
        return False
    t = param(a, b, p)
    return 0 <= t <= 1 or (t < 0 and on_square(a, r)) or (t > 1 and on_square(b, r))

def on_square(p: Point, r: Fraction) -> bool:
    return abs(p[0]) == r or abs(p[1]) == r

def bbox(poly: Sequence[Point]) -> tuple[Fraction, Fraction, Fraction, Fraction]:
    xs, ys = [p[0] for p in poly], [p[1] for p in poly]
    return (min(xs), min(ys), max(xs), max(ys))

def touch(a: tuple, b: tuple) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]

def param(p: Point, q: Point, v: Point) -> Fraction:
    d = (q[0] - p[0], q[1] - p[1])
    return ((v[0] - p[0]) * d[0] + (v[1] - p[1]) * d[1]) / (d[0] * d[0] + d[1] * d[1])

def lerp(p: Point, q: Point, t: Fraction) -> Point:
    return (p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1]))

def chord(poly: Poly, f: Affine) -> tuple[Point, Point] | None:
    pts: list[Point] = []
    for i in range(len(poly)):
        p, q = poly[i], poly[(i + 1) % len(poly)]
        fp, fq = f.at(p), f.at(q)
        if fp == 0:
            pts.append(p)
        if fp * fq < 0:
            pts.append(lerp(p, q, fp / (fp - fq)))
    pts = sorted(set(pts))
    return (pts[0], pts[-1]) if len(pts) >= 2 else None

def seg_dist(p, ax, ay, bx, by) -> float:
    dx, dy = bx - ax, by - ay
    n = dx * dx + dy * dy
    t = 0.0 if n == 0 else max(0.0, min(1.0, ((p[0] - ax) * dx + (p[1] - ay) * dy) / n))
    return math.hypot(p[0] - ax - t * dx, p[1] - ay - t * dy)


def on_box(p: Point, q: Point, r: Fraction) -> bool:
    return (p[0] == q[0] and abs(p[0]) == r) or (p[1] == q[1] and abs(p[1]) == r)
