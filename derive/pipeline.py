"""Solving a sheet: run each part's task, then verify every recorded equality.

A part whose task is not implemented yet is *pending*: its statement is rendered with an explicit
"solution not generated" line, and ``derive check`` lists it as pending, never as passed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import sympy as sp

from derive.errors import VerificationFailure
from derive.render.prose import markup
from derive.steps import Align, Line, Solution
from derive.tasks import REGISTRY, Context, load_all
from derive.verify.equality import Verdict, check_equal

if TYPE_CHECKING:
    from derive.sheet.load import Exercise, Part, Sheet


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
    load_all()
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


def verify_solution(solution: Solution, where: str = "") -> Solution:
    """Check every line and answer check; fill in ``verified_by``; raise on any failure."""
    verdicts: list[Verdict] = []
    blocks = []
    for block in solution.blocks:
        if isinstance(block, Align):
            lines = []
            for line in block.lines:
                lines.append(_verify_line(line, where, verdicts))
            block = Align(tuple(lines))
        blocks.append(block)
    answer_labels = []
    answer_verdicts = []
    for label, computed, truth in solution.answer_checks:
        v = check_equal(computed, truth)
        if not v.ok:
            raise VerificationFailure(
                f"{where}: {label} failed: {sp.sstr(computed)} is not {sp.sstr(truth)}"
            )
        answer_verdicts.append(v)
        answer_labels.append(f"{label} ({v.method})")
    summary = _summary(verdicts + answer_verdicts, answer_labels)
    if solution.verified_by:
        summary = f"{solution.verified_by}; {summary}" if verdicts else solution.verified_by
    return replace(solution, blocks=blocks, verified_by=summary)


def _verify_line(line: Line, where: str, verdicts: list[Verdict]) -> Line:
    if line.check is None:
        return line.verified("definition")
    v = check_equal(*line.check)
    if not v.ok:
        raise VerificationFailure(
            f"{where}: step {markup(line.rule)!r} does not verify: {sp.sstr(line.check[0])} != "
            f"{sp.sstr(line.check[1])}"
        )
    verdicts.append(v)
    return line.verified(v.label)


def _summary(verdicts: list[Verdict], answers: list[str]) -> str:
    """``"9 steps checked (8 symbolic, 1 numeric); 2 answers = sympy.diff (2 symbolic)"``."""
    if not verdicts:
        return ""
    n_steps = len(verdicts) - len(answers)
    steps, ends = Counter(v.method for v in verdicts[:n_steps]), Counter(
        v.method for v in verdicts[n_steps:])
    parts = []
    if n_steps:
        noun = "step" if n_steps == 1 else "steps"
        parts.append(f"{n_steps} {noun} checked ({_count(steps)})")
    if answers:
        noun = "answer" if len(answers) == 1 else "answers"
        parts.append(f"{len(answers)} {noun} = sympy.diff ({_count(ends)})")
    return "; ".join(parts)


def _count(methods: Counter) -> str:
    return ", ".join(f"{count} {method}" for method, count in sorted(methods.items()))
