"""The verify step: every claim of a solution checked, its verdicts attached and summarized.

:func:`verify_solution` checks each derivation line's claim (its ``check``; a line without one is a
definition) and each of the solution's ``claims`` (:mod:`derive.verify.claims`), in order. Every
line gets its verdict; the solution gets all verdicts and their :class:`~derive.verify.summary.
Summary`. A failed check raises :class:`~derive.errors.VerificationFailure`: it is never silently
accepted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import sympy as sp

from derive.errors import VerificationFailure
from derive.steps import Align, Line, Math, Note, Prose, Solution, reasons
from derive.verify import cached, gradients, instances
from derive.verify.claims import (
    Answer,
    AtRandomPoints,
    Claim,
    Gradients,
    Instances,
    Instantiated,
    Numbers,
    Recomputes,
    Regions,
)
from derive.verify.equality import check_equal
from derive.verify.network import check_network
from derive.verify.numbers import check_numbers
from derive.verify.regions import check_regions
from derive.verify.summary import summarize
from derive.verify.verdict import (
    ANSWER,
    GRADIENTS,
    INSTANCES,
    NOTHING_TO_CHECK,
    STATEMENTS,
    STEP,
    Verdict,
)


def verify_solution(solution: Solution, where: str = "") -> Solution:
    """``solution`` with every line's verdict, all verdicts and their summary; raises
    :class:`VerificationFailure` on any failed check (``where`` starts its message)."""
    verdicts: list[Verdict] = []
    blocks = []
    for block in solution.blocks:
        if isinstance(block, Align):
            block = replace(block, lines=tuple(_line(ln, where, verdicts) for ln in block.lines))
        blocks.append(block)
    for claim in solution.claims:
        verdicts.extend(cached.verdicts("claim", claim, lambda c=claim: check_claim(c, where),
                                        _claim_shape))
    return replace(solution, blocks=blocks, verdicts=tuple(verdicts),
                   summary=summarize(verdicts))


def _rule_words(rule) -> str:
    """A rule annotation in words for an error message: strings as they are, formulas in SymPy
    syntax, a fixed phrase by its kind (the printers' wording is not needed to find the step)."""
    def words(item) -> str:
        if isinstance(item, Prose):
            return "".join(words(p) for p in item.parts)
        if isinstance(item, Math):
            return sp.sstr(item.expr)
        if isinstance(item, Note):
            return item.kind
        return str(item)
    return "; ".join(words(r) for r in reasons(rule))


def _line(line: Line, where: str, verdicts: list[Verdict]) -> Line:
    if line.check is None:
        verdict = NOTHING_TO_CHECK
    else:
        verdict, = cached.verdicts("line", line.check, lambda: [_step(line, where)],
                                   _step_shape)
    verdicts.append(verdict)
    return line.verified(verdict)


def _step(line: Line, where: str) -> Verdict:
    """The verdict of a line's claim; raises VerificationFailure when it does not hold."""
    a, b = instances.line_pair(line.check) if isinstance(line.check, Instantiated) \
        else line.check
    verdict = check_equal(a, b)
    if not verdict.ok:
        raise VerificationFailure(f"{where}: step {_rule_words(line.rule)!r} does not verify: "
                                  f"{sp.sstr(a)} != {sp.sstr(b)}")
    return replace(verdict, kind=STEP)


def _step_shape(found: list[Verdict]) -> bool:
    return len(found) == 1 and found[0].kind == STEP


def _claim_shape(found: list[Verdict]) -> bool:
    return bool(found) and all(v.kind in (ANSWER, *STATEMENTS) for v in found)


def check_claim(claim: Claim, where: str = "") -> list[Verdict]:
    """The verdicts of one claim of a solution: one per answer check it makes, and one on the
    claim as a whole for the claims that have one."""
    if isinstance(claim, Answer):
        return _answers([(claim.label, claim.computed, claim.truth)], where)
    if isinstance(claim, AtRandomPoints):
        return _answers(gradients.at_random_points(claim.bp, claim.targets), where)
    if isinstance(claim, Gradients):
        out = [v for c in claim.checks for v in check_claim(c, where)]
        methods = [m for m, kind in (("symbolic", Answer), ("numeric", AtRandomPoints))
                   if any(isinstance(c, kind) for c in claim.checks)]
        out.append(Verdict(True, "+".join(methods), kind=GRADIENTS, what=claim.subject,
                           facts={"methods": tuple(methods), "tied": claim.tied,
                                  "points": gradients.POINTS, "digits": gradients.DIGITS}))
        return out
    if isinstance(claim, Instances):
        out = _answers(instances.answer_pairs(claim), where)
        out.append(Verdict(True, "instantiated", kind=INSTANCES,
                           what=f"d{claim.sums.E}/d{sp.sstr(claim.sums.wrt)}",
                           facts={"sizes": tuple(claim.sums.sizes)}))
        return out
    try:
        if isinstance(claim, Recomputes):
            return [check_network(claim.network, claim.model, claim.of)]
        if isinstance(claim, Regions):
            return [check_regions(claim.analysis, claim.expr)]
        if isinstance(claim, Numbers):
            return [check_numbers(claim)]
    except VerificationFailure as e:
        raise VerificationFailure(f"{where}: {e}" if where else str(e)) from None
    raise TypeError(f"not a claim: {claim!r}")


def _answers(checks: Iterable[tuple[str, sp.Expr, sp.Expr]], where: str) -> list[Verdict]:
    out = []
    for label, computed, truth in checks:
        verdict = check_equal(computed, truth)
        if not verdict.ok:
            raise VerificationFailure(
                f"{where}: {label} failed: {sp.sstr(computed)} is not {sp.sstr(truth)}")
        out.append(replace(verdict, kind=ANSWER, what=label))
    return out
