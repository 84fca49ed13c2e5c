"""Checking recorded equalities.

Every equality derive prints is checked here, in this order:

1. **symbolic**: ``lhs - rhs`` (activations rewritten to SymPy built-ins) reduces to 0 on a fixed
   ladder of exact normal forms (:func:`_symbolic_zero`): ``cancel(expand())`` with constants
   generalized, ``cancel(expand())``, trig/hyperbolic functions rewritten to ``exp`` and
   cancelled, and ``simplify`` below ``SIMPLIFY_MAX_OPS`` operations. Every rung is gated by the
   size of its input, never by time, so a verdict does not depend on the machine;
2. **numeric**: otherwise, both sides are evaluated at several random points with high
   precision (``POINTS`` points, ``DIGITS`` significant digits) and must agree to ``TOLERANCE``
   relative error.

derive works over the reals: a point counts only where both sides are real numbers (complex
values are never compared), and a symbolic verdict stands only when the sides are real at some
point (:func:`real_somewhere`): ``sqrt(-1 - x**2) = sqrt(-1 - x**2)`` is identical, never verified.

A verdict records which method ran, so that sheets can say how each line was checked.
Wall-clock limits only stop runaway work: the symbolic attempt has ``SYMBOLIC_GUARD_SECONDS``
(120 s), and when that fires the build fails with a one-line "gave up" error, never a verdict of
another kind; one value at one point has ``POINT_SECONDS`` (a point that needs it is skipped,
which changes no label: see :func:`numeric_equal`). ``DERIVE_CLOCK_SCALE`` scales all of them
(:func:`clock_scale`), so that a test can show the outputs do not depend on them. (Test runs may
set the soft budget ``SIMPLIFY_SECONDS``; then a label can say ``numeric (simplify timed out
after 0.1 s; ...)``. Builds never do.)

A failed check is never silently accepted: callers raise
:class:`~derive.errors.VerificationFailure`.

:func:`cpu_budget` bounds a whole computation (a build) by CPU seconds, so that a pathological
sheet ends with a clear error instead of running for hours.
"""

from __future__ import annotations

import math
import os
import random
import signal
import sys
import threading
from collections import Counter
from contextlib import contextmanager

import mpmath
import sympy as sp
from sympy.core.function import AppliedUndef

from derive.errors import InputError
from derive.maths import trees
from derive.maths.functions import to_elementary
from derive.verify import numeric
from derive.verify.points import free_quantities, random_value, real_points
from derive.verify.verdict import Verdict

POINTS = 6
DIGITS = 40
TOLERANCE = sp.Float(10) ** -25
# The symbolic attempt is a fixed ladder of exact normal forms, each gated by the size of its
# input (never by time), so that which lines are proven symbolically is the same on every machine:
EXPAND_MAX_TERMS = 3_000  # (a), (b): cancel(expand()) only up to this many terms (an estimate;
# the sheets' largest proven line has 864, about 0.3 s; 5,000 terms take about 10 s)
REWRITE_MAX_NODES = 1_500  # (c): the exp rewrite of trig/hyperbolic functions, tree nodes at most
SIMPLIFY_MAX_OPS = 60  # (d): the heuristic sympy.simplify only up to this many operations
# Wall-clock limits only stop runaway work; scaled by DERIVE_CLOCK_SCALE (see clock_scale):
SYMBOLIC_GUARD_SECONDS = 120.0  # the whole symbolic attempt; firing fails the build loudly
POINT_SECONDS = 5.0  # one side at one point; evalf can chase digits for minutes near cancellation
# A soft time budget for the symbolic attempt, for test runs only (property tests set 0.1 s to
# stay fast): when it runs out the line is checked numerically and its label says so. None (the
# default, and what every build uses) means the deterministic ladder alone decides.
SIMPLIFY_SECONDS: float | None = None


class Timeout(BaseException):
    """Raised by the alarm. A BaseException, so that SymPy's ``except Exception`` blocks cannot
    swallow it (and the alarm repeats every 0.1 s until it gets through)."""


def clock_scale() -> float:
    """The factor ``DERIVE_CLOCK_SCALE`` (default 1) applied to every wall-clock limit
    (:func:`time_limit`: the symbolic guard, the per-point limits, the model check's). Outputs
    must not depend on it: ``DERIVE_CLOCK_SCALE=0.1 derive check`` shows that they do not."""
    raw = os.environ.get("DERIVE_CLOCK_SCALE", "")
    if not raw.strip():
        return 1.0
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise InputError(f"DERIVE_CLOCK_SCALE must be a positive number, not {raw!r}")
    return value


@contextmanager
def time_limit(seconds: float):
    """Raise Timeout after ``seconds`` of wall time, times :func:`clock_scale` (only in the main
    thread; elsewhere no limit is set). An alarm that was already pending is restored
    afterwards."""
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return
    seconds = max(seconds * clock_scale(), 1e-6)

    armed = [True]

    def handler(signum, frame):
        if armed[0]:  # once the block is left, a late alarm is ignored, never raised elsewhere
            raise Timeout

    outer = signal.getitimer(signal.ITIMER_REAL)
    old = signal.signal(signal.SIGALRM, handler)
    try:  # the timer starts inside the try: an alarm at any point is cleaned up below
        signal.setitimer(signal.ITIMER_REAL, seconds, 0.1)
        with _quiet_when_unraisable():
            yield
    finally:
        armed[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        if outer[0] > 0:  # an enclosing alarm: give it back what is left of it
            signal.setitimer(signal.ITIMER_REAL, max(outer[0] - seconds, 0.001), outer[1])


@contextmanager
def _quiet_when_unraisable():
    """An alarm that fires inside a finalizer cannot propagate; Python would print "Exception
    ignored in ..." on stderr. Such an alarm is dropped silently (it repeats until it lands)."""
    previous = sys.unraisablehook

    def hook(unraisable):
        if not isinstance(unraisable.exc_value, Timeout | _OutOfTime):
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous


TIMED_OUT = "timed out"
RUNAWAY = "runaway"

# trig and hyperbolic functions: rung (c) rewrites them to exp, where cancel sees them as rational
# functions of exponentials (tanh = sinh/cosh: 15 ms, where simplify spends 0.5-0.8 s in futrig)
_TO_EXP = (sp.sin, sp.cos, sp.tan, sp.cot, sp.sec, sp.csc,
           sp.sinh, sp.cosh, sp.tanh, sp.coth, sp.sech, sp.csch)
RUNGS = ("constants", "cancel", "exp", "simplify")  # the ladder, in order (see _symbolic_zero)


def _symbolic_zero(diff: sp.Expr, budget: float | None = None,
                   guard: float | None = None) -> bool | str | None:
    """True if ``diff`` is provably 0; None when no rung of the ladder proves it (the caller
    checks numerically). The ladder, each rung exact and gated by the size of its input:

    (a) ``cancel(expand())`` of ``diff`` with its constants generalized to symbols;
    (b) ``cancel(expand())`` of ``diff``;
    (c) trig and hyperbolic functions rewritten to ``exp``, then ``cancel(together())``;
    (d) ``sympy.simplify``, only up to ``SIMPLIFY_MAX_OPS`` operations.

    Rungs (a) and (b) run when expand yields at most ``EXPAND_MAX_TERMS`` terms (an estimate
    from the tree, :func:`expanded_terms`), (c) when the rewritten form has at most
    ``REWRITE_MAX_NODES`` nodes. Which rung proves it is recorded in :data:`PROVED_BY`.

    ``guard`` (default ``SYMBOLIC_GUARD_SECONDS``) is wall time against runaway work: past it,
    ``RUNAWAY`` is returned and the caller fails loudly. ``budget`` (default
    ``SIMPLIFY_SECONDS``, None in builds) is the test-only soft budget: past it, ``TIMED_OUT``."""
    budget = SIMPLIFY_SECONDS if budget is None else budget
    guard = SYMBOLIC_GUARD_SECONDS if guard is None else guard
    soft = budget is not None and 0 < budget < guard  # which alarm fires is known by the limit
    try:
        with time_limit(budget if soft else guard):
            for rung in RUNGS:
                if _rung(rung, diff):
                    PROVED_BY[rung] += 1
                    return True
    except Timeout:
        return TIMED_OUT if soft else RUNAWAY
    return None


PROVED_BY: Counter = Counter()  # lines proven per rung, for benchmarks and tests


def _rung(rung: str, diff: sp.Expr) -> bool:
    """Whether rung ``rung`` of the ladder (see :func:`_symbolic_zero`) proves ``diff`` == 0;
    False when its size gate keeps it from running, or SymPy gives up on it."""
    try:
        if rung == "constants":
            general = _generalize_constants(diff)
            return general is not diff and expanded_terms(general) <= EXPAND_MAX_TERMS \
                and _rational_zero(general)
        if rung == "cancel":
            return expanded_terms(diff) <= EXPAND_MAX_TERMS and _rational_zero(diff)
        if rung == "exp":
            if not diff.has(*_TO_EXP) or not trees.size_at_most(diff, REWRITE_MAX_NODES):
                return False
            rewritten = diff.rewrite(list(_TO_EXP), sp.exp)
            return trees.size_at_most(rewritten, REWRITE_MAX_NODES) \
                and sp.cancel(sp.together(rewritten)) == 0
        return sp.count_ops(diff) <= SIMPLIFY_MAX_OPS and sp.simplify(diff) == 0
    except (RecursionError, TypeError, ValueError, NotImplementedError, ArithmeticError,
            MemoryError, sp.PolynomialError):
        return False


def _rational_zero(expr: sp.Expr) -> bool:
    """Whether ``cancel(expand(expr))`` is 0 (rungs (a) and (b)), decided first the cheap way
    where it can be: the numerator of ``together(expr)`` (denominators kept as products of
    powers, never multiplied out) expands to 0. That proves ``expr`` is 0 as a rational function
    of the generators ``cancel`` would see, so ``cancel`` would find 0 too, and the rung proves
    the same lines, only without the multivariate gcds (1 s -> 45 ms on micrograd's loss,
    whose denominator is a sum of five generators to the fourth power). Not for a Piecewise,
    which ``cancel`` refuses; only while that numerator stays under ``EXPAND_MAX_TERMS`` terms;
    otherwise, or when it is not 0, ``cancel`` decides."""
    if not expr.has(sp.Piecewise):
        try:
            numerator = sp.fraction(sp.together(expr))[0]
            if expanded_terms(numerator) <= EXPAND_MAX_TERMS and sp.expand(numerator) == 0:
                return True
        except (RecursionError, TypeError, ValueError, NotImplementedError, ArithmeticError,
                sp.PolynomialError):
            pass
    return sp.cancel(sp.expand(expr)) == 0


def expanded_terms(expr: sp.Expr, cap: int = 10**9) -> int:
    """An upper bound for the number of terms of ``expand(expr)`` at any node of it (the most
    any intermediate step of expand can produce), computed from the tree without expanding:
    a sum has the terms of its summands, a product their product, ``u**n`` (integer ``n``, also
    negative: expand multiplies out denominators) the monomials of degree ``|n|`` in the terms
    of ``u``. Deterministic, cheap (each distinct subexpression once), capped at ``cap``."""
    worst = [1]

    def leaf(node):
        return 1

    def combine(node, args):
        if node.is_Add:
            n = sum(args)
        elif node.is_Mul:
            n = 1
            for a in args:
                n = min(n * a, cap)
        elif node.is_Pow and node.exp.is_Integer and args[0] > 1:
            k, e = args[0], min(abs(int(node.exp)), cap)
            n = math.comb(e + k - 1, k - 1) if min(e, k) < 64 else cap
        elif node.is_Pow:
            n = args[0]
        else:  # a function: expand works inside (exp of a sum becomes a product), one term
            n = 1
        n = min(n, cap)
        worst[0] = max(worst[0], n)
        return n

    trees.bottom_up(expr, {}, leaf, combine)
    return min(worst[0], cap)


def _generalize_constants(expr: sp.Expr) -> sp.Expr:
    """``expr`` with its transcendental and irrational constants replaced by fresh symbols,
    keeping products and integer powers around them: ``exp(k)`` becomes ``E**k`` for a symbol
    ``E`` (so ``exp(-3)`` and ``exp(3)`` stay reciprocal), ``b**(p/q)`` becomes ``R**p`` with
    ``R`` a symbol for ``b**(1/q)``, and every other constant that is not a product or power (a
    sum such as ``1 + exp(-3)``, ``log(2)``, ``pi``) a symbol of its own, so that
    ``-2/(1 + exp(-3))`` becomes ``-2/c``. ``expr`` itself if it has no such constant.

    An identity that holds for every value of those symbols holds for the constants' values, so
    a 0 here proves the original 0. It matters because ``expand`` turns ``exp(-3)**2`` into the
    unrelated generator ``exp(-6)``, where ``cancel`` no longer sees a rational function
    (``d/dx x/(1 + (sigmoid(3) + x)^2)`` made ``simplify`` run out of time on every line).
    """
    names: dict[sp.Expr, sp.Dummy] = {}

    def name(key: sp.Expr) -> sp.Dummy:
        if key not in names:
            names[key] = sp.Dummy(f"c{len(names)}", positive=bool(key.is_positive))
        return names[key]

    def walk(e: sp.Basic) -> sp.Basic:
        if not isinstance(e, sp.Expr) or e.is_Rational or e.is_Symbol or not e.args and \
                not e.is_NumberSymbol:
            return e
        if e.is_number and not e.has(sp.I):
            if e is sp.E:
                return name(sp.E)
            if isinstance(e, sp.exp) and e.args[0].is_Rational:
                return name(sp.E) ** e.args[0]
            if e.is_Pow and e.base.is_Rational and e.exp.is_Rational:
                return name(e.base ** sp.Rational(1, e.exp.q)) ** e.exp.p
            if e.is_Pow and e.exp.is_Integer:
                return walk(e.base) ** e.exp
            if not e.is_Mul:  # a sum, a function of numbers, pi: one symbol for it
                return name(e)
        args = [walk(a) for a in e.args]
        return e if all(a is b for a, b in zip(args, e.args, strict=True)) else e.func(*args)

    if expr.is_number:  # nothing to generalize over: a sum of constants would become 1 symbol
        return expr
    try:
        out = walk(expr)
    except (TypeError, ValueError, RecursionError):
        return expr
    return out if names else expr


SCALES = (1, 10, 100, 1000)  # where [-2, 2] gives no valid point (log(x - 3)), look further out


def _value(expr: sp.Expr, subs: dict) -> sp.Expr | None:
    """``expr`` at a point, DIGITS digits; None where it is undefined, infinite or not a plain
    (real or complex) number, e.g. a Heaviside of a complex argument."""
    try:
        with time_limit(POINT_SECONDS):
            v = sp.N(expr.xreplace(subs), DIGITS)
    except Timeout:
        POINT_RUNS["timeouts"] += 1
        return None  # evalf chasing digits of a near-cancellation: take another point
    except (ValueError, TypeError, ArithmeticError, MemoryError, RecursionError):
        return None  # e.g. exp(exp(cosh(tan(b)))) near a pole of tan: too large to represent
    if not v.is_number or v.has(sp.nan, sp.zoo, sp.oo, -sp.oo) or v.atoms(sp.Function):
        return None
    return v


def _domain_guards(expr: sp.Expr) -> list[tuple[sp.Expr, bool]]:
    """What must hold for ``expr`` to be real at a real point: (argument, strict) for every log
    (argument > 0) and every fractional power (base >= 0)."""
    guards = [(e.args[0], True) for e in expr.atoms(sp.log)]
    guards += [(e.base, False) for e in expr.atoms(sp.Pow) if not e.exp.is_integer]
    return guards


def _in_domain(guards: list[tuple[sp.Expr, bool]], subs: dict) -> bool:
    for arg, strict in guards:
        try:  # cos(exp(b^2)) at b = 1000 needs 400,000 digits: time-limited like every value
            with time_limit(POINT_SECONDS):
                if numeric.sign(arg, subs) == 1:  # clearly positive (fast); else sympy.N decides
                    continue
                v = sp.N(arg.xreplace(subs), 15)
        except Timeout:
            POINT_RUNS["timeouts"] += 1
            return False
        except (ValueError, TypeError, ArithmeticError, MemoryError, RecursionError):
            return False
        if not v.is_extended_real or v.is_infinite or (v <= 0 if strict else v < 0):
            return False
    return True


def numeric_equal(lhs: sp.Expr, rhs: sp.Expr, *, points: int = POINTS, seed: int = 0) -> bool:
    """Compare at ``points`` random rational points with ``DIGITS`` digits; raises nothing.

    derive's calculus is real: points are taken where every logarithm's argument is positive and
    every fractional power's base is not negative, and a point counts only where both sides are
    real numbers. Points where a side is undefined or complex are skipped; after ``points * 5``
    tries at one scale, the points are drawn ten times further out (see ``SCALES``). Points on a
    kink or jump of either side (an argument of a Heaviside or |.| that is 0, a max/min tie:
    :func:`derive.verify.numeric.kinks`) are skipped too: derivatives there are conventions
    (derive's
    H(0) = 0, SymPy's 1/2). Complex values are never compared: sides with no real point are not
    equal. False when the sides differ anywhere, or when too few points were found.

    A point whose evaluation runs past ``POINT_SECONDS`` (wall time, a runaway guard) is skipped
    like an undefined one; :data:`POINT_RUNS` counts such points and disagreements of the last
    call, so that :func:`check_equal` can tell "too few points because of the clock" (a loud
    error) from a real difference. The labels never depend on it.
    """
    POINT_RUNS.clear()
    free = free_quantities(sp.Tuple(lhs, rhs))
    guards = _domain_guards(lhs) + _domain_guards(rhs)
    edges = list(dict.fromkeys(numeric.kinks(lhs) + numeric.kinks(rhs)))
    result = _compare(lhs, rhs, free, points, seed, guards, edges)
    if result is None and edges:  # every point on a kink: an argument that is 0 on a whole
        result = _compare(lhs, rhs, free, points, seed, guards, [])  # region, relu(-|x|)
    return bool(result)


POINT_RUNS: Counter = Counter()  # of the last numeric_equal: points timed out, disagreements


_UNDECIDABLE = (sp.Sum, sp.Product, sp.Derivative, sp.Subs, sp.Integral, sp.Indexed,
                AppliedUndef)


def real_somewhere(lhs: sp.Expr, rhs: sp.Expr, *, seed: int = 0) -> bool | None:
    """True at the first random point (drawn as :func:`numeric_equal` draws them) where both
    sides are real, finite numbers; False when no point is, and the points that decided anything
    (at least as many as could not) gave a side a complex or undefined value; None when the
    values cannot be told (a sum over symbolic limits, a pending derivative, a function the
    evaluation does not know)."""
    if any(side.has(*_UNDECIDABLE) for side in (lhs, rhs)):
        return None
    bad = unknown = 0
    for subs in real_points(free_quantities(sp.Tuple(lhs, rhs)), seed):
        verdict = _real_at(lhs, rhs, subs)
        if verdict:
            return True
        if verdict is None:
            unknown += 1
            if unknown >= 3 and unknown > bad:  # values it cannot tell, or that need huge
                return None  # precision (each such point can take POINT_SECONDS)
        else:
            bad += 1
    return False if bad and bad >= unknown else None


def _real_at(lhs: sp.Expr, rhs: sp.Expr, subs: dict) -> bool | None:
    """Whether both sides are real, finite numbers at ``subs`` (None: cannot tell)."""
    try:
        with time_limit(POINT_SECONDS):
            with mpmath.workdps(numeric.DIGITS):
                ev = numeric.Evaluator(numeric.point(subs))
                values = [ev(lhs), ev(rhs)]
            return all(not isinstance(v, mpmath.mpc) or v.imag == 0 for v in values)
    except numeric.Undefined:
        return False
    except Timeout:
        return None
    except Exception:  # noqa: BLE001 - numeric.Unsure, or anything unforeseen: sympy.N decides
        pass
    values = [_value(side, subs) for side in (lhs, rhs)]
    if any(v is None for v in values):
        return None
    return all(v.is_extended_real for v in values)


def _compare(lhs, rhs, free, points: int, seed: int, guards, edges) -> bool | None:
    """True/False as numeric_equal; None when not a single valid point was found. Points on one
    of the ``edges`` (see :func:`derive.verify.numeric.kinks`) are skipped."""
    rng = random.Random(seed)
    checked = 0
    for scale in SCALES:
        attempts = 0
        while checked < points and attempts < points * 5:
            attempts += 1
            subs = {s: random_value(rng, scale) for s in free}
            if guards and not _in_domain(guards, subs):
                continue
            try:
                with time_limit(POINT_SECONDS):
                    if edges and numeric.on_kink(edges, subs):
                        continue  # e.g. b = w in min(w, b): H(0) conventions differ there
                    if numeric.agree(lhs, rhs, subs, TOLERANCE):  # fast values confirm it (see
                        # derive.verify.numeric); otherwise sympy.N decides at this point
                        checked += 1
                        continue
            except Timeout:
                POINT_RUNS["timeouts"] += 1
                continue  # a value that needs huge precision (cos(exp(10^6))): another point
            a, b = _value(lhs, subs), _value(rhs, subs)
            if a is None or b is None or not (a.is_extended_real and b.is_extended_real):
                continue  # undefined or complex here: derive's calculus is real
            try:
                size = max(abs(a), abs(b), sp.Integer(1))
                if abs(a - b) > TOLERANCE * size:
                    POINT_RUNS["disagreed"] += 1
                    return False
            except TypeError:  # not comparable after all
                continue
            checked += 1
        if checked == points or not free:
            break
    return None if checked == 0 else checked == points


def check_equal(lhs: sp.Expr, rhs: sp.Expr, *, budget: float | None = None,
                guard: float | None = None) -> Verdict:
    """Check ``lhs == rhs``; symbolic where the ladder proves it, numeric at random points
    otherwise (see :func:`_symbolic_zero`). The verdict does not depend on time.

    ``guard``: wall-clock seconds against a runaway symbolic attempt (default
    ``SYMBOLIC_GUARD_SECONDS``, read at call time); when it fires, :class:`InputError` is raised
    ("gave up: ..."), never a verdict of another kind. ``budget``: the test-only soft budget
    (default ``SIMPLIFY_SECONDS``; see there).
    """
    lhs, rhs = sp.sympify(lhs), sp.sympify(rhs)
    if lhs == rhs:
        return _real_or_failed(lhs, rhs, Verdict(True, "symbolic", "identical"))
    try:
        diff = to_elementary(lhs - rhs)
    except (TypeError, ValueError, NotImplementedError, RecursionError):
        diff = None  # SymPy cannot rewrite it (e.g. a Piecewise it cannot order): numeric only
    symbolic = _symbolic_zero(diff, budget, guard) if diff is not None else None
    if symbolic == RUNAWAY:
        limit = (SYMBOLIC_GUARD_SECONDS if guard is None else guard) * clock_scale()
        raise InputError(f"gave up: the symbolic check of {_short(lhs)} = {_short(rhs)} ran for "
                         f"more than {limit:g} s of wall time (a guard against runaway work, "
                         "not a verdict; the machine may be overloaded)")
    if symbolic is True:
        return _real_or_failed(lhs, rhs, Verdict(True, "symbolic", "simplifies to 0"))
    how = f"{POINTS} random points, {DIGITS} digits"
    if symbolic == TIMED_OUT:
        how = f"simplify timed out after {SIMPLIFY_SECONDS if budget is None else budget:g} s; " \
              f"{how}"
    if numeric_equal(lhs, rhs):
        return Verdict(True, "numeric", how)
    if POINT_RUNS["timeouts"] and not POINT_RUNS["disagreed"]:  # too few points, for the clock
        raise InputError(f"gave up: the numeric check of {_short(lhs)} = {_short(rhs)} found too "
                         f"few points: {POINT_RUNS['timeouts']} took more than "
                         f"{POINT_SECONDS * clock_scale():g} s of wall time each (a guard "
                         "against runaway work, not a verdict; the machine may be overloaded)")
    return Verdict(False, "failed", f"{sp.sstr(lhs)} != {sp.sstr(rhs)}")


def _short(expr: sp.Expr, limit: int = 60) -> str:
    text = sp.sstr(expr)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _real_or_failed(lhs: sp.Expr, rhs: sp.Expr, verdict: Verdict) -> Verdict:
    """``verdict``, unless the sides have no real value anywhere: an identity between complex
    numbers is not an equality of derive's real calculus, and is never stamped verified (the
    numeric path compares real values only)."""
    if real_somewhere(lhs, rhs) is False:
        return Verdict(False, "failed", f"{sp.sstr(lhs)} = {sp.sstr(rhs)} has no real value at "
                                        "any point tried (derive works over the reals)")
    return verdict


# --- a CPU budget for a whole computation ---------------------------------------------------------
CPU_SECONDS = 600.0  # default for one command; DERIVE_TIME_LIMIT overrides (0: no limit)


class _OutOfTime(BaseException):
    pass


def budget_seconds() -> float:
    """The CPU budget: ``DERIVE_TIME_LIMIT`` seconds if set (0 disables it), else CPU_SECONDS."""
    raw = os.environ.get("DERIVE_TIME_LIMIT", "")
    try:
        value = float(raw) if raw.strip() else CPU_SECONDS
    except ValueError:
        raise InputError(f"DERIVE_TIME_LIMIT must be a number of seconds, not {raw!r}") from None
    return value if value > 0 else 0.0


@contextmanager
def cpu_budget(seconds: float | None = None, what: str = "the build"):
    """Stop the enclosed computation with :class:`InputError` after ``seconds`` of CPU time.

    Uses the process's virtual timer (SIGVTALRM), which is independent of the wall-clock alarm
    of :func:`time_limit`. Only in the main thread; ``seconds`` of 0 means no limit.
    """
    seconds = budget_seconds() if seconds is None else seconds
    if threading.current_thread() is not threading.main_thread() or seconds <= 0 \
            or not hasattr(signal, "SIGVTALRM"):
        yield
        return

    armed = [True]

    def handler(signum, frame):
        if armed[0]:  # as in time_limit: never raised after the block is left
            raise _OutOfTime

    old = signal.signal(signal.SIGVTALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_VIRTUAL, seconds, 0.5)
        with _quiet_when_unraisable():
            yield
    except _OutOfTime:
        raise InputError(f"gave up: {what} used more than {seconds:g} s of CPU time (the sheet "
                         "is too large or pathological; DERIVE_TIME_LIMIT sets the budget)"
                         ) from None
    finally:
        armed[0] = False
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, old)


@contextmanager
def cpu_budget_paused():
    """Suspend a running :func:`cpu_budget` (e.g. while outputs are written, so that a build is
    never stopped halfway through writing); the remaining budget resumes afterwards."""
    if threading.current_thread() is not threading.main_thread() \
            or not hasattr(signal, "ITIMER_VIRTUAL"):
        yield
        return
    remaining = signal.setitimer(signal.ITIMER_VIRTUAL, 0)
    try:
        yield
    finally:
        if remaining[0] > 0:
            signal.setitimer(signal.ITIMER_VIRTUAL, *remaining)
