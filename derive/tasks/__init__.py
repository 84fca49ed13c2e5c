"""The task catalogue.

A task kind is a general algorithm: a function ``run(ctx: Context) -> Solution`` registered under
its sheet name with the parameters it takes. Each task lives in its own module in this package;
importing :mod:`derive.tasks` registers them all.

Parameters are declared with their Python types; the sheet loader checks presence and types and
reports ``file:line`` errors before any task runs. Parameters whose strings are sheet text (class
names) are declared in ``text``; the loader checks them as it checks a title.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from derive.errors import InputError
from derive.steps import Solution

TASK_NAMES = (
    "derivative",
    "chain-rule",
    "backprop",
    "shared-parameter",
    "network",
    "decision-boundary",
)


@dataclass(frozen=True)
class Assignment:
    """One line of an exercise's ``model``: ``name = expr``."""

    name: str
    expr: sp.Expr
    source: str  # the text as written in the sheet
    line: int | None


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


@dataclass(frozen=True)
class TaskSpec:
    name: str
    run: Callable[[Context], Solution]
    required: dict[str, type | tuple[type, ...]]
    optional: dict[str, type | tuple[type, ...]]
    summary: str
    # parameters whose strings are sheet text set on one line, by what a string is called
    text: dict[str, str] = field(default_factory=dict)


REGISTRY: dict[str, TaskSpec] = {}


def task(
    name: str,
    *,
    required: dict[str, type | tuple[type, ...]] | None = None,
    optional: dict[str, type | tuple[type, ...]] | None = None,
    summary: str = "",
    text: dict[str, str] | None = None,
) -> Callable[[Callable[[Context], Solution]], Callable[[Context], Solution]]:
    """Register ``run`` as the implementation of task ``name``."""
    if name not in TASK_NAMES:
        raise ValueError(f"unknown task name {name!r}")

    def register(run: Callable[[Context], Solution]) -> Callable[[Context], Solution]:
        REGISTRY[name] = TaskSpec(name, run, dict(required or {}), dict(optional or {}), summary,
                                  dict(text or {}))
        return run

    return register


def load_all() -> dict[str, TaskSpec]:
    """Import every task module (registration happens on import)."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return REGISTRY
