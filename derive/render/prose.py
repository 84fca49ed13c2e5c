"""Sentences and rule notes from the solution model (:mod:`derive.steps`) to text.

A task writes words as strings and mathematics as data: :class:`~derive.steps.Math` (a SymPy
object) and :class:`~derive.steps.Note` (a fixed formula or phrase by kind). This module turns them
into *sheet markup* (``$...$`` math in LaTeX, the input of :mod:`derive.render.markup`, which
writes LaTeX and Markdown from it) and into plain text for the terminal.

Every note kind has one :class:`NoteForm`: its markup and its plain text, each a function of the
note's arguments. A new kind is one entry in :data:`NOTES`, registered with :func:`note_form`
in the section of its subject. A :class:`~derive.steps.Rules` annotation prints its reasons
joined by ``"; "``. :func:`json_data` gives a solution's ``data`` as JSON values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sympy as sp

from derive.maths.functions import CATALOGUE, Phrase
from derive.render.notation import latex, name_latex, sympy_str
from derive.steps import Math, Note, Prose, Rules


@dataclass(frozen=True)
class NoteForm:
    markup: Callable[..., str]  # (*args) -> sheet markup, math in $...$
    plain: Callable[..., str]  # (*args) -> plain text


NOTES: dict[str, NoteForm] = {}


def note_form(kind: str, markup: Callable[..., str], plain: Callable[..., str]) -> None:
    """Register the printed forms of note ``kind`` (each kind once)."""
    if kind in NOTES:
        raise ValueError(f"note kind {kind!r} is registered twice")
    NOTES[kind] = NoteForm(markup, plain)


def tex(value: Any) -> str:
    """LaTeX of a note argument: a :class:`Math` in its notation and order, SymPy objects in
    SymPy's names and order, strings as they are (already LaTeX)."""
    if isinstance(value, Math):
        return latex(value.expr, value.notation, value.order)
    return latex(value) if isinstance(value, sp.Basic) else str(value)


def text(value: Any) -> str:
    """Plain text of a note argument: :class:`Math` and SymPy objects in SymPy syntax, strings
    as they are."""
    if isinstance(value, Math):
        return sympy_str(value.expr, value.order)
    return sympy_str(value) if isinstance(value, sp.Basic) else str(value)


def markup(item: Any) -> str:
    """Sheet markup for a string, :class:`Math`, :class:`Note`, :class:`Prose` or
    :class:`Rules`."""
    return _text(item, lambda m: "$" + latex(m.expr, m.notation, m.order) + "$", "markup")


def plain(item: Any, math: Callable[[Math], str] | None = None) -> str:
    """Plain text for a string, :class:`Math`, :class:`Note`, :class:`Prose` or :class:`Rules`:
    each :class:`Math` through ``math`` (default: SymPy syntax in its term order)."""
    return _text(item, math or (lambda m: sympy_str(m.expr, m.order)), "plain")


def _text(item: Any, math: Callable[[Math], str], form: str) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, Math):
        return math(item)
    if isinstance(item, Note):
        return getattr(_form(item), form)(*item.args)
    if isinstance(item, Prose):
        return "".join(_text(part, math, form) for part in item.parts)
    if isinstance(item, Rules):
        return "; ".join(_text(part, math, form) for part in item.items)
    raise TypeError(f"not prose: {item!r}")


def _form(note: Note) -> NoteForm:
    try:
        return NOTES[note.kind]
    except KeyError:
        raise KeyError(f"no printed form for note kind {note.kind!r}") from None


def json_data(value: Any, expr_text: Callable[[sp.Basic], str]) -> Any:
    """A solution's ``data`` value as JSON: SymPy objects through ``expr_text`` (the writer's
    SymPy syntax in its term order), :class:`Math`, :class:`Note`, :class:`Prose` and
    :class:`Rules` as sheet markup (like a line's rule), dicts and lists item by item."""
    if isinstance(value, sp.Basic):
        return expr_text(value)
    if isinstance(value, Math | Note | Prose | Rules):
        return markup(value)
    if isinstance(value, dict):
        return {k: json_data(v, expr_text) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_data(v, expr_text) for v in value]
    return value


def _constant(kind: str, markup_text: str, plain_text: str) -> None:
    """Register a note kind without arguments."""
    note_form(kind, lambda: markup_text, lambda: plain_text)


# --- calculus and backpropagation ----------------------------------------------------------------
def phrase_markup(phrase: Phrase) -> str:
    """Sheet markup of a catalogue phrase: words as they are, each formula in ``$...$``."""
    return "".join(p if isinstance(p, str) else "$" + p.tex + "$" for p in phrase)


def phrase_plain(phrase: Phrase) -> str:
    """Plain text of a catalogue phrase: words as they are, formulas in their plain form."""
    return "".join(p if isinstance(p, str) else p.plain for p in phrase)


# The derivative of each function, as the step engine annotates it (derive.maths.calculus,
# ELEMENTARY): note kind "derivative:<function>" -> (sheet markup, plain text), printed from the
# rule in the function catalogue (derive.maths.functions). One entry per function.
DERIVATIVE_RULES = {
    f.rule_kind: (phrase_markup(f.rule), phrase_plain(f.rule)) for f in CATALOGUE if f.rule
}
for _kind, _forms in DERIVATIVE_RULES.items():
    _constant(_kind, *_forms)

# rules of the step engine that are formulas
_constant("power-rule", r"$(u^n)' = n u^{n-1}$", "(u^n)' = n*u^(n - 1)")
_constant("exponential-rule", r"$(a^u)' = a^u \log a$", "(a^u)' = a^u*log(a)")
_constant("logarithmic-rule", r"$u^v = e^{v \log u}$", "u^v = exp(v*log(u))")
note_form("variable-rule", lambda v: rf"$\partial {tex(v)}/\partial {tex(v)} = 1$",
          lambda v: f"∂{text(v)}/∂{text(v)} = 1")
note_form("unit-derivative",  # (k, n): node k reads n with coefficient 1
          lambda k, n: rf"$\partial {tex(k)}/\partial {tex(n)} = 1$",
          lambda k, n: f"∂{text(k)}/∂{text(n)} = 1")
note_form("multiply-in-cancel",  # (prefactor, cancelled factors...): a(1 − a) into each term
          lambda p, *bs: (f"multiply ${tex(p)}$ into each term: "
                          + " and ".join(f"${tex(b)}$" for b in bs) + " cancel"
                          + ("s" if len(bs) == 1 else "")),
          lambda p, *bs: (f"multiply {text(p)} into each term: "
                          + " and ".join(text(b) for b in bs) + " cancel"
                          + ("s" if len(bs) == 1 else "")))
note_form("cancel",  # (factors...): common factors of a product cancelled
          lambda *bs: "cancel " + " and ".join(f"${tex(b)}$" for b in bs),
          lambda *bs: "cancel " + " and ".join(text(b) for b in bs))
note_form("linear-in", lambda v: f"linear in ${tex(v)}$", lambda v: f"linear in {text(v)}")
note_form("substitute",  # the intermediates u_1, u_2, ... substituted back
          lambda *us: "substitute " + ", ".join(f"${name_latex(u.name)}$" for u in us),
          lambda *us: "substitute " + ", ".join(u.name for u in us))

# the named rewrites of the step engine (derive.maths.calculus, REWRITES)
_constant("rewrite:tanh", r"$\tanh = \sinh/\cosh$", "tanh = sinh/cosh")
_constant("rewrite:sigmoid-exp", r"$\sigma(v) = e^{v}/(1 + e^{v})$",
          "sigmoid(v) = exp(v)/(1 + exp(v))")
_constant("rewrite:sigmoid-reciprocal", r"$\sigma(v) = 1/(1 + e^{-v})$",
          "sigmoid(v) = 1/(1 + exp(-v))")
_constant("rewrite:power", r"$e^{v \log u} = u^v$", "exp(v*log(u)) = u^v")

# backpropagation (derive.tasks.backprop, derive.tasks.shared_parameter, derive.tasks.chain_rule)
_constant("delta-definition", r"definition of $\delta$", "definition of δ")
note_form(
    "delta-convention",  # (loss): one δ per node
    lambda E: (r"We write $\delta_n = \partial " + tex(E) + r"/\partial n$ for every node $n$; "
               r"backpropagation computes $\delta_n = \sum_k \frac{\partial k}{\partial n}\,"
               r"\delta_k$ over the nodes $k$ that read $n$."),
    lambda E: (f"We write δ_n = ∂{text(E)}/∂n for every node n; backpropagation computes "
               "δ_n = Σ_k ∂k/∂n δ_k over the nodes k that read n."),
)
note_form(
    "delta-convention-folded",  # (loss, a, f, z): activations folded into the δ of their
    # pre-activation, in the letters of the activation a_j = f(z_j) the exercise leaves free
    lambda E, a="a", f="f", z="z": (
        rf"We write $\delta_j = \partial {tex(E)}/\partial {_letter(z)}_j$ for the derivative "
        "of the error with respect to a pre-activation; backpropagation computes "
        rf"$\delta_j = {_letter(f)}'({_letter(z)}_j) \sum_k w_{{jk}} \delta_k$, where $k$ "
        rf"runs over the nodes that read ${_letter(a)}_j = {_letter(f)}({_letter(z)}_j)$."),
    lambda E, a="a", f="f", z="z": (
        f"We write δ_j = ∂{text(E)}/∂{_plain_letter(z)}_j for the derivative of the error with "
        f"respect to a pre-activation; backpropagation computes δ_j = {_plain_letter(f)}'"
        f"({_plain_letter(z)}_j) Σ_k w_jk δ_k, where k runs over the nodes that read "
        f"{_plain_letter(a)}_j = {_plain_letter(f)}({_plain_letter(z)}_j)."),
)


def _letter(name: str) -> str:
    """A convention letter in LaTeX (``phi`` -> ``\\varphi``)."""
    return r"\varphi" if name == "phi" else name


def _plain_letter(name: str) -> str:
    return "φ" if name == "phi" else name


note_form(  # (part name, new, old, new, old, ...): a result of an earlier part, renamed
    "cited",
    lambda name, *pairs: f"from {name}" + _renamed(pairs, tex, "$"),
    lambda name, *pairs: f"from {name}" + _renamed(pairs, text, ""))


def _renamed(pairs: tuple, show: Callable[[Any], str], dollar: str) -> str:
    """", with y_k for y, t_k for t" for the pairs (new, old, ...); "" for none."""
    items = [f"{dollar}{show(pairs[i])}{dollar} for {dollar}{show(pairs[i + 1])}{dollar}"
             for i in range(0, len(pairs), 2)]
    return ", with " + ", ".join(items) if items else ""


_constant("gradient-symbol", r"$\partial E/\partial w$", "∂E/∂w")  # the generic ∂E/∂w
_constant("softplus-name", r"$\log(1 + e^{u}) = \operatorname{softplus}(u)$",
          "log(1 + exp(u)) = softplus(u)")
note_form("index-range",  # (lo, j, hi): lo ≤ j ≤ hi
          lambda lo, j, hi: "$" + r" \le ".join(tex(e) for e in (lo, j, hi)) + "$",
          lambda lo, j, hi: " <= ".join(text(e) for e in (lo, j, hi)))
note_form("number",  # a computed value: exact, or rounded (a Float), in SymPy syntax
          lambda v: f"${sympy_str(v)}$", lambda v: sympy_str(v))


# --- networks and regions -----------------------------------------------------------------------
def _chain_markup(*sides: Math) -> str:
    return "$" + " = ".join(latex(m.expr, m.notation, m.order) for m in sides) + "$"


def _chain_plain(*sides: Math) -> str:
    return " = ".join(sympy_str(m.expr, m.order) for m in sides)


# a neuron j in general: its pre-activation z_j and its activation a_j = f(z_j)
note_form("neuron-preactivation", lambda: "$z_j$", lambda: "z_j")
note_form("neuron-activation", lambda: "$a_j = f(z_j)$", lambda: "a_j = f(z_j)")
# a = b = c: one formula of several equal sides (each a Math), e.g. a symmetry of y
note_form("equal-chain", _chain_markup, _chain_plain)
