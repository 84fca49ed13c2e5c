"""Solving a sheet: run each part's task, then verify everything it claims
(:func:`derive.verify.solution.verify_solution`).

A part whose task is not implemented yet is *pending*: its statement is rendered with an explicit
"solution not generated" line, and ``derive check`` lists it as pending, never as passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from derive.steps import Solution
from derive.tasks import REGISTRY, Context
from derive.verify.solution import verify_solution

if TYPE_CHECKING:
    from derive.sheet.model import Exercise, Part, Sheet


@dataclass
class PartResult:
    exercise: Exercise
    part: Part
    solution: Solution | None  # None: pending

    @property
    def status(self) -> str:
        return "pending" if self.solution is None else "solved"

    @property
    def name(self) -> str:
        return f"{self.exercise.number}{self.part.label}"


def solve_sheet(sheet: Sheet) -> list[PartResult]:
    """Solve and verify every part; raises VerificationFailure on any failed check."""
    results = []
    for ex in sheet.exercises:
        earlier: dict[str, Solution] = {}
        for part in ex.parts:
            spec = REGISTRY.get(part.task)
            if spec is None:
                results.append(PartResult(ex, part, None))
                continue
            ctx = Context(
                file=sheet.file,
                exercise=ex.number,
                label=part.label,
                model=ex.model,
                params=part.params,
                param_lines=part.param_lines,
                line=part.line,
                notation=ex.notation,
                names=ex.names,
                earlier=dict(earlier),
            )
            solution = verify_solution(spec.run(ctx), f"{sheet.file}: part {ex.number}{part.label}")
            earlier[part.label] = solution
            results.append(PartResult(ex, part, solution))
    return results
