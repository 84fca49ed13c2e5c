"""Exact decision regions (1b and networks never seen), checked by sampling."""

from __future__ import annotations

from fractions import Fraction

import pytest
import sympy as sp
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from derive.errors import InputError
from derive.maths.functions import relu, symbol
from derive.maths.network import build_network, network_from_expr
from derive.maths.regions import NEG, POS, Window, analyze, forward
from derive.render.prose import markup
from derive.sheet.parse import parse_assignment, parse_expr
from derive.steps import Text
from derive.verify.regions import check_regions

EX1 = "1 - relu(x1) - relu(x2) + relu(x1 + x2)"
X = (symbol("x1"), symbol("x2"))


def regions_of(text, **kw):
    expr = parse_expr(text)
    a = analyze(network_from_expr(expr), **kw)
    return a, expr


def closed_forms(a, sign):
    return sorted(sorted(sp.sstr(s.relation(X)) for s in g)
                  for r in a.regions if r.sign == sign for g in r.groups)


def y_at(a, p):
    return forward(a.stats["units"], a.inputs, p)[a.output] - a.threshold


def test_ex1b_class_1_is_exactly_two_quadrants():
    a, expr = regions_of(EX1)
    assert closed_forms(a, NEG) == [["x1 < -1", "x2 > 1"], ["x1 > 1", "x2 < -1"]]
    assert all(r.unbounded for r in a.regions)
    assert check_regions(a, expr).facts["total"] == 12_000


def test_ex1b_symmetry_is_reported_and_used():
    a, _ = regions_of(EX1)
    statements = [sp.sstr(s.statement(X, a.output)) for s in a.symmetries]
    assert "Eq(y(x2, x1), y(x1, x2))" in statements
    assert sum(p.mirror_of is not None for p in a.pieces) >= 3
    assert a.window == Window((Fraction(-2), Fraction(2)), (Fraction(-2), Fraction(2)))


def test_ex1b_pieces_and_boundary_are_exact():
    a, _ = regions_of(EX1)
    assert len(a.pieces) == 6
    formulas = sorted(sp.sstr(p.y.expr(X)) for p in a.pieces)
    assert formulas == sorted(["1", "1", "x1 + 1", "1 - x1", "x2 + 1", "1 - x2"])
    for seg in a.boundary:
        assert y_at(a, seg.p) == 0 and y_at(a, seg.q) == 0
    # the corner (-1, 1) is on the boundary: in neither class
    for r in a.regions:
        for g in r.groups:
            assert not all(s.f.at((Fraction(-1), Fraction(1))) > 0 if s.strict else
                           s.f.at((Fraction(-1), Fraction(1))) >= 0 for s in g)


@pytest.mark.parametrize("text", [
    "relu(x1 + x2 - 1) + relu(-x1 - x2 - 1) - relu(x1 - x2) - relu(x2 - x1) + 1/2",  # XOR-like
    "leaky_relu(x1 - 1, 0.1) - leaky_relu(x2 + 1, 0.25) + 1/3",
    "relu(relu(x1) - relu(x2) + 1) - 2*relu(x1 + x2 - 1) - 1/2",  # two hidden layers
    "max(x1, x2) - min(2*x1, 1)",
    "x1 - 2*x2 + 1",
])
def test_unseen_networks_agree_with_sampling(text):
    a, expr = regions_of(text)
    assert check_regions(a, expr).facts["total"] == 12_000


def test_bounded_region_with_a_hole_around_it():
    a, expr = regions_of("abs(x1) + abs(x2) - 1")
    (inner,) = [r for r in a.regions if r.sign == NEG]
    (outer,) = [r for r in a.regions if r.sign == POS]
    assert not inner.unbounded and outer.unbounded
    assert len(outer.window[0].holes) == 1
    assert closed_forms(a, NEG) == [["x1 + x2 < 1", "x1 + x2 > -1", "x1 - x2 < 1",
                                     "x1 - x2 > -1"]]
    assert len(a.symmetries) == 7
    check_regions(a, expr)


def test_window_and_threshold_params():
    w = Window((Fraction(-3), Fraction(1)), (Fraction(-1), Fraction(5, 2)))
    a, expr = regions_of(EX1, window=w, threshold=Fraction(1, 2))
    assert a.window == w
    assert closed_forms(a, NEG) == [["2*x1 < -1", "2*x2 > 1"], ["2*x1 > 1", "2*x2 < -1"]] or \
        closed_forms(a, NEG) == [["x1 < -1/2", "x2 > 1/2"], ["x1 > 1/2", "x2 < -1/2"]]
    check_regions(a, expr)


def test_computation_list_network():
    lines = ["z3 = x1 - x2 + 1", "a3 = relu(z3)", "z4 = x2 - 2", "a4 = relu(z4)",
             "y = a3 - 2*a4 - 1"]
    net = build_network([parse_assignment(s) for s in lines], "y")
    a = analyze(net)
    assert a.output == "y"
    expr = parse_expr("relu(x1 - x2 + 1) - 2*relu(x2 - 2) - 1")
    check_regions(a, expr)


@pytest.mark.parametrize("text, words", [
    ("relu(x1 + x2 + x3)", "exactly 2 inputs"),
    ("tanh(x1) + x2", "not piecewise linear"),
])
def test_unfit_networks_are_input_errors(text, words):
    with pytest.raises(InputError, match=words):
        analyze(network_from_expr(parse_expr(text)))


def test_symbolic_weights_are_input_errors():
    net = build_network([parse_assignment("y = w1*relu(x1) + x2")], "y")
    with pytest.raises(InputError, match="not a number"):
        analyze(net)


def _write_up(text, **kw):
    """The decision-boundary task's sentences for the network ``text``."""
    from derive.tasks.decision_boundary import DEFAULT_CLASSES, solve

    a, _ = regions_of(text, **kw)
    sol = solve(a, DEFAULT_CLASSES, {}, "ex1-a")
    return a, [markup(b.text) for b in sol.blocks if isinstance(b, Text)]


@pytest.mark.parametrize(("text", "stated"), [
    (EX1, "Symmetries: $o_{1}(x_{2}, x_{1}) = o_{1}(- x_{1}, - x_{2}) = o_{1}(- x_{2}, - x_{1})"
          " = o_{1}(x_{1}, x_{2})$ (checked"),
    ("relu(x1) - relu(x2)", "Symmetry: $o_{1}(x_{2}, x_{1}) = - o_{1}(x_{1}, x_{2})$ (checked"),
    ("relu(x1 - 1) - relu(x2 - 1) + relu(-x1 - 1) - relu(-x2 - 1)",
     "$o_{1}(- x_{1}, - x_{2}) = o_{1}(- x_{1}, x_{2}) = o_{1}(x_{1}, - x_{2})"
     " = o_{1}(x_{1}, x_{2})$ and $o_{1}(x_{2}, x_{1}) = o_{1}(- x_{2}, - x_{1})"
     " = o_{1}(- x_{2}, x_{1})"
     " = o_{1}(x_{2}, - x_{1}) = - o_{1}(x_{1}, x_{2})$ (checked"),
])
def test_symmetries_are_stated_with_the_networks_own_output_name(text, stated):
    """A network whose output is o1 states its symmetries with o_1, not y; those with the same
    sign form one chain of equalities (seven separate equations ran into the margin), printed
    plainly (no SymPy braces such as y{(x_2, x_1)})."""
    from derive.tasks.decision_boundary import DEFAULT_CLASSES, solve, to_json

    a = analyze(network_from_expr(parse_expr(text), output="o1"))
    sol = solve(a, DEFAULT_CLASSES, {}, "ex1-a")
    texts = [t for b in sol.blocks if isinstance(b, Text)
             for t in [markup(b.text)] if t.startswith("Symmetr")]
    assert len(texts) == 1 and stated in texts[0], texts
    assert all(s["statement"].startswith("o1(") for s in to_json(a, DEFAULT_CLASSES)["symmetries"])


@pytest.mark.parametrize(("text", "empty", "whole"), [
    ("relu(x1) + relu(x2) - relu(x1 + x2) + 1/2", "class 1", "class 2"),  # y >= 1/2
    ("-relu(x1) - relu(x2) - 1", "class 2", "class 1"),  # y <= -1
])
def test_a_class_covering_the_plane_is_the_whole_plane_and_the_other_is_empty(
        text, empty, whole):
    a, texts = _write_up(text)
    assert [g for r in a.regions for g in r.groups] == [()]  # no condition at all
    prose = " ".join(texts)
    assert r"\left\{\right\}" not in prose  # not the empty set
    assert f"{whole} (unbounded): the whole plane" in prose
    assert f"{empty} is empty" in prose


def test_a_class_without_points_is_said_to_be_empty():
    """y = relu(x1 + x2) + relu(x1 - x2) >= 0: class 1 is empty, class 2 is not the whole plane
    (y = 0 where x1 <= -|x2|)."""
    _, texts = _write_up("relu(x1 + x2) + relu(x1 - x2)")
    prose = " ".join(texts)
    assert r"class 1 is empty: $y \geq 0$ everywhere." in prose
    assert "whole plane" not in prose


# --- random networks ----------------------------------------------------------------------------
small = st.integers(-3, 3)
bias = st.builds(Fraction, st.integers(-4, 4), st.sampled_from([1, 2, 3]))


@st.composite
def relu_networks(draw):
    """2 inputs, 1 or 2 hidden ReLU layers of 1..8 units, small rational weights."""
    layer = [symbol("x1"), symbol("x2")]
    for _ in range(draw(st.integers(1, 2))):
        width = draw(st.integers(1, 8))
        layer = [relu(sum(draw(small) * v for v in layer) + sp.Rational(draw(bias)))
                 for _ in range(width)]
    expr = sum(draw(small) * v for v in layer) + sp.Rational(draw(bias))
    assume(any(isinstance(a, relu) for a in sp.preorder_traversal(expr)))
    return expr


def check_random(expr):
    try:
        net = network_from_expr(expr, inputs=["x1", "x2"])
    except InputError:
        assume(False)
    a = analyze(net)
    assert check_regions(a, expr).facts["total"] == 12_000
    for piece in a.pieces:  # exact: every vertex of every piece on its formula
        for v in piece.polygon:
            assert y_at(a, v) == piece.y.at(v)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(relu_networks())
@example(parse_expr("relu(x1) - relu(x2) + 4"))  # boundary far from the units' lines
@example(parse_expr("-relu(x2 - 2) - 2*relu(-3*x1 + 3*x2 - 3) + 3*relu(-3*x1 + 3*x2 + 1) "
                    "+ relu(-x1 + x2 - 4) + relu(3*x1 - 3*x2 + 3) - 1"))
@example(parse_expr("2*relu(2*x1 - 1)"))  # one input used, still a network on the plane
def test_random_relu_networks_agree_with_sampling(expr):
    check_random(expr)


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(relu_networks())
def test_random_relu_networks_agree_with_sampling_long(expr):
    check_random(expr)


# --- y = 0 without a change of sign: in no class --------------------------------------------------
def _in_classes(a, p):
    return {r.sign for r in a.regions if r.contains(p, a.radius)}


def _network(lines):
    from derive.maths.network import expanded

    model = [parse_assignment(s) for s in lines]
    return analyze(build_network(model, "y", include_loss=False), output="y"), \
        expanded(model, "y", set())


def test_a_line_where_y_touches_0_splits_the_class():
    """y = |relu(x1 + x2) - 1| >= 0 is 0 exactly on the line x1 + x2 = 1: that line is in no
    class, and it cuts the positive class into two parts."""
    a, expr = _network(["h11 = relu(1*x1 + 1*x2 + 0)", "h21 = relu(1*h11 - 1)",
                        "h22 = relu(-1*h11 + 1)", "y = 1*h21 + 1*h22 + 0"])
    assert closed_forms(a, POS) == [["x1 + x2 < 1"], ["x1 + x2 > 1"]]
    assert closed_forms(a, NEG) == []
    assert len([r for r in a.regions if r.sign == POS]) == 2  # two connected parts
    assert all(not r.extra and not r.excluded for r in a.regions)
    F = Fraction
    for p in [(F(1, 2), F(1, 2)), (F(-3), F(4)), (F(1), F(0))]:
        assert y_at(a, p) == 0 and _in_classes(a, p) == set()
    assert _in_classes(a, (F(0), F(0))) == {POS}
    assert check_regions(a, expr).facts["total"] == 12_000


def test_a_ray_where_y_touches_0_is_in_no_class():
    """y = relu(x1) + |x2| is 0 on the ray x1 <= 0, x2 = 0 (origin included), positive
    elsewhere; the plane minus a ray is one connected part."""
    a, expr = _network(["h11 = relu(1*x1 + 0*x2 + 0)", "h12 = relu(0*x1 + 1*x2 + 0)",
                        "h13 = relu(0*x1 - 1*x2 + 0)", "y = 1*h11 + 1*h12 + 1*h13 + 0"])
    assert closed_forms(a, POS) == [["x1 <= 0", "x2 < 0"], ["x1 <= 0", "x2 > 0"],
                                    ["x1 > 0", "x2 <= 0"], ["x1 >= 0", "x2 > 0"]]
    assert [r.sign for r in a.regions] == [POS]
    assert not a.regions[0].extra
    F = Fraction
    for p in [(F(0), F(0)), (F(-5), F(0)), (F(-1, 3), F(0))]:
        assert _in_classes(a, p) == set()
    for p in [(F(1), F(0)), (F(0), F(1)), (F(0), F(-1)), (F(-1), F(1, 100))]:
        assert _in_classes(a, p) == {POS}
    assert check_regions(a, expr).facts["total"] == 12_000


def test_an_isolated_zero_of_y_is_in_no_class():
    """y = |x1| + |x2| is 0 only at the origin: the positive class is the plane minus the origin,
    four quadrants each with one closed and one open side at the origin."""
    a, expr = _network(["h11 = relu(1*x1 + 0*x2 + 0)", "h12 = relu(-1*x1 + 0*x2 + 0)",
                        "h13 = relu(0*x1 + 1*x2 + 0)", "h14 = relu(0*x1 - 1*x2 + 0)",
                        "y = 1*h11 + 1*h12 + 1*h13 + 1*h14 + 0"])
    assert closed_forms(a, POS) == [["x1 < 0", "x2 >= 0"], ["x1 <= 0", "x2 < 0"],
                                    ["x1 > 0", "x2 <= 0"], ["x1 >= 0", "x2 > 0"]]
    assert [r.sign for r in a.regions] == [POS] and not a.regions[0].extra
    F = Fraction
    assert _in_classes(a, (F(0), F(0))) == set()
    for p in [(F(1), F(0)), (F(-1), F(0)), (F(0), F(1)), (F(0), F(-1)), (F(1, 10**6), F(0))]:
        assert _in_classes(a, p) == {POS}
    assert check_regions(a, expr).facts["total"] == 12_000


def test_a_zero_ray_ending_on_the_boundary_between_the_classes():
    """y = |x2| - relu(-x1): the boundary |x2| = -x1 (a sign change) for x1 < 0, and the ray
    x2 = 0, x1 >= 0 where y touches 0, which cuts the positive class in two."""
    a, expr = regions_of("abs(x2) - relu(-x1)")
    assert closed_forms(a, NEG) == [["x1 + x2 < 0", "x1 - x2 < 0"]]
    assert closed_forms(a, POS) == [["x1 + x2 > 0", "x2 > 0"], ["x1 - x2 > 0", "x2 < 0"]]
    assert len([r for r in a.regions if r.sign == POS]) == 2
    F = Fraction
    for p in [(F(0), F(0)), (F(3), F(0)), (F(-2), F(2))]:
        assert _in_classes(a, p) == set()
    assert check_regions(a, expr).facts["total"] == 12_000


def test_verify_finds_a_zero_point_inside_a_class():
    """The exact part of check_regions(): the origin of |x1| + |x2| put into the class is caught."""
    import dataclasses

    from derive.errors import VerificationFailure
    from derive.maths.geometry import Side

    a, expr = regions_of("abs(x1) + abs(x2)")
    (r,) = a.regions
    loose = tuple(tuple(Side(s.f, strict=False) for s in g) for g in r.groups)
    bad = dataclasses.replace(a, regions=(dataclasses.replace(r, groups=loose),))
    with pytest.raises(VerificationFailure, match=r"at \(0, 0\) y = 0"):
        check_regions(bad, expr)


def test_extra_segments_and_excluded_points_reach_the_write_up_and_the_data():
    """Consumers of Region.extra / Region.excluded: the prose points to the data, which lists
    both; membership treats an extra segment that ends on the square's edge as a ray."""
    import dataclasses

    from derive.tasks.decision_boundary import DEFAULT_CLASSES, solve, to_json

    F = Fraction
    a, _ = regions_of("abs(x1) + abs(x2)")
    (r,) = a.regions
    R = a.radius
    seg = ((F(0), F(0)), (R, F(0)))  # the ray x1 >= 0, x2 = 0 ...
    strict = tuple(tuple(dataclasses.replace(s, strict=True) for s in g) for g in r.groups)
    r2 = dataclasses.replace(r, groups=strict, extra=(seg,), excluded=((F(0), F(0)),))
    a2 = dataclasses.replace(a, regions=(r2,))
    assert r2.contains((F(5), F(0)), R) and r2.contains((3 * R, F(0)), R)  # ... beyond R too
    assert not r2.contains((F(0), F(0)), R) and not r2.contains((F(-1), F(0)), R)
    data = to_json(a2, DEFAULT_CLASSES)
    assert data["regions"][0]["extra_segments"] == [[["0", "0"], [str(R), "0"]]]
    assert data["regions"][0]["excluded_points"] == [["0", "0"]]
    sol = solve(a2, DEFAULT_CLASSES, {}, "ex1-a")
    prose = " ".join(markup(b.text) for b in sol.blocks if isinstance(b, Text))
    assert "less the boundary points listed there" in prose
