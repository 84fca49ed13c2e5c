"""Symbols, the activation functions that SymPy does not have, and the catalogue of functions.

Every module creates symbols through :func:`symbol` so that assumptions agree everywhere: all sheet
quantities are real. Symbol names are the sheet's own (``w13``, ``x1``); notation such as
``w_{13}`` is the printer's job (:mod:`derive.render.notation`).

:data:`CATALOGUE` holds one :class:`Function` per function a sheet can use or a derivation can
write: its SymPy class, the names the parser reads, its derivative and the rule note that names
it, its fast numeric implementation, its elementary rewrite, its printed name and sheet notation
choices (LaTeX without math delimiters, as plain data: the printers in :mod:`derive.render` wrap
it), and its neuron kind when it is an activation. The parser, the step engine, the numeric
verifier, the printers, the model check and the network reader read their function lists from
it, so a new function is one entry here (and its tests).

Conventions (also stated on the sheets):

* ``sigmoid(x) = 1 / (1 + exp(-x))``, ``sigmoid' = sigmoid (1 - sigmoid)``.
* ``softplus(x) = log(1 + exp(x))``, ``softplus' = sigmoid``.
* ``relu(x) = max(0, x)``, ``relu'(x) = H(x)`` with ``H(0) = 0`` (the subgradient most libraries
  use).
* ``leaky_relu(x, a) = max(x, a x)`` for ``0 <= a < 1`` (a number, or a symbol taken to be in
  [0, 1): a learnable slope); its derivative is 1 for x > 0 and a otherwise, its derivative with
  respect to the slope 0 for x > 0 and x otherwise.
* ``erf(x) = 2/sqrt(pi) * integral_0^x e^{-t^2} dt`` (SymPy's), ``erf'(x) = 2/sqrt(pi) e^{-x^2}``;
  exact GELU is ``x (1 + erf(x/sqrt(2)))/2``.
* ``softmax(k, z1, ..., zn) = exp(zk) / (exp(z1) + ... + exp(zn))``, the k-th probability;
  ``d softmax(k, z)/d zj = softmax(k, z) (delta_kj - softmax(j, z))``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import mpmath
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
    """Base: numeric evaluation goes through the elementary rewrite (the catalogue's)."""

    def _eval_evalf(self, prec):
        return self._elementary()._eval_evalf(prec)

    def _elementary(self) -> sp.Expr:
        return BY_CLASS[type(self)].elementary(*self.args)

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
            return _leaky_slope(x, a)
        return _leaky_by_slope(x, a)

    def _eval_rewrite_as_Max(self, x, a, **kwargs):
        return sp.Max(x, a * x)

    def _eval_rewrite_as_Piecewise(self, x, a, **kwargs):
        return sp.Piecewise((x, x > 0), (a * x, True))


class softmax(_Activation):  # noqa: N801
    """The k-th output of the softmax of the scores z_1, ..., z_n, e^{z_k} / sum_j e^{z_j},
    written ``softmax(k, z1, ..., zn)`` (k an integer from 1 to n, n >= 2); its partial
    derivatives are d softmax_k / d z_j = softmax_k (delta_kj - softmax_j)."""

    @classmethod
    def eval(cls, k, *z):
        if len(z) < 2 or not (k.is_Integer and 1 <= k <= len(z)):
            raise ValueError("softmax(k, z1, ..., zn) takes an index k from 1 to n and n >= 2 "
                             "scores")

    def fdiff(self, argindex=1):
        k, *z = self.args
        if argindex == 1:  # the index is a constant
            return sp.S.Zero
        return _softmax_partial(k, sp.Integer(argindex - 1), *z)


def _softmax_partial(k: sp.Integer, j: sp.Integer, *z: sp.Expr) -> sp.Expr:
    """d softmax(k, z)/d z_j = softmax_k (delta_kj - softmax_j)."""
    p = softmax(k, *z)
    return p * (1 - p) if k == j else -p * softmax(j, *z)


def _softmax_elementary(k: sp.Expr, *z: sp.Expr) -> sp.Expr:
    return sp.exp(z[int(k) - 1]) / sp.Add(*(sp.exp(v) for v in z))


def _softmax_numeric(k, *z):
    top = max(z, key=lambda v: mpmath.re(v))  # shifted by the largest score: no overflow
    return mpmath.exp(z[int(k) - 1] - top) / mpmath.fsum(mpmath.exp(v - top) for v in z)


def _leaky_slope(x: sp.Expr, a: sp.Expr) -> sp.Expr:
    """leaky_relu'(x): 1 for x > 0, a otherwise."""
    return sp.Piecewise((1, x > 0), (a, True))


def _leaky_by_slope(x: sp.Expr, a: sp.Expr) -> sp.Expr:
    """∂ leaky_relu(x, a)/∂a: 0 for x > 0, x otherwise."""
    return sp.Piecewise((0, x > 0), (x, True))


def _leaky_elementary(x: sp.Expr, a: sp.Expr) -> sp.Expr:
    if a.is_Number:  # 0 <= a < 1 (checked in eval): max(x, a x) without a Piecewise, whose
        return ((1 + a) * x + (1 - a) * sp.Abs(x)) / 2  # conditions SymPy solves as sets
    return sp.Piecewise((x, x > 0), (a * x, True))


# --- the catalogue ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Formula:
    """A formula as plain data: its LaTeX without math delimiters, and its plain text."""

    tex: str
    plain: str


Phrase = tuple[str | Formula, ...]  # words (strings) and formulas, in reading order


VARIADIC = -1  # Function.nargs of a function with any number of arguments (softmax)


@dataclass(frozen=True)
class Function:
    """Everything derive knows about one function; see the module docstring."""

    name: str  # the catalogue key: the note kind "derivative:<name>", the sheet notation key
    cls: type  # the SymPy class
    parse: tuple[str, ...] = ()  # the names a sheet calls it by
    build: Callable[..., sp.Expr] | None = None  # what a parsed call builds (default: cls)
    nargs: int = 1  # VARIADIC: softmax's index and scores
    derivative: Callable[..., sp.Expr] | None = None  # f'(u, *other arguments), None: sympy.diff
    # ∂f/∂(argument 2, 3, ...)(u, *others); a VARIADIC function has one, ∂f/∂(argument j + 1)
    # as partial(first argument, j, *other arguments)
    partials: tuple[Callable[..., sp.Expr], ...] = ()
    rule: Phrase = ()  # the derivative rule as the step engine annotates it
    numeric: Callable[..., object] | None = None  # mpmath values of the arguments -> the value
    compares: bool = False  # numeric compares its (real) arguments: complex ones are not sure
    zero_at_zero: bool = False  # f(0) = 0 and f is continuous at 0 (cancellation tracking)
    growth: bool = False  # grows exponentially: parsed numeric arguments are bounded
    elementary: Callable[..., sp.Expr] | None = None  # the rewrite into SymPy built-ins
    tex: str | None = None  # the printed name before a bracketed argument (None: own printer)
    notations: Mapping[str, str] = field(default_factory=dict)  # sheet choice -> printed name
    activation: str | None = None  # the neuron kind when it is an activation unit
    brings: tuple[str, ...] = ()  # catalogue and other names its derivations may print
    spoken: str | None = None  # how a message names it

    @property
    def rule_kind(self) -> str:
        """The kind of the note that names this function's derivative rule."""
        return "derivative:" + self.name

    def make(self, *args: sp.Expr) -> sp.Expr:
        """The function applied to ``args`` as a parsed sheet call builds it."""
        return (self.build or self.cls)(*args)


def _f(tex: str, plain: str | None = None) -> Formula:
    return Formula(tex, tex if plain is None else plain)


CATALOGUE: tuple[Function, ...] = (
    Function("exp", sp.exp, ("exp",), derivative=sp.exp,
             rule=(_f(r"(e^u)' = e^u", "exp(u)' = exp(u)"),), numeric=mpmath.exp, growth=True,
             brings=("exp",), spoken="Euler's number e (exp(x) prints as e^x)"),
    Function("log", sp.log, ("log", "ln"), derivative=lambda u: 1 / u,
             rule=(_f(r"(\log u)' = 1/u", "log(u)' = 1/u"),), numeric=mpmath.log),
    Function("sqrt", sp.Pow, ("sqrt",), build=sp.sqrt),  # a power: the power rule
    Function("sin", sp.sin, ("sin",), derivative=sp.cos,
             rule=(_f(r"\sin' = \cos", "sin' = cos"),), numeric=mpmath.sin, zero_at_zero=True,
             tex=r"\sin"),
    Function("cos", sp.cos, ("cos",), derivative=lambda u: -sp.sin(u),
             rule=(_f(r"\cos' = -\sin", "cos' = -sin"),), numeric=mpmath.cos, tex=r"\cos"),
    Function("tan", sp.tan, ("tan",), derivative=lambda u: 1 + sp.tan(u) ** 2,
             rule=(_f(r"\tan' = 1 + \tan^2", "tan' = 1 + tan^2"),), numeric=mpmath.tan,
             zero_at_zero=True, tex=r"\tan"),
    Function("sinh", sp.sinh, ("sinh",), derivative=sp.cosh,
             rule=(_f(r"\sinh' = \cosh", "sinh' = cosh"),), numeric=mpmath.sinh,
             zero_at_zero=True, growth=True, tex=r"\sinh"),
    Function("cosh", sp.cosh, ("cosh",), derivative=sp.sinh,
             rule=(_f(r"\cosh' = \sinh", "cosh' = sinh"),), numeric=mpmath.cosh, growth=True,
             tex=r"\cosh"),
    Function("tanh", sp.tanh, ("tanh",), derivative=lambda u: 1 - sp.tanh(u) ** 2,
             rule=(_f(r"\tanh' = 1 - \tanh^2", "tanh' = 1 - tanh^2"),), numeric=mpmath.tanh,
             zero_at_zero=True, tex=r"\tanh", activation="tanh"),
    Function("asinh", sp.asinh, derivative=lambda u: 1 / sp.sqrt(u**2 + 1),
             rule=(_f(r"\operatorname{asinh}' = 1/\sqrt{u^2+1}", "asinh' = 1/sqrt(u^2 + 1)"),),
             numeric=mpmath.asinh, zero_at_zero=True, tex=r"\operatorname{asinh}"),
    Function("atan", sp.atan, derivative=lambda u: 1 / (u**2 + 1),
             rule=(_f(r"\arctan' = 1/(1+u^2)", "atan' = 1/(1 + u^2)"),), numeric=mpmath.atan,
             zero_at_zero=True, tex=r"\operatorname{atan}"),
    Function("Abs", sp.Abs, ("abs",), derivative=sp.sign,
             rule=(_f(r"|u|' = \operatorname{sign}(u)", "Abs(u)' = sign(u)"),), numeric=abs,
             zero_at_zero=True, activation="abs", brings=("sign",)),
    Function("Heaviside", sp.Heaviside, ("Heaviside",), build=lambda x: sp.Heaviside(x, 0),
             brings=("Heaviside", "DiracDelta"),  # numeric: the verifier's (a jump at 0)
             spoken="the step function H (in relu' and max')"),
    Function("sigmoid", sigmoid, ("sigmoid",), derivative=lambda u: sigmoid(u) * (1 - sigmoid(u)),
             rule=(_f(r"\sigma' = \sigma(1 - \sigma)", "sigmoid' = sigmoid*(1 - sigmoid)"),),
             numeric=lambda x: 1 / (1 + mpmath.exp(-x)),
             elementary=lambda x: 1 / (1 + sp.exp(-x)),
             tex=r"\sigma", notations={"sigma": r"\sigma", "sigmoid": r"\operatorname{sigmoid}"},
             activation="sigmoid", brings=("sigmoid", "exp"), spoken="the sigmoid"),
    Function("softplus", softplus, ("softplus",), derivative=sigmoid,
             rule=(_f(r"\operatorname{softplus}' = \sigma", "softplus' = sigmoid"),),
             numeric=lambda x: mpmath.log(1 + mpmath.exp(x)), growth=True,
             elementary=lambda x: sp.log(1 + sp.exp(x)),
             tex=r"\operatorname{softplus}",
             notations={"softplus": r"\operatorname{softplus}", "zeta": r"\zeta"},
             activation="softplus", brings=("softplus", "sigmoid", "exp"), spoken="softplus"),
    Function("relu", relu, ("relu",), derivative=lambda u: sp.Heaviside(u, 0),
             rule=(_f(r"\operatorname{ReLU}'(u) = H(u),\ H(0) = 0",
                      "relu'(u) = Heaviside(u), Heaviside(0) = 0"),),
             numeric=lambda x: max(x, mpmath.mpf(0)), compares=True, zero_at_zero=True,
             elementary=lambda x: sp.Max(0, x),
             tex=r"\operatorname{ReLU}",
             notations={"rho": r"\rho", "relu": r"\operatorname{ReLU}", "max": "max"},
             activation="relu", brings=("relu", "Heaviside"), spoken="ReLU"),
    Function("leaky_relu", leaky_relu, ("leaky_relu",), nargs=2, derivative=_leaky_slope,
             partials=(_leaky_by_slope,),
             rule=(_f(r"\operatorname{LReLU}'(u) = 1", "leaky_relu'(u) = 1"), " for ",
                   _f("u > 0"), ", ", _f("a"), " otherwise"),
             numeric=lambda x, a: x if x > 0 else a * x, compares=True, zero_at_zero=True,
             elementary=_leaky_elementary,
             tex=r"\operatorname{LReLU}", notations={"lrelu": r"\operatorname{LReLU}"},
             activation="leaky_relu", brings=("leaky_relu",), spoken="leaky ReLU"),
    Function("softmax", softmax, ("softmax",), nargs=VARIADIC, partials=(_softmax_partial,),
             rule=(_f(r"\partial p_i/\partial z_j = p_i (\delta_{ij} - p_j)",
                      "softmax'(z)_ij = dp_i/dz_j = p_i*(delta_ij - p_j)"),),
             numeric=_softmax_numeric, elementary=_softmax_elementary,
             brings=("softmax", "exp"), spoken="softmax"),
    Function("erf", sp.erf, ("erf",), derivative=lambda u: 2 / sp.sqrt(sp.pi) * sp.exp(-u**2),
             rule=(_f(r"\operatorname{erf}'(u) = \frac{2}{\sqrt{\pi}} e^{-u^2}",
                      "erf'(u) = 2/sqrt(pi)*exp(-u^2)"),),
             numeric=mpmath.erf, zero_at_zero=True, tex=r"\operatorname{erf}",
             brings=("exp",)),
)

BY_NAME: dict[str, Function] = {f.name: f for f in CATALOGUE}
BY_CLASS: dict[type, Function] = {f.cls: f for f in CATALOGUE if f.cls is not sp.Pow}
CUSTOM_FUNCTIONS = tuple(f.cls for f in CATALOGUE if issubclass(f.cls, _Activation))


def to_elementary(expr: sp.Expr) -> sp.Expr:
    """Rewrite derive's activations into SymPy built-ins (for sympy.diff and simplify)."""
    return expr.replace(
        lambda e: isinstance(e, _Activation), lambda e: e._elementary()
    )
