"""Sentences and rule notes from the solution model (:mod:`derive.steps`) to text.

A task writes words as strings and mathematics as data: :class:`~derive.steps.Math` (a SymPy
object) and :class:`~derive.steps.Note` (a fixed formula or phrase by kind). This module turns them
into *sheet markup* (``$...$`` math in LaTeX, the input of :mod:`derive.render.markup`, which
writes LaTeX and Markdown from it) and into plain text for the terminal.

Every note kind has one :class:`NoteForm`: its markup and its plain text, each a function of the
note's arguments. A new kind is one entry in :data:`NOTES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sympy as sp

from derive.render.notation import latex, sympy_str
from derive.steps import Math, Note, Prose


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
    """LaTeX of a note argument: SymPy objects printed, strings as they are (already LaTeX)."""
    return latex(value) if isinstance(value, sp.Basic) else str(value)


def markup(item: Any) -> str:
    """Sheet markup for a string, :class:`Math`, :class:`Note` or :class:`Prose`."""
    return _text(item, lambda m: "$" + latex(m.expr, m.notation, m.order) + "$", "markup")


def plain(item: Any) -> str:
    """Plain text (SymPy syntax for math) for a string, :class:`Math`, :class:`Note` or
    :class:`Prose`."""
    return _text(item, lambda m: sympy_str(m.expr, m.order), "plain")


def _text(item: Any, math: Callable[[Math], str], form: str) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, Math):
        return math(item)
    if isinstance(item, Note):
        return getattr(_form(item), form)(*item.args)
    if isinstance(item, Prose):
        return "".join(_text(part, math, form) for part in item.parts)
    raise TypeError(f"not prose: {item!r}")


def _form(note: Note) -> NoteForm:
    try:
        return NOTES[note.kind]
    except KeyError:
        raise KeyError(f"no printed form for note kind {note.kind!r}") from None


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
