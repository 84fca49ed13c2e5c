"""Figure labels: what a figure writes somewhere, in LaTeX (TikZ) and in SVG text runs.

A :class:`Label` is a sequence of parts, each plain text or math. Every part carries its LaTeX
(math from :func:`derive.render.notation.latex`, text escaped) for TikZ and its *runs* for SVG:
plain text pieces, some of them shifted to a subscript or superscript and some italic, which the
SVG template writes as ``<tspan baseline-shift="sub">`` and so on. Widths are estimated from the
runs (in cm, at ``FONT_PT``) so that the layout (:mod:`derive.render.figures.layout`) can avoid
overlaps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.printing.str import StrPrinter

from derive.maths.display import TermOrder
from derive.maths.functions import leaky_relu, relu, sigmoid, softplus
from derive.render.notation import escape_tex, latex, plain_name

FONT_PT = 10.0
EM = FONT_PT / 72.27 * 2.54  # one em in cm
PX_PER_CM = 40.0
FONT_PX = 14  # FONT_PT at PX_PER_CM, rounded

_SUB, _SUP, _IT = ("\x01", "\x02"), ("\x03", "\x04"), ("\x05", "\x06")
_NAME = re.compile(r"^([A-Za-z]+?)_?(\d+)$")
_SPLIT = re.compile(r"^([A-Za-z]+)_([A-Za-z0-9]+)$")
_GREEK_CHAR = dict(zip(
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho sigma tau "
    "upsilon phi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega".split(),
    "αβγδεζηθικλμνξπρστυφχψωΓΔΘΛΞΠΣΥΦΨΩ", strict=True))
RELU_TEXT = {"rho": "ρ", "relu": "ReLU", "max": "max"}


@dataclass(frozen=True)
class Run:
    text: str
    shift: str = ""  # "", "sub" or "super"
    italic: bool = False


@dataclass(frozen=True)
class Part:
    math: bool
    tex: str  # LaTeX: math (without $) or escaped text
    runs: tuple[Run, ...]


@dataclass(frozen=True)
class Label:
    parts: tuple[Part, ...]
    width: float  # cm, estimated
    height: float  # cm


class RunsPrinter(StrPrinter):
    """Plain Unicode for SVG text, with markers for subscripts, superscripts and italics."""

    def __init__(self, notation: dict[str, str] | None = None, order: TermOrder | None = None):
        super().__init__({})
        self.notation = notation or {}
        self.term_order = order or TermOrder()

    def _as_ordered_terms(self, expr, order=None):
        return self.term_order.order(expr.args)

    def _print_Symbol(self, expr) -> str:
        name = plain_name(expr.name)
        m = _NAME.match(name) or _SPLIT.match(name)
        head, sub = m.groups() if m else (name, "")
        text = _GREEK_CHAR.get(head, head)
        if len(text) == 1 and text.isascii():
            text = _IT[0] + text + _IT[1]
        return text + (_SUB[0] + sub + _SUB[1] if sub else "")

    def _print_Pow(self, expr, rational=False) -> str:
        base, exp = expr.args
        if exp == sp.Rational(1, 2):
            return "√(" + self._print(base) + ")"
        if exp.is_negative:
            return super()._print_Pow(expr, rational)
        b = self.parenthesize(base, 60)
        return b + _SUP[0] + self._print(exp) + _SUP[1]

    def _print_Rational(self, expr) -> str:
        """A decimal the sheet writes as written (``0.1``), any other rational as ``p/q``."""
        return self.term_order.decimal(expr) or f"{expr.p}/{expr.q}"

    def _print_Pi(self, expr) -> str:
        return "π"

    def _print_Relational(self, expr) -> str:
        op = {"==": "=", "<=": "≤", ">=": "≥", "!=": "≠"}.get(expr.rel_op, expr.rel_op)
        return f"{self._print(expr.lhs)} {op} {self._print(expr.rhs)}"

    def _print_Function(self, expr) -> str:
        if isinstance(expr, relu):
            name = RELU_TEXT.get(self.notation.get("relu", "relu"), "ReLU")
            if name == "max":
                return f"max(0, {self._print(expr.args[0])})"
            return f"{name}({self._print(expr.args[0])})"
        if isinstance(expr, sigmoid):
            return f"σ({self._print(expr.args[0])})"
        if isinstance(expr, softplus):
            return f"softplus({self._print(expr.args[0])})"
        if isinstance(expr, leaky_relu):
            x, a = expr.args
            return f"LReLU{_SUB[0]}{self._print(a)}{_SUB[1]}({self._print(x)})"
        if isinstance(expr, sp.log) and isinstance(expr.args[0], sp.cosh):
            return f"log cosh({self._print(expr.args[0].args[0])})"
        if isinstance(expr, sp.Abs):
            return f"|{self._print(expr.args[0])}|"
        if isinstance(expr, AppliedUndef) and len(expr.func.__name__) == 1:
            args = ", ".join(self._print(a) for a in expr.args)
            return f"{_IT[0]}{expr.func.__name__}{_IT[1]}({args})"
        return super()._print_Function(expr)

    def _print_Nonlinearity(self, expr) -> str:
        kind = expr.kind
        if kind == "relu":
            name = RELU_TEXT.get(self.notation.get("relu", "relu"), "ReLU")
            return "max(0,·)" if name == "max" else name
        if kind == "leaky_relu":
            return f"LReLU{_SUB[0]}{self._print(expr.slope)}{_SUB[1]}"
        return {"sigmoid": "σ", "softplus": "softplus", "tanh": "tanh", "abs": "|·|",
                "identity": "id"}[kind]

    def doprint(self, expr) -> str:
        if isinstance(expr, sp.Basic) and not expr.is_Atom:
            expr = self.term_order.orient_functions(expr)
        text = super().doprint(expr)
        text = re.sub(r"(?<=[\d\x02\x04\x06)])\*(?=[\x05A-Za-z(α-ω])", "", text)
        return text.replace("*", "·").replace("-", "−")


def runs_of(marked: str) -> tuple[Run, ...]:
    """Split marker text into runs."""
    runs: list[Run] = []
    shift, italic, buf = "", False, ""
    for ch in marked:
        if ch in (_SUB[0], _SUB[1], _SUP[0], _SUP[1], _IT[0], _IT[1]):
            if buf:
                runs.append(Run(buf, shift, italic))
                buf = ""
            if ch in (_SUB[0], _SUP[0]):
                shift = "sub" if ch == _SUB[0] else "super"
            elif ch in (_SUB[1], _SUP[1]):
                shift = ""
            else:
                italic = ch == _IT[0]
        else:
            buf += ch
    if buf:
        runs.append(Run(buf, shift, italic))
    return tuple(runs)


def _char_em(ch: str) -> float:
    if ch in "il.,:;|!'·()[]1 ":
        return 0.32
    if ch in "mwMW−+=<>≤≥":
        return 0.78
    if ch.isupper():
        return 0.68
    return 0.52


def width_of(runs: tuple[Run, ...]) -> float:
    """Estimated width in cm at FONT_PT."""
    return sum(_char_em(c) * (0.7 if r.shift else 1.0) for r in runs for c in r.text) * EM


def label(*items: Any, notation: dict[str, str] | None = None,
          order: TermOrder | None = None) -> Label:
    """A label from text (``str``) and math (SymPy objects) items, in order."""
    parts = []
    for item in items:
        if isinstance(item, str):
            parts.append(Part(False, escape_tex(item), (Run(item),)))
        else:
            parts.append(Part(True, latex(item, notation, order),
                              runs_of(RunsPrinter(notation, order).doprint(item))))
    runs = tuple(r for p in parts for r in p.runs)
    tall = any(p.math and r"\frac" in p.tex for p in parts)
    return Label(tuple(parts), width_of(runs) + 0.1, (1.9 if tall else 1.25) * EM)


_POWER = re.compile(r"^(.*?) \\cdot 10\^\{(-?[0-9]+)\}$")


def number_runs(text: str) -> tuple[Run, ...]:
    """The runs of a number written as LaTeX math (``-0.3``, ``1/3``, ``-1.2 \\cdot 10^{-5}``):
    a real minus sign, and a power of ten as ``·10`` with a raised exponent."""
    m = _POWER.match(text)
    if m is None:
        return (Run(text.replace("-", "−")),)
    return (Run(m.group(1).replace("-", "−") + "·10"), Run(m.group(2).replace("-", "−"), "super"))


def value_label(value, quantity: sp.Basic | None = None, notation: dict[str, str] | None = None,
                order: TermOrder | None = None) -> Label:
    """A number a figure writes (a :class:`derive.steps.Value`: its text and whether it is
    exact), after ``quantity =`` (or ``≈`` when it is rounded) if a quantity is given, else
    alone (``≈`` before a rounded one)."""
    rel_tex, rel_text = ("=", " = ") if value.exact else (r"\approx", " ≈ ")
    runs = number_runs(value.text)
    if quantity is None:
        tex = value.text if value.exact else rf"\approx {value.text}"
        runs = runs if value.exact else (Run("≈ "), *runs)
    else:
        tex = f"{_inline_tex(quantity, notation, order)} {rel_tex} {value.text}"
        runs = (*_inline_runs(quantity, notation, order), Run(rel_text), *runs)
    tall = r"\frac" in tex
    return Label((Part(True, tex, runs),), width_of(runs) + 0.1, (1.9 if tall else 1.25) * EM)


def _inline_tex(q: sp.Basic, notation, order) -> str:
    """``q`` in LaTeX, a derivative written on one line (``\\partial E / \\partial w``)."""
    if isinstance(q, sp.Derivative):
        return (rf"\partial {latex(q.expr, notation, order)} / "
                rf"\partial {latex(q.variables[0], notation, order)}")
    return latex(q, notation, order)


def _inline_runs(q: sp.Basic, notation, order) -> tuple[Run, ...]:
    printer = RunsPrinter(notation, order)
    if isinstance(q, sp.Derivative):
        return (Run("∂"), *runs_of(printer.doprint(q.expr)), Run("/∂"),
                *runs_of(printer.doprint(q.variables[0])))
    return runs_of(printer.doprint(q))
