"""Whether expressions have real values: derive works over the reals.

:class:`Forward` evaluates a computation list forward, node by node, at random real points (the
verifier's rationals, :func:`derive.verify.points.real_points`; the fast mpmath evaluation,
:mod:`derive.verify.numeric`), each node from the values of the nodes it reads, so that no node is
ever substituted into another (models can have thousands of weights). A point counts for a node
when every subexpression of the node is a real, finite number there
(:class:`~derive.verify.numeric.RealEvaluator`). A node that is real at none of the points tried,
while most of them decided it, has no real value (:func:`first_unreal` names the first and says
why): it is complex-valued (``sqrt(-1 - x**2)``, ``(-8)**(1/3)``, ``(-1)**y``: principal values, as
SymPy's), or undefined (``1/z`` or ``log(z)`` where ``z`` is 0 for every input: ``z = x - x``,
``z = 0*w``, ``z = a - b`` with ``a`` and ``b`` equal). A divisor or logarithm argument counts as 0
at a point when its value, computed at 30 and at 50 significant digits, shrinks with the
precision, or when it cancels to rounding at both (an identity such as
``sin(x)**2 + cos(x)**2 - 1``). Points are drawn scale by scale (values in [-2, 2], then up to 1000
times further out), each random point also with every value made positive and with every value
in (0, 1); the search stops as soon as every node has a real point (after the first point for
almost every sheet), and after a bounded amount of work on a hostile one. A real value that exists
only on a region the points never reach (``log(x - 10**5)``) is refused too, and the message says
how many points were tried: the verifier could not check such a line either.

The parser runs the check on every expression on its own (:func:`real_problem`, every symbol
free), so expressions of tasks (``of = "sqrt(-1 - x**2)"``) and of ``derive explain`` are refused
too; the sheet loader checks a model and its task expressions again with the model's values
(:func:`derive.sheet.modelcheck.check_model`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import mpmath
import sympy as sp

from derive.errors import and_join, shorten
from derive.maths.functions import symbol
from derive.verify import numeric
from derive.verify.equality import Timeout, time_limit
from derive.verify.points import outside_indexed, real_points

LOW_DIGITS = 30  # the forward pass, and the first of the two precisions of the zero test
HIGH_DIGITS = 50
ZERO_SHRINK = mpmath.mpf(10) ** -10  # a value 0 up to rounding shrinks by ~20 orders from 30 to 50
WORK_LIMIT = 100_000  # tree nodes evaluated before the search for real points stops, after...
MIN_POINTS = 24  # ...at least this many points: a hostile sheet ends within seconds
MAX_TIMEOUTS = 3  # values that need huge precision (cos(exp(exp(x)))): the search stops
NODE_SECONDS = 1.0  # one node at one point (a value such as cos(exp(exp(30))) needs huge precision)

__all__ = ["Forward", "Item", "first_unreal", "real_problem"]


@dataclass
class _Tally:
    """What the points said about one expression."""

    real: int = 0
    bad: int = 0
    unknown: int = 0
    reasons: list[tuple] = field(default_factory=list)  # one per bad point


@dataclass(frozen=True)
class Item:
    """One expression of a forward pass: ``name`` is the model name it defines (None for an
    expression of a task), ``reads`` the indices of the items whose values it uses."""

    name: str | None
    expr: sp.Expr
    reads: tuple[int, ...]


class Forward:
    """Evaluate expressions forward at random real points, each from the values of the earlier
    ones it reads (see the module docstring); :meth:`run` returns one :class:`_Tally` each."""

    def __init__(self, items: Sequence[Item], seed: int = 0):
        self.items = list(items)
        self.seed = seed
        symbols = {symbol(it.name) for it in self.items if it.name is not None}
        leaves: set[sp.Basic] = set()
        for it in self.items:
            leaves |= _leaves(it.expr)
        self.leaves = sorted(leaves - symbols, key=sp.default_sort_key)
        self.integers = frozenset(s for it in self.items for total in it.expr.atoms(sp.Sum)
                                  for limit in total.limits for bound in limit[1:]
                                  for s in bound.free_symbols)  # d in Sum(..., (i, 1, d))
        self.points_tried = 0
        self.timeouts = 0

    def run(self) -> list[_Tally]:
        tallies = [_Tally() for _ in self.items]
        sizes = [_size(it.expr) for it in self.items]
        work = 0
        for point in self._points():
            open_ = [i for i, t in enumerate(tallies) if not t.real]
            if not open_ or (work > WORK_LIMIT and self.points_tried >= MIN_POINTS) \
                    or self.timeouts >= MAX_TIMEOUTS:
                break
            self.points_tried += 1
            work += sum(sizes[: max(open_) + 1])
            self._at(point, tallies, max(open_))
        return tallies

    def _points(self) -> Iterator[dict]:
        return real_points(self.leaves, self.seed, integers=self.integers)

    def _at(self, point: dict, tallies: list[_Tally], last: int) -> None:
        with mpmath.workdps(LOW_DIGITS):
            low = numeric.RealEvaluator(numeric.point(point))
        with mpmath.workdps(HIGH_DIGITS):
            high = numeric.RealEvaluator(numeric.point(point))
        status: list[str] = []
        for i, it in enumerate(self.items[: last + 1]):
            tally = tallies[i]
            before = [status[j] for j in it.reads]
            if "bad" in before:
                status.append("bad")
                tally.bad += 1
                tally.reasons.append(("inputs", tuple(j for j in it.reads
                                                      if status[j] != "real")))
                continue
            if "unknown" in before:
                status.append("unknown")
                tally.unknown += 1
                continue
            outcome = _evaluate(it.expr, low, high)
            status.append(outcome[0])
            if outcome[0] == "real":
                tally.real += 1
                if it.name is not None:
                    name = symbol(it.name)
                    low.memo[name], high.memo[name] = outcome[1:]
                    for ev, value in zip((low, high), outcome[1:], strict=True):
                        if value == 0 or it.expr in ev.cancelled:  # z = a - b, a and b equal
                            ev.cancelled.add(name)
            elif outcome[0] == "bad":
                tally.bad += 1
                tally.reasons.append(outcome[1:])
            else:
                tally.unknown += 1
                self.timeouts += outcome[1:] == ("timeout",)


def _size(expr: sp.Basic) -> int:
    return sum(1 for _ in sp.preorder_traversal(expr))


def _leaves(expr: sp.Basic) -> set[sp.Basic]:
    """Symbols (summation indices included) and indexed quantities: the values of a point."""
    return expr.atoms(sp.Indexed) | {s for s in outside_indexed(expr)
                                      if not isinstance(s, sp.Dummy)}


def _evaluate(expr: sp.Expr, low: numeric.RealEvaluator, high: numeric.RealEvaluator) -> tuple:
    """``("real", low value, high value)``, ``("bad", reason...)`` or ``("unknown",)``.

    The value at HIGH_DIGITS decides; the one at LOW_DIGITS is the comparison that tells a
    divisor or logarithm argument that is 0 up to rounding (it shrinks with the precision, or it
    cancelled at both) from a small one."""
    results = []
    for ev, digits in ((low, LOW_DIGITS), (high, HIGH_DIGITS)):
        start = len(ev.watched)
        try:
            with time_limit(NODE_SECONDS), mpmath.workdps(digits):
                results.append(ev(expr))
        except Timeout:
            return ("unknown", "timeout")
        except numeric.NotReal as e:
            if ev is low and e.kind == "complex" and _clearly_complex(e.node, low):
                return ("bad", *_reason(e, low))  # no rounding involved: no second precision
            results.append(e)
        except (numeric.Unsure, ValueError, TypeError, ArithmeticError, RecursionError,
                MemoryError):
            results.append(None)
    a, b = results
    if b is None:
        return ("unknown",)
    for kind, divisor in high.watched[start:]:
        x, y = low.known(divisor), high.known(divisor)
        if y is None:
            continue
        if y == 0 or (divisor in high.cancelled and (x is None or divisor in low.cancelled)) \
                or (x is not None and x != 0 and abs(y) <= abs(x) * ZERO_SHRINK):
            return ("bad", "zero", kind, divisor)
    if isinstance(b, numeric.NotReal):
        return ("bad", *_reason(b, high))
    return ("real", b if a is None or isinstance(a, numeric.NotReal) else a, b)


def _clearly_complex(node: sp.Basic, ev: numeric.RealEvaluator) -> bool:
    """Whether ``node`` (complex at this point) has real arguments that are far from 0: a root or
    logarithm of a clearly negative number, not of one that is 0 up to rounding."""
    return not any(a in ev.cancelled or ev.known(a) is None for a in node.args)


def _reason(e: numeric.NotReal, ev: numeric.RealEvaluator) -> tuple:
    node = e.node
    if e.kind == "undefined":
        if node.is_Pow and node.exp.is_extended_negative:
            return ("zero", "divides by", node.base)
        if isinstance(node, sp.log) and ev.known(node.args[0]) == 0:
            return ("zero", "takes the logarithm of", node.args[0])
    return (e.kind, node)


def _verdict(tally: _Tally) -> tuple | None:
    """The reason to refuse an expression, or None: no point was real, and the points that
    decided anything (at least as many as could not) all found it complex or undefined."""
    if tally.real or not tally.bad or tally.bad < tally.unknown:
        return None
    counts: dict[tuple, int] = {}
    for r in tally.reasons:
        counts[r] = counts.get(r, 0) + 1
    best = max(tally.reasons, key=lambda r: (r[0] == "zero" and counts[r] == tally.bad,
                                             counts[r]))
    if best[0] == "zero" and counts[best] < tally.bad:  # 0 at some points only: not "always 0"
        best = ("undefined", None)
    if best[0] == "inputs":  # the names never real together, over every point
        best = ("inputs", tuple(sorted({j for r in tally.reasons if r[0] == "inputs"
                                        for j in r[1]})))  # item indices, in model order
    return best


def _describe(reason: tuple, whole: sp.Expr, tried: int, lines: Mapping[str, Any]) -> str:
    """The message for a refused expression (``whole``), without its location: what matters
    first, since an error line is cut at 200 characters."""
    points = "1 point" if tried == 1 else f"{tried} random points"
    if reason[0] == "zero":
        _, verb, divisor = reason
        which = _show(divisor)
        defined = lines.get(which)
        where = ""
        if defined:
            where = f" ({which} = {shorten(defined[0], 40)}" + (
                f", line {defined[1]})" if defined[1] is not None else ")")
        return f"is undefined: it {verb} {which}, which is 0 for every input{where}"
    if reason[0] == "inputs":
        names = [n for n in reason[1] if n]
        never = "is never real" if len(names) == 1 else "are never real at the same point"
        return (f"is not real-valued (derive works over the reals): {and_join(names)} {never} "
                f"({points} tried)")
    kind, node = reason
    what = "it" if node is None or node == whole else _show(node)
    if kind == "complex":
        return (f"is not real-valued (derive works over the reals): {what} is complex at every "
                f"point tried ({points})")
    return f"is undefined: {what} is infinite or undefined at every point tried ({points})"


def _show(expr: sp.Basic) -> str:
    return shorten(sp.sstr(expr), 60)


def first_unreal(items: Sequence[Item], lines: Mapping[str, Any] | None = None
                 ) -> tuple[int, str] | None:
    """``(index, message)`` for the first of ``items`` that has no real value, or None; the
    message says why, without what the item is or where (``lines``: model name -> (right side,
    line), for naming a divisor's definition)."""
    if not items:
        return None
    forward = Forward(items)
    for i, tally in enumerate(forward.run()):
        reason = _verdict(tally)
        if reason is None:
            continue
        if reason[0] == "inputs":
            reason = ("inputs", tuple(items[j].name for j in reason[1]))
        return i, _describe(reason, items[i].expr, forward.points_tried, lines or {})
    return None


def real_problem(expr: sp.Expr) -> str | None:
    """Why ``expr`` alone (every symbol a free real variable) has no real value, or None."""
    found = first_unreal([Item(None, expr, ())])
    return None if found is None else found[1]
