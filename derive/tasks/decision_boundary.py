"""Task ``decision-boundary``: exact decision regions of a piecewise-linear network (1b).

Parameters (TOML, in the part): ``of`` (a name in the model) or ``expr`` (an expression), as for
the ``network`` task, and optionally

* ``window``: the drawn part of the plane, ``{ x1 = [-2, 2], x2 = [-2, 2] }`` or
  ``[[-2, 2], [-2, 2]]`` (numbers or strings such as ``"3/2"``); default: every vertex of the
  pieces and of the boundary plus a margin;
* ``classes``: names of the two classes, ``{ negative = "class 1", positive = "class 2" }`` or
  ``["class 1", "class 2"]`` (the first is where y < 0); default as on the seed sheet;
* ``threshold``: classify by the sign of ``y - threshold`` (default 0);
* ``points = [[x1, x2], ...]`` (in place of the marks): the exercise's data points, marked in the
  figure;
* ``inputs``, ``output``: as for ``network``.

The solution: the pieces (activation patterns) with their conditions and the affine y on each,
where y < 0 and y > 0 on each piece; the symmetries found (checked exactly, piece by piece), used
to mark pieces that mirror earlier ones; the class regions in closed form (strict inequalities
where they meet the boundary, which belongs to neither class); the boundary segments; the figure.
``data``: ``window``, ``classes``, ``threshold``, ``pieces``, ``regions``, ``boundary``,
``symmetries`` (exact numbers as strings such as ``"3/2"``).
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache
from typing import Any

import sympy as sp

from derive.errors import InputError
from derive.maths.functions import symbol
from derive.maths.geometry import Affine, Conditions, SetOf, Side
from derive.maths.network import Network, build_network, expanded
from derive.maths.regions import NEG, POS, ZERO, Analysis, Piece, Window, analyze
from derive.steps import Figure, Math, Note, RegionDrawing, Solution, Table, Text, prose
from derive.tasks.network import model_for
from derive.tasks.spec import Context, task
from derive.verify.claims import Recomputes, Regions

DEFAULT_CLASSES = {"negative": "class 1", "positive": "class 2"}


@task(
    "decision-boundary",
    optional={"of": str, "expr": str, "inputs": list, "output": str, "window": (dict, list),
              "classes": (dict, list), "threshold": (int, float, str), "data": list},
    summary="exact decision regions of a piecewise-linear network of two inputs",
    text={"classes": "class name"},
)
def run(ctx: Context) -> Solution:
    a, net, model, of = analyse(ctx)
    classes = class_names(ctx)
    return solve(a, classes, ctx.notation, ctx.stem,
                 [Regions(a, expanded(model, of, set())), Recomputes(net, model, of)],
                 points=tuple(ctx.params.get("data", ())))


def analyse(ctx: Context) -> tuple[Analysis, Network, list[tuple[str, sp.Expr]], str]:
    """The part's network and its exact region analysis: ``(analysis, network, model, of)``;
    an InputError at the parameter it is about when the network has no regions (a weight that
    is not a number, a unit that is not piecewise linear, not two inputs). The screening of
    variant draws (:mod:`derive.variants.screen`) analyses each draw's network with it too."""
    model, of = model_for(ctx)
    key = "expr" if "expr" in ctx.params else "of"
    try:
        net = build_network(model, of, ctx.params.get("inputs"), include_loss=False)
        window = _window(ctx.params["window"]) if "window" in ctx.params else None
        threshold = _number(ctx.params.get("threshold", 0), "threshold")
        a = analyze(net, output=of, window=window, threshold=threshold)
    except InputError as e:
        where = next((k for k in ("window", "threshold") if k in e.message), key)
        raise ctx.error(e.message, where if where in ctx.params else key) from None
    return a, net, model, of


def _number(value: Any, what: str) -> Fraction:
    try:
        return Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        raise InputError(f"{what}: {value!r} is not a number") from None


def _window(value: Any) -> Window:
    pairs = [value.get("x1"), value.get("x2")] if isinstance(value, dict) else value
    if not (isinstance(pairs, list) and len(pairs) == 2 and all(
            isinstance(p, list) and len(p) == 2 for p in pairs)):
        raise InputError("window must be { x1 = [lo, hi], x2 = [lo, hi] } or [[lo, hi], [lo, hi]]")
    (a, b), (c, d) = ((_number(v, "window") for v in p) for p in pairs)
    if not (a < b and c < d):
        raise InputError("window: each range must be [lo, hi] with lo < hi")
    return Window((a, b), (c, d))


def class_names(ctx: Context) -> dict[str, str]:
    """The part's class names: ``{"negative": ..., "positive": ...}``."""
    value = ctx.params.get("classes", DEFAULT_CLASSES)
    if isinstance(value, list):
        if len(value) != 2 or not all(isinstance(v, str) for v in value):
            raise ctx.error("classes must be two names: [class for y < 0, class for y > 0]",
                            "classes")
        value = {"negative": value[0], "positive": value[1]}
    if set(value) != {"negative", "positive"} or not all(isinstance(v, str)
                                                         for v in value.values()):
        raise ctx.error("classes must be { negative = \"...\", positive = \"...\" }", "classes")
    return dict(value)  # the loader checked the names as sheet text (``text`` of the task)


# --- write-up -----------------------------------------------------------------------------------
def _where(piece: Piece, sign: str, x) -> sp.Basic | str:
    """Where on the piece y has the sign: an inequality, or the whole piece, or nowhere."""
    y = piece.y
    if y.constant:
        holds = (y.c < 0) if sign == NEG else (y.c > 0)
        return "the whole piece" if holds else "nowhere"
    side = Side(y.scale(Fraction(-1))) if sign == NEG else Side(y)
    poly = piece.polygon
    values = [side.f.at(v) for v in poly]
    if all(v >= 0 for v in values):
        return "the whole piece"
    if all(v <= 0 for v in values):
        return "nowhere"
    return side.relation(x)


def _y(a: Analysis, piece: Piece, x) -> sp.Expr:
    return _output(piece.y, a.threshold, tuple(x))


@cache
def _output(y: Affine, threshold: Fraction, x: tuple) -> sp.Expr:
    """y + threshold on a piece (built once: the write-up and the data both print it)."""
    return y.expr(x) + sp.Rational(threshold.numerator, threshold.denominator)


def solve(a: Analysis, classes: dict[str, str], notation, stem: str, claims=(), points=()
          ) -> Solution:
    x = a.symbols
    ysym = symbol(a.output)
    name = {NEG: classes["negative"], POS: classes["positive"], ZERO: "neither class"}
    cut = sp.Rational(a.threshold.numerator, a.threshold.denominator)
    lt, gt = sp.Lt(ysym, cut), sp.Gt(ysym, cut)
    blocks: list = [Text(prose(
        Math(ysym, notation), " is piecewise linear: on each cell of the activation pattern of "
        "its units (which unit is active) it is affine. The cells are cut out by the lines where a "
        "unit's pre-activation is 0. Below, each piece is given by its defining inequalities, with "
        "the formula of the output on it and where on it ", Math(lt, notation),
        f" ({name[NEG]}) and ", Math(gt, notation), f" ({name[POS]})."))]
    syms = list(a.symmetries)
    if syms:
        chains = []  # y(x_2, x_1) = y(-x_1, -x_2) = y(x_1, x_2): one chain per sign
        for sign in (1, -1):
            eqs = [s.statement(x, a.output) for s in syms if s.sign == sign]
            if eqs:
                sides = [Math(e.lhs, notation) for e in eqs] + [Math(eqs[0].rhs, notation)]
                chains.append(Note("equal-chain", tuple(sides)))
        stated = [part for k, c in enumerate(chains) for part in ((" and ", c) if k else (c,))]
        label = "Symmetry" if len(syms) == 1 else "Symmetries"
        blocks.append(Text(prose(
            f"{label}: ", *stated, " (checked exactly on every pair of overlapping pieces). A "
            "piece marked as the mirror image of an earlier one has the mirrored formula, so it "
            "needs no new computation.")))
    rows = []
    for i, p in enumerate(a.pieces):
        label = f"{i + 1}" + (f" (mirror of {p.mirror_of + 1})" if p.mirror_of is not None else "")
        condition = Conditions(*(s.relation(x) for s in p.sides)) if p.sides else "all inputs"
        rows.append((label, condition, sp.Eq(ysym, _y(a, p, x), evaluate=False),
                     _where(p, NEG, x), _where(p, POS, x)))
    blocks.append(Table(
        ("piece", "condition", "output", prose(Math(lt, notation), " where"),
         prose(Math(gt, notation), " where")),
        tuple(rows), caption=prose("Conditions are strict: on a line between two pieces both "
                                   "formulas agree (", Math(symbol("y")), " is continuous).")))
    blocks.append(Text(prose(
        "Points with ", Math(sp.Eq(ysym, cut), notation), " form the decision boundary and belong "
        "to neither class, so the class regions use strict inequalities where they meet it:")))
    for sign in (NEG, POS, ZERO):
        parts = [r for r in a.regions if r.sign == sign]
        if not parts:
            if sign != ZERO:  # a class without points is said so, not left out
                never = sp.Ge(ysym, cut) if sign == NEG else sp.Le(ysym, cut)
                blocks.append(Text(prose(f"{name[sign]} is empty: ",
                                         Math(never, notation), " everywhere.")))
            continue
        if any(not g for r in parts for g in r.groups):  # a group without conditions
            blocks.append(Text(prose(f"{name[sign]} (unbounded): the whole plane, ",
                                     Math(sp.S.Reals**2, notation), ".")))
            continue
        form = SetOf(*(Conditions(*(s.relation(x) for s in g)) for r in parts for g in r.groups))
        extra = "" if not any(r.extra for r in parts) else \
            " (together with the segments listed in the data)" if not any(
                r.excluded for r in parts) else \
            " (together with the segments listed in the data, less the boundary points listed " \
            "there)"
        bounded = [("unbounded" if r.unbounded else "bounded") for r in parts]
        shape = (f"{len(parts)} connected parts, " if len(parts) > 1 else "") + ", ".join(
            dict.fromkeys(bounded))
        blocks.append(Text(prose(f"{name[sign]} ({shape}): ", Math(form, notation),
                                 f"{extra}.")))
    if a.boundary:
        rows = []
        for seg in a.boundary:
            rel = Side(seg.line).relation(x)
            rows.append((sp.Eq(rel.lhs, rel.rhs, evaluate=False), _point(seg.p), _point(seg.q)))
        blocks.append(Table(("boundary line", "from", "to"), tuple(rows),
                            caption="Segments of the decision boundary inside the window."))
    drawing = RegionDrawing(a, classes, notation, title=f"decision regions of {a.output}",
                            points=points)
    blocks.append(Figure(stem, drawing, caption=prose(
        "Decision regions in the window; the boundary ", Math(sp.Eq(ysym, cut), notation),
        " is thick, boundaries between linear pieces are dashed.")))
    return Solution(blocks=blocks, data=to_json(a, classes), claims=list(claims))


def _point(p) -> sp.Tuple:
    return sp.Tuple(*(sp.Rational(v.numerator, v.denominator) for v in p))


def to_json(a: Analysis, classes: dict[str, str]) -> dict[str, Any]:
    x = a.symbols

    def pt(p):
        return [str(p[0]), str(p[1])]

    printed: dict[Side, str] = {}  # a line bounds several pieces

    def rel(s: Side) -> str:
        got = printed.get(s)
        if got is None:
            got = printed[s] = sp.sstr(s.relation(x))
        return got

    names = {NEG: classes["negative"], POS: classes["positive"], ZERO: None}
    return {
        "inputs": list(a.inputs),
        "output": a.output,
        "window": {a.inputs[0]: [str(v) for v in a.window.x1],
                   a.inputs[1]: [str(v) for v in a.window.x2]},
        "classes": dict(classes),
        "threshold": str(a.threshold),
        "pieces": [{
            "number": i + 1,
            "pattern": p.pattern,
            "condition": [rel(s) for s in p.sides],
            "y": sp.sstr(_y(a, p, x)),
            "negative": _str(_where(p, NEG, x)),
            "positive": _str(_where(p, POS, x)),
            "unbounded": p.unbounded,
            "mirror_of": None if p.mirror_of is None else p.mirror_of + 1,
        } for i, p in enumerate(a.pieces)],
        "regions": [{
            "class": names[r.sign],
            "sign": r.sign,
            "unbounded": r.unbounded,
            "closed_form": [[rel(s) for s in g] for g in r.groups],
            "extra_segments": [[pt(p), pt(q)] for p, q in r.extra],
            "excluded_points": [pt(p) for p in r.excluded],
            "polygons": [{"outer": [pt(p) for p in w.outer],
                          "holes": [[pt(p) for p in h] for h in w.holes]} for w in r.window],
        } for r in a.regions],
        "boundary": [{
            "line": sp.sstr(sp.Eq(*_sides(Side(s.line).relation(x)), evaluate=False)),
            "from": pt(s.p), "to": pt(s.q),
        } for s in a.boundary],
        "symmetries": [{
            "statement": " = ".join(map(sp.sstr, _sides(s.statement(x, a.output)))),
            "image": [sp.sstr(e) for e in s.statement(x, a.output).lhs.args],
            "sign": s.sign,
        } for s in a.symmetries],
    }


def _sides(r: sp.Basic) -> tuple[sp.Expr, sp.Expr]:
    return r.lhs, r.rhs


def _str(v) -> str:
    return v if isinstance(v, str) else sp.sstr(v)
