"""LaTeX notation: a SymPy printer that writes the sheet's own notation, and text escaping.

The printer turns sheet names into indexed notation (``w13`` -> ``w_{13}``, ``x1`` -> ``x_{1}``,
``delta3`` -> ``\\delta_{3}``, ``x[i, k]`` -> ``x_{i}^{(k)}``), prints activations as the course
writes them (``\\sigma``, ``\\tanh``, ``\\log\\cosh``, ``\\rho`` for relu when the sheet's notation
says so), prints ``Derivative(E, y)`` in Leibniz form and never prints ``Max(0, x)`` or floats.
"""

from __future__ import annotations

import re

import sympy as sp
from sympy.printing.latex import LatexPrinter

from derive.functions import leaky_relu, relu, sigmoid, softplus

GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi",
    "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Phi", "Psi", "Omega",
}
_NAME = re.compile(r"^([A-Za-z]+?)_?(\d+)$")
_SPLIT = re.compile(r"^([A-Za-z]+)_([A-Za-z0-9]+)$")

# notation keys a sheet may set, with their LaTeX
NOTATION_DEFAULTS = {
    "relu": r"\operatorname{ReLU}",
    "sigmoid": r"\sigma",
    "softplus": r"\operatorname{softplus}",
    "leaky_relu": r"\operatorname{LReLU}",
}
NOTATION_CHOICES = {
    "relu": {"rho": r"\rho", "relu": r"\operatorname{ReLU}", "max": "max"},
    "sigmoid": {"sigma": r"\sigma", "sigmoid": r"\operatorname{sigmoid}"},
    "softplus": {"softplus": r"\operatorname{softplus}", "zeta": r"\zeta"},
    "leaky_relu": {"lrelu": r"\operatorname{LReLU}"},
}


def name_latex(name: str) -> str:
    """``w13`` -> ``w_{13}``, ``x1`` -> ``x_{1}``, ``delta3`` -> ``\\delta_{3}``, ``E_k`` -> ``E_{k}``."""
    m = _NAME.match(name) or _SPLIT.match(name)
    if m:
        head, sub = m.groups()
        return f"{_head_latex(head)}_{{{sub}}}"
    return _head_latex(name)


def _head_latex(head: str) -> str:
    if head in GREEK:
        return "\\" + head
    if len(head) == 1:
        return head
    return r"\mathrm{" + head + "}"


class SheetPrinter(LatexPrinter):
    """SymPy's LaTeX printer with the sheet's notation."""

    def __init__(self, notation: dict[str, str] | None = None, **settings):
        settings.setdefault("mul_symbol", None)
        settings.setdefault("ln_notation", False)
        super().__init__(settings)
        self.fn = dict(NOTATION_DEFAULTS)
        for key, choice in (notation or {}).items():
            if key in NOTATION_CHOICES and choice in NOTATION_CHOICES[key]:
                self.fn[key] = NOTATION_CHOICES[key][choice]

    # names -----------------------------------------------------------------------------------
    def _print_Symbol(self, expr, style="plain"):
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
        if isinstance(arg, sp.cosh) and exp is None:
            return rf"\log\cosh\left({self._print(arg.args[0])}\right)"
        return super()._print_log(expr, exp)

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


def latex(expr: sp.Basic, notation: dict[str, str] | None = None, **settings) -> str:
    """LaTeX for ``expr`` in the sheet's notation."""
    return SheetPrinter(notation, **settings).doprint(expr)


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


def escape_tex(text: str) -> str:
    """Escape plain text so that LaTeX prints it literally."""
    return "".join(_TEX_SPECIAL.get(c, c) for c in text)
