"""The verifier's fast numeric path (derive.verify.numeric): it only ever confirms an equality, and
it
steps aside (sympy.N decides) wherever rounding could decide the value."""

from __future__ import annotations

import mpmath
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from derive.maths.functions import leaky_relu, relu, sigmoid, softplus, symbol
from derive.verify import equality as verify
from derive.verify import numeric
from derive.verify.equality import TOLERANCE, check_equal, numeric_equal

x, y = symbol("x"), symbol("y")
AT = {x: sp.Rational(37, 101), y: sp.Rational(-150, 103)}


@pytest.mark.parametrize("expr", [
    sp.exp(x) * sp.log(1 + y**2) / (1 + sp.tanh(x * y) ** 2),
    sp.sqrt(1 + x**2) ** 3 - sp.atan(y),
    sp.Max(x, y) + sp.Min(x, 2 * y) + sp.Abs(y) + sp.sign(y),
    sigmoid(x) + softplus(y) + relu(y) + leaky_relu(y, sp.Rational(1, 10)),
    sp.Heaviside(x) * x + sp.Heaviside(y, 0),
    sp.Piecewise((x**2, x > y), (y, True)),
    sp.Piecewise((1, (x > 0) & (y < 0)), (0, True)),
    sp.sec(x) + sp.csc(x) + sp.cot(x) + sp.acosh(2 + x**2) + sp.pi * sp.E,
    sp.Float("0.1", 30) * x + sp.Rational(1, 3),  # sympy.N keeps a Float's 30 digits
])
def test_fast_values_match_sympy_N(expr):
    slow = sp.N(expr.xreplace(AT), 50)
    with mpmath.workdps(numeric.DIGITS):
        fast = numeric.Evaluator(numeric.point(AT))(expr)
        error = abs(fast - mpmath.mpmathify(str(slow)))
        digits = 28 if expr.has(sp.Float) else 45
        assert error <= mpmath.mpf(10) ** -digits * max(abs(fast), 1), (expr, fast, slow)


def test_complex_values_follow_the_principal_branch():
    at = {x: sp.Rational(-3, 7)}
    for expr in (sp.sqrt(x), x ** sp.Rational(1, 3), sp.log(x), x ** (x + 1)):
        with mpmath.workdps(numeric.DIGITS):
            fast = numeric.Evaluator(numeric.point(at))(expr)
        slow = complex(sp.N(expr.xreplace(at), 30))
        assert abs(complex(fast) - slow) < 1e-12, expr


@pytest.mark.parametrize("lhs, rhs", [
    (sp.Heaviside(x - sp.Rational(37, 101)), sp.S.One),  # a step exactly at its jump
    (sp.Piecewise((1, x > sp.Rational(37, 101)), (0, True)), sp.S.Zero),
    (sp.sign(x - sp.Rational(37, 101)), sp.S.Zero),
    (sp.DiracDelta(x - sp.Rational(37, 101)), sp.S.Zero),
    (1 / (x - sp.Rational(37, 101)), sp.S.Zero),  # a pole
    (sp.Function("f")(x), sp.S.Zero),  # a function it does not know
    (sp.Derivative(sp.Function("f")(x), x), sp.S.Zero),
])
def test_unsure_values_leave_the_point_to_sympy_N(lhs, rhs):
    assert not numeric.agree(lhs, rhs, AT, TOLERANCE)


def test_cancellation_is_not_confirmed_but_sympy_N_still_decides():
    """At 60 digits, (10^35 + x)^2 loses x^2 to rounding: the fast values of the two (equal)
    sides disagree, and sympy.N, which chases digits, confirms the equality."""
    big = sp.Integer(10) ** 35
    lhs, rhs = (big + x) ** 2 - big**2 - 2 * big * x, x**2
    assert not numeric.agree(lhs, rhs, AT, TOLERANCE)
    assert numeric_equal(lhs, rhs)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.integers(1, 9), st.integers(1, 40))
def test_different_values_are_never_confirmed(k, digits):
    """Two sides that differ by k 10^-digits (relative to values near 2): confirmed only when the
    difference is below the tolerance 10^-25."""
    lhs = sp.exp(x) * sp.sin(y) + sp.tanh(x * y)  # about -1.92 at AT
    fast = numeric.agree(lhs, lhs + k * sp.Integer(10) ** -digits * (1 + x**2), AT, TOLERANCE)
    if digits <= 24:
        assert not fast
    elif digits >= 26:
        assert fast


def test_the_verifier_uses_the_fast_path_and_falls_back(monkeypatch):
    calls = {"N": 0}
    real_value = verify._value

    def counting(expr, subs):
        calls["N"] += 1
        return real_value(expr, subs)

    monkeypatch.setattr(verify, "_value", counting)
    big = sp.expand((x + y + 1) ** 6) * sp.exp(x)
    assert numeric_equal(big, (x + y + 1) ** 6 * sp.exp(x))
    assert calls["N"] == 0  # every point confirmed by the fast values
    assert not numeric_equal(big, (x + y + 1) ** 6 * sp.exp(x) + sp.Integer(10) ** -20)
    assert calls["N"] == 2  # the disagreement went to sympy.N (both sides), which confirmed it
    assert not check_equal(sp.Heaviside(x), sp.S.One).ok  # steps at random points: still right


def test_points_on_a_kink_are_not_used():
    """The long property run drew b = w = 196/97 for d/dw of exp(x + y + sin(-log(min(w, b)))):
    derive's max rule (H(0) = 0) and sympy.diff's Heaviside (H(0) = 1/2) differ exactly there,
    where the derivative does not exist. Such points are skipped; elsewhere they must agree."""
    b, w = symbol("b"), symbol("w")
    derived = (1 - sp.Heaviside(w - b, 0)) / sp.Min(b, w)
    sympys = sp.Heaviside(b - w) / sp.Min(b, w)
    tie = {b: sp.Rational(196, 97), w: sp.Rational(196, 97)}
    assert numeric.on_kink(numeric.kinks(derived) + numeric.kinks(sympys), tie)
    assert not numeric.on_kink(numeric.kinks(derived), {**tie, w: sp.Rational(3, 2)})
    assert numeric_equal(derived, sympys)
    assert not numeric_equal(derived, sp.Heaviside(w - b) / sp.Min(b, w))  # off the kink: wrong
    assert len(numeric.kinks(sp.Abs(x) + sp.Max(x, y, 1))) == 1 + 3  # |x|; three pairs


def test_a_kink_argument_that_is_zero_on_a_whole_region_still_gets_points():
    """The long property run's graph h4 = leaky_relu(-|x1 e^(w1 x1/4)|, 0.1), h9 = relu(h4),
    h10 = relu(h9): relu(h4) is 0 everywhere, so every random point lies on the kink of the
    Heaviside(h9) in the gradient, none was used, and an equality that holds everywhere (both
    sides 0; x1² sign(x1) = x1 |x1|) failed whenever simplify ran out of time. Such points are
    used when no other exists; a real difference is still caught there."""
    x1, w1, t = symbol("x1"), symbol("w1"), symbol("t")
    h4 = leaky_relu(-sp.exp(w1 * x1 / 4) * sp.Abs(x1), sp.Rational(1, 10))
    common = (relu(relu(h4)) - t) * sp.exp(w1 * x1 / 4) * sp.Heaviside(h4, 0) \
        * sp.Heaviside(relu(h4), 0) / 20
    lhs, rhs = -x1**2 * sp.sign(x1) * common, -x1 * sp.Abs(x1) * common
    assert numeric_equal(lhs, rhs)
    verdict = check_equal(lhs, rhs, budget=1e-6)  # no time for simplify: numeric settles it
    assert verdict.ok and verdict.method == "numeric", verdict
    assert not numeric_equal(relu(relu(h4)) + t, t + sp.Rational(1, 10**6))
    assert not numeric_equal(sp.Heaviside(relu(h4)), sp.S.Zero)  # SymPy's H(0) = 1/2 there
