"""Fast numeric evaluation for the verifier: mpmath at a fixed working precision, every distinct
subexpression once.

``sympy.N`` vouches for the digits it returns: it raises its working precision until it can, which
makes it slow on large formulas and very slow near cancellation (minutes, in the worst cases the
property runs found). The verifier therefore evaluates both sides of an equality at a point with
plain mpmath arithmetic first, at ``DIGITS`` significant digits of working precision, sharing the
work between the two sides (they usually have most subexpressions in common).

The fast values only ever *confirm* an equality: when both sides agree to the verifier's
tolerance, the point counts. When they do not agree, or when :func:`evaluate` is not sure of a
value, the verifier evaluates that point again with ``sympy.N``; a disagreement is never reported
from fast values alone. Not sure means :class:`Unsure` is raised: a function this module does not
know, an undefined value (a pole, ``log(0)``), or a discontinuity decided by rounding: a Heaviside
step, a sign, a comparison in a ``Piecewise`` or a floor whose argument is within ``10^(-DIGITS/2)``
of the jump.

Why agreement is enough: rounding errors of two different formulas would have to coincide to 25
significant digits at a random rational point for a false agreement; a wrong formula does not do
that. Cancellation makes fast values inaccurate, and then the two sides disagree and ``sympy.N``
decides.
"""

from __future__ import annotations

import mpmath
import sympy as sp
from sympy.functions.elementary.piecewise import ExprCondPair

from derive.maths import trees
from derive.maths.functions import CATALOGUE
from derive.verify.points import outside_indexed

DIGITS = 60  # working precision of the fast evaluation (the verifier asks for 40 correct digits)


class Unsure(Exception):
    """The fast evaluation cannot vouch for a value here; evaluate with sympy.N instead."""


class Undefined(Unsure):
    """A division by exactly zero: no value at all at this point (a pole, 1/0)."""


class NotReal(Exception):
    """A subexpression that is not a real, finite number although its arguments are real numbers:
    ``kind`` is ``"complex"`` (sqrt(-2), log(-1), (-8)**(1/3): principal values, as SymPy's) or
    ``"undefined"`` (1/0, log(0), an overflow). ``node`` is that subexpression."""

    def __init__(self, node: sp.Basic, kind: str):
        super().__init__(kind)  # not the node printed: that can cost far more than the value
        self.node = node
        self.kind = kind


def _real(v) -> mpmath.mpf:
    if isinstance(v, mpmath.mpc):
        if v.imag != 0:
            raise Unsure("a comparison of a complex value")
        return v.real
    return v


def _tiny(v) -> bool:
    """Within rounding of 0 at the working precision (a jump decided by rounding)."""
    return abs(v) <= mpmath.mpf(10) ** (-(mpmath.mp.dps // 2))


def _step(x, at_zero):
    x = _real(x)
    if _tiny(x):
        raise Unsure("Heaviside at its jump")
    return mpmath.mpf(1) if x > 0 else mpmath.mpf(0)


def _sign(x):
    if _tiny(x):
        raise Unsure("sign at 0")
    if isinstance(x, mpmath.mpc):
        return x / abs(x)
    return mpmath.mpf(1) if x > 0 else mpmath.mpf(-1)


def _delta(x, *order):
    if _tiny(_real(x)):
        raise Unsure("DiracDelta at 0")
    return mpmath.mpf(0)


def _jump(f):
    def go(x):
        x = _real(x)
        if _tiny(x - mpmath.nint(x)):
            raise Unsure("floor/ceiling at an integer")
        return f(x)
    return go


def _max(*xs):
    return max(_real(x) for x in xs)


def _min(*xs):
    return min(_real(x) for x in xs)


def _on_reals(f):
    """``f`` of real arguments: a complex argument is not sure (f compares its arguments)."""
    def go(*xs):
        return f(*(_real(x) for x in xs))
    return go


# the catalogue's functions (derive.maths.functions), then SymPy's others and the jumps
FUNCTIONS = {
    **{f.cls: _on_reals(f.numeric) if f.compares else f.numeric
       for f in CATALOGUE if f.numeric is not None},
    sp.cot: mpmath.cot, sp.sec: mpmath.sec, sp.csc: mpmath.csc, sp.coth: mpmath.coth,
    sp.sech: mpmath.sech, sp.csch: mpmath.csch, sp.asin: mpmath.asin, sp.acos: mpmath.acos,
    sp.acot: mpmath.acot, sp.acosh: mpmath.acosh, sp.atanh: mpmath.atanh, sp.acoth: mpmath.acoth,
    sp.sign: _sign, sp.re: mpmath.re, sp.im: mpmath.im, sp.conjugate: mpmath.conj,
    sp.Heaviside: _step, sp.DiracDelta: _delta, sp.Max: _max, sp.Min: _min,
    sp.floor: _jump(mpmath.floor), sp.ceiling: _jump(mpmath.ceil),
}


def _relation(rel, a, b) -> bool:
    if isinstance(rel, sp.Eq | sp.Ne):
        if _tiny(a - b) if a == 0 or b == 0 else _tiny((a - b) / max(abs(a), abs(b))):
            raise Unsure("an equality decided by rounding")
        return isinstance(rel, sp.Ne)
    a, b = _real(a), _real(b)
    if _tiny((a - b) / max(abs(a), abs(b), 1)):
        raise Unsure("a comparison decided by rounding")
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[rel.rel_op]


def _number(node: sp.Basic):
    if node.is_Integer:
        return mpmath.mpf(int(node))
    if node.is_Rational:
        return mpmath.mpf(int(node.p)) / int(node.q)
    if node.is_Float:
        return mpmath.mpf(node._mpf_)
    if node is sp.pi:
        return +mpmath.pi
    if node is sp.E:
        return +mpmath.e
    if node is sp.I:
        return mpmath.mpc(0, 1)
    if node.is_NumberSymbol:
        return mpmath.mpmathify(str(sp.N(node, mpmath.mp.dps + 5)))
    raise Unsure(f"the number {node}")


class Evaluator:
    """Values at one point (``env``: symbol or indexed quantity -> mpmath number), memoized, so
    that evaluating both sides of an equality computes their common subexpressions once."""

    def __init__(self, env: dict):
        self.memo: dict = dict(env)

    def __call__(self, expr: sp.Basic):
        value = trees.bottom_up(expr, self.memo, self._atom, self._node)
        if isinstance(value, bool):
            raise Unsure("a condition, not a number")
        if not mpmath.isfinite(value):
            raise Unsure("an infinite or undefined value")
        return value

    @staticmethod
    def _atom(node: sp.Basic):
        if node is sp.true or node is sp.false:
            return bool(node)
        if node.is_Number or node.is_NumberSymbol or node is sp.I:
            if node in (sp.oo, -sp.oo, sp.zoo, sp.nan):
                raise Unsure("an infinite or undefined constant")
            return _number(node)
        raise Unsure(f"{node} has no value at this point")

    @staticmethod
    def _node(node: sp.Basic, args: list):
        try:
            if node.is_Add:
                return mpmath.fsum(args)
            if node.is_Mul:
                return mpmath.fprod(args)
            if node.is_Pow:
                base, exp = args
                if node.exp.is_Integer:
                    return base ** int(node.exp)
                if node.exp == sp.S.Half:
                    return mpmath.sqrt(base)
                return mpmath.power(base, exp)
            if isinstance(node, sp.Piecewise):
                for value, cond in args:
                    if cond:
                        return value
                raise Unsure("no branch of the Piecewise applies")
            if isinstance(node, ExprCondPair):
                return tuple(args)
            if isinstance(node, sp.Rel):
                return _relation(node, *args)
            if isinstance(node, sp.And):
                return all(args)
            if isinstance(node, sp.Or):
                return any(args)
            if isinstance(node, sp.Not):
                return not args[0]
            f = FUNCTIONS.get(node.func)
            if f is None:
                raise Unsure(f"no fast evaluation for {node.func}")
            return f(*args)
        except ZeroDivisionError as e:
            raise Undefined(str(e)) from None
        except (ValueError, TypeError, OverflowError, ArithmeticError) as e:
            raise Unsure(str(e)) from None


def point(subs: dict) -> dict:
    """A point of rationals (symbol -> sympy Rational) as mpmath numbers."""
    return {k: _number(v) for k, v in subs.items()}


def agree(lhs: sp.Expr, rhs: sp.Expr, subs: dict, tolerance) -> bool:
    """True when both sides' fast values at ``subs`` agree to ``tolerance`` (relative to the
    larger value, or absolute below 1); False when that is not established (disagreement, or
    :class:`Unsure`), so that the caller evaluates the point with sympy.N."""
    with mpmath.workdps(DIGITS):
        try:
            ev = Evaluator(point(subs))
            a, b = ev(lhs), ev(rhs)
        except Exception:  # noqa: BLE001 - Unsure, or anything unforeseen: sympy.N decides
            return False
        if not (_is_real(a) and _is_real(b)):  # derive's calculus is real: a complex value
            return False  # never confirms a point (sympy.N decides, and the verifier skips it)
        size = max(abs(a), abs(b), 1)
        return bool(abs(a - b) <= mpmath.mpf(tolerance) * size)


def _is_real(v) -> bool:
    return not isinstance(v, mpmath.mpc) or v.imag == 0


_UNKNOWN = object()  # a value the fast evaluation cannot vouch for (see RealEvaluator)


class RealEvaluator:
    """Values at one point where every subexpression must be a real, finite number.

    The evaluation is :class:`Evaluator`'s, except that a subexpression whose arguments are real
    but whose value is complex or undefined raises :class:`NotReal` (derive works over the
    reals: ``sqrt(-1 - x**2)`` has no real value, ``(-1)**y`` none at a random rational ``y``,
    ``1/z`` none where ``z`` is 0). A value the fast evaluation cannot vouch for (a function it
    does not know, a sum whose terms depend on their index, a step decided by rounding) is
    *unknown* and makes every expression above it unknown, without hiding a :class:`NotReal`
    found elsewhere; calling the evaluator on an unknown expression raises :class:`Unsure`. A sum
    over indexed quantities is evaluated where each has one value for every index (see
    :meth:`_sum`; the point's ``x[i, k]`` is one value), which is a point like any other.

    Two records help a caller decide whether a divisor is 0 for every input (see
    :mod:`derive.sheet.modelcheck`): ``watched`` lists, in the order met, the divisors (bases of
    negative powers) and logarithm arguments as ``(kind, subexpression)``, and ``cancelled`` holds
    the subexpressions that are 0 up to rounding at this precision: a sum that cancels to below
    ``10^(5 - dps)`` of its largest term (``sigmoid(x) + sigmoid(-x) - 1``), a product with such
    a factor, a positive power or an odd function of one, an exact 0. A caller may add names to
    it (a model node whose definition cancelled)."""

    def __init__(self, env: dict):
        self.memo: dict = dict(env)
        self.watched: list[tuple[str, sp.Basic]] = []
        self.cancelled: set = set()

    def __call__(self, expr: sp.Basic):
        self.tolerance = mpmath.mpf(10) ** (5 - mpmath.mp.dps)
        value = trees.bottom_up(expr, self.memo, self._atom, self._node)
        if value is _UNKNOWN or isinstance(value, bool | tuple):
            raise Unsure("no value the fast evaluation can vouch for")
        return value

    def known(self, expr: sp.Basic):
        """The value found for ``expr`` (evaluated before), or None when it is unknown."""
        value = self.memo.get(expr, _UNKNOWN)
        return None if value is _UNKNOWN or isinstance(value, bool | tuple) else value

    @staticmethod
    def _atom(node: sp.Basic):
        if node is sp.I:
            raise NotReal(node, "complex")
        try:
            return Evaluator._atom(node)
        except Unsure:
            return _UNKNOWN

    def _node(self, node: sp.Basic, args: list):
        if isinstance(node, sp.Tuple):  # the limits of a Sum
            return tuple(args)
        if any(a is _UNKNOWN for a in args):
            return _UNKNOWN
        if isinstance(node, sp.Sum):
            return self._sum(node, args)
        if node.is_Pow and node.exp.is_extended_negative:
            self.watched.append(("divides by", node.base))
        elif isinstance(node, sp.log):
            self.watched.append(("takes the logarithm of", node.args[0]))
        try:
            value = Evaluator._node(node, args)
        except Undefined:
            raise NotReal(node, "undefined") from None
        except Unsure:
            return _UNKNOWN
        if isinstance(value, bool | tuple):
            return value
        if isinstance(value, mpmath.mpc):
            if value.imag != 0:
                raise NotReal(node, "complex")
            value = value.real
        if not mpmath.isfinite(value):
            raise NotReal(node, "undefined")
        if self._cancels(node, args, value):
            self.cancelled.add(node)
        return value

    def _sum(self, node: sp.Sum, args: list):
        """A sum whose summand depends on its index only through indexed quantities, at a point
        where each of those has one value for every index (x_i = c for all i): the number of
        terms times the summand. Unknown otherwise (integer limits are needed)."""
        value, *limits = args
        count = 1
        for (var, *_), limit in zip(node.limits, limits, strict=True):
            if var in outside_indexed(node.function) or any(
                    isinstance(v, bool | tuple) or v != mpmath.nint(v) for v in limit[1:]):
                return _UNKNOWN
            count *= max(int(limit[2]) - int(limit[1]) + 1, 0)
        if count == 0 or value == 0:
            self.cancelled.add(node)
        return value * count

    def _cancels(self, node: sp.Basic, args: list, value) -> bool:
        if value == 0:
            return True
        gone = [a in self.cancelled for a in node.args]
        if node.is_Add:
            kept = [abs(v) for v, g in zip(args, gone, strict=True) if not g]
            return not kept or abs(value) <= self.tolerance * max(kept)
        if node.is_Mul:
            return any(gone)
        if node.is_Pow:
            return gone[0] and bool(node.exp.is_extended_positive)
        return isinstance(node, _ODD) and gone[0]


# f(0) = 0, continuous at 0 (sign: 0 at 0, and only 0 there)
_ODD = (*(f.cls for f in CATALOGUE if f.zero_at_zero), sp.asin, sp.atanh, sp.sign)


def sign(expr: sp.Expr, subs: dict) -> int | None:
    """-1 or 1 when ``expr`` is real at ``subs`` and clearly away from 0, else None (complex,
    undefined, or too close to 0 to tell: the caller asks sympy.N)."""
    with mpmath.workdps(30):
        try:
            v = Evaluator(point(subs))(expr)
        except Exception:  # noqa: BLE001 - as in agree
            return None
        if isinstance(v, mpmath.mpc) and v.imag != 0 or _tiny(v):
            return None
        return 1 if _real(v) > 0 else -1


def kinks(expr: sp.Expr) -> list[sp.Expr]:
    """Where ``expr`` has a kink or a jump, as expressions that are 0 there: the argument of a
    Heaviside, sign, DiracDelta or |.|, the difference of two max/min arguments, the two sides of
    a Piecewise condition. At such a point a derivative is a convention (derive's H(0) = 0,
    SymPy's H(0) = 1/2), so a check there compares conventions, not derivations."""
    edges: list[sp.Expr] = []
    for f in expr.atoms(sp.Heaviside, sp.sign, sp.DiracDelta, sp.Abs):
        edges.append(f.args[0])
    for f in expr.atoms(sp.Max, sp.Min):
        edges.extend(a - b for i, a in enumerate(f.args) for b in f.args[i + 1:])
    for f in expr.atoms(sp.Piecewise):
        edges.extend(c.lhs - c.rhs for _, c in f.args if isinstance(c, sp.Rel))
    return edges


def on_kink(edges: list[sp.Expr], subs: dict) -> bool:
    """Whether one of ``edges`` (see :func:`kinks`) is 0 at ``subs`` (within rounding at 30
    digits). An edge that cannot be evaluated there (complex, undefined) is no kink."""
    if not edges:
        return False
    with mpmath.workdps(30):
        try:
            ev = Evaluator(point(subs))
        except Exception:  # noqa: BLE001 - as in agree
            return False
        for edge in edges:
            try:
                if _tiny(ev(edge)):
                    return True
            except Exception:  # noqa: BLE001 - not evaluable here: not a kink at this point
                continue
    return False
