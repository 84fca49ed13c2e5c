"""Display data of the mathematics: explicit products and the sheet's term order.

These are facts about *how a sheet writes* a formula, used by the engine (:mod:`derive.maths`), the
tasks and every printer alike; they print nothing themselves.

* :class:`Dot`: an explicit product shown factor by factor (``a \\cdot b \\cdot 1``), with
  :func:`leads_negative` and :func:`negate` for its sign;
* :class:`TermOrder`: the order of terms and factors and the orientation of even/odd function
  arguments the sheet uses (built from the names in order of appearance and the neighbouring names
  of the sheet's products, :func:`product_pairs` and :func:`name_kind`);
* :func:`shown`: what a display placeholder left by :meth:`TermOrder.orient` stands for.

The printers (:mod:`derive.render.notation`) read these objects; they live here so that nothing
under :mod:`derive.maths` or :mod:`derive.tasks` needs the printers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import sympy as sp
from sympy.core.mul import _keep_coeff


class Dot(sp.Expr):
    """An explicit product shown factor by factor (``a \\cdot b \\cdot 1``); ``doit`` multiplies."""

    is_commutative = True

    def __new__(cls, *factors):
        return sp.Expr.__new__(cls, *map(sp.sympify, factors))

    def doit(self, **hints):
        return sp.Mul(*[f.doit(**hints) if hints.get("deep", True) else f for f in self.args])

    def _eval_subs(self, old, new):
        return None

    def _sympystr(self, printer):
        return "*".join(printer.parenthesize(a, 50) for a in self.args)

    def factors(self) -> list[sp.Basic]:
        """The factors, nested explicit products flattened (``a \\cdot (b \\cdot c)`` is
        ``a \\cdot b \\cdot c``)."""
        out: list[sp.Basic] = []
        for a in self.args:
            out.extend(a.factors() if isinstance(a, Dot) else [a])
        return out


def leads_negative(term: sp.Basic) -> bool:
    """Whether ``term`` prints with a leading minus: a negative number or product, or an explicit
    product whose first factor is negative (``- t \\cdot \\frac{1}{u}``)."""
    if isinstance(term, Dot):
        return leads_negative(term.factors()[0])
    return term.could_extract_minus_sign()


def negate(term: sp.Basic) -> sp.Basic:
    """``-term``; an explicit product negates its first factor (of ``- t \\cdot x``: ``t``)."""
    if isinstance(term, Dot):
        first, *rest = term.factors()
        return Dot(-first, *rest)
    return -term

# --- orientation and term order ----------------------------------------------------------------
_EVEN = (sp.cosh, sp.cos, sp.sech, sp.sec)
_ODD = (sp.sinh, sp.tanh, sp.sin, sp.tan, sp.asinh, sp.atanh, sp.asin, sp.atan)


class TermOrder:
    """Orders terms and orients arguments the way the sheet writes them.

    ``rank`` maps names to the position of their first appearance in the sheet. Terms print in
    that order (numbers last), a sum never starts with a minus when it has a positive term, and
    ``cosh(t - y)`` prints as ``cosh(y - t)`` when the sheet introduced ``y`` first (odd
    functions take the sign outside: ``tanh(t - y) = -tanh(y - t)``).
    """

    def __init__(self, names: Iterable[str] = (), products: Iterable[tuple[str, str]] = ()):
        self.rank = {}
        for n in names:
            self.rank.setdefault(n, len(self.rank))
        self.kind_rank = _kind_order(self.rank, products)

    def factor_key(self, factor: sp.Basic):
        """Sort key of a plain factor (``w_{13}``, ``x_{1}^{2}``, ``x_{i}^{(k)}``) in a product:
        by the kind of name (its letters, ``w`` of ``w13``) in the order the sheet writes products
        (``w11*x1`` puts every ``w`` before every ``x``, so ``x1*w12`` does not turn up as
        ``x_{1} w_{12}`` beside ``w_{11} x_{1}``), then as :meth:`term_key`."""
        base = factor.base if isinstance(factor, sp.Pow) else factor
        name = base.base.name if isinstance(base, sp.Indexed) else getattr(base, "name", "")
        return (self.kind_rank.get(name_kind(name), len(self.kind_rank)), *self.term_key(factor))

    def term_key(self, term: sp.Basic):
        names = [s.name for s in term.free_symbols if hasattr(s, "name")]
        for ind in term.atoms(sp.Indexed):
            names.append(ind.base.name)
        ranks = [self.rank.get(n, len(self.rank) + 1) for n in names]
        return (min(ranks) if ranks else 10**9, sp.count_ops(term), sp.default_sort_key(term))

    def order(self, terms: Iterable[sp.Basic]) -> list[sp.Basic]:
        terms = sorted(terms, key=self.term_key)
        if terms and leads_negative(terms[0]):
            positive = [i for i, t in enumerate(terms) if not leads_negative(t)]
            numbers = [i for i in positive if terms[i].is_number]
            pos = (numbers or positive or [None])[0]
            if pos is not None:
                terms.insert(0, terms.pop(pos))
        return terms

    def prefers_flip(self, arg: sp.Basic) -> bool:
        """True when ``-arg`` reads better than ``arg`` (its first term is positive)."""
        if not isinstance(arg, sp.Add):
            return arg.could_extract_minus_sign()
        first = min(arg.args, key=self.term_key)
        return first.could_extract_minus_sign()

    def orient_functions(self, expr: sp.Basic) -> sp.Basic:
        """The same expression with even/odd functions written with the sheet's argument
        orientation, as real (unevaluated) SymPy functions: ``cosh(t - y)`` -> ``cosh(y - t)``."""
        reps = {}
        for f in expr.atoms(*(_EVEN + _ODD)):
            if self.prefers_flip(f.args[0]):
                g = type(f)(-f.args[0], evaluate=False)
                reps[f] = g if isinstance(f, _EVEN) else -g
        return expr.xreplace(reps) if reps else expr

    def same_display(self, a: sp.Basic, b: sp.Basic) -> bool:
        """Whether ``a`` and ``b`` are shown alike: equal once oriented for display
        (:meth:`orient`). SymPy's ``2 y - 2 t`` and factor_terms' ``2 (y - t)`` are; an explicit
        product and the product it multiplies out to are not (``a \\cdot b`` is not ``a b``)."""
        return self.orient(a) == self.orient(b)

    def orient(self, expr: sp.Basic) -> sp.Basic:
        """Rewrite for display: even/odd functions take the sheet's argument orientation, and a
        sum with a common numeric factor keeps it outside (``2 (y - t)``, not ``2 y - 2 t``)."""
        if not isinstance(expr, sp.Basic) or expr.is_Atom:
            return expr
        reps = {}
        for f in expr.atoms(*(_EVEN + _ODD)):
            if self.prefers_flip(f.args[0]):
                kept = _Shown.make(type(f)(-f.args[0], evaluate=False))
                reps[f] = kept if isinstance(f, _EVEN) else -kept
        out = expr.xreplace(reps) if reps else expr
        return out.replace(_has_common_factor, lambda e: _keep_coeff(*e.primitive()))



# a name (maybe indexed), "*" (not "**"), and the next name unless it is a function's
_PRODUCT = re.compile(r"(?<![\w.])([A-Za-z]\w*)(?:\[[^\]]*\])?\s*\*(?!\*)\s*"
                      r"(?=([A-Za-z]\w*)(?!\w)(?!\s*\())")


def product_pairs(sources: Iterable[str]) -> list[tuple[str, str]]:
    """Neighbouring names of the products a sheet writes, in its order: ``z3 = x1*w13 + x2*w23``
    gives ``(x1, w13), (x2, w23)``; ``w[i]*x[i, k]`` gives ``(w, x)``. Function calls are not
    factors here (``w*tanh(x)`` gives nothing)."""
    pairs = []
    for src in sources:
        pairs += [(m.group(1), m.group(2)) for m in _PRODUCT.finditer(src)]
    return pairs


def name_kind(name: str) -> str:
    """The letters of a name, what it is a kind of: ``w13`` -> ``w``, ``x_i`` -> ``x``,
    ``neth1`` -> ``neth``, ``delta_z3`` -> ``delta``."""
    m = re.match(r"[A-Za-z]+", name)
    return m.group(0) if m else name


def _kind_order(rank: dict[str, int], pairs: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Kinds of names in the order the sheet's products put them: ``a`` before ``b`` when a
    product writes an ``a`` name just before a ``b`` name (the first such product wins when two
    disagree); kinds no product relates keep the order of their first appearance."""
    kinds: list[str] = []
    for n in sorted(rank, key=rank.get):
        if name_kind(n) not in kinds:
            kinds.append(name_kind(n))
    after: dict[str, set[str]] = {k: set() for k in kinds}  # kind -> kinds that must follow it

    def reaches(a: str, b: str) -> bool:
        todo, seen = [a], set()
        while todo:
            k = todo.pop()
            if k == b:
                return True
            if k not in seen:
                seen.add(k)
                todo.extend(after.get(k, ()))
        return False

    for a, b in pairs:
        ka, kb = name_kind(a), name_kind(b)
        if ka != kb and ka in after and kb in after and not reaches(kb, ka):
            after[ka].add(kb)
    order: list[str] = []
    left = list(kinds)
    while left:  # a stable topological sort: the earliest kind that nothing left must precede
        k = next(k for k in left if not any(k in after[j] for j in left))
        order.append(k)
        left.remove(k)
    return {k: i for i, k in enumerate(order)}


def _has_common_factor(e: sp.Basic) -> bool:
    """``2 y - 2 t`` (shown as ``2 (y - t)``) or ``x/2 + y/2`` (``\\frac{1}{2} (x + y)``), but not
    ``x + 1/4``, which would turn into ``\\frac{1}{4} (4 x + 1)``."""
    if not isinstance(e, sp.Add):
        return False
    content, rest = e.primitive()
    if content in (1, -1):
        return False
    return content.is_Integer or all(abs(t.as_coeff_Mul()[0]) == 1 for t in rest.args)


class _Shown(sp.Symbol):
    """A placeholder that prints as the unevaluated expression it stands for."""

    _registry: dict[str, sp.Basic] = {}

    @classmethod
    def make(cls, expr: sp.Basic) -> _Shown:
        name = f"_shown[{sp.srepr(expr)}]"
        cls._registry[name] = expr
        return cls(name, real=True)

    @property
    def shown(self) -> sp.Basic:
        return self._registry[self.name]


def shown(expr: sp.Basic) -> sp.Basic | None:
    """The unevaluated expression that a placeholder of :meth:`TermOrder.orient` stands for
    (``cosh(y - t)`` kept as written); None when ``expr`` is not such a placeholder."""
    return expr.shown if isinstance(expr, _Shown) else None
