"""Checking recorded equalities.

Every equality derive prints is checked here, in this order:

1. **symbolic**: ``lhs - rhs`` (activations rewritten to SymPy built-ins) reduces to 0 by
   ``cancel``/``expand``, or by ``simplify`` within a time budget;
2. **numeric**: otherwise, both sides are evaluated at several random points with high precision
   (``POINTS`` points, ``DIGITS`` significant digits) and must agree to ``TOLERANCE`` relative error.

A verdict records which method ran, so that sheets can say how each line was checked. A failed
check is never silently accepted: callers raise :class:`~derive.errors.VerificationFailure`.
"""

from __future__ import annotations

import random
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass

import sympy as sp

from derive.functions import to_elementary

POINTS = 6
DIGITS = 40
TOLERANCE = sp.Float(10) ** -25
SIMPLIFY_SECONDS = 2.0
SIMPLIFY_MAX_OPS = 300


@dataclass(frozen=True)
class Verdict:
    ok: bool
    method: str  # "symbolic", "numeric", "failed"
    detail: str = ""

    @property
    def label(self) -> str:
        """Human-readable description, e.g. ``numeric (6 random points, 40 digits)``."""
        return f"{self.method} ({self.detail})" if self.detail else self.method


class _Timeout(Exception):
    pass


@contextmanager
def _time_limit(seconds: float):
    """Raise _Timeout after ``seconds`` (only in the main thread; elsewhere no limit is set)."""
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    def handler(signum, frame):
        raise _Timeout

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _symbolic_zero(diff: sp.Expr, budget: float) -> bool | None:
    """True if ``diff`` is provably 0; None when undecided within the budget."""
    try:
        with _time_limit(budget):
            if sp.cancel(sp.expand(diff)) == 0:
                return True
            if sp.count_ops(diff) <= SIMPLIFY_MAX_OPS and sp.simplify(diff) == 0:
                return True
    except _Timeout:
        return None
    except (RecursionError, TypeError, ValueError, NotImplementedError, ZeroDivisionError):
        return None
    return None


def _free(expr: sp.Basic) -> list[sp.Basic]:
    """Free symbols and indexed quantities (an ``x[i, k]`` is substituted whole)."""
    indexed = expr.atoms(sp.Indexed)
    stripped = expr.xreplace({i: sp.Integer(0) for i in indexed})
    return sorted(set(stripped.free_symbols) | indexed, key=sp.default_sort_key)


def _random_value(rng: random.Random) -> sp.Rational:
    # rationals in [-2, 2] away from 0, with awkward denominators
    num = rng.choice([-1, 1]) * rng.randint(7, 200)
    return sp.Rational(num, rng.choice([97, 101, 103, 107, 109]))


def numeric_equal(lhs: sp.Expr, rhs: sp.Expr, *, points: int = POINTS, seed: int = 0) -> bool:
    """Compare at random rational points with ``DIGITS`` digits; raises nothing."""
    rng = random.Random(seed)
    free = _free(sp.Tuple(lhs, rhs))
    checked = 0
    attempts = 0
    while checked < points and attempts < points * 5:
        attempts += 1
        subs = {s: _random_value(rng) for s in free}
        try:
            a = sp.N(lhs.xreplace(subs), DIGITS)
            b = sp.N(rhs.xreplace(subs), DIGITS)
        except (ZeroDivisionError, ValueError, TypeError):
            continue
        if not (a.is_number and b.is_number) or a.has(sp.nan, sp.zoo, sp.oo, -sp.oo) or b.has(
            sp.nan, sp.zoo, sp.oo, -sp.oo
        ):
            continue
        scale = max(abs(a), abs(b), sp.Integer(1))
        if abs(a - b) > TOLERANCE * scale:
            return False
        checked += 1
    return checked == points


def check_equal(lhs: sp.Expr, rhs: sp.Expr, *, budget: float = SIMPLIFY_SECONDS) -> Verdict:
    """Check ``lhs == rhs``; symbolic where cheap, numeric at random points otherwise."""
    lhs, rhs = sp.sympify(lhs), sp.sympify(rhs)
    if lhs == rhs:
        return Verdict(True, "symbolic", "identical")
    diff = to_elementary(lhs - rhs)
    if _symbolic_zero(diff, budget):
        return Verdict(True, "symbolic", "simplifies to 0")
    if numeric_equal(lhs, rhs):
        return Verdict(True, "numeric", f"{POINTS} random points, {DIGITS} digits")
    return Verdict(False, "failed", f"{sp.sstr(lhs)} != {sp.sstr(rhs)}")
