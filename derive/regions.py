"""Exact decision regions of a piecewise-linear network with two inputs.

Conventions
-----------
* Points are ``(x1, x2)`` with exact :class:`fractions.Fraction` coordinates; an :class:`Affine`
  ``(a1, a2, c)`` is the function ``a1 x1 + a2 x2 + c``. Polygons are convex, counter-clockwise.
* Every neuron's activation is piecewise linear with one breakpoint at ``z = 0`` (ReLU, leaky
  ReLU, ``|z|``, identity). A *piece* is a cell of the activation pattern, on which the output
  ``y`` is affine.
* ``y < 0`` is the ``negative`` class (class 1 on the seed sheet), ``y > 0`` the ``positive`` one
  (class 2). Points with ``y = 0`` form the decision boundary and belong to neither class.
* The plane is represented by the square ``[-R, R]^2`` with ``R`` at least twice as large as every
  vertex of the arrangement (checked, see :func:`_enumerate`): a piece or region that reaches the
  square's edge is unbounded. Tables and figures are clipped to a *window*: all vertices plus a
  margin, or the one given.
* A class region is stated in closed form as a union of convex sets, each an intersection of
  half-planes; a side is strict (``<``) where the set meets the boundary ``y = 0``. That includes
  the places where y touches 0 without changing sign: a piece edge with y = 0 on both of its
  pieces (a *cut*: no convex set reaches across it, and one that cuts a class apart makes two
  regions) and a vertex with y = 0 (at most a corner of a convex set, with a strict side there).
  Points of a strict side where y != 0 that no other convex set covers are listed as extra
  segments, less the points on them with y = 0 (``Region.excluded``).
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import sympy as sp

from derive.errors import InputError, VerificationFailure
from derive.functions import symbol, to_elementary
from derive.network import Network

F = Fraction
Point = tuple[Fraction, Fraction]
Poly = tuple[Point, ...]
NEG, POS, ZERO = "negative", "positive", "zero"


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
        return _q(self.a1) * x[0] + _q(self.a2) * x[1] + _q(self.c)


@dataclass(frozen=True)
class Side:
    """The half-plane ``f > 0`` (``strict``) or ``f >= 0``."""

    f: Affine
    strict: bool = True

    def relation(self, x: Sequence[sp.Symbol]) -> sp.Basic:
        """``x1 > -1``, ``x1 + x2 <= 2``: integer coefficients, the first one positive."""
        a1, a2, c = self.f.a1, self.f.a2, self.f.c
        scale = math.lcm(a1.denominator, a2.denominator, c.denominator)
        a1, a2, c = (int(v * scale) for v in (a1, a2, c))
        g = math.gcd(a1, a2, c)
        a1, a2, c = a1 // g, a2 // g, c // g
        flip = (a1 or a2) < 0
        rel = (sp.Lt if self.strict else sp.Le) if flip else (sp.Gt if self.strict else sp.Ge)
        if flip:
            a1, a2, c = -a1, -a2, -c
        if a2 == 0 or a1 == 0:  # one variable: solve for it
            var, coef = (x[0], a1) if a2 == 0 else (x[1], a2)
            return rel(var, sp.Rational(-c, coef))
        return rel(a1 * x[0] + a2 * x[1], -c)


@dataclass(frozen=True)
class Piece:
    """One cell of the activation pattern, with the affine output on it."""

    pattern: str  # "+", "-" per switching neuron ("." for linear ones), in network order
    polygon: Poly  # in the [-R, R]^2 square
    y: Affine
    sides: tuple[Side, ...]  # irredundant interior conditions, strict
    unbounded: bool
    mirror_of: int | None = None  # index of the piece it is the symmetric image of


@dataclass(frozen=True)
class Ring:
    """A region's boundary in the window: outer ring counter-clockwise, holes clockwise."""

    outer: Poly
    holes: tuple[Poly, ...] = ()


@dataclass(frozen=True)
class Region:
    """A connected part of one class."""

    sign: str  # NEG, POS or ZERO (y = 0 on a whole area)
    unbounded: bool
    groups: tuple[tuple[Side, ...], ...]  # closed form: union of intersections of half-planes
    extra: tuple[tuple[Point, Point], ...]  # closed segments that the groups leave out (rare);
    # one that ends on the square's edge goes on beyond it (a ray), one with p == q is a point
    window: tuple[Ring, ...]  # the part inside the window
    cells: tuple[Poly, ...]  # convex parts in the square
    shapes: tuple[Poly, ...] = ()  # the convex sets of ``groups``, in the square
    excluded: tuple[Point, ...] = ()  # points of ``extra`` with y = 0, which are not in the class

    def contains(self, p: Point, r: Fraction) -> bool:
        """Exact membership in the closed form (``r``: the square's radius, for rays)."""
        return any(_member(p, g) for g in self.groups) or (
            p not in self.excluded and any(_on_extra(p, e, r) for e in self.extra))


@dataclass(frozen=True)
class Segment:
    p: Point
    q: Point
    line: Affine


@dataclass(frozen=True)
class Symmetry:
    """``y(T(x)) = sign * y(x)`` with T a symmetry of the square; ``image`` is T(x1, x2)."""

    image: tuple[tuple[int, int], tuple[int, int]]  # rows of the matrix of T
    sign: int

    def statement(self, x: Sequence[sp.Symbol]) -> sp.Eq:
        y = sp.Function("y")
        tx = [self.image[i][0] * x[0] + self.image[i][1] * x[1] for i in range(2)]
        return sp.Eq(y(*tx), self.sign * y(*x), evaluate=False)

    def apply(self, p: Point) -> Point:
        (a, b), (c, d) = self.image
        return (a * p[0] + b * p[1], c * p[0] + d * p[1])

    @property
    def axis(self) -> Affine | None:
        """The mirror line of a reflection (a symmetry of the classes when sign = 1)."""
        (a, b), (c, d) = self.image
        if a * d - b * c != -1:
            return None
        return Affine(F(a - 1), F(b), F(0)) if (a, b) != (1, 0) else Affine(F(c), F(d - 1), F(0))


@dataclass(frozen=True)
class Window:
    x1: tuple[Fraction, Fraction]
    x2: tuple[Fraction, Fraction]

    @property
    def corners(self) -> Poly:
        (a, b), (c, d) = self.x1, self.x2
        return ((a, c), (b, c), (b, d), (a, d))


@dataclass(frozen=True)
class Analysis:
    inputs: tuple[str, str]
    output: str
    window: Window
    radius: Fraction  # R
    pieces: tuple[Piece, ...]
    regions: tuple[Region, ...]
    boundary: tuple[Segment, ...]  # y = 0, clipped to the window
    edges: tuple[Segment, ...]  # piece boundaries, clipped to the window
    symmetries: tuple[Symmetry, ...]
    threshold: Fraction = F(0)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def symbols(self) -> tuple[sp.Symbol, sp.Symbol]:
        return (symbol(self.inputs[0]), symbol(self.inputs[1]))


def _q(v: Fraction) -> sp.Rational:
    return sp.Rational(v.numerator, v.denominator)


def _s(v: Fraction) -> str:
    return str(v)


# --- exact polygon geometry ---------------------------------------------------------------------
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


def _cross(o: Point, a: Point, b: Point) -> Fraction:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _edge_side(p: Point, q: Point) -> Affine:
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
            while len(chain) >= 2 and _cross(chain[-2], chain[-1], p) <= 0:
                chain.pop()
            chain.append(p)
    return tuple(lower[:-1] + upper[:-1])


def _inside(p: Point, ring: Sequence[Point]) -> bool:
    """Ray casting (points on the ring count as either)."""
    n, hit = len(ring), False
    for i in range(n):
        a, b = ring[i], ring[(i + 1) % n]
        if (a[1] > p[1]) != (b[1] > p[1]):
            if p[0] < a[0] + (p[1] - a[1]) * (b[0] - a[0]) / (b[1] - a[1]):
                hit = not hit
    return hit


def _centroid(poly: Sequence[Point]) -> Point:
    n = len(poly)
    return (sum((p[0] for p in poly), F(0)) / n, sum((p[1] for p in poly), F(0)) / n)


def _simplify(ring: list[Point]) -> Poly:
    """Drop vertices in the middle of straight runs."""
    changed = True
    while changed and len(ring) > 3:
        changed = False
        for i in range(len(ring)):
            if _cross(ring[i - 1], ring[i], ring[(i + 1) % len(ring)]) == 0:
                del ring[i]
                changed = True
                break
    return tuple(ring)


def union(polys: Sequence[Poly]) -> list[Ring]:
    """The union of convex polygons with disjoint interiors, as rings with holes."""
    by_line: dict[tuple, set[Point]] = defaultdict(set)
    edges: list[tuple[Point, Point]] = []
    for poly in polys:
        for i in range(len(poly)):
            p, q = poly[i], poly[(i + 1) % len(poly)]
            edges.append((p, q))
            by_line[_edge_side(p, q).key()].update((p, q))
    count: Counter = Counter()
    for p, q in edges:  # split at vertices of collinear edges (T-junctions)
        d = (q[0] - p[0], q[1] - p[1])
        inner = sorted(
            ((v[0] - p[0]) * d[0] + (v[1] - p[1]) * d[1], v)
            for v in by_line[_edge_side(p, q).key()]
            if v not in (p, q) and _cross(p, q, v) == 0
        )
        length = d[0] * d[0] + d[1] * d[1]
        chain = [p] + [v for t, v in inner if 0 < t < length] + [q]
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
            rings.append(_simplify(ring))
    outers = [r for r in rings if area2(r) > 0]
    holes = [r for r in rings if area2(r) < 0]
    result = []
    for o in outers:
        mine = tuple(h for h in holes if _inside(_probe(h), o) and not any(
            _inside(_probe(h), o2) and area2(o2) < area2(o) for o2 in outers if o2 is not o))
        result.append(Ring(o, mine))
    return result


def _probe(ring: Poly) -> Point:
    """A point just inside a hole's ring (so not on the outer boundary)."""
    a, b = ring[0], ring[1]
    mid = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
    return mid


# --- the network as exact affine pieces --------------------------------------------------------
@dataclass(frozen=True)
class _Unit:
    name: str
    sources: tuple[tuple[str, Fraction], ...]
    bias: Fraction
    slopes: tuple[Fraction, Fraction]


def _fraction(v: sp.Expr, what: str) -> Fraction:
    v = sp.nsimplify(v) if isinstance(v, sp.Float) else v
    if not v.is_Rational:
        raise InputError(f"{what} is {sp.sstr(v)}, not a number: regions need numeric weights")
    return F(int(v.p), int(v.q))


def units(net: Network) -> list[_Unit]:
    """The network's neurons with exact weights; raises InputError if it is not fit."""
    if len(net.inputs) != 2:
        raise InputError(f"decision regions need exactly 2 inputs; the network has "
                         f"{len(net.inputs)} ({', '.join(net.inputs)})")
    out = []
    for n in net.neurons:
        if not n.activation.piecewise_linear:
            raise InputError(f"neuron {n.name} uses {sp.sstr(n.activation.formula)}, which is not "
                             "piecewise linear (regions need ReLU, leaky ReLU, max, min, abs)")
        out.append(_Unit(
            n.name,
            tuple((s, _fraction(w, f"the weight from {s} to {n.name}")) for s, w in n.weights),
            _fraction(n.bias, f"the bias of {n.name}"),
            (_fraction(n.activation.slopes[0], "slope"), _fraction(n.activation.slopes[1], "")),
        ))
    return out


def forward(us: Sequence[_Unit], inputs: Sequence[str], p: Sequence[Any]) -> dict[str, Any]:
    """Evaluate the network at a point (Fractions stay exact, floats stay floats)."""
    value = dict(zip(inputs, p, strict=True))
    for u in us:
        z = sum((w * value[s] for s, w in u.sources), u.bias)
        value[u.name] = u.slopes[1] * z if z > 0 else u.slopes[0] * z
    return value


@dataclass
class _State:
    poly: Poly
    value: dict[str, Affine]
    pattern: str
    lines: list[tuple[Affine, int, tuple]]  # (f with f >= 0 on the cell, neuron index, f.key())


def _enumerate(us: Sequence[_Unit], inputs: Sequence[str], radius: Fraction) -> list[_State]:
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


def pieces_of(us: Sequence[_Unit], inputs: Sequence[str], output: str,
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
    raise VerificationFailure("the arrangement's vertices do not fit any square")  # unreachable


# --- analysis -----------------------------------------------------------------------------------
def _on_box(p: Point, q: Point, r: Fraction) -> bool:
    return (p[0] == q[0] and abs(p[0]) == r) or (p[1] == q[1] and abs(p[1]) == r)


def _piece(s: _State, y: Affine, r: Fraction) -> Piece:
    sides: dict[tuple, tuple[int, Affine]] = {}
    poly = s.poly
    for i in range(len(poly)):
        p, q = poly[i], poly[(i + 1) % len(poly)]
        if _on_box(p, q, r):
            continue
        f, k = next((f, k) for f, k, _ in s.lines if f.at(p) == 0 and f.at(q) == 0)
        sides.setdefault(f.key(), (k, f))
    ordered = sorted(sides.values(), key=lambda kf: kf[0])
    unbounded = any(abs(c) == r for p in poly for c in p)
    return Piece(s.pattern, poly, y, tuple(Side(f) for _, f in ordered), unbounded)


def _split(piece: Piece) -> list[tuple[str, Poly]]:
    """The piece's parts where y < 0, y > 0 (or y = 0 on all of it)."""
    y = piece.y
    if y.constant:
        return [(NEG if y.c < 0 else POS if y.c > 0 else ZERO, piece.polygon)]
    out = []
    for sign, f in ((NEG, y.scale(F(-1))), (POS, y)):
        part = clip(piece.polygon, f)
        if len(part) >= 3 and area2(part) > 0:
            out.append((sign, part))
    return out


def _clip_window(poly: Poly, w: Window) -> Poly:
    for f in (Affine(F(1), F(0), -w.x1[0]), Affine(F(-1), F(0), w.x1[1]),
              Affine(F(0), F(1), -w.x2[0]), Affine(F(0), F(-1), w.x2[1])):
        if len(poly) < 3:
            break
        poly = clip(poly, f)
    return poly if len(poly) >= 3 and area2(poly) > 0 else ()


def _member(p: Point, group: Sequence[Side]) -> bool:
    return all(s.f.at(p) > 0 if s.strict else s.f.at(p) >= 0 for s in group)


def _overlap(p: Point, q: Point, edges: Sequence[tuple[Point, Point]]) -> list[tuple]:
    """Parameter intervals (in units of p -> q) of ``edges`` lying on segment pq."""
    d = (q[0] - p[0], q[1] - p[1])
    n = d[0] * d[0] + d[1] * d[1]
    out = []
    for a, b in edges:
        if _cross(p, q, a) == 0 and _cross(p, q, b) == 0:
            ta = ((a[0] - p[0]) * d[0] + (a[1] - p[1]) * d[1]) / n
            tb = ((b[0] - p[0]) * d[0] + (b[1] - p[1]) * d[1]) / n
            lo, hi = max(min(ta, tb), F(0)), min(max(ta, tb), F(1))
            if lo < hi:
                out.append((lo, hi))
    return sorted(out)


def _closed_form(sign: str, cells: Sequence[Poly], rings: Sequence[Poly], r: Fraction,
                 cuts: Sequence[tuple[Point, Point]] = (), zeros: frozenset[Point] = frozenset()):
    """Convex groups of ``cells`` as half-plane conditions, and any seam they would leave out.

    Points with y = 0 are in no group: the ring (the region's boundary), the ``cuts`` (piece
    edges where y touches 0) and the ``zeros`` (vertices where y = 0). Groups are not merged
    across a cut or around a zero point; a side is strict on a ring edge or cut, and at a zero
    vertex one of its two sides is strict, chosen (2-SAT) so that wherever possible the group on
    the other side of a strict side covers that seam. What no group covers goes to ``extra``."""
    closed = sign == ZERO
    ring_edges = [(ring[k], ring[(k + 1) % len(ring)]) for ring in rings for k in range(len(ring))]
    box = _bbox([v for c in cells for v in c])
    if closed:
        near_cuts, near_zeros = [], []
    else:
        near_cuts = [c for c in cuts if _touch(_bbox(c), box)]
        near_zeros = [z for z in zeros if _touch((*z, *z), box)]
    nil = ring_edges + near_cuts  # y = 0 on all of these
    groups = [tuple(c) for c in cells]
    boxes = [_bbox(g) for g in groups]
    areas = [area2(g) for g in groups]
    i = 0
    while i < len(groups):
        for j in range(len(groups)):
            if j == i or not _touch(boxes[i], boxes[j]):
                continue
            h = hull(groups[i] + groups[j])
            if area2(h) == areas[i] + areas[j] and _may_merge(h, near_cuts, near_zeros, nil):
                groups[i], boxes[i], areas[i] = h, _bbox(h), areas[i] + areas[j]
                del groups[j], boxes[j], areas[j]
                i = i - 1 if j < i else i
                break
        else:
            i += 1
    # the sides of every group: (group, k) is the edge g[k] -> g[k + 1]
    sides = {(gi, k): (g[k], g[(k + 1) % len(g)]) for gi, g in enumerate(groups)
             for k in range(len(g)) if not _on_box(g[k], g[(k + 1) % len(g)], r)}
    forced = {s for s, (p, q) in sides.items() if not closed and _overlap(p, q, nil)}
    strict = set(forced)
    if not closed:
        strict = _choose_strict(groups, boxes, sides, forced, set(near_zeros), nil)
    conds = []
    for gi, g in enumerate(groups):
        conds.append(tuple(sorted((Side(_edge_side(*sides[(gi, k)]), strict=(gi, k) in strict)
                                   for k in range(len(g)) if (gi, k) in sides), key=_side_order)))
    extra: list[tuple[Point, Point]] = []
    excluded: list[Point] = []
    if not closed:
        vertices = {v for g in groups for v in g} | set(near_zeros)
        for key in sorted(strict):  # seam parts of a strict side must be in another group
            p, q = sides[key]
            _seam_extras(p, q, conds, nil, vertices, set(near_zeros), r, extra, excluded)
    return tuple(conds), tuple(extra), tuple(groups), tuple(excluded)


def _covers(intervals: Sequence[tuple[Fraction, Fraction]], lo: Fraction, hi: Fraction) -> bool:
    """Whether sorted parameter intervals cover [lo, hi]."""
    cur = lo
    for a, b in intervals:
        if a > cur:
            return False
        cur = max(cur, b)
        if cur >= hi:
            return True
    return cur >= hi


def _may_merge(h: Poly, cuts: Sequence[tuple[Point, Point]], zeros: Sequence[Point],
               nil: Sequence[tuple[Point, Point]]) -> bool:
    """A merged convex group may not contain a cut or a zero point inside, nor a zero point in
    the middle of a side that is not all zero (it could not be left out with that side)."""
    n = len(h)
    fs = [_edge_side(h[k], h[(k + 1) % n]) for k in range(n)]
    corners = set(h)
    for z in zeros:
        if z in corners:
            continue
        vals = [f.at(z) for f in fs]
        if any(v < 0 for v in vals):
            continue
        on = [k for k, v in enumerate(vals) if v == 0]
        if not on or not _covers(_overlap(h[on[0]], h[(on[0] + 1) % n], nil), F(0), F(1)):
            return False
    for a, b in cuts:
        lo, hi = F(0), F(1)  # the part of the open segment ab strictly inside h
        for f in fs:
            fa, fb = f.at(a), f.at(b)
            if fa == fb:
                if fa <= 0:
                    lo, hi = F(1), F(0)
                continue
            t = fa / (fa - fb)
            lo, hi = (max(lo, t), hi) if fb > fa else (lo, min(hi, t))
            if lo >= hi:
                break
        if lo < hi:
            return False
    return True


def _choose_strict(groups, boxes, sides, forced, zeros, nil) -> set:
    """Strict sides: the forced ones, and at every zero vertex of a group one of its two sides,
    while a seam between two groups stays in one of them (2-SAT; if that is impossible, only
    the zero vertices are enforced and the seams left out become extra segments)."""
    hard: list[tuple] = []  # clauses (literal, literal); a literal is (side, strict?)
    for gi, g in enumerate(groups):
        n = len(g)
        for k in range(n):
            if g[k] not in zeros:
                continue
            a, b = (gi, (k - 1) % n), (gi, k)  # the sides into and out of the vertex
            if a in forced or b in forced:
                continue
            hard.append(((a, True), (b, True)))
    soft: list[tuple] = []
    keys = sorted(sides)
    for x, ka in enumerate(keys):
        p, q = sides[ka]
        for kb in keys[x + 1:]:
            if kb[0] == ka[0] or not _touch(boxes[ka[0]], boxes[kb[0]]):
                continue
            a, b = sides[kb]
            if _cross(p, q, a) != 0 or _cross(p, q, b) != 0:
                continue
            d = (q[0] - p[0]) * (b[0] - a[0]) + (q[1] - p[1]) * (b[1] - a[1])
            if d >= 0:  # a seam is traversed both ways
                continue
            if ka in forced and kb in forced:
                continue  # left to the extra segments
            for lo, hi in _overlap(p, q, [(a, b)]):
                if _covers(_overlap(_lerp(p, q, lo), _lerp(p, q, hi), nil), F(0), F(1)):
                    continue  # y = 0 on all of the shared part
                soft.append(((ka, False), (kb, False)))
                break
    variables = [k for k in keys if k not in forced]
    fixed = {k: True for k in forced}
    got = _two_sat(variables, hard + soft, fixed)
    if got is None:  # keep the seams that can be kept, one by one (the hard clauses always can)
        kept: list[tuple] = []
        for c in soft:
            if _two_sat(variables, hard + kept + [c], fixed) is not None:
                kept.append(c)
        got = _two_sat(variables, hard + kept, fixed)
    if got is None:  # unreachable: making every side strict satisfies the hard clauses
        raise VerificationFailure("no choice of strict sides leaves out the zero points")
    return {k for k, v in got.items() if v}


def _two_sat(variables, clauses, fixed) -> dict | None:
    """An assignment satisfying every clause (a or b), preferring False, or None.

    Set a variable, propagate the implications; for 2-SAT a propagation without a conflict
    leaves a satisfiable rest whenever the whole was satisfiable, so no backtracking is needed."""
    implies: dict[tuple, list] = defaultdict(list)
    for a, b in clauses:
        implies[(a[0], not a[1])].append(b)
        implies[(b[0], not b[1])].append(a)

    def propagate(assign: dict, lit: tuple) -> dict | None:
        assign = dict(assign)
        todo = [lit]
        while todo:
            var, val = todo.pop()
            if var in assign:
                if assign[var] != val:
                    return None
                continue
            assign[var] = val
            todo.extend(implies[(var, val)])
        return assign

    assign: dict | None = {}
    for var, val in fixed.items():
        assign = propagate(assign, (var, val))
        if assign is None:
            return None
    for a, b in clauses:  # a clause whose other literal is fixed false is a unit
        for lit, other in ((a, b), (b, a)):
            if assign.get(other[0]) is not None and assign[other[0]] != other[1]:
                assign = propagate(assign, lit)
                if assign is None:
                    return None
    for var in variables:
        if var in assign:
            continue
        assign = propagate(assign, (var, False)) or propagate(assign, (var, True))
        if assign is None:
            return None
    return assign


def _seam_extras(p, q, conds, nil, vertices, zeros, r, extra, excluded) -> None:
    """The parts of the strict side p -> q where y != 0 that no group contains, as closed
    segments (and points) in ``extra``; their points with y = 0 go to ``excluded``."""
    covered = _overlap(p, q, nil)
    cuts = sorted({F(0), F(1), *(t for iv in covered for t in iv), *(
        t for v in vertices if _cross(p, q, v) == 0 for t in [_param(p, q, v)] if 0 < t < 1)})

    def zero(t: Fraction) -> bool:
        m = _lerp(p, q, t)
        return m in zeros or any(lo <= t <= hi for lo, hi in covered)

    def missing(m: Point) -> bool:
        return abs(m[0]) <= r and abs(m[1]) <= r and not any(_member(m, c) for c in conds)

    run: list[Fraction] = []  # parameters of the current closed segment

    def close() -> None:
        if run:
            seg = (_lerp(p, q, run[0]), _lerp(p, q, run[-1]))
            if seg not in extra:
                extra.append(seg)
            for t in run:
                if zero(t) and _lerp(p, q, t) not in excluded:
                    excluded.append(_lerp(p, q, t))
            run.clear()

    for a, b in zip(cuts, cuts[1:], strict=False):
        inside = not any(lo <= a and b <= hi for lo, hi in covered) and \
            missing(_lerp(p, q, (a + b) / 2))
        if inside:
            if not run:
                run.append(a)
            run.append(b)
            continue
        close()
    close()
    for t in cuts:  # single points: y != 0 there, yet in no group and on no extra segment
        m = _lerp(p, q, t)
        if abs(m[0]) < r and abs(m[1]) < r and not zero(t) and missing(m) and \
                not any(_on_extra(m, e, r) for e in extra):
            extra.append((m, m))


def _on_extra(p: Point, seg: tuple[Point, Point], r: Fraction) -> bool:
    """Whether p is on an extra segment (which goes on as a ray past an end on the square)."""
    a, b = seg
    if a == b:
        return p == a
    if _cross(a, b, p) != 0:
        return False
    t = _param(a, b, p)
    return 0 <= t <= 1 or (t < 0 and _on_square(a, r)) or (t > 1 and _on_square(b, r))


def _on_square(p: Point, r: Fraction) -> bool:
    return abs(p[0]) == r or abs(p[1]) == r


def _bbox(poly: Sequence[Point]) -> tuple[Fraction, Fraction, Fraction, Fraction]:
    xs, ys = [p[0] for p in poly], [p[1] for p in poly]
    return (min(xs), min(ys), max(xs), max(ys))


def _touch(a: tuple, b: tuple) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _side_order(s: Side) -> tuple:
    """x1-only conditions first, then x2-only, then mixed ones."""
    return (s.f.a1 == 0, s.f.a2 != 0 and s.f.a1 != 0, s.f.key())


def _param(p: Point, q: Point, v: Point) -> Fraction:
    d = (q[0] - p[0], q[1] - p[1])
    return ((v[0] - p[0]) * d[0] + (v[1] - p[1]) * d[1]) / (d[0] * d[0] + d[1] * d[1])


def _lerp(p: Point, q: Point, t: Fraction) -> Point:
    return (p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1]))


def _between(a: Point, b: Point, m: Point) -> bool:
    return min(a[0], b[0]) <= m[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= m[1] <= max(a[1], b[1])


def _zero_set(pieces: Sequence[Piece], subcells: Sequence[tuple[str, Poly]],
              ys: dict[Poly, Affine], r: Fraction
              ) -> tuple[tuple[tuple[Point, Point], ...], frozenset[Point]]:
    """Where y = 0 on the pieces' edges and vertices, beyond the chords that split pieces.

    ``cuts``: piece edges with y = 0 on all of them (y touches 0 there, or a zero piece ends);
    ``zeros``: the vertices of the parts (inside the square) where y = 0. Exact."""
    cuts = set()
    for p in pieces:
        for k in range(len(p.polygon)):
            a, b = p.polygon[k], p.polygon[(k + 1) % len(p.polygon)]
            if not _on_box(a, b, r) and p.y.at(a) == 0 and p.y.at(b) == 0:
                cuts.add((min(a, b), max(a, b)))
    zeros = frozenset(v for _, poly in subcells for v in poly
                      if abs(v[0]) < r and abs(v[1]) < r and ys[poly].at(v) == 0)
    return tuple(sorted(cuts)), zeros


def _components(cells: Sequence[Poly], ys: dict[Poly, Affine]) -> list[list[Poly]]:
    """The cells joined across shared edges, but not across an edge where y = 0."""
    parent = list(range(len(cells)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_line: dict[tuple, list] = defaultdict(list)
    for i, c in enumerate(cells):
        for k in range(len(c)):
            p, q = c[k], c[(k + 1) % len(c)]
            by_line[_edge_side(p, q).key()].append((min(p, q), max(p, q), i))
    for items in by_line.values():
        for x, (a0, a1, i) in enumerate(items):
            for b0, b1, j in items[x + 1:]:
                if find(i) == find(j):
                    continue
                lo, hi = max(a0, b0), min(a1, b1)  # collinear: lexicographic order is the order
                if lo < hi and ys[cells[i]].at(_lerp(lo, hi, F(1, 2))) != 0:
                    parent[find(i)] = find(j)
    comps: dict[int, list[Poly]] = {}
    for i, c in enumerate(cells):
        comps.setdefault(find(i), []).append(c)
    return list(comps.values())


def _regions(subcells: Sequence[tuple[str, Poly]], r: Fraction, w: Window,
             ys: dict[Poly, Affine] | None = None, cuts: Sequence[tuple[Point, Point]] = (),
             zeros: frozenset[Point] = frozenset()) -> list[Region]:
    out = []
    for sign in (NEG, POS, ZERO):
        polys = [p for s, p in subcells if s == sign]
        if not polys:
            continue
        for ring in union(polys):
            mine = [p for p in polys if _inside(_centroid(p), ring.outer)
                    and not any(_inside(_centroid(p), h) for h in ring.holes)]
            # a line where y touches 0 without changing sign can cut the ring into parts
            comps = _components(mine, ys) if ys is not None and sign != ZERO else [mine]
            for comp in comps:
                rings = (ring.outer, *ring.holes) if len(comps) == 1 else tuple(
                    rr for u in union(comp) for rr in (u.outer, *u.holes))
                groups, extra, shapes, excluded = _closed_form(sign, comp, rings, r, cuts, zeros)
                clipped = [c for c in (_clip_window(p, w) for p in comp) if c]
                out.append(Region(
                    sign, any(abs(c) == r for p in comp for v in p for c in v), groups, extra,
                    tuple(union(clipped)), tuple(comp), shapes, excluded))
    return out


def _merge_segments(segs: Sequence[tuple[Point, Point]], w: Window | None) -> tuple[Segment, ...]:
    """Join collinear overlapping segments, then clip them to the window."""
    by_line: dict[tuple, list] = defaultdict(list)
    lines: dict[tuple, Affine] = {}
    for p, q in segs:
        f = _edge_side(p, q)
        lines[f.key()] = Affine(*f.key())
        by_line[f.key()].append(tuple(sorted((p, q))))
    out = []
    for key, items in sorted(by_line.items()):
        items.sort()
        cur = list(items[0])
        for p, q in items[1:]:
            if p <= cur[1]:
                cur[1] = max(cur[1], q)
            else:
                out.append((cur[0], cur[1], lines[key]))
                cur = [p, q]
        out.append((cur[0], cur[1], lines[key]))
    result = []
    for p, q, f in out:
        if w is not None:
            clipped = _clip_segment(p, q, w)
            if clipped is None:
                continue
            p, q = clipped
        result.append(Segment(p, q, f))
    return tuple(result)


def _clip_segment(p: Point, q: Point, w: Window) -> tuple[Point, Point] | None:
    lo, hi = F(0), F(1)
    d = (q[0] - p[0], q[1] - p[1])
    for k, (a, b) in enumerate((w.x1, w.x2)):
        if d[k] == 0:
            if not a <= p[k] <= b:
                return None
            continue
        t0, t1 = (a - p[k]) / d[k], (b - p[k]) / d[k]
        lo, hi = max(lo, min(t0, t1)), min(hi, max(t0, t1))
    return (_lerp(p, q, lo), _lerp(p, q, hi)) if lo < hi else None


def _chord(poly: Poly, f: Affine) -> tuple[Point, Point] | None:
    pts: list[Point] = []
    for i in range(len(poly)):
        p, q = poly[i], poly[(i + 1) % len(poly)]
        fp, fq = f.at(p), f.at(q)
        if fp == 0:
            pts.append(p)
        if fp * fq < 0:
            pts.append(_lerp(p, q, fp / (fp - fq)))
    pts = sorted(set(pts))
    return (pts[0], pts[-1]) if len(pts) >= 2 else None


SQUARE = (((0, 1), (1, 0)), ((-1, 0), (0, -1)), ((0, -1), (-1, 0)), ((-1, 0), (0, 1)),
          ((1, 0), (0, -1)), ((0, -1), (1, 0)), ((0, 1), (-1, 0)))


def _symmetries(pieces: Sequence[Piece], us, inputs, output, threshold) -> list[Symmetry]:
    """Symmetries of the square (swap, sign flips, rotations) under which y is (anti)symmetric."""
    rng = random.Random(7)
    probes = [(F(rng.randint(-300, 300), 37), F(rng.randint(-300, 300), 41)) for _ in range(16)]

    def y(p):
        return forward(us, inputs, p)[output] - threshold

    found = []
    for image in SQUARE:
        for sign in (1, -1):
            s = Symmetry(image, sign)
            if all(y(s.apply(p)) == sign * y(p) for p in probes) and _exact_symmetry(pieces, s):
                found.append(s)
    return found


def _exact_symmetry(pieces: Sequence[Piece], s: Symmetry) -> bool:
    """y(T x) = sign y(x) on every overlap of a piece with the preimage of another."""
    (a, b), (c, d) = s.image
    inverse = Symmetry(((a, c), (b, d)), 1)  # T is orthogonal
    flip = a * d - b * c == -1
    for pj in pieces:
        pre = tuple(inverse.apply(v) for v in pj.polygon)
        pre = pre[::-1] if flip else pre
        yt = Affine(pj.y.a1 * a + pj.y.a2 * c, pj.y.a1 * b + pj.y.a2 * d, pj.y.c)
        for pi in pieces:
            if yt == pi.y.scale(F(s.sign)):
                continue
            part = pi.polygon
            for k in range(len(pre)):
                part = clip(part, _edge_side(pre[k], pre[(k + 1) % len(pre)]))
                if len(part) < 3:
                    break
            if len(part) >= 3 and area2(part) > 0:
                return False
    return True


def _auto_window(points: Sequence[Point], syms: Sequence[Symmetry]) -> Window:
    xs = [p[0] for p in points] + [F(0)]
    ys = [p[1] for p in points] + [F(0)]
    span = max(max(xs) - min(xs), max(ys) - min(ys))
    small = len(points) >= 2 and span < F(1, 2)  # a genuinely small-scale network
    margin = span / 4 if span >= 4 else max(span / 2, F(1, 10**6)) if small else F(1)
    step = nice_step((span + 2 * margin) / 8)
    lo = [math.floor((min(v) - margin) / step) * step for v in (xs, ys)]
    hi = [math.ceil((max(v) + margin) / step) * step for v in (xs, ys)]
    for s in syms:  # make the window itself symmetric, so that the figure shows the symmetry
        if s.image[0][1] != 0:  # swaps the axes
            lo = [min(lo)] * 2
            hi = [max(hi)] * 2
        for k in range(2):
            if sum(s.image[k]) == -1 and s.image[k][k] == -1:  # flips this axis
                lo[k], hi[k] = min(lo[k], -hi[k]), max(hi[k], -lo[k])
    return Window((F(lo[0]), F(hi[0])), (F(lo[1]), F(hi[1])))


def nice_step(x: Fraction) -> Fraction:
    """The smallest of 1, 2, 5 times a power of ten that is at least ``x``."""
    e = math.floor(math.log10(float(x))) if x > 0 else 0
    for k in (e - 1, e, e + 1):
        for m in (1, 2, 5):
            step = F(m) * F(10) ** k
            if step >= x:
                return step
    return F(10) ** (e + 2)


def analyze(net: Network, output: str | None = None, window: Window | None = None,
            threshold: Fraction | int = 0) -> Analysis:
    """Pieces, class regions, boundary and symmetries of ``output`` (default: the only output)."""
    if output is None:
        if len(net.outputs) != 1:
            raise InputError(f"the network has {len(net.outputs)} outputs "
                             f"({', '.join(net.outputs)}); say which one")
        output = net.outputs[0]
    threshold = F(threshold)
    us = units(net)
    reach = max((abs(a) for a in (*window.x1, *window.x2)), default=F(0)) if window else F(0)
    r, states = pieces_of(us, net.inputs, output, threshold, at_least=2 * reach + 1)
    offset = Affine(F(0), F(0), -threshold)
    pieces = [_piece(s, s.value[output] + offset, r) for s in states]
    syms = _symmetries(pieces, us, net.inputs, output, threshold)
    pieces = _mirrors(pieces, syms)
    subcells, ys = [], {}
    for p in pieces:
        for sc in _split(p):
            subcells.append(sc)
            ys[sc[1]] = p.y
    cuts, zeros = _zero_set(pieces, subcells, ys, r)
    true_vertices = {v for _, poly in subcells for v in poly if abs(v[0]) < r and abs(v[1]) < r}
    if window is None:
        lines = [s.f for p in pieces for s in p.sides] + [p.y for p in pieces if not p.y.constant]
        feet = [_foot(f) for f in lines]
        window = _auto_window(sorted(true_vertices) or feet, syms)
    chords = [c for p in pieces if not p.y.constant for c in [_chord(p.polygon, p.y)] if c]
    edges = [(p.polygon[i], p.polygon[(i + 1) % len(p.polygon)]) for p in pieces
             for i in range(len(p.polygon))]
    return Analysis(
        inputs=(net.inputs[0], net.inputs[1]),
        output=output,
        window=window,
        radius=r,
        pieces=tuple(pieces),
        regions=tuple(_regions(subcells, r, window, ys, cuts, zeros)),
        boundary=_merge_segments(chords, window),
        edges=_merge_segments([e for e in edges if not _on_box(*e, r)], window),
        symmetries=tuple(syms),
        threshold=threshold,
        stats={"units": us},
    )


def _foot(f: Affine) -> Point:
    n = f.a1 * f.a1 + f.a2 * f.a2
    return (-f.c * f.a1 / n, -f.c * f.a2 / n)


def _mirrors(pieces: list[Piece], syms: Sequence[Symmetry]) -> list[Piece]:
    """Mark each piece that is the image of an earlier one under a symmetry with sign +1."""
    index = {frozenset(p.polygon): i for i, p in enumerate(pieces)}
    out = []
    for i, p in enumerate(pieces):
        src = None
        for s in syms:
            if s.sign != 1:
                continue
            j = index.get(frozenset(s.apply(v) for v in p.polygon))
            if j is not None and j < i and (src is None or j < src):
                src = j
        out.append(Piece(p.pattern, p.polygon, p.y, p.sides, p.unbounded, src))
    return out


# --- verification -------------------------------------------------------------------------------
GRID = 100  # GRID x GRID points over the window
RANDOM = 1000  # random points in the window, and as many again in a window ten times as large


def verify(a: Analysis, expr: sp.Expr) -> str:
    """Check the analysis against ``expr`` (the network's own formula); returns how.

    Exact: y at every vertex of every piece equals the piece's affine formula, y = 0 at both
    ends of every boundary segment, and the closed form (with its extra segments) puts every
    vertex of the pieces' parts and of its convex sets, the middle of every edge and of every
    part, and every point of the zero set on an edge (split where a side of the closed form
    crosses it) in the class of the sign of y, and points with y = 0 in no class. Sampling: at
    grid and random points, the class given by the sign of ``expr`` agrees with the closed-form
    regions (everywhere) and with the drawn polygons (in the window); points within 1e-9 of the
    boundary are not counted.
    """
    us = a.stats["units"]
    y = lambda p: forward(us, a.inputs, p)[a.output] - a.threshold  # noqa: E731
    vertices = 0
    for piece in a.pieces:
        for v in piece.polygon:
            if y(v) != piece.y.at(v):
                raise VerificationFailure(f"y{_pt(v)} = {y(v)} but its piece says {piece.y.at(v)}")
            vertices += 1
    ends = 0
    for seg in a.boundary:
        for v in (seg.p, seg.q):
            if y(v) != 0:
                raise VerificationFailure(f"boundary point {_pt(v)} has y = {y(v)}")
            ends += 1
    exact = _verify_closed_form(a, y)
    f = sp.lambdify(a.symbols, to_elementary(expr) - _q(a.threshold), modules="math")
    (x0, x1), (y0, y1) = ([float(v) for v in a.window.x1], [float(v) for v in a.window.x2])
    pts = [(x0 + (i + 0.5) * (x1 - x0) / GRID, y0 + (j + 0.5) * (y1 - y0) / GRID)
           for i in range(GRID) for j in range(GRID)]
    rng = random.Random(2024)
    pts += [(rng.uniform(x0, x1), rng.uniform(y0, y1)) for _ in range(RANDOM)]
    cx, cy, hx, hy = (x0 + x1) / 2, (y0 + y1) / 2, 5 * (x1 - x0), 5 * (y1 - y0)
    far = [(rng.uniform(cx - hx, cx + hx), rng.uniform(cy - hy, cy + hy)) for _ in range(RANDOM)]
    groups = [(r.sign, [([(float(s.f.a1), float(s.f.a2), float(s.f.c), s.strict) for s in g],
                         _open_box(_bbox(shape), a.radius))
                        for g, shape in zip(r.groups, r.shapes, strict=True)])
              for r in a.regions]
    rings = [(r.sign, [[(float(p[0]), float(p[1])) for p in ring] for ring in (w.outer, *w.holes)],
              tuple(float(v) for v in _bbox(w.outer))) for r in a.regions for w in r.window]
    scale = max(1.0, abs(x0), abs(x1), abs(y0), abs(y1), abs(cx) + hx, abs(cy) + hy)
    tol = 1e-9 * scale
    # a point within tol of a line where y changes sign can have |y| up to tol times the steepest
    # slope of y: such points are "near the boundary", whatever the slope (2*relu(-x1) has 2)
    slope = max([1.0] + [abs(float(pc.y.a1)) + abs(float(pc.y.a2)) for pc in a.pieces])
    near = 0
    for k, p in enumerate(pts + far):
        value = float(f(*p))
        if abs(value) <= tol * slope * (1 + abs(value)):
            near += 1
            continue
        want = NEG if value < 0 else POS
        got = _classify(p, groups, tol)
        if got is None:
            near += 1
            continue
        if got != want:
            raise VerificationFailure(f"at {p} y = {value} but the closed form says {got}")
        if k < len(pts):
            drawn = _drawn(p, rings, tol)
            if drawn not in (want, None):
                raise VerificationFailure(f"at {p} y = {value} but the figure shows {drawn}")
    total = len(pts) + len(far)
    return (f"exact at {vertices} piece vertices and {ends} boundary endpoints, {total:,} sampled "
            f"points agree; exact: y at {vertices} piece vertices equals the piece's formula, "
            f"y = 0 at {ends} boundary endpoints, and the closed form puts each of {exact:,} "
            "points (every vertex of the pieces' parts and of the convex sets, the middle of "
            "every edge and of every part, every point where y = 0 along an edge and where a "
            "side crosses such an edge) in the class of the sign of y, points with y = 0 in no "
            f"class; sampling: {total:,} points ({GRID}x{GRID} grid and "
            f"{len(pts) - GRID * GRID:,} random in the window, {len(far):,} random in a window ten "
            f"times as large), 0 disagreements ({near} within 1e-9 of the boundary not counted)")


def _verify_closed_form(a: Analysis, y) -> int:
    """Exact: at the points that decide the closed form (see :func:`verify`), y > 0 puts a point
    in the positive class only, y < 0 in the negative one only, y = 0 in neither."""
    r = a.radius
    pts: set[Point] = set()
    edges: set[tuple[Point, Point]] = set()
    nil: set[tuple[Point, Point]] = set()  # segments with y = 0 on all of them
    for pc in a.pieces:
        ring = pc.polygon
        for k in range(len(ring)):
            p, q = ring[k], ring[(k + 1) % len(ring)]
            pts.add(p)
            if not _on_box(p, q, r):
                edges.add((min(p, q), max(p, q)))
        if pc.y.constant:
            if pc.y.c == 0:
                pts.add(_centroid(ring))
        elif (ch := _chord(ring, pc.y)) is not None:
            nil.add(ch)
    shape_edges: set[tuple[Point, Point]] = set()
    for reg in a.regions:
        for polys, into in ((reg.cells, edges), (reg.shapes, shape_edges)):
            for poly in polys:
                pts.add(_centroid(poly))
                for k in range(len(poly)):
                    p, q = poly[k], poly[(k + 1) % len(poly)]
                    pts.add(p)
                    if not _on_box(p, q, r):
                        into.add((min(p, q), max(p, q)))
        for p, q in reg.extra:
            pts.update((p, q, _lerp(p, q, F(1, 2))))
        pts.update(reg.excluded)
    pts.update(_lerp(p, q, F(1, 2)) for p, q in shape_edges)
    for p, q in edges:
        pts.add(_lerp(p, q, F(1, 2)))
        yp, yq = y(p), y(q)  # y is affine along the edge of a piece or of a part of one
        if yp == 0 and yq == 0:
            nil.add((p, q))
        elif yp * yq < 0:
            pts.add(_lerp(p, q, yp / (yp - yq)))
    lines = {Affine(*s.f.key()) for reg in a.regions for g in reg.groups for s in g}
    for p, q in nil:  # where a side crosses the zero set, and between those crossings
        ts = {F(0), F(1)}
        for f in lines:
            fp, fq = f.at(p), f.at(q)
            if fp != fq and 0 < fp / (fp - fq) < 1:
                ts.add(fp / (fp - fq))
        ts = sorted(ts)
        pts.update(_lerp(p, q, t) for t in ts)
        pts.update(_lerp(p, q, (s + t) / 2) for s, t in zip(ts, ts[1:], strict=False))
    for p in sorted(pts):
        value = y(p)
        got = {reg.sign for reg in a.regions if reg.contains(p, r)}
        want = set() if value == 0 else {POS if value > 0 else NEG}
        if (got - {ZERO} if value == 0 else got) != want:
            raise VerificationFailure(f"at {_pt(p)} y = {value} but the closed form says "
                                      f"{', '.join(sorted(got)) or 'no class'}")
    return len(pts)


def _open_box(box: tuple, r: Fraction) -> tuple[float, ...]:
    """A bounding box in floats; the whole plane for a set that reaches the square's edge."""
    if any(abs(v) == r for v in box):
        return (-math.inf, -math.inf, math.inf, math.inf)
    return tuple(float(v) for v in box)


def _pt(p: Point) -> str:
    return f"({p[0]}, {p[1]})"


def _classify(p, groups, tol) -> str | None:
    """The class whose closed form holds at p (None when p is within tol of a side)."""
    inside, unsure = [], False
    for sign, gs in groups:
        if sign in inside:
            continue
        for g, (bx0, by0, bx1, by1) in gs:
            if not (bx0 - tol <= p[0] <= bx1 + tol and by0 - tol <= p[1] <= by1 + tol):
                continue
            vals = [(a1 * p[0] + a2 * p[1] + c, (abs(a1) + abs(a2)) * tol, strict)
                    for a1, a2, c, strict in g]
            if all(v > t if strict else v >= -t for v, t, strict in vals):
                inside.append(sign)
                break
            if all(v >= -t for v, t, _ in vals):
                unsure = True
    if len(set(inside)) == 1:
        return inside[0]
    if len(set(inside)) > 1:
        return "several classes"
    return None if unsure else "no class"


def _drawn(p, rings, tol) -> str | None:
    for sign, rs, (bx0, by0, bx1, by1) in rings:
        if not (bx0 - tol <= p[0] <= bx1 + tol and by0 - tol <= p[1] <= by1 + tol):
            continue
        crossings = 0
        for ring in rs:
            n = len(ring)
            for i in range(n):
                (ax, ay), (bx, by) = ring[i], ring[(i + 1) % n]
                if _seg_dist(p, ax, ay, bx, by) <= tol:
                    return None
                if (ay > p[1]) != (by > p[1]) and p[0] < ax + (p[1] - ay) * (bx - ax) / (by - ay):
                    crossings += 1
        if crossings % 2:
            return sign
    return "no class"


def _seg_dist(p, ax, ay, bx, by) -> float:
    dx, dy = bx - ax, by - ay
    n = dx * dx + dy * dy
    t = 0.0 if n == 0 else max(0.0, min(1.0, ((p[0] - ax) * dx + (p[1] - ay) * dy) / n))
    return math.hypot(p[0] - ax - t * dx, p[1] - ay - t * dy)
