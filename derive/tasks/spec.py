"""What a task is: the :class:`Context` it reads, its :class:`TaskSpec`, and :func:`task`, the
decorator that declares one.

A task kind is a general algorithm: a function ``run(ctx: Context) -> Solution`` declared under its
sheet name with the parameters it takes. Parameters are declared with their Python types; the sheet
loader checks presence and types and reports ``file:line`` errors before any task runs. Parameters
whose strings are sheet text (class names) are declared in ``text``; the loader checks them as it
checks a title. The registry of every task is :data:`derive.tasks.REGISTRY`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import sympy as sp

from derive.errors import InputError
from derive.sheet.model import Assignment
from derive.steps import Math, Note, Solution

MAX_RENAMED = 5  # names of a cited result besides its variable (the renamings are tried all)


@dataclass(frozen=True)
class Context:
    """Everything a task may read about the part it solves."""

    file: str
    exercise: int  # 1-based exercise number
    label: str  # part label, "a", "b", ...
    model: tuple[Assignment, ...]
    params: dict[str, Any]
    param_lines: dict[str, int]
    line: int | None  # line of the [[exercise.part]] header
    notation: dict[str, str] = field(default_factory=dict)
    names: tuple[str, ...] = ()  # the exercise's quantities in order of first appearance
    # solutions of the exercise's earlier parts, by label (a task may build on them)
    earlier: dict[str, Solution] = field(default_factory=dict)
    detail: str = "full"  # "full" (every rule level) or "standard" (what a TA writes): a
    # sheet part gets its own (the sheet default is "standard")
    # solutions of every earlier part of the sheet, by name ("2a"): results a task may cite
    sheet_earlier: dict[str, Solution] = field(default_factory=dict)
    facts: tuple[sp.Eq, ...] = ()  # the exercise's declared facts (t1 + t2 + t3 = 1)

    @property
    def stem(self) -> str:
        """File-name stem for this part's artefacts, e.g. ``ex1-a``."""
        return f"ex{self.exercise}-{self.label}"

    def error(self, message: str, key: str | None = None) -> InputError:
        """An InputError located at ``key``'s line (or the part's line)."""
        line = self.param_lines.get(key, self.line) if key else self.line
        return InputError(message, file=self.file, line=line)

    def assignment(self, name: str) -> Assignment | None:
        return next((a for a in self.model if a.name == name), None)

    def cite(self, expr: sp.Expr, var: sp.Symbol, notation=None, order=None
             ) -> tuple[sp.Expr, Note] | None:
        """d(expr)/d(var) when an earlier part of the sheet derived it, at ``standard`` detail:
        the value and the rule note that cites it ("from 2a", with the renamed symbols:
        "with y_k for y"); None otherwise (at ``full`` detail, always None). The part that
        cites still claims the equality on its line, checked like any other."""
        if self.detail != "standard":
            return None
        for name, sol in self.sheet_earlier.items():  # the first part that derived it
            for d in sol.derived:
                renaming = _renaming(d.expr, d.var, expr, var)
                if renaming is None:
                    continue
                pairs = tuple(x for old, new in renaming.items() if old != new
                              for x in (Math(new, notation, order), Math(old, notation, order)))
                return d.value.xreplace(renaming), Note("cited", (name, *pairs))
        return None


@dataclass(frozen=True)
class TaskSpec:
    name: str
    run: Callable[[Context], Solution]
    required: dict[str, type | tuple[type, ...]]
    optional: dict[str, type | tuple[type, ...]]
    summary: str
    # parameters whose strings are sheet text set on one line, by what a string is called
    text: dict[str, str] = field(default_factory=dict)


DECLARED: dict[str, TaskSpec] = {}
"""Every task declared with :func:`task` so far, by name (the registry picks its modules' ones)."""


def task(
    name: str,
    *,
    required: dict[str, type | tuple[type, ...]] | None = None,
    optional: dict[str, type | tuple[type, ...]] | None = None,
    summary: str = "",
    text: dict[str, str] | None = None,
) -> Callable[[Callable[[Context], Solution]], Callable[[Context], Solution]]:
    """Declare ``run`` as the implementation of task ``name``; a name belongs to one module."""

    def declare(run: Callable[[Context], Solution]) -> Callable[[Context], Solution]:
        other = DECLARED.get(name)
        if other is not None and other.run.__module__ != run.__module__:
            raise ValueError(f"task {name!r} is declared twice: in {other.run.__module__} and "
                             f"in {run.__module__}")
        DECLARED[name] = TaskSpec(name, run, dict(required or {}), dict(optional or {}), summary,
                                  dict(text or {}))
        return run

    return declare


def declared_in(module: ModuleType) -> list[TaskSpec]:
    """The tasks ``module`` declares, in the order it declares them."""
    return [spec for spec in DECLARED.values() if spec.run.__module__ == module.__name__]


def _renaming(pattern: sp.Expr, pvar: sp.Symbol, expr: sp.Expr, var: sp.Basic
              ) -> dict[sp.Basic, sp.Basic] | None:
    """A one-to-one renaming of ``pattern``'s symbols (each to a name of ``expr``: a symbol or an
    indexed name) that turns ``pattern`` into ``expr`` and ``pvar`` into ``var``; None when there
    is none. Tried exhaustively, for a few names only."""
    if not isinstance(var, sp.Symbol | sp.Indexed) or pvar not in pattern.free_symbols:
        return None
    others = sorted(pattern.free_symbols - {pvar}, key=lambda s: s.name)
    indexed = expr.atoms(sp.Indexed)
    inside = {s for a in indexed for s in a.free_symbols}
    names = sorted((indexed | (expr.free_symbols - inside)) - {var}, key=sp.default_sort_key)
    if len(others) != len(names) or len(names) > MAX_RENAMED:
        return None
    for image in itertools.permutations(names):
        renaming = {pvar: var, **dict(zip(others, image, strict=True))}
        if pattern.xreplace(renaming) == expr:
            return renaming
    return None
