"""LaTeX notation: a SymPy printer that writes the sheet's own notation, and text escaping.

The printer turns sheet names into indexed notation (``w13`` -> ``w_{13}``, ``x1`` -> ``x_{1}``,
``delta3`` -> ``\\delta_{3}``, ``x[i, k]`` -> ``x_{i}^{(k)}``), prints activations as the course
writes them (``\\sigma``, ``\\tanh``, ``\\log\\cosh``, ``\\rho`` for relu when the sheet's notation
says so), prints ``Derivative(E, y)`` in Leibniz form and never prints ``Max(0, x)`` or floats.
Explicit products (:class:`~derive.maths.display.Dot`) and the sheet's term order
(:class:`~derive.maths.display.TermOrder`) are display data from :mod:`derive.maths.display`; the
printers here follow them.
"""

from __future__ import annotations

import re
import unicodedata
import weakref

import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from derive.errors import InputError
from derive.maths.display import Dot, TermOrder, leads_negative, negate, shown
from derive.maths.functions import CATALOGUE

GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi",
    "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi",
    "Omega",
}
_NAME = re.compile(r"^([A-Za-z]+?)_?(\d+)$")
_SPLIT = re.compile(r"^([A-Za-z]+)_([A-Za-z0-9]+)$")

# notation keys a sheet may set, with their LaTeX: the catalogue's functions with a choice of names
NOTATION_DEFAULTS = {f.name: f.tex for f in CATALOGUE if f.notations}
NOTATION_CHOICES = {f.name: dict(f.notations) for f in CATALOGUE if f.notations}
# the catalogue's functions printed as their name before the bracketed argument (tanh^{2}(z_3));
# those with notation choices have their own printing methods below
_NAMED = {f.cls: f.tex for f in CATALOGUE if f.tex is not None and not f.notations}


def name_latex(name: str) -> str:
    """``w13`` -> ``w_{13}``, ``x1`` -> ``x_{1}``, ``delta3`` -> ``\\delta_{3}``,
    ``E_k`` -> ``E_{k}``, ``lambda_`` -> ``\\lambda`` (a Greek name with Python's trailing
    underscore, as ``lambda`` must be written); the δ of a node, ``delta_<node>``, carries the
    node as it prints:
    ``delta_neth1`` -> ``\\delta_{\\mathrm{neth}_{1}}``, ``delta_z3`` -> ``\\delta_{z_{3}}``."""
    if name.startswith("delta_") and len(name) > len("delta_"):
        return rf"\delta_{{{name_latex(name[len('delta_'):])}}}"
    name = plain_name(name)
    m = _NAME.match(name) or _SPLIT.match(name)
    if m:
        head, sub = m.groups()
        return f"{_head_latex(head)}_{{{sub}}}"
    return _head_latex(name)


def plain_name(name: str) -> str:
    """A Greek name without the trailing underscore that keeps it from a Python keyword
    (``lambda_`` -> ``lambda``); every other name as it is."""
    return name[:-1] if name.endswith("_") and name[:-1] in GREEK else name


def _head_latex(head: str) -> str:
    if head in GREEK:
        return "\\" + head
    if len(head) == 1:
        return head
    return r"\mathrm{" + head + "}"


_ELEMENTARY = (  # SymPy's other elementary functions, which sympy.diff may bring
    sp.cot, sp.sec, sp.csc, sp.coth, sp.sech, sp.csch, sp.asin, sp.acos, sp.acosh, sp.atanh,
)


class SheetStrPrinter(StrPrinter):
    """SymPy syntax with the sheet's term order, factor order and decimals (answers in JSON read
    like the sheet)."""

    def __init__(self, order: TermOrder | None = None, **settings):
        super().__init__(settings)
        self.term_order = order or TermOrder()

    def _as_ordered_terms(self, expr, order=None):
        return self.term_order.order(expr.args)

    def _print_Dot(self, expr):
        return "*".join(self.parenthesize(a, 50) for a in expr.args)

    def _print_Rational(self, expr):
        """A decimal the sheet writes as written (``0.044715``; derive's parser reads it back
        exactly), any other rational as SymPy writes it."""
        text = self.term_order.decimal(expr)
        return text if text is not None else super()._print_Rational(expr)

    def _print_Mul(self, expr):
        """SymPy's, except that a product the sheet writes keeps its written factor order
        (``x1*w13``) and a coefficient the sheet writes as a decimal stays one (``0.1*x``)."""
        coeff, rest = expr.as_coeff_Mul()
        sign = ""
        if coeff.is_Rational and coeff < 0:
            sign, coeff = "-", -coeff
        decimal = self.term_order.decimal(coeff) if coeff.is_Rational else None
        factors = sp.Mul.make_args(rest)
        whole = all(not (f.is_Pow and f.exp.could_extract_minus_sign()) for f in factors)
        written = self.term_order.product_order(factors) if whole else None
        if written is None and decimal is None:
            return super()._print_Mul(expr)
        prec = PRECEDENCE["Mul"]
        head = [decimal] if decimal is not None else ([] if coeff == 1 else [self._print(coeff)])
        if written is None:
            body = [self.parenthesize(rest, prec)] if rest != 1 else []
        else:
            body = [self.parenthesize(f, prec, strict=False) for f in written]
        return sign + "*".join(head + body)

    def _print_Symbol(self, expr):
        kept = shown(expr)
        if kept is not None:
            return self._print(kept)
        return super()._print_Symbol(expr)

    def _print_Heaviside(self, expr):
        """``Heaviside(u, 0)`` as SymPy writes it. A step with another value h at 0 (SymPy's
        default 1/2, from sympy.diff of a max of three) is written with steps that are 0 at 0,
        equal everywhere, because derive's parser reads ``Heaviside(u)`` as that step:
        ``(1 + Heaviside(u, 0) - Heaviside(-u, 0))/2``, or ``(Heaviside(u, 0) + h*(1 -
        Heaviside(u, 0) - Heaviside(-u, 0)))``."""
        u, *rest = expr.args
        h = rest[0] if rest else sp.S.Half
        if h == 0:
            return self._print_Function(expr)
        step, mirror = self._print(sp.Heaviside(u, 0)), self._print(sp.Heaviside(-u, 0))
        if h == sp.S.Half:
            return f"((1 + {step} - {mirror})/2)"  # an atom wherever it stands
        return f"({step} + {self.parenthesize(h, PRECEDENCE['Mul'])}*(1 - {step} - {mirror}))"

    def _print_Conditions(self, expr):
        return ", ".join(self._print(a) for a in expr.args)

    def _print_SetOf(self, expr):
        return " | ".join("{" + self._print(a) + "}" for a in expr.args)

    def _print_Exp1(self, expr):
        """Euler's number as ``exp(1)``: SymPy writes ``E``, which derive's parser (and the
        sheet) reads as the name ``E``, usually the loss."""
        return "exp(1)"

    def _print_Piecewise(self, expr):
        """A two-way switch (e₁ if u > 0, else e₂: leaky ReLU's derivative) as
        e₂ + (e₁ − e₂)·Heaviside(u, 0), equal everywhere (H(0) = 0 picks e₂ at u = 0, as the
        Piecewise does) and readable by derive's parser, which has no Piecewise."""
        switch = heaviside_form(expr)
        if switch is None:
            return super()._print_Piecewise(expr)
        # a Piecewise prints as an atom, so the caller put no brackets around it: the sum needs them
        return f"({self._print(switch)})" if switch.is_Add else self._print(switch)


def heaviside_form(expr: sp.Piecewise) -> sp.Expr | None:
    """``Piecewise((e1, cond), (e2, True))`` with one comparison as ``cond``, written with
    ``Heaviside(u, 0)`` (1 for u > 0, else 0) and equal to it at every point; None otherwise."""
    if len(expr.args) != 2 or expr.args[1].cond is not sp.true:
        return None
    (e1, cond), (e2, _) = expr.args
    if not isinstance(cond, sp.StrictGreaterThan | sp.StrictLessThan | sp.GreaterThan
                      | sp.LessThan):
        return None
    big, small = (cond.lhs, cond.rhs) if isinstance(cond, sp.StrictGreaterThan | sp.GreaterThan) \
        else (cond.rhs, cond.lhs)  # cond says big > small (or big >= small)
    if isinstance(cond, sp.StrictGreaterThan | sp.StrictLessThan):  # e1 where big - small > 0
        return e2 + (e1 - e2) * sp.Heaviside(big - small, 0)
    return e1 + (e2 - e1) * sp.Heaviside(small - big, 0)  # e2 exactly where small - big > 0


def sympy_str(expr: sp.Basic, order: TermOrder | None = None) -> str:
    """SymPy syntax for ``expr`` in the sheet's term order, re-parsable by derive's parser (a
    decimal the sheet writes stays that decimal, read back exactly) and by SymPy."""
    order = order or TermOrder()
    return SheetStrPrinter(order).doprint(order.orient(expr))


_PRINTED: weakref.WeakKeyDictionary[TermOrder, dict] = weakref.WeakKeyDictionary()
# strings of conditions printed, per term order (see SheetPrinter._printed)


class SheetPrinter(LatexPrinter):
    """SymPy's LaTeX printer with the sheet's notation."""

    def __init__(
        self,
        notation: dict[str, str] | None = None,
        order: TermOrder | None = None,
        sheet_factors: bool = False,
        **settings,
    ):
        settings.setdefault("mul_symbol", None)
        settings.setdefault("ln_notation", False)
        super().__init__(settings)
        self.term_order = order or TermOrder()
        self.sheet_factors = sheet_factors  # order plain factors as the sheet does: x_1 w_{13}
        self.fn = dict(NOTATION_DEFAULTS)
        for key, choice in (notation or {}).items():
            if key in NOTATION_CHOICES and choice in NOTATION_CHOICES[key]:
                self.fn[key] = NOTATION_CHOICES[key][choice]

    def doprint(self, expr):
        return flat_parens(super().doprint(self.term_order.orient(expr)))

    def print_piece(self, expr: sp.Basic) -> str:
        """LaTeX for a piece of an already oriented expression (see :meth:`split`)."""
        return flat_parens(self._print(expr))

    def split(self, expr: sp.Basic) -> list[tuple[str, sp.Basic, bool]] | None:
        """The top-level pieces of a sum or product, for breaking a long line.

        Returns ``(operator before the piece, piece, needs parentheses)`` triples, or None when
        ``expr`` is not a sum or a product of several pieces. ``expr`` must already be oriented
        (:meth:`TermOrder.orient`). The operator of an ordinary product's factors is ``""``
        (juxtaposition).
        """
        if isinstance(expr, sp.Add):
            out = []
            for i, term in enumerate(self._as_ordered_terms(expr)):
                op = "+" if i else ""
                if i and leads_negative(term):
                    op, term = "-", negate(term)
                out.append((op, term, self._needs_add_brackets(term)))
            return out
        if isinstance(expr, Dot):
            return [(r"\cdot" if i else "", a, self._dot_parens(a, i))
                    for i, a in enumerate(expr.factors())]
        if isinstance(expr, sp.Mul) and not expr.could_extract_minus_sign():
            factors = self.ordered_factors(expr)
            if any(f.is_Number for f in factors[1:]):
                return None
            # a fraction does not split, but a rational coefficient in front of the factors
            # does: 1/2 x (1 + erf(u) + ...) breaks inside its sum like x (1 + erf(u) + ...)
            rest = factors[1:] if factors[0].is_Rational else factors
            if sp.fraction(sp.Mul(*rest), exact=True)[1] != 1:
                return None
            n = len(factors)
            return [("", f, self._needs_mul_brackets(f, first=i == 0, last=i == n - 1))
                    for i, f in enumerate(factors)]
        return None

    def _as_ordered_terms(self, expr, order=None):
        return self.term_order.order(expr.args)

    def _print_Dot(self, expr):
        """``a \\cdot \\frac{1}{u} \\cdot (-1) \\cdot (1 - \\sigma)``: nested explicit products
        flattened, sums and negative factors after the first in parentheses."""
        parts = []
        for i, a in enumerate(expr.factors()):
            tex = self._print(a)
            if self._dot_parens(a, i):
                tex = rf"\left({tex}\right)"
            parts.append(tex)
        return r" \cdot ".join(parts)

    @staticmethod
    def _dot_parens(factor: sp.Basic, i: int) -> bool:
        return isinstance(factor, sp.Add) or (i > 0 and leads_negative(factor))

    def _print_Add(self, expr, order=None):
        """SymPy's, except that a term with a leading minus (an explicit product ``- t \\cdot x``
        included) is a subtraction: ``a - t \\cdot x``, never ``a + - t \\cdot x``."""
        tex = ""
        for i, term in enumerate(self._as_ordered_terms(expr, order=order)):
            if i and leads_negative(term):
                tex += " - "
                term = negate(term)
            elif i:
                tex += " + "
            term_tex = self._print(term)
            if self._needs_add_brackets(term):
                term_tex = rf"\left({term_tex}\right)"
            tex += term_tex
        return tex

    def _print_Mul(self, expr):
        """Rational coefficients and averages in front: ``\\frac{1}{2} z_{3}^{2}``,
        ``\\frac{1}{N} \\sum_{k=1}^{N} E_{k}`` (not ``\\frac{z_{3}^{2}}{2}``); a coefficient
        the sheet writes as a decimal stays one (``0.1 x``, not ``\\frac{x}{10}``); a product the
        sheet writes keeps its written factor order (``x_{1} w_{13}``)."""
        sign = ""
        if expr.could_extract_minus_sign():
            sign, expr = "- ", -expr
        coeff, rest = expr.as_coeff_Mul()
        decimal = coeff.is_Rational and self.term_order.decimal(coeff) is not None
        if coeff.is_Rational and coeff.q != 1 and (decimal or not rest.is_Atom) \
                and sp.fraction(rest)[1] == 1:
            return (sign + self._print(coeff) + " "
                    + self.parenthesize(rest, PRECEDENCE["Mul"], strict=True))
        numer, denom = sp.fraction(expr, exact=True)
        if denom != 1 and numer.has(sp.Sum):
            if isinstance(numer, sp.Sum) and _negative(numer.function):
                sign = "" if sign else "- "
                numer = sp.Sum(-numer.function, *numer.limits)
            tex = self._print(numer)
            if self._needs_mul_brackets(numer, last=True):
                tex = rf"\left({tex}\right)"
            return sign + rf"\frac{{1}}{{{self._print(denom)}}} " + tex
        written = denom == 1 and self.term_order.product_order(expr.args) is not None
        if (self.sheet_factors or written) and denom == 1 \
                and not any(a.is_Number for a in expr.args[1:]):
            factors = self.ordered_factors(expr)
            out = []
            for i, f in enumerate(factors):
                tex = self._print(f)
                if self._needs_mul_brackets(f, first=i == 0, last=i == len(factors) - 1):
                    tex = rf"\left({tex}\right)"
                if out and factors[i - 1].is_Number and tex[:1].isdigit():
                    out.append(r"\cdot")
                out.append(tex)
            return sign + " ".join(out)
        return sign + super()._print_Mul(expr)

    def ordered_factors(self, expr: sp.Mul) -> list[sp.Basic]:
        """The factors of a product the sheet writes in its written order (numbers first);
        otherwise SymPy's factor order, except that plain factors (``x_{1}``, ``w_{13}^{2}``)
        take the order in which the sheet introduced them (``x_{1} w_{13}``, not
        ``w_{13} x_{1}``)."""
        factors = list(expr.as_ordered_factors())
        written = self.term_order.product_order(factors)
        if written is not None:
            return [f for f in factors if f.is_Number] + list(written)
        if not self.sheet_factors:
            return factors
        simple = [f for f in factors if _plain_factor(f)]
        ranked = iter(sorted(simple, key=self.term_order.factor_key))
        return [next(ranked) if _plain_factor(f) else f for f in factors]

    def _print_Sum(self, expr):
        # - \sum f, never \sum - f; a summand with a positive term keeps its orientation: the
        # sheet's (y_k - t_k) never turns into - \sum (t_k - y_k)
        if _negative(expr.function):
            return "- " + self._print(sp.Sum(-expr.function, *expr.limits))
        return super()._print_Sum(expr)

    # names -----------------------------------------------------------------------------------
    def _print_Symbol(self, expr, style="plain"):
        kept = shown(expr)
        if kept is not None:
            return self._print(kept)
        return name_latex(expr.name)

    def _print_IndexedBase(self, expr):
        return name_latex(expr.name)

    def _print_Indexed(self, expr):
        base = name_latex(expr.base.name)
        idx = [self._print(i) for i in expr.indices]
        if len(idx) == 1:
            return f"{base}_{{{idx[0]}}}"
        if len(idx) == 2:
            return f"{base}_{{{idx[0]}}}^{{({idx[1]})}}"
        return f"{base}_{{{','.join(idx)}}}"

    # functions -------------------------------------------------------------------------------
    def _fn(self, name: str, arg: sp.Basic) -> str:
        return f"{name}\\left({self._print(arg)}\\right)"

    def _print_sigmoid(self, expr, exp=None):
        return self._pow(self._fn(self.fn["sigmoid"], expr.args[0]), exp)

    def _print_softplus(self, expr, exp=None):
        return self._pow(self._fn(self.fn["softplus"], expr.args[0]), exp)

    def _print_relu(self, expr, exp=None):
        if self.fn["relu"] == "max":
            return self._pow(rf"\max\left(0, {self._print(expr.args[0])}\right)", exp)
        return self._pow(self._fn(self.fn["relu"], expr.args[0]), exp)

    def _print_leaky_relu(self, expr, exp=None):
        x, a = expr.args
        return self._pow(
            f"{self.fn['leaky_relu']}_{{{self._print(a)}}}\\left({self._print(x)}\\right)", exp
        )

    def _print_softmax(self, expr, exp=None):
        """The k-th output of the softmax of the scores: ``\\operatorname{softmax}(z)_{1}`` for
        the scores z1, ..., zn in order (as a lecturer writes it), else with the scores listed,
        ``\\operatorname{softmax}(a, b)_{1}``."""
        k, *z = expr.args
        heads = [_NAME.match(a.name) if isinstance(a, sp.Symbol) else None for a in z]
        if all(heads) and len({m.group(1) for m in heads}) == 1 \
                and [m.group(2) for m in heads] == [str(i) for i in range(1, len(z) + 1)]:
            scores = name_latex(heads[0].group(1))
        else:
            scores = ", ".join(self._print(a) for a in z)
        tex = rf"\operatorname{{softmax}}\left({scores}\right)_{{{self._print(k)}}}"
        return self._pow(tex, exp)

    def _print_Conditions(self, expr):
        """The conditions joined by commas; each condition printed once per configuration of
        printer (:meth:`_printed`): the regions of a network share their sides."""
        return r",\ ".join(self._printed(a) for a in expr.args)

    def _printed(self, expr: sp.Basic) -> str:
        """``self._print(expr)``, remembered for the printers with this printer's term order
        (the same object), settings, notation and factor order: ``_print`` reads nothing
        else, so a remembered string is the string it would print."""
        key = (repr(sorted(self._settings.items())), repr(sorted(self.fn.items())),
               self.sheet_factors, expr)
        memo = _PRINTED.setdefault(self.term_order, {})
        if key not in memo:
            memo[key] = self._print(expr)
        return memo[key]

    def _print_SetOf(self, expr):  # plain braces: running text may break inside them
        return r" \cup ".join(r"\{" + self._print(a) + r"\}" for a in expr.args)

    def _print_Nonlinearity(self, expr):
        """An activation's name alone, as a neuron shows it: ``\\rho``, ``\\max(0,\\cdot)``,
        ``\\tanh``, ``\\lvert\\cdot\\rvert``, ``\\mathrm{id}``, ``LReLU_{a}``."""
        kind = expr.kind
        if kind == "relu":
            return r"\max(0,\cdot)" if self.fn["relu"] == "max" else self.fn["relu"]
        if kind == "leaky_relu":
            return f"{self.fn['leaky_relu']}_{{{self._print(expr.slope)}}}"
        return {"sigmoid": self.fn["sigmoid"], "softplus": self.fn["softplus"], "tanh": r"\tanh",
                "abs": r"\lvert\cdot\rvert", "identity": r"\mathrm{id}"}[kind]

    def _print_Max(self, expr, exp=None):
        args = sorted(expr.args, key=lambda a: (not a.is_Number, sp.default_sort_key(a)))
        return self._pow(r"\max\left(" + ", ".join(self._print(a) for a in args) + r"\right)", exp)

    def _print_Min(self, expr, exp=None):
        args = sorted(expr.args, key=lambda a: (not a.is_Number, sp.default_sort_key(a)))
        return self._pow(r"\min\left(" + ", ".join(self._print(a) for a in args) + r"\right)", exp)

    def _print_Heaviside(self, expr, exp=None):
        return self._pow(rf"H\left({self._print(expr.args[0])}\right)", exp)

    def _print_log(self, expr, exp=None):
        arg = expr.args[0]
        if shown(arg) is not None:
            arg = shown(arg)
        if isinstance(arg, sp.cosh) and exp is None:
            return rf"\log\cosh\left({self._print(arg.args[0])}\right)"
        return self._fn(self._pow(r"\log", exp), arg)

    def _print_Function(self, expr, exp=None):
        """Elementary functions as ``\\tanh^{2}(z_{3})``; the rest as SymPy prints them."""
        if type(expr) in _NAMED and len(expr.args) == 1:
            return self._fn(self._pow(_NAMED[type(expr)], exp), expr.args[0])
        if isinstance(expr, _ELEMENTARY) and len(expr.args) == 1:
            name = self._hprint_Function(type(expr).__name__)
            return self._fn(self._pow(name, exp), expr.args[0])
        if isinstance(expr, AppliedUndef):  # y(x_2, x_1) in a symmetry: the sheet's own name
            args = ", ".join(self._print(a) for a in expr.args)
            return self._pow(rf"{name_latex(expr.func.__name__)}\left({args}\right)", exp)
        return super()._print_Function(expr, exp)

    def _pow(self, tex: str, exp) -> str:
        return tex if exp is None else f"{tex}^{{{exp}}}"

    # calculus --------------------------------------------------------------------------------
    def _print_Derivative(self, expr):
        f = expr.expr
        num = self._print(f)
        dens = []
        for v, n in expr.variable_count:
            dv = self._print(v)
            dens.append(rf"\partial {dv}" if n == 1 else rf"\partial {dv}^{{{n}}}")
        total = sum(n for _, n in expr.variable_count)
        top = r"\partial" if total == 1 else rf"\partial^{{{total}}}"
        if isinstance(f, (sp.Symbol, sp.Indexed)):
            return rf"\frac{{{top} {num}}}{{{' '.join(dens)}}}"
        return rf"\frac{{{top}}}{{{' '.join(dens)}}}\left({num}\right)"

    def _print_Float(self, expr):  # floats never belong on a sheet; print exactly
        return self._print(sp.nsimplify(expr, rational=True))

    def _print_Rational(self, expr):
        """A decimal the sheet writes as written (``0.044715``, see
        :meth:`~derive.maths.display.WrittenForms.decimal`), any other rational as a fraction."""
        text = self.term_order.decimal(expr)
        return text if text is not None else super()._print_Rational(expr)


def _negative(f: sp.Basic) -> bool:
    """Whether ``f`` prints with a leading minus that cannot be avoided: a negative product, or a
    sum of negative terms only (a sum with a positive term prints that term first)."""
    if isinstance(f, sp.Add):
        return all(t.could_extract_minus_sign() for t in f.args)
    return f.could_extract_minus_sign()


def _plain_factor(f: sp.Basic) -> bool:
    base = f.base if isinstance(f, sp.Pow) and f.exp.is_Number else f
    return isinstance(base, (sp.Symbol, sp.Indexed)) and shown(base) is None


# --- parentheses -------------------------------------------------------------------------------
_TALL = re.compile(r"\\(d?frac|tfrac|sum|prod|int|binom|sqrt|begin|substack)(?![A-Za-z])")
_PAIRS = {"(": ")", "[": "]", r"\{": r"\}"}
_DELIM = re.compile(r"\\(left|right)(\\[{}|]|[()\[\]|.])")


def flat_parens(tex: str) -> str:
    """``\\left(x_{1}\\right)`` -> ``(x_{1})`` unless the content is tall (a fraction, a sum, ...).

    ``\\left``/``\\right`` only pay off around tall content; around a flat argument they add
    spacing (``\\cosh\\left(y\\right)`` sets a gap after ``\\cosh``) and prevent line breaks
    inside (``\\{x_{1} < 0\\} \\cup \\{x_{2} > 1\\}`` can break in running text). Handles
    ``( )``, ``[ ]`` and ``\\{ \\}``.
    """
    keep: set[int] = set()  # start offsets of \left ... \right pairs that stay
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement)
    stack: list[tuple[int, int, str]] = []
    for m in _DELIM.finditer(tex):
        if m.group(1) == "left":
            stack.append((m.start(), m.end(), m.group(2)))
        elif stack:
            start, end, opener = stack.pop()
            inner_kept = any(start < k < m.start() for k in keep)
            if (_PAIRS.get(opener) == m.group(2) and not inner_kept
                    and not _TALL.search(tex[end : m.start()])):
                edits += [(start, end, opener), (m.start(), m.end(), m.group(2))]
            else:
                keep.add(start)
    out, pos = [], 0
    for a, b, text in sorted(edits):
        out.append(tex[pos:a])
        out.append(text)
        pos = b
    out.append(tex[pos:])
    return "".join(out)


def latex(
    expr: sp.Basic,
    notation: dict[str, str] | None = None,
    order: TermOrder | None = None,
    **settings,
) -> str:
    """LaTeX for ``expr`` in the sheet's notation and term order."""
    return SheetPrinter(notation, order, **settings).doprint(expr)


# --- text ------------------------------------------------------------------------------------
_TEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "^": r"\textasciicircum{}",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "%": r"\%",
}


UNICODE_MATH = {
    "δ": r"\delta", "Δ": r"\Delta", "σ": r"\sigma", "ρ": r"\rho", "α": r"\alpha", "β": r"\beta",
    "γ": r"\gamma", "η": r"\eta", "θ": r"\theta", "λ": r"\lambda", "μ": r"\mu", "π": r"\pi",
    "τ": r"\tau", "φ": r"\varphi", "ω": r"\omega", "ε": r"\varepsilon", "∂": r"\partial",
    "∑": r"\sum", "Σ": r"\Sigma", "∈": r"\in", "≤": r"\le", "≥": r"\ge", "≠": r"\neq",
    "→": r"\to", "←": r"\leftarrow", "⇒": r"\Rightarrow", "×": r"\times", "·": r"\cdot",
    "∞": r"\infty", "≈": r"\approx", "∪": r"\cup", "∩": r"\cap", "²": r"^{2}", "³": r"^{3}",
    "′": r"'", "−": r"-", "±": r"\pm", "√": r"\surd", "∇": r"\nabla", "ℝ": r"\mathbb{R}",
}
_UNICODE_TEXT = {"–": "--", "—": "---", "…": r"\ldots{}", "“": "``", "”": "''", "‘": "`", "’": "'"}

# Greek letters in running text print as math letters (T1 has no Greek glyphs); the capitals
# that look like Latin ones print as those.
_GREEK_LOWER = ("alpha beta gamma delta varepsilon zeta eta theta iota kappa lambda mu nu xi o pi "
                "rho varsigma sigma tau upsilon varphi chi psi omega").split()
_GREEK_UPPER = "A B Gamma Delta E Z H Theta I K Lambda M N Xi O Pi P - Sigma T Upsilon Phi X Psi "\
               "Omega".split()
_GREEK = {chr(0x3B1 + k): (rf"\ensuremath{{\{n}}}" if len(n) > 1 else n)
          for k, n in enumerate(_GREEK_LOWER)}
_GREEK |= {chr(0x391 + k): (rf"\ensuremath{{\{n}}}" if len(n) > 1 else n)
           for k, n in enumerate(_GREEK_UPPER) if n != "-"}

# Characters beyond ASCII that pdflatex typesets with derive's fonts (T1 and TS1 encodings,
# Latin Modern): Latin-1 and Latin Extended-A letters, quotes, dashes, common symbols. Measured:
# each one was compiled on its own (the rest are "not set up for use with LaTeX").
_TEXT_RANGES = (
    "A1-AC AE-125 128-137 139-13E 141-148 14A-165 168-17E 192 1C4-1D4 1E2-1E3 1E6-1EB 1F0 1F4-1F5 "
    "218-21B 232-233 237 2C7 2D8-2D9 2DB 2DD E3F 1E02-1E03 1E0D 1E1E-1E21 1E25 1E30-1E31 1E37 "
    "1E43 1E45 1E47 1E5B 1E63 1E6D 1E8E-1E91 1E9E 1EF2-1EF3 2010-2016 2018-201A 201C-201E "
    "2020-2022 2030-2031 2039-203B 203D 2044 204E 2052 20A1 20A4 20A6 20A9 20AB-20AC 20B1 2103 "
    "2116-2117 211E 2120 2122 2126-2127 212E 2190-2193 2329-232A 2422-2423 25E6 25EF 266A "
    "27E8-27E9 3008-3009 FB00-FB06"
)
_TYPESET = frozenset(
    c for r in _TEXT_RANGES.split()
    for lo, hi in [(int(r.split("-")[0], 16), int(r.split("-")[-1], 16))]
    for c in range(lo, hi + 1)
)


def typesettable(c: str) -> bool:
    """True when pdflatex prints ``c`` in running text (escaped by :func:`escape_tex`)."""
    return (" " <= c <= "~" or c in "\n\t" or c in UNICODE_MATH or c in _UNICODE_TEXT
            or c in _GREEK or ord(c) in _TYPESET)


def check_text_characters(text: str) -> None:
    """Raise InputError for a character of sheet text that pdflatex cannot typeset (Cyrillic,
    CJK, emoji, ...): refused at load time, never a .tex that fails to compile."""
    bad = next((c for c in text if not typesettable(c)), None)
    if bad is not None:
        name = unicodedata.name(bad, "unnamed character")
        raise InputError(f"character {bad} (U+{ord(bad):04X} {name}) cannot be typeset by "
                         "pdflatex with derive's fonts (Latin and Greek letters and common "
                         "symbols only)")


def escape_tex(text: str) -> str:
    """Escape plain text so that LaTeX prints it literally (Unicode math symbols and Greek
    letters as math; a character pdflatex cannot print becomes ``?``, never a compile error)."""
    out = []
    for c in text:
        if c in _TEX_SPECIAL:
            out.append(_TEX_SPECIAL[c])
        elif c in UNICODE_MATH:
            out.append(r"\ensuremath{" + UNICODE_MATH[c] + "}")
        elif c in _UNICODE_TEXT:
            out.append(_UNICODE_TEXT[c])
        elif c in _GREEK:
            out.append(_GREEK[c])
        elif ord(c) > 127 and not typesettable(c):
            out.append("?")
        else:
            out.append(c)
    return "".join(out)
