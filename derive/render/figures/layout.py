"""Layout: where things go in a figure, computed once and drawn by both templates.

Coordinates are centimetres with y pointing up (TikZ's convention). Every placed point is a
:class:`P` that also carries its SVG pixel coordinates (``PX_PER_CM`` per cm, y pointing down,
origin at the top-left corner of the figure), so the templates only copy numbers.

Network diagrams (:func:`network_diagram`): one column per layer, inputs on the left; an edge that
skips layers is routed through dummy points in the columns it crosses. Node order within a column
minimises edge crossings (barycentre sweeps, then adjacent swaps). Each edge label (its weight)
sits on its own edge, at a fraction of the way chosen so that no two labels overlap and no label
covers a node, a bias or a name; labels prefer spots that no other edge crosses. If no such spot
exists the columns move apart and the placement is tried again.

Region plots (:func:`region_plot`): the window with equal scales on both axes, class regions
filled, the boundary y = threshold thick, piece boundaries dashed, mirror axes dotted, ticks, and
a legend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import pairwise

import sympy as sp

from derive.maths.display import TermOrder
from derive.maths.functions import symbol
from derive.maths.geometry import Affine
from derive.maths.network import Network, nonlinearity
from derive.maths.regions import Analysis, clip_segment, nice_step
from derive.render.figures.labels import PX_PER_CM, Label, label, value_label

PAD = 0.25  # cm of white space around a figure
ROW = 2.3  # cm between node centres in a column
GAP = 2.9  # cm between columns (grows when labels do not fit)
NODE = 0.95  # minimum node diameter, cm


@dataclass(frozen=True)
class P:
    """A point: ``x``, ``y`` in cm (TikZ), ``sx``, ``sy`` in px (SVG)."""

    x: float
    y: float
    sx: float
    sy: float


@dataclass(frozen=True)
class Frame:
    """Maps cm (y up) to SVG px (y down) for a figure spanning [x0, x1] x [y0, y1]."""

    x0: float
    y0: float
    x1: float
    y1: float

    def p(self, x: float, y: float) -> P:
        return P(x, y, (x - self.x0) * PX_PER_CM, (self.y1 - y) * PX_PER_CM)

    @property
    def width_px(self) -> float:
        return (self.x1 - self.x0) * PX_PER_CM

    @property
    def height_px(self) -> float:
        return (self.y1 - self.y0) * PX_PER_CM

    @property
    def corners(self) -> tuple[P, P]:
        return self.p(self.x0, self.y0), self.p(self.x1, self.y1)


@dataclass(frozen=True)
class Text:
    """A label centred at ``at`` (its box is width x height)."""

    label: Label
    at: P
    corner: P  # top-left corner of its box
    width_px: float = 0.0
    height_px: float = 0.0
    background: bool = False
    anchor: str = "middle"  # "middle": centred on ``at``; "start": ``at`` is its left middle


@dataclass(frozen=True)
class Node:
    id: str
    kind: str  # input, neuron, output, target, loss
    shape: str  # circle or box
    at: P
    width: float  # cm (diameter for circles)
    height: float
    r_px: float
    w_px: float
    h_px: float
    corner: P  # top-left corner (boxes)
    inner: Text
    texts: tuple[Text, ...]  # bias above, name below


@dataclass(frozen=True)
class Edge:
    points: tuple[P, ...]  # from the source's border to the target's border
    text: Text | None


@dataclass(frozen=True)
class Diagram:
    frame: Frame
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    crossings: int
    overlaps: int  # label boxes that overlap another label or a node (0 when placement succeeded)
    notes: tuple[Text, ...] = ()  # lines below the drawing (a values figure's legend)


# --- geometry helpers --------------------------------------------------------------------------
Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def _box(cx: float, cy: float, w: float, h: float) -> Box:
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def _boxes_overlap(a: Box, b: Box, margin: float = 0.0) -> bool:
    return a[0] < b[2] + margin and b[0] < a[2] + margin and a[1] < b[3] + margin and \
        b[1] < a[3] + margin


def _segment_hits_box(p: tuple[float, float], q: tuple[float, float], b: Box) -> bool:
    """Liang-Barsky: does segment pq pass through box b?"""
    t0, t1 = 0.0, 1.0
    dx, dy = q[0] - p[0], q[1] - p[1]
    for d, lo, hi, v in ((dx, b[0], b[2], p[0]), (dy, b[1], b[3], p[1])):
        if abs(d) < 1e-12:
            if not lo <= v <= hi:
                return False
            continue
        a, c = (lo - v) / d, (hi - v) / d
        t0, t1 = max(t0, min(a, c)), min(t1, max(a, c))
        if t0 > t1:
            return False
    return True


# --- network diagrams ---------------------------------------------------------------------------
@dataclass
class _Spec:
    id: str
    kind: str
    column: int
    inner: Label
    above: Label | None = None
    below: Label | None = None
    width: float = NODE
    height: float = NODE
    shape: str = "circle"
    # more labels stacked outwards beyond ``above`` / ``below`` (a values figure's numbers)
    above_more: tuple[Label, ...] = ()
    below_more: tuple[Label, ...] = ()
    left: tuple[Label, ...] = ()  # labels stacked on the node's left (a circuit's leaf)

    def stack(self, sign: int) -> tuple[Label, ...]:
        """The labels above (``sign`` 1) or below (-1) the node, from the node outwards."""
        first, more = (self.above, self.above_more) if sign > 0 else (self.below, self.below_more)
        return ((first,) if first is not None else ()) + more


@dataclass
class _Graph:
    specs: dict[str, _Spec]
    edges: list[tuple[str, str, Label | None]]
    columns: list[list[str]] = field(default_factory=list)


def _inner(n, notation, order) -> Label:
    """The label inside a neuron: its nonlinearity's name, or its formula f(z)."""
    named = nonlinearity(n.activation)
    if named is not None:
        return label(named, notation=notation, order=order)
    return label(n.activation.formula, notation=notation, order=order)


def _bias_label(bias: sp.Expr, b: sp.Symbol, notation, order) -> Label:
    """A number as ``b = 1/2``; a symbolic bias by itself (``b``, ``b_3``, ``-c``), never
    ``b = b``."""
    if bias.is_number:
        return label(sp.Eq(b, bias, evaluate=False), notation=notation, order=order)
    return label(bias, notation=notation, order=order)


def _graph(net: Network, notation: dict[str, str], order: TermOrder) -> _Graph:
    specs: dict[str, _Spec] = {}
    for x in net.inputs:
        specs[x] = _Spec(x, "input", 0, label(symbol(x), notation=notation))
    b = symbol("b")
    for n in net.neurons:
        kind = "output" if n.name in net.outputs else "neuron"
        specs[n.name] = _Spec(
            n.name, kind, n.layer, _inner(n, notation, order),
            above=_bias_label(n.bias, b, notation, order),
            below=label(symbol(n.name), notation=notation))
    depth = max((n.layer for n in net.neurons), default=0)
    for loss in net.losses:
        for s in loss.sources:
            if s in net.targets and s not in specs:
                specs[s] = _Spec(s, "target", loss.layer - 1, label(symbol(s), notation=notation))
        inner = label(sp.Eq(symbol(loss.name), loss.expr, evaluate=False),
                      notation=notation, order=order)
        specs[loss.name] = _Spec(loss.name, "loss", loss.layer, inner, shape="box",
                                 width=inner.width + 0.35, height=max(0.8, inner.height + 0.3))
        depth = max(depth, loss.layer)
    for s in specs.values():
        if s.shape == "circle":
            s.width = s.height = max(NODE, s.inner.width + 0.2)
    edges: list[tuple[str, str, Label | None]] = []
    for n in net.neurons:
        for src, w in n.weights:
            edges.append((src, n.name, label(w, notation=notation, order=order)))
    for loss in net.losses:
        edges += [(s, loss.name, None) for s in loss.sources]
    g = _Graph(specs, edges)
    g.columns = [[s.id for s in specs.values() if s.column == c] for c in range(depth + 1)]
    return g


def _route(g: _Graph) -> list[list[str]]:
    """Split edges that skip columns into chains through dummy nodes; returns the chains."""
    chains = []
    for src, dst, _ in g.edges:
        chain = [src]
        for c in range(g.specs[src].column + 1, g.specs[dst].column):
            d = f"\0{src}>{dst}@{c}"
            g.specs[d] = _Spec(d, "dummy", c, label(""), width=0.0, height=0.3)
            g.columns[c].append(d)
            chain.append(d)
        chains.append([*chain, dst])
    return chains


def _crossings(columns: list[list[str]], links: list[tuple[str, str]]) -> int:
    pos = {v: i for col in columns for i, v in enumerate(col)}
    col_of = {v: c for c, col in enumerate(columns) for v in col}
    by_gap: dict[int, list[tuple[int, int]]] = {}
    for a, b in links:
        by_gap.setdefault(col_of[a], []).append((pos[a], pos[b]))
    total = 0
    for pairs in by_gap.values():
        for i, (a1, b1) in enumerate(pairs):
            for a2, b2 in pairs[i + 1:]:
                if (a1 - a2) * (b1 - b2) < 0:
                    total += 1
    return total


def _order(columns: list[list[str]], links: list[tuple[str, str]], fixed_first: bool = True
           ) -> list[list[str]]:
    """Barycentre sweeps and adjacent swaps; column 0 (the inputs) keeps the sheet's order
    unless not ``fixed_first``."""
    first = 1 if fixed_first else 0
    preds: dict[str, list[str]] = {}
    succs: dict[str, list[str]] = {}
    for a, b in links:
        succs.setdefault(a, []).append(b)
        preds.setdefault(b, []).append(a)
    best = [list(c) for c in columns]
    best_n = _crossings(best, links)
    cols = [list(c) for c in columns]
    for sweep in range(8):
        rng = range(1, len(cols)) if sweep % 2 == 0 else range(len(cols) - 2, first - 1, -1)
        for c in rng:
            ref = cols[c - 1] if sweep % 2 == 0 else cols[c + 1]
            nb = preds if sweep % 2 == 0 else succs
            pos = {v: i for i, v in enumerate(ref)}
            cur = {v: i for i, v in enumerate(cols[c])}
            cols[c].sort(key=lambda v: (sum(pos[u] for u in nb.get(v, []) if u in pos) / max(
                1, len([u for u in nb.get(v, []) if u in pos])) if nb.get(v) else cur[v], cur[v]))
        n = _crossings(cols, links)
        if n < best_n:
            best, best_n = [list(c) for c in cols], n
    improved = True
    while improved and best_n:
        improved = False
        for c in range(first, len(best)):
            for i in range(len(best[c]) - 1):
                best[c][i], best[c][i + 1] = best[c][i + 1], best[c][i]
                n = _crossings(best, links)
                if n < best_n:
                    best_n, improved = n, True
                else:
                    best[c][i], best[c][i + 1] = best[c][i + 1], best[c][i]
    return best


STACK = 0.06  # cm between the labels of a stack
LEFT = 0.12  # cm between a node and the labels on its left


def _stack_size(labels: Sequence[Label]) -> tuple[float, float]:
    """Width and height of labels stacked one above the other."""
    if len(labels) == 1:
        return labels[0].width, labels[0].height
    return max(lab.width for lab in labels), sum(lab.height for lab in labels) + STACK * (
        len(labels) - 1)


def _extent(s: _Spec) -> tuple[float, float]:
    """How far a node with its bias (above) and name (below) reaches up and down from its centre
    (with the labels stacked beyond them, if any)."""
    above, below = s.stack(1), s.stack(-1)
    up = s.height / 2 + (_stack_size(above)[1] + 0.1 if above else 0.0)
    down = s.height / 2 + (_stack_size(below)[1] + 0.1 if below else 0.0)
    if s.left:
        half = _stack_size(s.left)[1] / 2 + 0.1
        up, down = max(up, half), max(down, half)
    return up, down


def _positions(g: _Graph, gap: float, extra: Sequence[float] = (), room: float = 0.0
               ) -> dict[str, tuple[float, float]]:
    """Columns ``gap`` apart (plus ``extra[c]`` between columns c and c + 1; farther where wide
    nodes, such as loss boxes, need the room); in a column, nodes stacked with room for their
    texts (and ``room`` more between two), centred."""
    at: dict[str, tuple[float, float]] = {}
    half = [max((g.specs[v].width / 2 for v in col), default=0.0) for col in g.columns]
    reach = [max([half[c]] + [g.specs[v].width / 2 + LEFT + _stack_size(g.specs[v].left)[0]
                              for v in col if g.specs[v].left]) for c, col in enumerate(g.columns)]
    xs = [0.0]
    for c in range(1, len(g.columns)):
        xs.append(xs[-1] + max(gap + (extra[c - 1] if extra else 0.0),
                               half[c - 1] + reach[c] + 0.8))
    for c, col in enumerate(g.columns):
        ys, y = [], 0.0
        for k, v in enumerate(col):
            up, down = _extent(g.specs[v])
            if k:
                prev_down = _extent(g.specs[col[k - 1]])[1]
                step = prev_down + 0.35 + up + room
                both = g.specs[v].kind != "dummy" and g.specs[col[k - 1]].kind != "dummy"
                y -= max(step, ROW if both else 0.6 * ROW)
            ys.append(y)
        shift = -(ys[0] + ys[-1]) / 2 if ys else 0.0
        for v, yv in zip(col, ys, strict=True):
            at[v] = (xs[c], yv + shift)
    for c, col in enumerate(g.columns):  # a lone loss node sits level with its sources
        if len(col) == 1 and g.specs[col[0]].kind == "loss":
            srcs = [at[a][1] for a, b, _ in g.edges if b == col[0]]
            at[col[0]] = (xs[c], sum(srcs) / len(srcs))
    return at


def _border(spec: _Spec, centre: tuple[float, float], towards: tuple[float, float]):
    """Where the line from the node's centre towards a point leaves the node."""
    dx, dy = towards[0] - centre[0], towards[1] - centre[1]
    n = math.hypot(dx, dy) or 1.0
    if spec.kind == "dummy":
        return centre
    if spec.shape == "circle":
        r = spec.width / 2
        return (centre[0] + dx / n * r, centre[1] + dy / n * r)
    t = min((spec.width / 2) / abs(dx) if dx else math.inf, (spec.height / 2) / abs(dy) if dy
            else math.inf)
    return (centre[0] + dx * t, centre[1] + dy * t)


def _decorations(g: _Graph, at, polylines, clear: float = 0.0, crowded: list[str] | None = None
                 ) -> list[tuple[str, Label, tuple[float, float]]]:
    """Bias above and name below each node; beside (up/down-left/right) if an edge is in the way.
    With ``clear`` > 0 (a figure with values) each label keeps that much room from the other
    labels, and a spot straight above or below, a little farther out, is tried before the spots
    beside; the ids of the nodes whose labels found no free spot are added to ``crowded``."""
    nodes = [_box(*at[s.id], s.width + 0.1, s.height + 0.1) for s in g.specs.values()
             if s.kind != "dummy"]
    segments = [(a, b) for pl in polylines for a, b in pairwise(pl)]
    out: list[tuple[str, Label, tuple[float, float]]] = []
    placed: list[Box] = []

    def spot(sid: str, candidates: list[tuple[float, float]], w: float, h: float):
        """The first free candidate that fewest edges cross (else the first, ``sid`` crowded);
        its box is taken."""
        best = None
        for k, xy in enumerate(candidates):
            box = _box(*xy, w, h)
            if any(_boxes_overlap(box, o, 0.02 + clear) for o in placed) or any(
                    _boxes_overlap(box, o) for o in nodes):
                continue
            hits = sum(1 for a, b in segments if _segment_hits_box(a, b, box))
            if best is None or (hits, k) < best[0]:
                best = ((hits, k), xy, box)
        if best is None:
            best = (None, candidates[0], _box(*candidates[0], w, h))
            if crowded is not None:
                crowded.append(sid)
        placed.append(best[2])
        return best[1]

    for s in g.specs.values():
        x, y = at[s.id]
        if s.left:  # on the left, level with the node or a little above or below
            block = Label((), *_stack_size(s.left))
            cx = x - s.width / 2 - LEFT - block.width / 2
            _, cy = spot(s.id, [(cx, y + d) for d in (0, 0.2, -0.2, 0.4, -0.4)],
                         block.width, block.height)
            top = cy + block.height / 2
            for member in s.left:
                out.append((s.id, member, (cx, top - member.height / 2)))
                top -= member.height + STACK
        for sign in (1, -1):
            stack = s.stack(sign)
            if not stack:
                continue
            lab = stack[0] if len(stack) == 1 else Label((), *_stack_size(stack))
            dy = sign * (s.height / 2 + 0.08 + lab.height / 2)
            side = s.width / 2 + lab.width / 2 - 0.1
            lift = sign * (lab.height + 0.05)
            candidates = [(x, y + dy), (x + side, y + dy), (x - side, y + dy),
                          (x + side + 0.25, y + dy + lift), (x - side - 0.25, y + dy + lift),
                          (x + side + 0.25, y + dy / 2), (x - side - 0.25, y + dy / 2)]
            if clear:
                candidates[1:1] = [(x, y + dy + sign * 0.25 * k) for k in (1, 2, 3)]
            xy = spot(s.id, candidates, lab.width, lab.height)
            if len(stack) == 1:
                out.append((s.id, lab, xy))
                continue
            # the stack's labels, centred on the block's centre, the first nearest the node
            cx, cy = xy
            edge = cy - sign * lab.height / 2
            for member in stack:
                out.append((s.id, member, (cx, edge + sign * member.height / 2)))
                edge += sign * (member.height + STACK)
    return out


FRACTIONS = (0.5, 0.38, 0.62, 0.3, 0.7, 0.45, 0.55, 0.24, 0.76, 0.33, 0.67, 0.18, 0.82, 0.42,
             0.58, 0.27, 0.73)


def _place_labels(g: _Graph, at, polylines, decorations, failed: list[int] | None = None,
                  clear: float = 0.0):
    """Greedy: each edge label at the free fraction of its edge that fewest other edges cross."""
    obstacles: list[Box] = [_box(*at[s.id], s.width + 0.1, s.height + 0.1)
                            for s in g.specs.values() if s.kind != "dummy"]
    obstacles += [_box(*xy, lab.width, lab.height) for _, lab, xy in decorations]
    segments = [(i, p, q) for i, pl in enumerate(polylines) for p, q in pairwise(pl)]

    def shared(i: int, j: int) -> bool:  # edges from one source (or into one target) fan out
        return g.edges[i][0] == g.edges[j][0] or g.edges[i][1] == g.edges[j][1]

    placed: list[Box] = []
    result: list[tuple[float, float] | None] = []
    failures = 0
    for i, ((_, _, lab), pl) in enumerate(zip(g.edges, polylines, strict=True)):
        if lab is None:
            result.append(None)
            continue
        best = None
        for k, (p, q) in enumerate(pairwise(pl)):
            for t in FRACTIONS:
                xy = (p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1]))
                box = _box(*xy, lab.width, lab.height)
                if any(_boxes_overlap(box, o, 0.03 + clear) for o in obstacles + placed):
                    continue
                hits = sum(1 for j, a, b in segments if j != i and _segment_hits_box(a, b, box))
                wide = _box(*xy, lab.width + 0.3, lab.height + 0.3)
                near = sum(1 for j, a, b in segments if j != i and not shared(i, j)
                           and _segment_hits_box(a, b, wide))
                near += sum(1 for o in obstacles if _boxes_overlap(wide, o))
                score = (hits, near, k, abs(t - 0.5))
                if best is None or score < best[0]:
                    best = (score, xy, box)
        if best is None:
            failures += 1
            if failed is not None:
                failed.append(i)
            p, q = pl[0], pl[1]
            xy = ((p[0] + q[0]) / 2, (p[1] + q[1]) / 2)
            best = ((99,), xy, _box(*xy, lab.width, lab.height))
        placed.append(best[2])
        result.append(best[1])
    return result, failures


def network_diagram(net: Network, notation: dict[str, str] | None = None,
                    names: Sequence[str] = (), values=None) -> Diagram:
    """The layout of ``net``: inputs, neurons with bias and nonlinearity, weights on edges.
    With ``values`` (a :class:`derive.steps.NetworkValues`) every edge label is its weight's
    value (``w13 = -0.3``); below each node its value (``a3 ≈ 0.8005``) and δ, above a neuron
    its nonzero bias and its pre-activation's value; the ``notes`` in a legend below."""
    notation = notation or {}
    order = TermOrder(names)
    g = _graph(net, notation, order)
    if values is None:
        return _layout(g)
    notes = _with_values(g, net, values, notation, order)
    return _layout(g, attempts=ATTEMPTS_WITH_VALUES, notes=notes, strict=True)


CLEAR = 0.12  # cm a value figure's labels keep from each other and from the nodes
ATTEMPTS_WITH_VALUES = 12  # a figure with values has longer labels: room to move columns apart


def _with_values(g: _Graph, net: Network, values, notation, order) -> list[Label]:
    """Put ``values`` (a :class:`derive.steps.NetworkValues`) on the labels of ``g``; returns
    the legend's lines."""
    val, deltas = values.values, values.deltas

    def said(name: str) -> Label:
        return value_label(val[name], symbol(name), notation, order)

    def delta(*nodes: str | None) -> list[Label]:
        return [value_label(deltas[n][1], deltas[n][0], notation, order)
                for n in nodes if n in deltas]

    def put(spec: _Spec, above: list[Label], below: list[Label]) -> None:
        spec.above, spec.above_more = (above[0], tuple(above[1:])) if above else (None, ())
        spec.below, spec.below_more = (below[0], tuple(below[1:])) if below else (None, ())

    for x in (*net.inputs, *net.targets):
        if x in g.specs and x in val:
            put(g.specs[x], [], [said(x)])
    for n in net.neurons:
        above = []
        if isinstance(n.bias, sp.Symbol) and n.bias.name in val:
            above.append(said(n.bias.name))
        elif n.bias != 0:
            above.append(g.specs[n.name].above)
        if n.pre is not None and n.pre in val:
            above.append(said(n.pre))
        name = said(n.name) if n.name in val else g.specs[n.name].below
        put(g.specs[n.name], above, [name, *delta(n.pre, n.name)])
    for loss in net.losses:
        value = [said(loss.name)] if loss.name in val else []
        put(g.specs[loss.name], [], [*value, *delta(loss.name)])
    weights = [w for n in net.neurons for _, w in n.weights]
    for k, ((src, dst, _), w) in enumerate(zip(g.edges, weights, strict=False)):
        if isinstance(w, sp.Symbol) and w.name in val:
            g.edges[k] = (src, dst, said(w.name))
    return [value_label(v, q, notation, order) for q, v in values.notes]


@dataclass(frozen=True)
class GraphNode:
    """A node of a computation graph to lay out: its ``inner`` label (its name), the labels
    stacked ``above`` and ``below`` it (from the node outwards) and on its ``left`` (from the
    top)."""

    id: str
    kind: str  # input, target, neuron, loss
    inner: Label
    above: tuple[Label, ...] = ()
    below: tuple[Label, ...] = ()
    left: tuple[Label, ...] = ()


def graph_diagram(nodes: Sequence[GraphNode], edges: Sequence[tuple[str, str]],
                  notes: Sequence[Label] = ()) -> Diagram:
    """The layout of a computation graph: ``nodes`` in topological order, ``edges`` (read,
    reader). A computed node sits in the column of its depth (one more than its deepest
    parent's), a leaf in the column just before its first reader; edges that skip columns are
    routed through the columns between (never through a node); the order in every column,
    the first too, minimises crossings; the stacked labels are placed like a network's bias
    and name (beside their node when an edge is in the way)."""
    parents: dict[str, list[str]] = {n.id: [] for n in nodes}
    readers: dict[str, list[str]] = {n.id: [] for n in nodes}
    for read, reader in edges:
        parents[reader].append(read)
        readers[read].append(reader)
    depth: dict[str, int] = {}
    for n in nodes:  # topological order: parents first
        depth[n.id] = 1 + max((depth[p] for p in parents[n.id]), default=-1)
    for n in nodes:
        if not parents[n.id] and readers[n.id]:
            depth[n.id] = min(depth[r] for r in readers[n.id]) - 1
    specs: dict[str, _Spec] = {}
    for n in nodes:
        size = max(NODE, n.inner.width + 0.2)
        specs[n.id] = _Spec(n.id, n.kind, depth[n.id], n.inner,
                            n.above[0] if n.above else None, n.below[0] if n.below else None,
                            size, size, above_more=n.above[1:], below_more=n.below[1:],
                            left=n.left)
    g = _Graph(specs, [(a, b, None) for a, b in edges])
    g.columns = [[n.id for n in nodes if depth[n.id] == c] for c in range(max(depth.values()) + 1)]
    return _layout(g, attempts=ATTEMPTS_WITH_VALUES, notes=notes, fixed_first=False,
                   strict=True)


def _layout(g: _Graph, attempts: int = 5, notes: Sequence[Label] = (),
            fixed_first: bool = True, strict: bool = False) -> Diagram:
    """Route, order and place ``g``; the ``notes`` go below the drawing, left-aligned. With
    ``strict`` the columns also move apart while another edge runs through an edge label."""
    chains = _route(g)
    links = [(a, b) for ch in chains for a, b in pairwise(ch)]
    g.columns = _order(g.columns, links, fixed_first)
    crossings = _crossings(g.columns, links)
    best = None
    extra = [0.0] * max(0, len(g.columns) - 1)  # strict: the gaps that had a problem widen
    room = 2 * CLEAR  # strict: more room between the nodes of a column while a label has none
    for attempt in range(attempts):  # move the columns apart until labels and texts are clear
        at = _positions(g, GAP, extra, room) if strict else _positions(g, GAP + 0.4 * attempt)
        polylines = []
        for ch in chains:
            pts = [at[v] for v in ch]
            pts[0] = _border(g.specs[ch[0]], pts[0], pts[1])
            pts[-1] = _border(g.specs[ch[-1]], pts[-1], pts[-2])
            polylines.append(pts)
        clear = CLEAR if strict else 0.0
        crowded: list[str] = []
        decorations = _decorations(g, at, polylines, clear, crowded)
        failed: list[int] = []
        spots, failures = _place_labels(g, at, polylines, decorations, failed, clear)
        covered = sum(1 for pl in polylines for a, b in pairwise(pl) for _, lab, xy in decorations
                      if _segment_hits_box(a, b, _box(*xy, lab.width, lab.height)))
        if strict:
            wide = _problem_gaps(g, at, polylines, decorations, spots, failed)
            covered += len(wide) + len(crowded)
            for c in wide:
                extra[c] += 0.4
            if crowded:
                room += 0.3
        if best is None or (failures, covered) < best[0]:
            best = ((failures, covered), (at, polylines, decorations, spots))
        if failures == 0 and covered == 0:
            break
    (failures, _), (at, polylines, decorations, spots) = best
    return _assemble(g, at, polylines, decorations, spots, crossings, failures, notes)


def _problem_gaps(g: _Graph, at, polylines, decorations, spots, failed: list[int]) -> set[int]:
    """The gaps between columns (c: between columns c and c + 1) where an edge label found no
    free spot or is crossed by another edge, or an edge runs through a node's label."""
    xs = sorted({at[col[0]][0] for col in g.columns if col})

    def gap_of(x: float) -> int:
        return max(0, min(len(xs) - 2, sum(1 for v in xs if v <= x) - 1))

    out: set[int] = set()
    for i in failed:
        src, dst = g.specs[g.edges[i][0]].column, g.specs[g.edges[i][1]].column
        out.update(range(min(src, dst), max(src, dst)))
    for i, ((_, _, lab), xy) in enumerate(zip(g.edges, spots, strict=True)):
        if xy is None or i in failed:
            continue
        box = _box(*xy, lab.width, lab.height)
        if any(j != i and _segment_hits_box(a, b, box) for j, pl in enumerate(polylines)
               for a, b in pairwise(pl)):
            out.add(gap_of(xy[0]))
    for _, lab, xy in decorations:
        box = _box(*xy, lab.width, lab.height)
        for pl in polylines:
            for a, b in pairwise(pl):
                if _segment_hits_box(a, b, box):
                    out.add(gap_of((a[0] + b[0]) / 2))
    return out


NOTE_GAP = 0.3  # cm between the drawing and its legend


def _assemble(g, at, polylines, decorations, spots, crossings, failures, notes=()) -> Diagram:
    boxes = [_box(*at[s.id], s.width, s.height) for s in g.specs.values() if s.kind != "dummy"]
    boxes += [_box(*xy, lab.width, lab.height) for _, lab, xy in decorations]
    boxes += [_box(*xy, e[2].width, e[2].height) for e, xy in zip(g.edges, spots, strict=True)
              if xy is not None]
    boxes += [(x, y, x, y) for pl in polylines for x, y in pl]
    noted: list[tuple[Label, tuple[float, float]]] = []
    if notes:
        left, y = min(b[0] for b in boxes), min(b[1] for b in boxes) - NOTE_GAP
        for lab in notes:
            noted.append((lab, (left + lab.width / 2, y - lab.height / 2)))
            y -= lab.height + STACK
        boxes += [_box(*xy, lab.width, lab.height) for lab, xy in noted]
    frame = Frame(min(b[0] for b in boxes) - PAD, min(b[1] for b in boxes) - PAD,
                  max(b[2] for b in boxes) + PAD, max(b[3] for b in boxes) + PAD)
    texts_of: dict[str, list[Text]] = {}
    for sid, lab, xy in decorations:
        texts_of.setdefault(sid, []).append(_text(frame, lab, xy, background=True))
    nodes = []
    for s in g.specs.values():
        if s.kind == "dummy":
            continue
        x, y = at[s.id]
        nodes.append(Node(
            s.id, s.kind, s.shape, frame.p(x, y), s.width, s.height,
            s.width / 2 * PX_PER_CM, s.width * PX_PER_CM, s.height * PX_PER_CM,
            frame.p(x - s.width / 2, y + s.height / 2), _text(frame, s.inner, (x, y)),
            tuple(texts_of.get(s.id, ()))))
    edges = []
    for (_, _, lab), pl, xy in zip(g.edges, polylines, spots, strict=True):
        text = _text(frame, lab, xy, background=True) if lab is not None else None
        edges.append(Edge(tuple(frame.p(*p) for p in pl), text))
    return Diagram(frame, tuple(nodes), tuple(edges), crossings, failures,
                   tuple(_text(frame, lab, xy, anchor="start") for lab, xy in noted))


def _text(frame: Frame, lab: Label, xy, background: bool = False, anchor: str = "middle"
          ) -> Text:
    corner = frame.p(xy[0] - lab.width / 2, xy[1] + lab.height / 2)
    at = frame.p(xy[0] - lab.width / 2, xy[1]) if anchor == "start" else frame.p(*xy)
    return Text(lab, at, corner, lab.width * PX_PER_CM, lab.height * PX_PER_CM, background,
                anchor)


# --- region plots -------------------------------------------------------------------------------
PLOT = 6.5  # cm, the longer side of the window
TICK = 0.12  # cm


@dataclass(frozen=True)
class Area:
    sign: str
    rings: tuple[tuple[P, ...], ...]  # outer ring, then holes (filled with the even-odd rule)


@dataclass(frozen=True)
class Seg:
    a: P
    b: P


@dataclass(frozen=True)
class Swatch:
    kind: str  # negative, positive, zero (filled boxes) or boundary, edge, mirror (lines)
    a: P  # box corner (top-left) or line start
    b: P  # line end
    w_px: float
    h_px: float
    text: Text


@dataclass(frozen=True)
class Plot:
    frame: Frame
    lo: P  # window corners
    hi: P
    corner: P  # top-left corner of the window (SVG)
    w_px: float
    h_px: float
    areas: tuple[Area, ...]
    axes: tuple[Seg, ...]  # x1 = 0 and x2 = 0 where they cross the window
    edges: tuple[Seg, ...]
    mirrors: tuple[Seg, ...]
    boundary: tuple[Seg, ...]
    ticks: tuple[Seg, ...]
    texts: tuple[Text, ...]  # tick labels, axis names, region names
    legend: tuple[Swatch, ...]
    points: tuple[P, ...] = ()  # the exercise's data points inside the window, marked


def region_plot(a: Analysis, classes: dict[str, str], notation: dict[str, str] | None = None,
                points: Sequence[tuple] = ()) -> Plot:
    """The figure of a region analysis; ``classes`` names the negative/positive classes; the
    data ``points`` (x1, x2) inside the window are marked (a point outside it is not drawn)."""
    notation = notation or {}
    (x0, x1), (y0, y1) = a.window.x1, a.window.x2
    s = PLOT / float(max(x1 - x0, y1 - y0))
    w, h = float(x1 - x0) * s, float(y1 - y0) * s

    def cm(p) -> tuple[float, float]:
        return (float(p[0] - x0) * s, float(p[1] - y0) * s)

    xs = [symbol(n) for n in a.inputs]
    y_sym = symbol(a.output)
    cut = sp.Rational(a.threshold.numerator, a.threshold.denominator)  # y < cut, y > cut
    rel = {"negative": sp.Lt(y_sym, cut), "positive": sp.Gt(y_sym, cut),
           "zero": sp.Eq(y_sym, cut, evaluate=False)}
    name = {"negative": classes["negative"], "positive": classes["positive"], "zero": ""}
    # texts outside the window: ticks and axis names, then the legend to the right
    step = nice_step(max(x1 - x0, y1 - y0) / 6)
    ticks: list[tuple[tuple[float, float], tuple[float, float]]] = []
    texts: list[tuple[Label, tuple[float, float]]] = []
    k = math.ceil(x0 / step)
    right = 0.0  # half the width of the last tick label at the right end
    # x tick labels sit below the half height of the y tick labels (the two at the corner apart)
    drop = max(TICK + 0.08, label(sp.Integer(0), notation=notation).height / 2 + 0.05)
    while k * step <= x1:
        x = float(k * step - x0) * s
        ticks.append(((x, 0.0), (x, -TICK)))
        lab = label(sp.Rational(k * step), notation=notation)
        texts.append((lab, (x, -drop - lab.height / 2)))
        right = max(0.0, x + lab.width / 2 - w)
        k += 1
    k = math.ceil(y0 / step)
    left = 0.0
    while k * step <= y1:
        y = float(k * step - y0) * s
        ticks.append(((0.0, y), (-TICK, y)))
        lab = label(sp.Rational(k * step), notation=notation)
        texts.append((lab, (-TICK - 0.08 - lab.width / 2, y)))
        left = max(left, lab.width)
        k += 1
    lab_x1, lab_x2 = label(xs[0], notation=notation), label(xs[1], notation=notation)
    texts.append((lab_x1, (w + max(right, TICK) + 0.15 + lab_x1.width / 2,
                           -drop - lab_x1.height / 2)))
    texts.append((lab_x2, (-TICK - 0.08 - left / 2, h + drop + lab_x2.height / 2)))
    # geometry
    areas = [(r.sign, [[cm(p) for p in ring] for wr in r.window for ring in (wr.outer, *wr.holes)])
             for r in a.regions if r.window]
    edges = [(cm(e.p), cm(e.q)) for e in a.edges]
    boundary = [(cm(e.p), cm(e.q)) for e in a.boundary]
    axes = []
    for f in (Affine(1, 0, 0), Affine(0, 1, 0)):
        far = clip_segment(*_long(f, x0, x1, y0, y1), a.window)
        if far is not None:
            axes.append((cm(far[0]), cm(far[1])))
    mirrors = []
    for sym in a.symmetries:
        if sym.sign == 1 and sym.axis is not None:
            far = clip_segment(*_long(sym.axis, x0, x1, y0, y1), a.window)
            if far is not None and (cm(far[0]), cm(far[1])) not in mirrors:
                mirrors.append((cm(far[0]), cm(far[1])))
    # region names inside the regions, where they fit
    lines = edges + boundary + mirrors + axes
    for r in a.regions:
        if not r.window or not name[r.sign]:
            continue
        lab = label(name[r.sign], notation=notation)
        spot = _free_spot([[cm(p) for p in ring] for wr in r.window
                           for ring in (wr.outer, *wr.holes)], lab, lines, w, h)
        if spot is not None:
            texts.append((lab, spot))
    # legend
    entries: list[tuple[str, Label]] = []
    for sign in ("negative", "positive", "zero"):
        if any(r.sign == sign for r in a.regions):
            parts = (f"{name[sign]}: ", rel[sign]) if name[sign] else ("neither class: ", rel[sign])
            entries.append((sign, label(*parts, notation=notation)))
    entries.append(("boundary", label("decision boundary ", rel["zero"], notation=notation)))
    marked = [cm(q) for q in points
              if x0 <= q[0] <= x1 and y0 <= q[1] <= y1]
    if marked:
        entries.append(("point", label("data point" if len(marked) == 1 else "data points",
                                       notation=notation)))
    if edges:
        entries.append(("edge", label("boundary between linear pieces", notation=notation)))
    if mirrors:
        entries.append(("mirror", label("mirror axis of y" if len(mirrors) == 1 else
                                        "mirror axes of y", notation=notation)))
    lx, ly = w + 0.5, h
    legend_geo = []
    for kind, lab in entries:
        row = max(0.45, lab.height + 0.12)
        ly -= row
        legend_geo.append((kind, (lx, ly + row / 2 - 0.15), (lx + 0.6, ly + row / 2 - 0.15),
                           lab, (lx + 0.75 + lab.width / 2, ly + row / 2)))
    boxes = [(0.0, 0.0, w, h)] + [_box(*xy, lab.width, lab.height) for lab, xy in texts]
    boxes += [_box(*xy, lab.width, lab.height) for _, _, _, lab, xy in legend_geo]
    frame = Frame(min(b[0] for b in boxes) - PAD, min(b[1] for b in boxes) - PAD,
                  max(b[2] for b in boxes) + PAD, max(b[3] for b in boxes) + PAD)
    seg = lambda pq: Seg(frame.p(*pq[0]), frame.p(*pq[1]))  # noqa: E731
    legend = []
    for kind, p, q, lab, xy in legend_geo:
        filled = kind in ("negative", "positive", "zero")
        if kind == "point":  # one mark in the middle of the swatch
            p = q = ((p[0] + q[0]) / 2, p[1])
        legend.append(Swatch(kind, frame.p(p[0], p[1] + 0.3 if filled else p[1]), frame.p(*q),
                             0.6 * PX_PER_CM, 0.3 * PX_PER_CM, _text(frame, lab, xy,
                                                                     anchor="start")))
    return Plot(
        frame, frame.p(0, 0), frame.p(w, h), frame.p(0, h), w * PX_PER_CM, h * PX_PER_CM,
        tuple(Area(sign, tuple(tuple(frame.p(*p) for p in ring) for ring in rings))
              for sign, rings in areas),
        tuple(map(seg, axes)), tuple(map(seg, edges)), tuple(map(seg, mirrors)),
        tuple(map(seg, boundary)), tuple(map(seg, ticks)),
        tuple(_text(frame, lab, xy) for lab, xy in texts), tuple(legend),
        tuple(frame.p(*q) for q in marked))


def _long(f, x0, x1, y0, y1):
    """Two points on the line f = 0 far outside the window."""
    n = f.a1 * f.a1 + f.a2 * f.a2
    foot = (Fraction(-f.c * f.a1, 1) / n, Fraction(-f.c * f.a2, 1) / n)
    big = 4 * (abs(x0) + abs(x1) + abs(y0) + abs(y1) + 1)
    d = (-f.a2 * big, f.a1 * big)
    return (foot[0] - d[0], foot[1] - d[1]), (foot[0] + d[0], foot[1] + d[1])


def _free_spot(rings, lab: Label, lines, w: float, h: float):
    """The point inside the rings farthest from every drawn line, if the label fits there."""
    edges = [(p, q) for ring in rings for p, q in zip(ring, ring[1:] + ring[:1], strict=True)]
    best = None
    n = 24
    for i in range(n):
        for j in range(n):
            pt = ((i + 0.5) * w / n, (j + 0.5) * h / n)
            box = _box(*pt, lab.width + 0.15, lab.height + 0.1)
            corners = [(box[0], box[1]), (box[2], box[1]), (box[0], box[3]), (box[2], box[3])]
            if not all(_inside(c, edges) for c in corners):
                continue
            if any(_segment_hits_box(p, q, box) for p, q in lines + edges):
                continue
            clearance = min((_dist(pt, p, q) for p, q in lines + edges), default=w)
            if best is None or clearance > best[0]:
                best = (clearance, pt)
    return best[1] if best else None


def _inside(pt, edges) -> bool:
    hit = False
    for (ax, ay), (bx, by) in edges:
        if (ay > pt[1]) != (by > pt[1]) and pt[0] < ax + (pt[1] - ay) * (bx - ax) / (by - ay):
            hit = not hit
    return hit


def _dist(pt, p, q) -> float:
    dx, dy = q[0] - p[0], q[1] - p[1]
    n = dx * dx + dy * dy
    t = 0.0 if n == 0 else max(0.0, min(1.0, ((pt[0] - p[0]) * dx + (pt[1] - p[1]) * dy) / n))
    return math.hypot(pt[0] - p[0] - t * dx, pt[1] - p[1] - t * dy)


# --- checks -------------------------------------------------------------------------------------
def _text_box(t: Text) -> Box:
    """A placed text's box in cm (y up)."""
    w, h = t.label.width, t.label.height
    x = t.at.x + w / 2 if t.anchor == "start" else t.at.x
    return _box(x, t.at.y, w, h)


def label_clashes(figure: Diagram | Plot) -> list[str]:
    """What is wrong with a figure's labels, from its layout: two labels that overlap, a label
    over a node, a label or node that crosses the figure's edge. Empty when the layout is clean."""
    frame = figure.frame
    if isinstance(figure, Diagram):
        texts = [(f"weight {e.text.label.parts[0].tex}", e.text) for e in figure.edges if e.text]
        texts += [(f"{n.id}: {t.label.parts[0].tex}", t) for n in figure.nodes for t in n.texts]
        texts += [(f"note {t.label.parts[0].tex}", t) for t in figure.notes]
        solids = [(f"node {n.id}", _box(n.at.x, n.at.y, n.width, n.height)) for n in figure.nodes]
    else:
        texts = [(t.label.parts[0].tex, t) for t in figure.texts]
        texts += [(f"legend {s.text.label.parts[0].tex}", s.text) for s in figure.legend]
        solids = []
    boxes = [(name, _text_box(t)) for name, t in texts]
    problems = [f"{a} overlaps {b}" for (a, p), (b, q) in _pairs(boxes) if _boxes_overlap(p, q)]
    problems += [f"{a} covers {b}" for a, p in boxes for b, q in solids if _boxes_overlap(p, q)]
    eps = 1e-6
    for name, b in boxes + solids:
        if b[0] < frame.x0 - eps or b[2] > frame.x1 + eps or b[1] < frame.y0 - eps \
                or b[3] > frame.y1 + eps:
            problems.append(f"{name} crosses the figure's edge")
    return problems


def _pairs(items):
    return [(a, b) for i, a in enumerate(items) for b in items[i + 1:]]


def edge_crossings(d: Diagram) -> list[str]:
    """The labels of a diagram that an edge runs through: a node's label or a legend line
    crossed by any edge, an edge's label crossed by another edge. Empty when every label is
    clear of the lines."""
    segments = [(i, (p.x, p.y), (q.x, q.y)) for i, e in enumerate(d.edges)
                for p, q in pairwise(e.points)]
    texts = [(f"{n.id}: {t.label.parts[0].tex}", t, None) for n in d.nodes for t in n.texts]
    texts += [(f"note {t.label.parts[0].tex}", t, None) for t in d.notes]
    texts += [(f"weight {e.text.label.parts[0].tex}", e.text, i) for i, e in enumerate(d.edges)
              if e.text is not None]
    return [f"an edge crosses {name}" for name, t, own in texts
            if any(i != own and _segment_hits_box(p, q, _text_box(t)) for i, p, q in segments)]
