"""The sheet model: what :mod:`derive.sheet.load` reads from a TOML sheet and every later step uses.

A :class:`Sheet` holds :class:`Exercise` s; an exercise holds its computation list (``model``, one
:class:`Assignment` a line) and its :class:`Part` s; a part names the task that solves it and that
task's parameters, each with the sheet line it was written on (for ``file:line`` messages).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sympy as sp


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


@dataclass(frozen=True)
class Exercise:
    number: int
    title: str
    text: str
    model: tuple[Assignment, ...]
    notation: dict[str, str]
    parts: tuple[Part, ...]
    line: int | None
    names: tuple[str, ...] = ()  # quantities in order of first appearance (for term order)

    @property
    def points(self) -> int | float:
        return sum(p.points or 0 for p in self.parts)


@dataclass(frozen=True)
class Sheet:
    id: str
    title: str
    course: str
    date: str
    file: str
    exercises: tuple[Exercise, ...] = field(default_factory=tuple)
