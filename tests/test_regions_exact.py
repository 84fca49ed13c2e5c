"""The integer enumeration of decision regions against the Fraction algorithm it replaced
(``regions_oracle``), and every piece labelled by exact evaluation of the network."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import pytest
import regions_oracle
import sympy as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from derive.errors import InputError
from derive.maths.functions import leaky_relu, relu, symbol
from derive.maths.geometry import centroid, cross, simplify_ring
from derive.maths.network import network_from_expr
from derive.maths.regions import Evaluator, analyze, compile_units, forward, pieces_of, units

F = Fraction
small = st.integers(-3, 3)
bias = st.builds(Fraction, st.integers(-4, 4), st.sampled_from([1, 2, 3]))
unit = st.sampled_from(["relu", "leaky", "abs"])


@st.composite
def networks(draw):
    """2 inputs, 1 or 2 hidden layers of 1..6 units (ReLU, leaky ReLU or abs), small weights."""
    layer = [symbol("x1"), symbol("x2")]
    for _ in range(draw(st.integers(1, 2))):
        cur = []
        for _ in range(draw(st.integers(1, 6))):
            z = sum(draw(small) * v for v in layer) + sp.Rational(draw(bias))
            kind = draw(unit)
            cur.append(relu(z) if kind == "relu" else sp.Abs(z) if kind == "abs" else
                       leaky_relu(z, sp.Rational(1, draw(st.sampled_from([2, 5, 10])))))
        layer = cur
    expr = sum(draw(small) * v for v in layer) + sp.Rational(draw(bias))
    assume(not expr.is_number)
    return expr


def _units(expr):
    try:
        net = network_from_expr(expr, inputs=["x1", "x2"])
        return net, units(net)
    except InputError:
        assume(False)


def check_against_oracle(expr, threshold=0):
    net, us = _units(expr)
    out = net.outputs[0]
    threshold = F(threshold)
    r, cells, compiled = pieces_of(us, net.inputs, out, threshold)
    r0, states = regions_oracle.pieces_of(us, net.inputs, out, threshold)
    assert r == r0
    assert [c.pattern for c in cells] == [s.pattern for s in states]
    o, den = compiled.index(out), compiled.den[compiled.index(out)]
    for c, s in zip(cells, states, strict=True):
        assert tuple((F(x, w), F(y, w)) for x, y, w in c.pts) == s.poly
        assert [k for _, k, _ in c.lines] == [k for _, k, _ in s.lines]
        for (f, k, _), (g, _, _) in zip(c.lines, s.lines, strict=True):
            d = compiled.steps[k].pre_den
            assert (F(f[0], d), F(f[1], d), F(f[2], d)) == (g.a1, g.a2, g.c)
        a, b, cc = c.value[o]
        y = s.value[out]
        assert (F(a, den), F(b, den), F(cc, den)) == (y.a1, y.a2, y.c)
        n = len(c.pts)
        for i in range(n):  # each edge's recorded line goes through both of its ends
            for x, yy, w in (c.pts[i], c.pts[(i + 1) % n]):
                e = c.edges[i]
                assert e[0] * x + e[1] * yy + e[2] * w == 0


def check_labels(expr):
    """Every piece: the network evaluated exactly (the Fraction forward pass) at an interior
    point has the piece's activation pattern and formula; at every vertex, the formula."""
    net, us = _units(expr)
    a = analyze(net)
    out = a.output
    switching = [u for u in us if u.slopes[0] != u.slopes[1]]
    for piece in a.pieces:
        inside = centroid(piece.polygon)
        values = forward(us, a.inputs, inside)
        assert values[out] == piece.y.at(inside)
        signs = [s for s in piece.pattern if s != "."]
        assert len(signs) == len(switching)
        for u, s in zip(switching, signs, strict=True):
            z = sum((w * values[src] for src, w in u.sources), u.bias)
            assert (s == "+" and z >= 0) or (s == "-" and z <= 0)
        for v in piece.polygon:
            assert forward(us, a.inputs, v)[out] == piece.y.at(v)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(), st.sampled_from([F(0), F(1, 2), F(-2)]))
def test_the_integer_enumeration_is_the_fraction_one(expr, threshold):
    check_against_oracle(expr, threshold)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_every_piece_is_labelled_by_exact_evaluation(expr):
    check_labels(expr)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(), st.sampled_from([F(0), F(1, 2), F(-2)]))
def test_the_integer_enumeration_is_the_fraction_one_long(expr, threshold):
    check_against_oracle(expr, threshold)
    check_labels(expr)


@pytest.mark.parametrize("text", [
    "relu(x1 - x2) + relu(x2 - x1) - 3*relu(relu(x1 - x2) + relu(x2 - x1) - 1) - 1/2",
    "abs(x1) + abs(x2) - 1",
    "relu(x1) - relu(x2) + 4",  # the boundary far from the units' lines: R grows
    "relu(1000*x1 - 999*x2 + 1) - relu(x1) + 1/7",  # lines meeting far out, near a diagonal
])
def test_known_networks_match_the_oracle(text):
    from derive.sheet.parse import parse_expr

    check_against_oracle(parse_expr(text))
    check_labels(parse_expr(text))


points = st.tuples(st.builds(F, st.integers(-50, 50), st.integers(1, 12)),
                   st.builds(F, st.integers(-50, 50), st.integers(1, 12)))


@settings(max_examples=25, deadline=None)
@given(networks(), st.lists(points, min_size=1, max_size=6))
def test_the_integer_evaluator_is_the_forward_pass(expr, pts):
    net, us = _units(expr)
    y = Evaluator(compile_units(us, net.inputs), net.outputs[0], F(1, 3))
    for p in pts + pts:  # the second time from the memo
        assert y(p) == forward(us, net.inputs, p)[net.outputs[0]] - F(1, 3)


def _simplify_ring_oracle(ring):
    changed = True
    while changed and len(ring) > 3:
        changed = False
        for i in range(len(ring)):
            if cross(ring[i - 1], ring[i], ring[(i + 1) % len(ring)]) == 0:
                del ring[i]
                changed = True
                break
    return tuple(ring)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-2, 2), st.integers(-2, 2)), min_size=3, max_size=12))
def test_simplify_ring_in_one_scan_drops_what_the_repeated_scan_dropped(ring):
    """Rings with straight runs, spikes and repeated points: the same vertices, in order."""
    ring = [(F(x), F(y)) for x, y in ring]
    assert simplify_ring(list(ring)) == _simplify_ring_oracle(list(ring))


def test_the_benchmark_sheet_has_a_boundary():
    """benchmarks/bench_regions.py: a small network of its kind has both classes."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import tomllib

    from bench_regions import regions_sheet

    from derive.maths.network import build_network
    from derive.sheet.parse import parse_assignment

    sheet = tomllib.loads(regions_sheet((2, 4, 3, 1), seed=3))
    assert sheet["exercise"][0]["part"][0]["task"] == "decision-boundary"
    model = [parse_assignment(s) for s in sheet["exercise"][0]["model"]]
    a = analyze(build_network(model, "y", include_loss=False), output="y")
    assert {r.sign for r in a.regions} >= {"negative", "positive"}
    assert regions_sheet((2, 4, 3, 1), seed=3) == regions_sheet((2, 4, 3, 1), seed=3)
