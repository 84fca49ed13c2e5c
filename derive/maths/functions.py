"""Symbols and the activation functions that SymPy does not have.

Every module creates symbols through :func:`symbol` so that assumptions agree everywhere: all sheet
quantities are real. Symbol names are the sheet's own (``w13``, ``x1``); notation such as
``w_{13}`` is the printer's job (:mod:`derive.render.notation`).

Conventions (also stated on the sheets):

* ``sigmoid(x) = 1 / (1 + exp(-x))``, ``sigmoid' = sigmoid (1 - sigmoid)``.
* ``softplus(x) = log(1 + exp(x))``, ``softplus' = sigmoid``.
* ``relu(x) = max(0, x)``, ``relu'(x) = H(x)`` with ``H(0) = 0`` (the subgradient most libraries
  use).
* ``leaky_relu(x, a) = max(x, a x)`` for ``0 <= a < 1``; its derivative is 1 for x > 0 and a
  otherwise.
"""

from __future__ import annotations

import sympy as sp


def symbol(name: str) -> sp.Symbol:
    """The sheet quantity called ``name``; all quantities are real."""
    return sp.Symbol(name, real=True)


def indexed_base(name: str) -> sp.IndexedBase:
    return sp.IndexedBase(name, real=True)


def index(name: str) -> sp.Symbol:
    """A summation index (integer)."""
    return sp.Symbol(name, integer=True)


class _Activation(sp.Function):
    """Base: numeric evaluation goes through the elementary rewrite."""

    def _eval_evalf(self, prec):
        return self._elementary()._eval_evalf(prec)

    def _elementary(self) -> sp.Expr:  # pragma: no cover - abstract
        raise NotImplementedError

    def _eval_is_real(self):
        return all(a.is_real for a in self.args) or None


class sigmoid(_Activation):  # noqa: N801 - named as on the sheets
    """The logistic function 1 / (1 + e^{-x})."""

    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sp.Rational(1, 2)
        if x.is_Number:
            return 1 / (1 + sp.exp(-x))

    def fdiff(self, argindex=1):
        s = sigmoid(self.args[0])
        return s * (1 - s)

    def _elementary(self):
        return 1 / (1 + sp.exp(-self.args[0]))

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sp.exp(-x))

    def _eval_rewrite_as_tanh(self, x, **kwargs):
        return (1 + sp.tanh(x / 2)) / 2


class softplus(_Activation):  # noqa: N801
    """log(1 + e^x)."""

    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sp.log(2)

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    def _elementary(self):
        return sp.log(1 + sp.exp(self.args[0]))

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return sp.log(1 + sp.exp(x))

    _eval_rewrite_as_log = _eval_rewrite_as_exp


class relu(_Activation):  # noqa: N801
    """max(0, x); derivative H(x) with H(0) = 0."""

    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_Number:
            return sp.Max(0, x)
        if x.is_nonnegative:
            return x
        if x.is_nonpositive:
            return sp.S.Zero

    def fdiff(self, argindex=1):
        return sp.Heaviside(self.args[0], 0)

    def _elementary(self):
        return sp.Max(0, self.args[0])

    def _eval_rewrite_as_Max(self, x, **kwargs):
        return sp.Max(0, x)

    def _eval_rewrite_as_Piecewise(self, x, **kwargs):
        return sp.Piecewise((x, x > 0), (0, True))


class leaky_relu(_Activation):  # noqa: N801
    """max(x, a x) with slope a in [0, 1) for x <= 0; derivative 1 for x > 0, a otherwise."""

    nargs = 2

    @classmethod
    def eval(cls, x, a):
        if a.is_Number and not (0 <= a < 1):
            raise ValueError("leaky_relu slope must satisfy 0 <= a < 1")
        if x.is_Number and a.is_Number:
            return sp.Max(x, a * x)
        if a.is_zero:
            return relu(x)

    def fdiff(self, argindex=1):
        x, a = self.args
        if argindex == 1:
            return sp.Piecewise((1, x > 0), (a, True))
        return sp.Piecewise((0, x > 0), (x, True))

    def _elementary(self):
        x, a = self.args
        if a.is_Number:  # 0 <= a < 1 (checked in eval): max(x, a x) without a Piecewise, whose
            return ((1 + a) * x + (1 - a) * sp.Abs(x)) / 2  # conditions SymPy solves as sets
        return sp.Piecewise((x, x > 0), (a * x, True))

    def _eval_rewrite_as_Max(self, x, a, **kwargs):
        return sp.Max(x, a * x)

    def _eval_rewrite_as_Piecewise(self, x, a, **kwargs):
        return sp.Piecewise((x, x > 0), (a * x, True))


CUSTOM_FUNCTIONS = (sigmoid, softplus, relu, leaky_relu)


def to_elementary(expr: sp.Expr) -> sp.Expr:
    """Rewrite derive's activations into SymPy built-ins (for sympy.diff and simplify)."""
    return expr.replace(
        lambda e: isinstance(e, _Activation), lambda e: e._elementary()
    )
