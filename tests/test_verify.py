"""Verification of recorded equalities: symbolic where cheap, numeric otherwise, and honest labels;
bounded time (per-step alarm, whole-command CPU budget)."""

from __future__ import annotations

import signal
import time

import pytest
import sympy as sp

from derive.errors import InputError
from derive.maths.functions import relu, sigmoid, softplus, symbol
from derive.verify import equality as verify
from derive.verify.equality import (
    check_equal,
    cpu_budget,
    cpu_budget_paused,
    numeric_equal,
)
from derive.verify.verdict import Verdict

x, y, w, t = (symbol(n) for n in "x y w t".split())


def test_identical_sides():
    v = check_equal(sp.tanh(x), sp.tanh(x))
    assert v == Verdict(True, "symbolic", "identical")
    assert v.label == "symbolic (identical)"


@pytest.mark.parametrize(
    ("lhs", "rhs"),
    [
        (sp.sinh(x) / sp.cosh(x), sp.tanh(x)),
        (sigmoid(x) * (1 - sigmoid(x)), sp.exp(-x) / (1 + sp.exp(-x)) ** 2),
        (sp.diff(softplus(x), x), sigmoid(x)),
        ((x + y) ** 2, x**2 + 2 * x * y + y**2),
    ],
)
def test_true_equalities_verify(lhs, rhs):
    v = check_equal(lhs, rhs)
    assert v.ok, v
    assert v.method in ("symbolic", "numeric")


@pytest.mark.parametrize(
    ("lhs", "rhs"),
    [
        (sp.tanh(x), sp.sinh(x) / sp.cosh(x) + sp.Rational(1, 10**12)),
        (sigmoid(x), sigmoid(-x)),
        (sp.Heaviside(x, 0) * x, relu(x) + 1),
        (sp.log(sp.cosh(y - t)), sp.log(sp.cosh(y + t))),
    ],
)
def test_false_equalities_fail(lhs, rhs):
    v = check_equal(lhs, rhs)
    assert not v.ok
    assert v.method == "failed"


def test_tiny_difference_is_caught_numerically():
    lhs = sp.exp(x) + sp.Rational(1, 10**20) * sp.sin(x) ** 50
    assert not numeric_equal(lhs, sp.exp(x))


def test_numeric_label_says_points_and_digits(monkeypatch):
    monkeypatch.setattr(verify, "_symbolic_zero", lambda *args: None)
    v = check_equal(sp.tanh(x), sp.sinh(x) / sp.cosh(x))
    assert v.ok and v.method == "numeric"
    assert v.label == f"numeric ({verify.POINTS} random points, {verify.DIGITS} digits)"


def test_a_large_equality_goes_to_numeric_by_its_size_not_by_the_clock():
    """cancel(expand()) of this would take about 35 s: the size gates (EXPAND_MAX_TERMS,
    REWRITE_MAX_NODES, SIMPLIFY_MAX_OPS) send it to the numeric check at once, with the plain
    label, on every machine."""
    big = sp.expand((x + y + w + 1) ** 30)
    lhs = (x + y + w + 1) ** 30 * (sp.sin(x) ** 2 + sp.cos(x) ** 2)
    assert verify.expanded_terms(lhs - big) > verify.EXPAND_MAX_TERMS
    started = time.monotonic()
    v = check_equal(lhs, big)
    assert time.monotonic() - started < 30
    assert v.ok and v.label == f"numeric ({verify.POINTS} random points, {verify.DIGITS} digits)"


def test_the_soft_budget_of_test_runs_still_falls_back_to_numeric_and_says_so():
    """Only test runs set SIMPLIFY_SECONDS (the property tests, to stay fast): the line is then
    checked numerically, and its label says that simplify timed out."""
    lhs = (x + y + w + 1) ** 8 * (sp.sin(x) ** 2 + sp.cos(x) ** 2)
    v = check_equal(lhs, sp.expand((x + y + w + 1) ** 8), budget=1e-3)
    assert v.ok and v.method == "numeric"
    assert v.label.startswith("numeric (simplify timed out after 0.001 s; ")


def test_the_runaway_guard_fails_loudly_instead_of_changing_the_label(monkeypatch):
    def runaway(rung, diff):
        while True:
            time.sleep(0.01)

    monkeypatch.setattr(verify, "_rung", runaway)
    started = time.monotonic()
    with pytest.raises(InputError, match=r"gave up: the symbolic check of tanh\(x\) = "
                                         r"sinh\(x\)/cosh\(x\) ran for more than 0.05 s"):
        check_equal(sp.tanh(x), sp.sinh(x) / sp.cosh(x), guard=0.05)
    assert time.monotonic() - started < 10
    monkeypatch.setenv("DERIVE_CLOCK_SCALE", "0.5")  # the message gives the scaled limit
    with pytest.raises(InputError, match="more than 0.025 s of wall time"):
        check_equal(sp.tanh(x), sp.sinh(x) / sp.cosh(x), guard=0.05)


def test_points_lost_to_the_clock_fail_loudly_not_as_a_verdict(monkeypatch):
    """A point that runs past POINT_SECONDS is skipped; when too few points are left for that
    reason, the check gives up with a one-line error instead of reporting a failed step."""
    monkeypatch.setattr(verify.numeric, "agree", lambda *a: False)

    def slow_value(expr, subs):
        verify.POINT_RUNS["timeouts"] += 1
        return None

    monkeypatch.setattr(verify, "_value", slow_value)
    monkeypatch.setattr(verify, "_symbolic_zero", lambda *args: None)
    with pytest.raises(InputError, match=r"gave up: the numeric check of .* found too few "
                                         r"points: \d+ took more than 5 s"):
        check_equal(sp.tanh(x), sp.sinh(x) / sp.cosh(x))


def test_clock_scale_from_the_environment(monkeypatch):
    monkeypatch.delenv("DERIVE_CLOCK_SCALE", raising=False)
    assert verify.clock_scale() == 1
    monkeypatch.setenv("DERIVE_CLOCK_SCALE", "0.1")
    assert verify.clock_scale() == 0.1
    started = time.monotonic()
    with pytest.raises(verify.Timeout), verify.time_limit(5):  # 0.5 s
        while True:
            time.sleep(0.01)
    assert time.monotonic() - started < 3
    for bad in ("0", "-1", "fast", "inf", "nan"):
        monkeypatch.setenv("DERIVE_CLOCK_SCALE", bad)
        with pytest.raises(InputError, match="DERIVE_CLOCK_SCALE must be a positive number"):
            verify.clock_scale()


def test_timeout_is_not_swallowed_by_except_exception():
    """The alarm is a BaseException and repeats, so code that catches Exception cannot run on."""
    started = time.monotonic()
    with pytest.raises(verify.Timeout), verify.time_limit(0.05):
        while True:
            try:
                time.sleep(0.01)
            except Exception:  # noqa: BLE001 - what SymPy does in places
                pass
    assert time.monotonic() - started < 5


def test_an_alarm_that_fires_at_once_never_escapes_its_block():
    """A limit of a microsecond fires while the block is being set up or left (a property test
    set the simplify budget that low): the alarm must end in the block or be ignored, never
    raise later in unrelated code."""
    for _ in range(200):
        try:
            with verify.time_limit(1e-6):
                sum(range(1000))
        except verify.Timeout:
            pass
    time.sleep(0.3)  # a timer left running would fire in here (it repeats every 0.1 s)
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.default_int_handler, None)


def test_inner_time_limit_restores_an_outer_alarm():
    fired = []
    old = signal.signal(signal.SIGALRM, lambda *a: fired.append(True))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        with verify.time_limit(0.05):
            pass
        remaining = signal.getitimer(signal.ITIMER_REAL)[0]
        assert 0 < remaining <= 0.5
        time.sleep(0.7)
        assert fired == [True]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_cpu_budget_stops_a_runaway_computation_with_an_input_error():
    started = time.monotonic()
    with pytest.raises(InputError, match=r"used more than 0.2 s of CPU time"):
        with cpu_budget(0.2, what="the test"):
            while True:
                try:
                    sum(range(1000))
                except Exception:  # noqa: BLE001
                    pass
    assert time.monotonic() - started < 10
    assert signal.getitimer(signal.ITIMER_VIRTUAL)[0] == 0  # disarmed afterwards


def test_cpu_budget_pauses_while_writing():
    with cpu_budget(0.3):
        with cpu_budget_paused():
            assert signal.getitimer(signal.ITIMER_VIRTUAL)[0] == 0
            end = time.process_time() + 0.5
            while time.process_time() < end:  # more than the budget, but paused
                pass
        assert signal.getitimer(signal.ITIMER_VIRTUAL)[0] > 0


def test_budget_from_the_environment(monkeypatch):
    monkeypatch.setenv("DERIVE_TIME_LIMIT", "12.5")
    assert verify.budget_seconds() == 12.5
    monkeypatch.setenv("DERIVE_TIME_LIMIT", "0")
    assert verify.budget_seconds() == 0
    monkeypatch.delenv("DERIVE_TIME_LIMIT")
    assert verify.budget_seconds() == verify.CPU_SECONDS
    monkeypatch.setenv("DERIVE_TIME_LIMIT", "forever")
    with pytest.raises(InputError, match="must be a number of seconds"):
        verify.budget_seconds()


def test_indexed_quantities_are_substituted_whole():
    xi = sp.IndexedBase("x")[sp.Symbol("i", integer=True)]
    assert numeric_equal(sp.tanh(xi) ** 2, 1 - 1 / sp.cosh(xi) ** 2)
    assert not numeric_equal(sp.tanh(xi), sp.tanh(2 * xi))


def test_points_where_a_side_is_undefined_are_skipped():
    # log(x) is complex for x < 0: those points are skipped, positive ones are compared
    assert numeric_equal(sp.log(x**2), 2 * sp.log(sp.Abs(x)))


def test_points_are_drawn_further_out_where_the_sides_are_undefined_near_0():
    """min(x, log(x - 3)) is real only for x > 3: no point of [-2, 2] qualifies."""
    lhs = sp.Min(x, sp.log(x - 3))
    assert numeric_equal(sp.Heaviside(lhs - 1, 0) * lhs, sp.Heaviside(lhs - 1) * lhs)
    assert not numeric_equal(lhs, sp.Min(x, sp.log(x - 3)) + sp.Rational(1, 10**9))
    assert check_equal(sp.Heaviside(lhs - 1, 0) * lhs, sp.Heaviside(lhs - 1) * lhs).ok


def test_nowhere_defined_is_not_equal():
    undefined = sp.Heaviside(sp.log(x - 10**7))  # x - 10**7 < 0 at every point tried
    assert not numeric_equal(undefined, undefined + 1)
    assert not numeric_equal(undefined, undefined)


def test_points_are_real_points_of_the_calculus():
    """|log u|' = sign(log u) u'/u holds where u > 0; SymPy's complex-aware derivative differs
    where u < 0 (log u is complex there). Such points are outside derive's real domain."""
    b = symbol("b")
    u = b + sp.exp(y)
    engine = sp.sign(sp.log(u)) / (u * sp.Abs(sp.log(u)))
    truth = sp.diff(sp.log(relu(sp.Abs(sp.log(u)))), b)
    assert numeric_equal(engine, truth)
    assert check_equal(engine, truth).ok


def test_nowhere_real_expressions_are_never_equal():
    """derive works over the reals: complex values are never compared, so an identity between
    complex-valued sides (true for principal values) is not verified, numerically or
    symbolically."""
    assert not numeric_equal(sp.log(-1 - x**2), sp.log(1 + x**2) + sp.I * sp.pi)
    assert not numeric_equal(sp.log(-1 - x**2), sp.log(1 + x**2))
    assert not numeric_equal(sp.sqrt(-1 - x**2), sp.sqrt(-1 - x**2))
    for lhs, rhs in [(sp.sqrt(-1 - x**2), sp.sqrt(-1 - x**2)),  # identical
                     (sp.Integer(-8) ** sp.Rational(1, 3), 2 * (-1) ** sp.Rational(1, 3)),
                     ((-1) ** x, (-1) ** x),
                     (sp.log(-sp.exp(x)) * 2, 2 * sp.log(-sp.exp(x))),
                     (sp.sqrt(-1 - x**2) ** 3, (-1 - x**2) * sp.sqrt(-1 - x**2))]:
        verdict = check_equal(lhs, rhs)
        assert not verdict.ok and "no real value" in verdict.detail, (lhs, rhs, verdict)


def test_sides_real_somewhere_are_still_stamped_symbolically():
    assert check_equal(sp.log(x) * 2, 2 * sp.log(x)).method == "symbolic"  # real for x > 0
    assert check_equal(sp.sqrt(x - 3), sp.sqrt(x - 3)).ok  # real only further out
    k, n = sp.Symbol("k", integer=True), symbol("N")
    total = sp.Sum(sp.IndexedBase("y", real=True)[k], (k, 1, n))  # no value at a random N
    assert verify.real_somewhere(total, total) is None and check_equal(total, total).ok
    assert verify.real_somewhere(sp.Function("f")(x), sp.Function("f")(x)) is None


def test_constants_are_generalized_so_rational_identities_stay_symbolic():
    # d/dx x/(1 + (sigmoid(3) + x)^2), quotient rule: expand makes exp(-3)**2 the unrelated
    # exp(-6), and simplify used to run out of time on every line of it
    x = symbol("x")
    c = sigmoid(sp.Integer(3))
    u = 1 + (c + x) ** 2
    lhs = (u - x * 2 * (c + x)) / u**2
    rhs = sp.diff(x / u, x)
    verdict = check_equal(lhs, rhs, budget=5)
    assert verdict.method == "symbolic", verdict


X = symbol("x")


@pytest.mark.parametrize("expr", [
    (X + sp.exp(-3)) ** 2 - X**2 - 2 * X * sp.exp(-3) - sp.exp(-6),
    (X + 1 / (1 + sp.exp(-3))) * (X - 1 / (1 + sp.exp(-3))) - X**2 + (1 + sp.exp(-3)) ** -2,
    X * sp.exp(3) * (X + sp.exp(-3)) - X**2 * sp.exp(3) - X,  # exp(3) exp(-3) = 1
])
def test_generalized_constants_keep_the_relations_between_them(expr):
    general = verify._generalize_constants(expr)
    assert general.free_symbols - {X}  # the constants became symbols...
    assert sp.cancel(sp.expand(general)) == 0  # ...and the identity still holds among them


def test_relations_the_generalization_loses_are_still_found():
    # sqrt(2) becomes a symbol R, and R**2 = 2 is not known to it: the plain attempt proves it
    verdict = check_equal(sp.sqrt(2) * (X + sp.sqrt(2)), sp.sqrt(2) * X + 2, budget=5)
    assert verdict.method == "symbolic", verdict


@pytest.mark.parametrize("lhs, rhs", [
    (sp.pi, sp.Rational(22, 7)),
    (sp.exp(1), sp.Integer(3)),
    (sp.exp(-3) + sp.log(2), sp.exp(-3) + sp.Rational(69, 100)),
    (1 / (1 + sp.exp(-3)), sp.Rational(19, 20)),
    (X / (1 + sp.exp(-3)), X * sp.Rational(19, 20)),
    (X * sp.pi, X * sp.Rational(22, 7)),
])
def test_generalized_constants_never_prove_a_false_equality(lhs, rhs):
    assert not check_equal(lhs, rhs).ok


@pytest.mark.parametrize("a", [sp.S.Zero, sp.Rational(1, 100), sp.Rational(1, 2), sp.Float("0.1")])
def test_leaky_relu_elementary_form_is_max_of_x_and_ax(a):
    """The verifier rewrites leaky_relu(x, a) as ((1 + a) x + (1 - a)|x|)/2 (no Piecewise, whose
    conditions SymPy solves as sets: 5 s for a nested leaky_relu); it is max(x, a x)."""
    from derive.maths.functions import leaky_relu, to_elementary

    x = symbol("x")
    form = to_elementary(leaky_relu(x, a))
    assert not form.has(sp.Piecewise)
    for v in (-3, sp.Rational(-1, 7), 0, sp.Rational(2, 9), 5):
        # exact, unless the slope is a Float
        assert abs(form.subs(x, v) - sp.Max(v, a * v)) <= 1e-14 * (1 + abs(v))
    assert check_equal(leaky_relu(leaky_relu(x, a), sp.Rational(1, 10)),
                       sp.Max(sp.Max(x, a * x), sp.Max(x, a * x) / 10)).ok
