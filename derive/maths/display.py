"""Display data of the mathematics: explicit products and the sheet's term order.

These are facts about *how a sheet writes* a formula, used by the engine (:mod:`derive.maths`), the
tasks and every printer alike; they print nothing themselves.

* :class:`Dot`: an explicit product shown factor by factor (``a \\cdot b \\cdot 1``), with
  :func:`leads_negative` and :func:`negate` for its sign;
* :class:`WrittenForms`: the sums, products, decimals and number-times-sum forms the sheet writes
  (recorded by the parser), carried with the exercise's names by :class:`Names`;
  :func:`settle_numbers` decides whether the sheet writes a sum's constant first;
* :class:`TermOrder`: the order of terms and factors and the orientation of even/odd function
  arguments the sheet uses (its written forms first; else the names in order of appearance and the
  neighbouring names of the sheet's products, :func:`product_pairs` and :func:`name_kind`);
* :func:`shown`: what a display placeholder left by :meth:`TermOrder.orient` stands for.

The printers (:mod:`derive.render.notation`) read these objects; they live here so that nothing
under :mod:`derive.maths` or :mod:`derive.tasks` needs the printers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

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

# --- the forms a sheet writes --------------------------------------------------------------------
SHORT_DENOMINATORS = (2, 4, 8)
"""A decimal the sheet writes prints as a fraction when its denominator is one of these (halves,
quarters, eighths: ``0.5`` -> ½, ``0.25`` -> ¼, ``1.5`` -> 3/2); any other prints as written
(``0.1``, ``0.05``, ``0.044715``)."""


EXACT_DECIMAL_DIGITS = 16


def exact_decimal(number: sp.Rational) -> str | None:
    """``number > 0`` as an exact decimal (``"0.107032224408516"``) when its denominator is a
    product of 2s and 5s above 1000 (a product of written decimals, not a fraction a sheet would
    write), it has at most :data:`EXACT_DECIMAL_DIGITS` decimal places and it is at least 0.001;
    else None."""
    q, places2, places5 = number.q, 0, 0
    if q <= 1000 or number < sp.Rational(1, 1000):  # 2e-15 is no number a reader checks
        return None
    while q % 2 == 0:
        q, places2 = q // 2, places2 + 1
    while q % 5 == 0:
        q, places5 = q // 5, places5 + 1
    places = max(places2, places5)
    if q != 1 or places > EXACT_DECIMAL_DIGITS:
        return None
    scaled = number.p * 10**places // number.q
    whole, frac = divmod(scaled, 10**places)
    return f"{whole}.{frac:0{places}d}".rstrip("0")


@dataclass(frozen=True)
class WrittenForms:
    """How a sheet writes its formulas, recorded by the parser (:func:`derive.sheet.parse.
    written_forms`) and followed by every printer.

    * ``sums``: the terms of each sum the sheet writes (keyed by the set of its terms, as SymPy
      builds the sum) in written order: ``1 + exp(v)`` -> ``(1, exp(v))``;
    * ``products``: the factors other than numbers of each product it writes, in written order
      (keyed the same way, so ``x1*w13`` also orders ``2*x1*w13``): ``(x1, w13)``;
    * ``decimals``: the text of each decimal it writes, by its exact value: ``8943/200000`` ->
      ``"0.044715"``;
    * ``factored``: each sum it writes as a positive number times a sum, which SymPy multiplies
      out (keyed by the terms of the product): ``0.7978845608*(x + 0.044715*x**3)``;
    * ``numbers_first``: whether the sheet writes the constant of a sum first (``1 - relu(x1)``)
      rather than last (``x1 + x2 - 1``); decided by :func:`settle_numbers`.

    Lookups are by structural equality only (never by iterating a set), so the order does not
    depend on hashing.
    """

    sums: dict[frozenset, tuple[sp.Basic, ...]] = field(default_factory=dict)
    products: dict[frozenset, tuple[sp.Basic, ...]] = field(default_factory=dict)
    decimals: dict[sp.Rational, str] = field(default_factory=dict)
    factored: dict[frozenset, tuple[sp.Rational, sp.Add]] = field(default_factory=dict)
    numbers_first: bool = False

    def sum_order(self, terms: Iterable[sp.Basic]) -> tuple[sp.Basic, ...] | None:
        """The terms in the order the sheet writes this sum, or None when it writes no such sum."""
        return self.sums.get(frozenset(terms)) if self.sums else None

    def product_order(self, factors: Iterable[sp.Basic]) -> tuple[sp.Basic, ...] | None:
        """The factors (numbers excluded) in the order the sheet writes this product, or None."""
        if not self.products:
            return None
        return self.products.get(frozenset(f for f in factors if not f.is_Number))

    def decimal(self, number: sp.Basic) -> str | None:
        """The text of ``number`` as the sheet writes it (``-0.044715`` for ``-8943/200000``), or
        None: a short fraction (:data:`SHORT_DENOMINATORS`), a sheet that writes no decimal, or
        a number that is neither written nor an exact decimal of a sheet that writes decimals
        (:func:`exact_decimal`: ``3 · 0.7978845608 · 0.044715`` prints ``0.107032224408516``,
        not ``26758056102129/250000000000000``)."""
        if not self.decimals or not isinstance(number, sp.Rational) or number.q == 1 \
                or number.q in SHORT_DENOMINATORS:
            return None
        text = self.decimals.get(abs(number)) or exact_decimal(abs(number))
        if text is None:
            return None
        return "-" + text if number < 0 else text

    def factor(self, terms: Iterable[sp.Basic]) -> tuple[sp.Rational, sp.Add] | None:
        """``(c, s)`` when the sheet writes the sum of ``terms`` as ``c * s``, else None."""
        return self.factored.get(frozenset(terms)) if self.factored else None

    def arrange(self, terms: list[sp.Basic]) -> list[sp.Basic]:
        """``terms`` with those of the written sum that shares most of them (at least two; the
        first such sum when several do) in written order, in the places they hold."""
        if not self.sums or len(terms) < 2:
            return terms
        have = set(terms)
        best: tuple[sp.Basic, ...] = ()
        for written in self.sums.values():
            shared = tuple(t for t in written if t in have)
            if len(shared) > len(best):
                best = shared
        if len(best) < 2:
            return terms
        chosen = set(best)
        ranked = iter(best)
        return [next(ranked) if t in chosen else t for t in terms]

    def number_ends(self) -> tuple[int, int]:
        """How many written sums start with a number, and how many end with one."""
        first = sum(1 for w in self.sums.values() if w[0].is_number and not w[-1].is_number)
        last = sum(1 for w in self.sums.values() if w[-1].is_number and not w[0].is_number)
        return first, last


def settle_numbers(forms: Sequence[WrittenForms]) -> list[WrittenForms]:
    """The written forms of a sheet's exercises with ``numbers_first`` decided: by the
    exercise's own sums that have a number at one end (more start with it than end with it),
    else by all the sheet's."""
    ends = [f.number_ends() for f in forms]
    total = (sum(a for a, _ in ends), sum(b for _, b in ends))
    out = []
    for f, (first, last) in zip(forms, ends, strict=True):
        if first == last:
            first, last = total
        out.append(replace(f, numbers_first=first > last))
    return out


class Names(tuple):
    """An exercise's names in order of first appearance (a tuple of strings), carrying its
    :class:`WrittenForms`: a :class:`TermOrder` built from it prints as the sheet writes."""

    written: WrittenForms

    def __new__(cls, names: Iterable[str] = (), written: WrittenForms | None = None):
        """``names`` as a tuple with ``written`` (by default the forms ``names`` carries, if it
        is itself a :class:`Names`; else none)."""
        if written is None:
            written = names.written if isinstance(names, Names) else WrittenForms()
        self = super().__new__(cls, names)
        self.written = written
        return self

    def __reduce__(self):
        return (Names, (tuple(self), self.written))


# --- orientation and term order ----------------------------------------------------------------
_EVEN = (sp.cosh, sp.cos, sp.sech, sp.sec)
_MAX_REWRITTEN_FACTORS = 4  # a product is multiplied out to compare it with the sheet's sums
_ODD = (sp.sinh, sp.tanh, sp.sin, sp.tan, sp.asinh, sp.atanh, sp.asin, sp.atan)


class TermOrder:
    """Orders terms and orients arguments the way the sheet writes them.

    A sum or product the sheet writes (:class:`WrittenForms`, carried by the exercise's
    :class:`Names`) prints in its written order: ``log(1 + exp(v))``, ``L + λ/2 (w1² + w2²)``,
    ``x1 w13``. Other sums: the terms of one the sheet writes keep their written order among
    themselves, the rest follow ``rank``, the position of a name's first appearance in the sheet;
    numbers go first when the sheet writes its constants first (``1 - relu(x1)``), else last. A
    sum never starts with a minus when it has a positive term, and ``cosh(t - y)`` prints as
    ``cosh(y - t)`` when the sheet writes ``y - t`` (or, writing neither, introduced ``y`` first;
    odd functions take the sign outside: ``tanh(t - y) = -tanh(y - t)``).
    """

    def __init__(self, names: Iterable[str] = (), products: Iterable[tuple[str, str]] = (),
                 written: WrittenForms | None = None):
        if written is None:
            written = names.written if isinstance(names, Names) else WrittenForms()
        self.written = written
        self.rank = {}
        for n in names:
            self.rank.setdefault(n, len(self.rank))
        self.kind_rank = _kind_order(self.rank, products)
        self._number_rank = -1 if written.numbers_first else 10**9

    def decimal(self, number: sp.Basic) -> str | None:
        """The text of a decimal the sheet writes for ``number`` (see
        :meth:`WrittenForms.decimal`), or None."""
        return self.written.decimal(number)

    def product_order(self, factors: Iterable[sp.Basic]) -> tuple[sp.Basic, ...] | None:
        """The factors other than numbers as the sheet writes their product, or None."""
        return self.written.product_order(factors)

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
        first = min(ranks) if ranks else (self._number_rank if term.is_number else 10**9)
        return (first, sp.count_ops(term), sp.default_sort_key(term))

    def order(self, terms: Iterable[sp.Basic]) -> list[sp.Basic]:
        """The terms of a sum in print order: as the sheet writes that sum, else by
        :meth:`term_key` with the terms of a written sum in their written order."""
        terms = list(terms)
        written = self.written.sum_order(terms)
        if written is not None:
            return list(written)
        terms = self.written.arrange(sorted(terms, key=self.term_key))
        if terms and leads_negative(terms[0]):
            positive = [i for i, t in enumerate(terms) if not leads_negative(t)]
            numbers = [i for i in positive if terms[i].is_number]
            pos = (numbers or positive or [None])[0]
            if pos is not None:
                terms.insert(0, terms.pop(pos))
        return terms

    def prefers_flip(self, arg: sp.Basic) -> bool:
        """True when ``-arg`` reads better than ``arg``: the sheet writes ``-arg`` and not
        ``arg``, or, writing neither, the first term of ``-arg`` is positive."""
        if not isinstance(arg, sp.Add):
            return arg.could_extract_minus_sign()
        if self.written.sum_order(arg.args) is not None:
            return False
        if self.written.sum_order(sp.Add.make_args(-arg)) is not None:
            return True
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
        """Rewrite for display: even/odd functions take the sheet's argument orientation, a sum
        the sheet writes as a number times a sum is shown so (``0.7978845608 (x + 0.044715
        x^3)``), and a sum with a common numeric factor keeps it outside (``2 (y - t)``, not
        ``2 y - 2 t``)."""
        if not isinstance(expr, sp.Basic) or expr.is_Atom:
            return expr
        reps = {}
        for f in expr.atoms(*(_EVEN + _ODD)):
            if self.prefers_flip(f.args[0]):
                kept = _Shown.make(type(f)(-f.args[0], evaluate=False))
                reps[f] = kept if isinstance(f, _EVEN) else -kept
        out = expr.xreplace(reps) if reps else expr
        if self.written.factored or self.written.sums:
            out = out.replace(self._rewritten, self._as_written)
        return out.replace(_has_common_factor, lambda e: _keep_coeff(*e.primitive()))

    def _rewritten(self, e: sp.Basic) -> bool:
        """Whether ``e`` is a sum the sheet writes as a number times a sum, or a number times a
        product with a sum whose product multiplied out is a sum the sheet writes (a tidying
        step's ``c x (200000 + 8943 x^2)`` for the sheet's ``0.7978845608*(x + 0.044715*x**3)``)."""
        if isinstance(e, sp.Add):
            return self.written.factor(e.args) is not None
        if not isinstance(e, sp.Mul) or len(e.args) > _MAX_REWRITTEN_FACTORS:
            return False
        coeff = e.args[0]
        if not (coeff.is_Rational and coeff.q != 1) or not any(a.is_Add for a in e.args):
            return False
        out = sp.expand_mul(e)
        return isinstance(out, sp.Add) and (self.written.sum_order(out.args) is not None
                                            or self.written.factor(out.args) is not None)

    def _as_written(self, e: sp.Basic) -> sp.Basic:
        out = e if isinstance(e, sp.Add) else sp.expand_mul(e)
        factored = self.written.factor(out.args)
        return _keep_coeff(*factored) if factored is not None else out



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
