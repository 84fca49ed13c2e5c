"""The claim :class:`~derive.verify.claims.Regions`: a decision-region analysis
(:func:`derive.maths.regions.analyze`) is exact.

Exact where it decides (rational arithmetic at every point that determines the closed form) and
sampled as a second opinion (a grid and random points in the window and in a window ten times as
large), see :func:`check_regions`.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from derive.errors import VerificationFailure
from derive.maths.functions import BY_CLASS, CUSTOM_FUNCTIONS
from derive.maths.geometry import (
    Affine,
    F,
    Point,
    bbox,
    centroid,
    chord,
    lerp,
    member,
    on_box,
    on_extra,
    rational,
    seg_dist,
)
from derive.maths.regions import NEG, POS, ZERO, Analysis, Evaluator, compile_units
from derive.verify.verdict import REGIONS, Verdict

GRID = 100  # GRID x GRID points over the window

RANDOM = 1000  # random points in the window, and as many again in a window ten times as large

def check_regions(a: Analysis, expr: sp.Expr) -> Verdict:
    """Check the analysis against ``expr`` (the network's own formula); the verdict's ``facts``
    count what was checked. Raises :class:`VerificationFailure` on a disagreement.

    Exact: y at every vertex of every piece equals the piece's affine formula, y = 0 at both
    ends of every boundary segment, and the closed form (with its extra segments) puts every
    vertex of the pieces' parts and of its convex sets, the middle of every edge and of every
    part, and every point of the zero set on an edge (split where a side of the closed form
    crosses it) in the class of the sign of y, and points with y = 0 in no class. Sampling: at
    grid and random points, the class given by the sign of ``expr`` agrees with the closed-form
    regions (everywhere) and with the drawn polygons (in the window); points within 1e-9 of the
    boundary are not counted.
    """
    y = Evaluator(compile_units(a.stats["units"], a.inputs), a.output, a.threshold)
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
    f = _floats(expr - rational(a.threshold), a.symbols)
    (x0, x1), (y0, y1) = ([float(v) for v in a.window.x1], [float(v) for v in a.window.x2])
    pts = [(x0 + (i + 0.5) * (x1 - x0) / GRID, y0 + (j + 0.5) * (y1 - y0) / GRID)
           for i in range(GRID) for j in range(GRID)]
    rng = random.Random(2024)
    pts += [(rng.uniform(x0, x1), rng.uniform(y0, y1)) for _ in range(RANDOM)]
    cx, cy, hx, hy = (x0 + x1) / 2, (y0 + y1) / 2, 5 * (x1 - x0), 5 * (y1 - y0)
    far = [(rng.uniform(cx - hx, cx + hx), rng.uniform(cy - hy, cy + hy)) for _ in range(RANDOM)]
    groups = [(r.sign, [([(float(s.f.a1), float(s.f.a2), float(s.f.c), s.strict) for s in g],
                         _open_box(bbox(shape), a.radius))
                        for g, shape in zip(r.groups, r.shapes, strict=True)])
              for r in a.regions]
    rings = [(r.sign, [[(float(p[0]), float(p[1])) for p in ring] for ring in (w.outer, *w.holes)],
              tuple(float(v) for v in bbox(w.outer))) for r in a.regions for w in r.window]
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
    return Verdict(True, "exact and sampled", kind=REGIONS, facts={
        "vertices": vertices, "ends": ends, "exact": exact, "total": total, "grid": GRID,
        "window": len(pts) - GRID * GRID, "far": len(far), "near": near})


def _verify_closed_form(a: Analysis, y) -> int:
    """Exact: at the points that decide the closed form (see :func:`check_regions`), y > 0 puts a
    point in the positive class only, y < 0 in the negative one only, y = 0 in neither."""
    r = a.radius
    pts: set[Point] = set()
    edges: set[tuple[Point, Point]] = set()
    nil: set[tuple[Point, Point]] = set()  # segments with y = 0 on all of them
    for pc in a.pieces:
        ring = pc.polygon
        for k in range(len(ring)):
            p, q = ring[k], ring[(k + 1) % len(ring)]
            pts.add(p)
            if not on_box(p, q, r):
                edges.add((min(p, q), max(p, q)))
        if pc.y.constant:
            if pc.y.c == 0:
                pts.add(centroid(ring))
        elif (ch := chord(ring, pc.y)) is not None:
            nil.add(ch)
    shape_edges: set[tuple[Point, Point]] = set()
    for reg in a.regions:
        for polys, into in ((reg.cells, edges), (reg.shapes, shape_edges)):
            for poly in polys:
                pts.add(centroid(poly))
                for k in range(len(poly)):
                    p, q = poly[k], poly[(k + 1) % len(poly)]
                    pts.add(p)
                    if not on_box(p, q, r):
                        into.add((min(p, q), max(p, q)))
        for p, q in reg.extra:
            pts.update((p, q, lerp(p, q, F(1, 2))))
        pts.update(reg.excluded)
    pts.update(lerp(p, q, F(1, 2)) for p, q in shape_edges)
    for p, q in edges:
        pts.add(lerp(p, q, F(1, 2)))
        yp, yq = y(p), y(q)  # y is affine along the edge of a piece or of a part of one
        if yp == 0 and yq == 0:
            nil.add((p, q))
        elif yp * yq < 0:
            pts.add(lerp(p, q, yp / (yp - yq)))
    lines = {Affine(*s.f.key()) for reg in a.regions for g in reg.groups for s in g}
    for p, q in nil:  # where a side crosses the zero set, and between those crossings
        ts = {F(0), F(1)}
        for f in lines:
            fp, fq = f.at(p), f.at(q)
            if fp != fq and 0 < fp / (fp - fq) < 1:
                ts.add(fp / (fp - fq))
        ts = sorted(ts)
        pts.update(lerp(p, q, t) for t in ts)
        pts.update(lerp(p, q, (s + t) / 2) for s, t in zip(ts, ts[1:], strict=False))
    member = _Members(a.regions, r)
    for p in sorted(pts):
        value = y(p)
        got = member.signs(p)
        want = set() if value == 0 else {POS if value > 0 else NEG}
        if (got - {ZERO} if value == 0 else got) != want:
            raise VerificationFailure(f"at {_pt(p)} y = {value} but the closed form says "
                                      f"{', '.join(sorted(got)) or 'no class'}")
    return len(pts)

class _Members:
    """Exact membership in the regions' closed forms (:meth:`Region.contains`), with the
    groups found through their convex sets' bounding boxes: a point of the square can be in a
    group only inside its convex set, so inside that set's (closed) bounding box. The boxes are
    filed in a grid of ``CELLS`` x ``CELLS`` over the square (in floats, padded)."""

    CELLS = 32

    def __init__(self, regions, r: Fraction) -> None:
        self.regions, self.r = regions, r
        n, fr = self.CELLS, float(r)
        self.grid: list[list[tuple]] = [[] for _ in range(n * n)]
        for k, reg in enumerate(regions):
            for g, shape in zip(reg.groups, reg.shapes, strict=True):
                x0, y0, x1, y1 = (float(v) for v in bbox(shape))
                pad = 1e-9 * (1 + fr)
                i0, j0 = self._cell(x0 - pad), self._cell(y0 - pad)
                i1, j1 = self._cell(x1 + pad), self._cell(y1 + pad)
                for i in range(i0, i1 + 1):
                    for j in range(j0, j1 + 1):
                        self.grid[i * n + j].append((k, g, (x0 - pad, y0 - pad, x1 + pad,
                                                            y1 + pad)))

    def _cell(self, v: float) -> int:
        fr = float(self.r)
        return min(self.CELLS - 1, max(0, int((v + fr) / (2 * fr) * self.CELLS)))

    def signs(self, p: Point) -> set[str]:
        """The signs of the regions whose closed form holds at p."""
        r = self.r
        if abs(p[0]) > r or abs(p[1]) > r:  # outside the square: every group, as Region does
            return {reg.sign for reg in self.regions if reg.contains(p, r)}
        px, py = float(p[0]), float(p[1])
        inside = set()
        for k, g, (x0, y0, x1, y1) in self.grid[self._cell(px) * self.CELLS + self._cell(py)]:
            if k not in inside and x0 <= px <= x1 and y0 <= py <= y1 and member(p, g):
                inside.add(k)
        for k, reg in enumerate(self.regions):
            if k not in inside and reg.extra and p not in reg.excluded and any(
                    on_extra(p, e, r) for e in reg.extra):
                inside.add(k)
        return {self.regions[k].sign for k in inside}


def _floats(expr: sp.Expr, symbols):
    """``expr`` as a function of floats, each of derive's activations evaluated by its
    elementary form (as :func:`derive.maths.functions.to_elementary` would rewrite it), compiled
    once per activation rather than rewritten into the whole expression. Each activation call
    that occurs more than once in ``expr`` (a first-layer unit read by every unit of the next
    layer) is computed once per point, into a local variable (:class:`_Hoisting`): the same
    code text, the same float operations in the same order, so the same floats as the inline
    calls."""
    names = {}
    for cls in {type(e) for e in sp.preorder_traversal(expr) if isinstance(e, CUSTOM_FUNCTIONS)}:
        fn = BY_CLASS[cls]
        args = sp.symbols(f"u0:{fn.nargs}", real=True)
        names[cls.__name__] = sp.lambdify(args, fn.elementary(*args), modules="math")
    hoisted = {} if expr.has(sp.Piecewise) else _repeated_calls(expr)  # never out of a branch
    printer = _Hoisting({"fully_qualified_modules": False, "inline": True,
                         "allow_unknown_functions": True,
                         "user_functions": {k: k for k in names}}, hoisted)
    cses = [(sp.Symbol(name), node) for node, name in hoisted.items()]
    return sp.lambdify(symbols, expr, modules=[names, "math"], printer=printer,
                       cse=lambda e: (cses, e))


def _repeated_calls(expr: sp.Expr) -> dict[sp.Expr, str]:
    """The activation calls that occur more than once in ``expr``, inner before outer (each
    after every call inside it), each with a variable name no symbol of ``expr`` has."""
    seen: dict[sp.Expr, int] = {}

    def visit(e: sp.Expr) -> None:
        if isinstance(e, CUSTOM_FUNCTIONS) and e in seen:
            seen[e] += 1  # its calls inside were counted the first time
            return
        for a in e.args:
            visit(a)
        if isinstance(e, CUSTOM_FUNCTIONS):
            seen[e] = 1

    visit(expr)
    taken = {s.name for s in expr.free_symbols}
    out, k = {}, 0
    for node, count in seen.items():  # insertion order: each after the calls inside it
        if count > 1:
            while f"_h{k}" in taken:
                k += 1
            out[node] = f"_h{k}"
            k += 1
    return out


class _Hoisting(PythonCodePrinter):
    """The printer lambdify uses for math-module code, except that a call in ``hoisted`` nested
    inside the expression being printed is printed as its variable's name. The expression's
    terms are ordered by the SymPy nodes (never by the printed text), so everything else is
    printed as before."""

    def __init__(self, settings: dict, hoisted: dict[sp.Expr, str]) -> None:
        super().__init__(settings)
        self.hoisted, self.depth = hoisted, 0

    def _print(self, expr, **kwargs) -> str:
        if self.depth and expr in self.hoisted:
            return self.hoisted[expr]
        self.depth += 1
        try:
            return super()._print(expr, **kwargs)
        finally:
            self.depth -= 1


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
                # within tol of the edge only inside its box widened by tol (2 tol: roundings)
                if min(ax, bx) - 2 * tol <= p[0] <= max(ax, bx) + 2 * tol and \
                        min(ay, by) - 2 * tol <= p[1] <= max(ay, by) + 2 * tol and \
                        seg_dist(p, ax, ay, bx, by) <= tol:
                    return None
                if (ay > p[1]) != (by > p[1]) and p[0] < ax + (p[1] - ay) * (bx - ax) / (by - ay):
                    crossings += 1
        if crossings % 2:
            return sign
    return "no class"
