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
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import sympy as sp

from derive.errors import InputError, VerificationFailure
from derive.maths.functions import symbol
from derive.maths.geometry import (
    Affine,
    ByLine,
    F,
    Point,
    Poly,
    Ring,
    Side,
    area2,
    bbox,
    centroid,
    chord,
    clip,
    collinear_overlaps,
    cross,
    edge_side,
    hull,
    in_ring,
    lerp,
    member,
    on_box,
    on_extra,
    param,
    touch,
    union,
)
from derive.maths.network import Network

NEG, POS, ZERO = "negative", "positive", "zero"


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
        return any(member(p, g) for g in self.groups) or (
            p not in self.excluded and any(on_extra(p, e, r) for e in self.extra))


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

    def statement(self, x: Sequence[sp.Symbol], output: str) -> sp.Eq:
        y = sp.Function(output)
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


# --- the network over the integers --------------------------------------------------------------
# Every value of the network (an input or a neuron's output) is a numerator over a fixed positive
# denominator of its own, the same on every piece: an affine numerator (a, b, c) during the
# enumeration, a number at a point.  A line (a, b, c) is a x1 + b x2 + c with integer
# coefficients; a point (X, Y, W) with W > 0 and gcd 1 is (X / W, Y / W).
Line = tuple[int, int, int]
HPoint = tuple[int, int, int]


@dataclass(frozen=True)
class _Step:
    sources: tuple[tuple[int, int], ...]  # (index of the value, integer multiplier)
    bias: int
    slopes: tuple[int, int]  # (z <= 0, z > 0), times the value's denominator over pre_den
    pre_den: int  # the pre-activation z is its numerator over pre_den


@dataclass(frozen=True)
class Compiled:
    """The network with integer weights: value ``i`` (inputs first, then the units in order) is
    its integer numerator over ``den[i]``; ``steps[k]`` computes unit k from earlier values."""

    names: tuple[str, ...]
    den: tuple[int, ...]
    steps: tuple[_Step, ...]

    def index(self, name: str) -> int:
        return self.names.index(name)


def compile_units(us: Sequence[_Unit], inputs: Sequence[str]) -> Compiled:
    """The network of ``units`` with integer numerators over fixed denominators (exact)."""
    names = list(inputs)
    den = [1] * len(inputs)
    steps = []
    for u in us:
        srcs = [(names.index(s), w) for s, w in u.sources]
        pre = math.lcm(u.bias.denominator, *(w.denominator * den[i] for i, w in srcs))
        slope_den = math.lcm(u.slopes[0].denominator, u.slopes[1].denominator)
        steps.append(_Step(
            tuple((i, int(w * pre / den[i])) for i, w in srcs), int(u.bias * pre),
            (int(u.slopes[0] * slope_den), int(u.slopes[1] * slope_den)), pre))
        names.append(u.name)
        den.append(pre * slope_den)
    return Compiled(tuple(names), tuple(den), tuple(steps))


class Evaluator:
    """The exact value of one of the network's quantities, minus ``threshold``, at rational
    points (memoized): integer arithmetic over the point's common denominator, the same value as
    :func:`forward`."""

    def __init__(self, net: Compiled, name: str, threshold: Fraction | int = 0) -> None:
        self.net, self.at, self.threshold = net, net.index(name), F(threshold)
        self.memo: dict[tuple, Fraction] = {}

    def __call__(self, p: Sequence[Fraction]) -> Fraction:
        key = (p[0], p[1])
        got = self.memo.get(key)
        if got is None:
            w = math.lcm(p[0].denominator, p[1].denominator)
            vals = [int(p[0] * w), int(p[1] * w)]
            for s in self.net.steps:
                z = s.bias * w
                for i, m in s.sources:
                    z += m * vals[i]
                vals.append(s.slopes[1] * z if z > 0 else s.slopes[0] * z)
            got = self.memo[key] = F(vals[self.at], self.net.den[self.at] * w) - self.threshold
        return got


def _canon(f: Line) -> Line:
    """The line f = 0 independent of scale and orientation: gcd 1, first of (a, b) positive."""
    g = math.gcd(*f)
    if (f[0] or f[1]) < 0:
        g = -g
    return (f[0] // g, f[1] // g, f[2] // g)


def _meet(e: Line, f: Line) -> HPoint:
    """Where two lines meet (not parallel)."""
    x, y, w = e[1] * f[2] - e[2] * f[1], e[2] * f[0] - e[0] * f[2], e[0] * f[1] - e[1] * f[0]
    g = math.gcd(x, y, w)
    if w < 0:
        g = -g
    return (x // g, y // g, w // g)


def _clip_int(pts: list[HPoint], edges: list[Line], f: Line, vals: list[int]
              ) -> tuple[list[HPoint], list[Line]]:
    """:func:`derive.maths.geometry.clip` over the integers: the part where f >= 0 (``vals``:
    the signs of f at ``pts``), the same vertices in the same order; ``edges[i]`` is the line of
    the edge from ``pts[i]`` to the next vertex, and the new vertices are where f meets it."""
    out: list[HPoint] = []
    lines: list[Line] = []
    n = len(pts)
    for i in range(n):
        fp, fq = vals[i], vals[(i + 1) % n]
        if fp >= 0:
            out.append(pts[i])
            lines.append(f if fp == 0 and fq < 0 else edges[i])
        if (fp > 0 > fq) or (fp < 0 < fq):
            out.append(_meet(edges[i], f))
            lines.append(f if fp > 0 else edges[i])
    if len(out) <= 1:
        return out, lines
    keep_p: list[HPoint] = []
    keep_l: list[Line] = []
    for i, p in enumerate(out):
        if p != out[i - 1]:
            keep_p.append(p)
            keep_l.append(lines[i])
        elif keep_l:  # a zero-length edge: the previous vertex takes this one's edge
            keep_l[-1] = lines[i]
    if keep_p and out[0] == out[-1] and len(out) > 1:
        keep_l[-1] = lines[0]  # the first vertex went: the last one's edge is its edge
    return keep_p, keep_l


def _solid(pts: list[HPoint]) -> bool:
    """Whether a convex polygon (counter-clockwise) has positive area: not all on one line."""
    if len(pts) < 3:
        return False
    (x0, y0, w0), (x1, y1, w1) = pts[0], pts[1]
    a, b, c = y0 * w1 - w0 * y1, w0 * x1 - x0 * w1, x0 * y1 - y0 * x1  # the line through both
    return any(a * x + b * y + c * w != 0 for x, y, w in pts[2:])


@dataclass
class _Cell:
    pattern: str
    pts: list[HPoint]
    edges: list[Line]  # edges[i]: the (canonical) line of the edge from pts[i] to the next
    value: list[Line]  # affine numerators of the network's values on the cell
    lines: list[tuple[Line, int, Line]]  # (f >= 0 on the cell, neuron index, canonical f)
    keys: frozenset[Line]


class _Bound:
    """The largest coordinate of a vertex that two lines of one cell can make, and of the foot
    of a line on the axes (as :func:`_needed_radius` of old, memoized per pair and line)."""

    def __init__(self) -> None:
        self.pairs: dict[tuple[Line, Line], float] = {}
        self.feet: dict[Line, Fraction] = {}

    def line(self, a: Line) -> Fraction:
        got = self.feet.get(a)
        if got is None:
            got = self.feet[a] = F(abs(a[2]), max(abs(a[0]), abs(a[1])))
        return got

    def pair(self, a: Line, b: Line) -> float:
        key = (a, b) if a < b else (b, a)
        got = self.pairs.get(key)
        if got is None:
            a, b = key
            la, lb = a[0] or a[1], b[0] or b[1]  # the Fraction keys were a / la, b / lb
            det = a[0] * b[1] - a[1] * b[0]
            got = 0.0
            if det != 0:  # floats as the Fraction keys gave them: one correct rounding each
                d = la * lb
                fd = det / d
                got = max(abs((a[1] * b[2] - a[2] * b[1]) / d / fd),
                          abs((a[2] * b[0] - a[0] * b[2]) / d / fd))
            self.pairs[key] = got
        return got

    def need(self, keys: Sequence[Line], fbound: float) -> Fraction:
        """Twice the largest coordinate, plus one (``fbound``: the pairs' float bound so far)."""
        exact = max((self.line(k) for k in keys), default=F(0))
        return 2 * max(exact, F(math.ceil(fbound * (1 + 1e-9)))) + 1


def _enumerate(net: Compiled, radius: int, y_line, bound: _Bound
               ) -> tuple[list[_Cell], Fraction]:
    """Split the square by every neuron's switching line, neuron by neuron (exact, integers);
    also the radius that the cells' lines and their ``y_line`` (value -> line) need."""
    r = radius
    start = _Cell("", [(-r, -r, 1), (r, -r, 1), (r, r, 1), (-r, r, 1)],
                  [(0, 1, r), (1, 0, -r), (0, 1, -r), (1, 0, r)],
                  [(1, 0, 0), (0, 1, 0)], [], frozenset())
    cells = [start]
    fbound = 0.0
    for k, step in enumerate(net.steps):
        nxt = []
        for s in cells:
            a = b = 0
            c = step.bias
            for i, m in step.sources:
                va = s.value[i]
                a += m * va[0]
                b += m * va[1]
                c += m * va[2]
            lo, hi = step.slopes
            if lo == hi:
                nxt.append(_Cell(s.pattern + ".", s.pts, s.edges,
                                 [*s.value, (lo * a, lo * b, lo * c)], s.lines, s.keys))
                continue
            if a == 0 and b == 0:  # constant: the whole cell on one side (c = 0: "+")
                sign, slope = ("+", hi) if c >= 0 else ("-", lo)
                nxt.append(_Cell(s.pattern + sign, s.pts, s.edges,
                                 [*s.value, (slope * a, slope * b, slope * c)], s.lines, s.keys))
                continue
            key = _canon((a, b, c))
            keys = s.keys
            if key not in keys:
                for other in keys:
                    fbound = max(fbound, bound.pair(key, other))
                keys = keys | {key}
            vals = [a * x + b * y + c * w for x, y, w in s.pts]
            for sign, f, slope, fv in (("+", (a, b, c), hi, vals),
                                       ("-", (-a, -b, -c), lo, [-v for v in vals])):
                pts, edges = _clip_int(s.pts, s.edges, key, fv)
                if _solid(pts):
                    nxt.append(_Cell(s.pattern + sign, pts, edges,
                                     [*s.value, (slope * a, slope * b, slope * c)],
                                     [*s.lines, (f, k, key)], keys))
        cells = nxt
    keys: set[Line] = set()
    for s in cells:
        keys |= s.keys
        y = y_line(s.value)
        if (y[0] or y[1]) and (yk := _canon(y)) not in s.keys:
            keys.add(yk)
            for other in s.keys:
                fbound = max(fbound, bound.pair(yk, other))
    return cells, bound.need(sorted(keys), fbound)


def pieces_of(us: Sequence[_Unit], inputs: Sequence[str], output: str,
              threshold: Fraction | int = 0, at_least: Fraction | int = 4
              ) -> tuple[Fraction, list[_Cell], Compiled]:
    """The square's radius R and the cells of every feasible activation pattern.

    R bounds every vertex that the cells' lines, and the lines where the output crosses the
    threshold, can make (so the boundary y = 0 has all its vertices inside the square too): it
    is the smallest 4 * 2^k at least ``at_least`` and twice those vertices' coordinates plus
    one. The cells are enumerated again only if R has to grow; the bound of every pair of lines
    is computed once."""
    net = compile_units(us, inputs)
    out = net.index(output)
    threshold = F(threshold)
    tn, td, dout = threshold.numerator, threshold.denominator, net.den[out]

    def y_line(value: list[Line]) -> Line:
        a, b, c = value[out]
        return (a * td, b * td, c * td - tn * dout)

    bound = _Bound()
    first = [_canon(f) for s in net.steps if all(i < len(inputs) for i, _ in s.sources)
             for f in [(sum(m for i, m in s.sources if i == 0), sum(m for i, m in s.sources
                                                                    if i == 1), s.bias)]
             if f[0] or f[1]]
    first = sorted(set(first))
    fb = max((bound.pair(a, b) for i, a in enumerate(first) for b in first[i + 1:]), default=0.0)
    at_least = max(F(at_least), bound.need(first, fb))
    radius = 4
    while radius < at_least:
        radius *= 2
    for _ in range(64):
        cells, need = _enumerate(net, radius, y_line, bound)
        if radius >= need:
            return F(radius), cells, net
        while radius < need:
            radius *= 2
    raise VerificationFailure("the arrangement's vertices do not fit any square")  # unreachable


# --- analysis -----------------------------------------------------------------------------------
def _piece(s: _Cell, y: Affine, r: Fraction, net: Compiled,
           point: dict[HPoint, Point]) -> Piece:
    """The piece of a cell: its polygon in Fractions (``point`` caches the conversions), its
    sides (the first line of each non-square edge among the cell's lines), in neuron order."""
    poly = []
    for h in s.pts:
        p = point.get(h)
        if p is None:
            p = point[h] = (F(h[0], h[2]), F(h[1], h[2]))
        poly.append(p)
    poly = tuple(poly)
    first: dict[Line, tuple[int, Line]] = {}
    for f, k, key in s.lines:
        first.setdefault(key, (k, f))
    sides: dict[Line, tuple[int, Line]] = {}
    for i in range(len(poly)):
        if on_box(poly[i], poly[(i + 1) % len(poly)], r):
            continue
        key = s.edges[i]
        sides.setdefault(key, first[key])
    ordered = sorted(sides.values(), key=lambda kf: kf[0])
    unbounded = any(abs(c) == r for p in poly for c in p)
    return Piece(s.pattern, poly, y, tuple(
        Side(Affine(F(f[0], d), F(f[1], d), F(f[2], d))) for k, f in ordered
        for d in [net.steps[k].pre_den]), unbounded)


def _split(piece: Piece) -> list[tuple[str, Poly]]:
    """The piece's parts where y < 0, y > 0 (or y = 0 on all of it)."""
    y = piece.y
    if y.constant:
        return [(NEG if y.c < 0 else POS if y.c > 0 else ZERO, piece.polygon)]
    values = [y.at(v) for v in piece.polygon]
    if all(v > 0 for v in values) or all(v < 0 for v in values):  # clip would keep it all
        return [(POS if values[0] > 0 else NEG, piece.polygon)]
    out = []
    for sign, f in ((NEG, y.scale(F(-1))), (POS, y)):
        part = clip(piece.polygon, f)
        if len(part) >= 3 and area2(part) > 0:
            out.append((sign, part))
    return out


def _clip_window(poly: Poly, w: Window) -> Poly:
    x0, y0, x1, y1 = bbox(poly)
    if w.x1[0] <= x0 and x1 <= w.x1[1] and w.x2[0] <= y0 and y1 <= w.x2[1]:
        return poly  # inside: every clip keeps every vertex (a piece has positive area)
    if x1 <= w.x1[0] or w.x1[1] <= x0 or y1 <= w.x2[0] or w.x2[1] <= y0:
        return ()  # outside, or touching the window along an edge at most
    for f in (Affine(F(1), F(0), -w.x1[0]), Affine(F(-1), F(0), w.x1[1]),
              Affine(F(0), F(1), -w.x2[0]), Affine(F(0), F(-1), w.x2[1])):
        if len(poly) < 3:
            break
        poly = clip(poly, f)
    return poly if len(poly) >= 3 and area2(poly) > 0 else ()


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
    box = bbox([v for c in cells for v in c])
    if closed:
        near_cuts, near_zeros = [], []
    else:
        near_cuts = [c for c in cuts if touch(bbox(c), box)]
        near_zeros = [z for z in zeros if touch((*z, *z), box)]
    nil = ByLine(ring_edges + near_cuts)  # y = 0 on all of these
    groups = [tuple(c) for c in cells]
    boxes = [bbox(g) for g in groups]
    areas = [area2(g) for g in groups]
    ids: dict[Point, int] = {}
    corners = [frozenset(ids.setdefault(v, len(ids)) for v in g) for g in groups]
    i = 0
    while i < len(groups):
        for j in range(len(groups)):
            # two convex sets whose union is convex share a whole edge, so both its ends: a
            # pair with fewer common corners would fail the area test below
            if j == i or len(corners[i] & corners[j]) < 2 or not touch(boxes[i], boxes[j]):
                continue
            h = hull(groups[i] + groups[j])
            if area2(h) == areas[i] + areas[j] and _may_merge(h, near_cuts, near_zeros, nil):
                groups[i], boxes[i], areas[i] = h, bbox(h), areas[i] + areas[j]
                corners[i] = frozenset(ids[v] for v in h)
                del groups[j], boxes[j], areas[j], corners[j]
                i = i - 1 if j < i else i
                break
        else:
            i += 1
    # the sides of every group: (group, k) is the edge g[k] -> g[k + 1]
    sides = {(gi, k): (g[k], g[(k + 1) % len(g)]) for gi, g in enumerate(groups)
             for k in range(len(g)) if not on_box(g[k], g[(k + 1) % len(g)], r)}
    forced = {s for s, (p, q) in sides.items()
              if not closed and collinear_overlaps(p, q, nil.on(p, q))}
    strict = set(forced)
    if not closed:
        strict = _choose_strict(groups, boxes, sides, forced, set(near_zeros), nil)
    conds = []
    for gi, g in enumerate(groups):
        conds.append(tuple(sorted((Side(edge_side(*sides[(gi, k)]), strict=(gi, k) in strict)
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
               nil: ByLine) -> bool:
    """A merged convex group may not contain a cut or a zero point inside, nor a zero point in
    the middle of a side that is not all zero (it could not be left out with that side)."""
    n = len(h)
    fs = [edge_side(h[k], h[(k + 1) % n]) for k in range(n)]
    corners = set(h)
    x0, y0, x1, y1 = box = bbox(h)  # what is outside it is outside h
    for z in zeros:
        if z in corners or not (x0 <= z[0] <= x1 and y0 <= z[1] <= y1):
            continue
        vals = [f.at(z) for f in fs]
        if any(v < 0 for v in vals):
            continue
        on = [k for k, v in enumerate(vals) if v == 0]
        if not on:
            return False
        a, b = h[on[0]], h[(on[0] + 1) % n]
        if not _covers(collinear_overlaps(a, b, nil.on(a, b)), F(0), F(1)):
            return False
    for a, b in cuts:
        if not touch(bbox((a, b)), box):
            continue
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
            if kb[0] == ka[0] or not touch(boxes[ka[0]], boxes[kb[0]]):
                continue
            a, b = sides[kb]
            if cross(p, q, a) != 0 or cross(p, q, b) != 0:
                continue
            d = (q[0] - p[0]) * (b[0] - a[0]) + (q[1] - p[1]) * (b[1] - a[1])
            if d >= 0:  # a seam is traversed both ways
                continue
            if ka in forced and kb in forced:
                continue  # left to the extra segments
            for lo, hi in collinear_overlaps(p, q, [(a, b)]):
                s, t = lerp(p, q, lo), lerp(p, q, hi)
                if _covers(collinear_overlaps(s, t, nil.on(s, t)), F(0), F(1)):
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
    covered = collinear_overlaps(p, q, nil.on(p, q))
    cuts = sorted({F(0), F(1), *(t for iv in covered for t in iv), *(
        t for v in vertices if cross(p, q, v) == 0 for t in [param(p, q, v)] if 0 < t < 1)})

    def zero(t: Fraction) -> bool:
        m = lerp(p, q, t)
        return m in zeros or any(lo <= t <= hi for lo, hi in covered)

    def missing(m: Point) -> bool:
        return abs(m[0]) <= r and abs(m[1]) <= r and not any(member(m, c) for c in conds)

    run: list[Fraction] = []  # parameters of the current closed segment

    def close() -> None:
        if run:
            seg = (lerp(p, q, run[0]), lerp(p, q, run[-1]))
            if seg not in extra:
                extra.append(seg)
            for t in run:
                if zero(t) and lerp(p, q, t) not in excluded:
                    excluded.append(lerp(p, q, t))
            run.clear()

    for a, b in zip(cuts, cuts[1:], strict=False):
        inside = not any(lo <= a and b <= hi for lo, hi in covered) and \
            missing(lerp(p, q, (a + b) / 2))
        if inside:
            if not run:
                run.append(a)
            run.append(b)
            continue
        close()
    close()
    for t in cuts:  # single points: y != 0 there, yet in no group and on no extra segment
        m = lerp(p, q, t)
        if abs(m[0]) < r and abs(m[1]) < r and not zero(t) and missing(m) and \
                not any(on_extra(m, e, r) for e in extra):
            extra.append((m, m))


def _side_order(s: Side) -> tuple:
    """x1-only conditions first, then x2-only, then mixed ones."""
    return (s.f.a1 == 0, s.f.a2 != 0 and s.f.a1 != 0, s.f.key())


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
            if not on_box(a, b, r) and p.y.at(a) == 0 and p.y.at(b) == 0:
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
            by_line[edge_side(p, q).key()].append((min(p, q), max(p, q), i))
    for items in by_line.values():
        for x, (a0, a1, i) in enumerate(items):
            for b0, b1, j in items[x + 1:]:
                if find(i) == find(j):
                    continue
                lo, hi = max(a0, b0), min(a1, b1)  # collinear: lexicographic order is the order
                if lo < hi and ys[cells[i]].at(lerp(lo, hi, F(1, 2))) != 0:
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
            mine = [p for p in polys if in_ring(centroid(p), ring.outer)
                    and not any(in_ring(centroid(p), h) for h in ring.holes)]
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
        f = edge_side(p, q)
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
            clipped = clip_segment(p, q, w)
            if clipped is None:
                continue
            p, q = clipped
        result.append(Segment(p, q, f))
    return tuple(result)


def clip_segment(p: Point, q: Point, w: Window) -> tuple[Point, Point] | None:
    """The part of segment pq inside the window (None if none, or only a point, is inside)."""
    lo, hi = F(0), F(1)
    d = (q[0] - p[0], q[1] - p[1])
    for k, (a, b) in enumerate((w.x1, w.x2)):
        if d[k] == 0:
            if not a <= p[k] <= b:
                return None
            continue
        t0, t1 = (a - p[k]) / d[k], (b - p[k]) / d[k]
        lo, hi = max(lo, min(t0, t1)), min(hi, max(t0, t1))
    return (lerp(p, q, lo), lerp(p, q, hi)) if lo < hi else None


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
                part = clip(part, edge_side(pre[k], pre[(k + 1) % len(pre)]))
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
    r, cells, compiled = pieces_of(us, net.inputs, output, threshold, at_least=2 * reach + 1)
    out, point = compiled.index(output), {}
    den = compiled.den[out]
    pieces = [_piece(s, Affine(F(a, den), F(b, den), F(c, den) - threshold), r, compiled, point)
              for s in cells for a, b, c in [s.value[out]]]
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
    chords = [c for p in pieces if not p.y.constant for c in [chord(p.polygon, p.y)] if c]
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
        edges=_merge_segments([e for e in edges if not on_box(*e, r)], window),
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
