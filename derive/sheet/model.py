"""The sheet model: what :mod:`derive.sheet.load` reads from a TOML sheet and every later step uses.

A :class:`Sheet` holds :class:`Exercise` s; an exercise holds its computation list (``model``, one
:class:`Assignment` a line) and its :class:`Part` s; a part names the task that solves it and that
task's parameters, each with the sheet line it was written on (for ``file:line`` messages).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from derive.maths.display import Names, WrittenForms


@dataclass(frozen=True)
class Assignment:
    """One line of an exercise's ``model``: ``name = expr``."""

    name: str
    expr: sp.Expr
    source: str  # the text as written in the sheet
    line: int | None


@dataclass(frozen=True)
class Part:
    label: str
    points: int | float | None
    text: str
    hint: str
    task: str
    params: dict[str, Any]
    param_lines: dict[str, int]
    line: int | None
    tolerance: float | None = None  # relative tolerance of its numeric answers (Moodle export)
    # how much a solution shows: "standard" (what a TA writes) or "full" (every rule level);
    # the part's own ``detail``, else the sheet's, else "standard"
    detail: str = "standard"


DETAIL_LEVELS = ("standard", "full")


@dataclass(frozen=True)
class Exercise:
    number: int
    title: str
    text: str
    model: tuple[Assignment, ...]
    notation: dict[str, str]
    parts: tuple[Part, ...]
    line: int | None
    # quantities in order of first appearance, with the forms the sheet writes (for printing)
    names: Names = field(default_factory=Names)
    variants: Variants | None = None  # the declared variant parameters, if any
    drawn: Drawn | None = None  # in a variant of the sheet: the values drawn for it
    # facts the derivations may use, as equalities (one-hot targets: t1 + t2 + t3 = 1)
    facts: tuple[sp.Eq, ...] = ()

    @property
    def points(self) -> int | float:
        return sum(p.points or 0 for p in self.parts)

    @property
    def written(self) -> WrittenForms:
        """How the exercise writes its sums, products and decimals (carried by ``names``)."""
        return self.names.written if isinstance(self.names, Names) else WrittenForms()

    @property
    def sources(self) -> list[str]:
        """What the exercise writes, in sheet order: see :func:`sources`."""
        return sources(self.model, self.parts)


@dataclass(frozen=True)
class Sheet:
    id: str
    title: str
    course: str
    date: str
    file: str
    exercises: tuple[Exercise, ...] = field(default_factory=tuple)
    variant_of: str = ""  # a variant's sheet: the id of the sheet it was drawn from


# --- variants ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VariantParam:
    """A leaf of the model that varies: integers in ``[low, high]`` (``kind`` "int"), numbers
    with ``places`` decimals in ``[low, high]`` ("decimal"), or one of ``choices`` ("choices");
    every value an exact rational."""

    name: str
    kind: str
    low: sp.Rational | None
    high: sp.Rational | None
    places: int
    choices: tuple[sp.Rational, ...]
    line: int | None


@dataclass(frozen=True)
class Constraint:
    """``lhs op rhs`` (op one of ``!= == < <= > >=``) over the model's names, as written."""

    source: str
    lhs: sp.Expr
    op: str
    rhs: sp.Expr
    line: int | None


@dataclass(frozen=True)
class Variants:
    """An exercise's ``[exercise.variants]`` table: its parameters in sheet order, its
    constraints, and ``digits``, the significant digits of a number that is not rational."""

    params: tuple[VariantParam, ...]
    constraints: tuple[Constraint, ...]
    digits: int
    line: int | None


@dataclass(frozen=True)
class Drawn:
    """The values drawn for one variant of an exercise (name -> exact rational, in declaration
    order) and the rejected draws before them (reason -> count)."""

    values: dict[str, sp.Rational]
    rejected: dict[str, int]


def strings(value: Any) -> list[str]:
    """Every string in a parameter value, tables and lists searched in order."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in strings(v)]
    return []


def sources(model: Sequence[Assignment], parts: Sequence[Part]) -> list[str]:
    """The lines of ``model`` as written, then every string of the parts' parameters: the text in
    which an exercise introduces its names (their order of first appearance is its term order)."""
    return [a.source for a in model] + [s for part in parts for s in strings(part.params)]
