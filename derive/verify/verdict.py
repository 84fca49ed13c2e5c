"""The one result type of every check: :class:`Verdict`.

Each check of :mod:`derive.verify` returns verdicts; the verify step
(:func:`derive.verify.solution.verify_solution`) attaches them to the solution (each line gets the
verdict of its check), and :func:`derive.verify.summary.summarize` tallies them once for the
printers. Nothing reads a verdict back from printed text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# what a verdict is about (its ``kind``):
EQUALITY = "equality"  # one equality, as check_equal returns it
STEP = "step"  # the check of a derivation line
DEFINITION = "definition"  # a line without a check: it defines its left side, nothing to check
ANSWER = "answer"  # an answer compared with an independent result (sympy.diff)
GRADIENTS = "gradients"  # the part's gradients against sympy.diff of the loss, as a whole
INSTANCES = "instances"  # index sums expanded at concrete sizes, as a whole
NETWORK = "network"  # an extracted network recomputes the model
REGIONS = "regions"  # a decision-region analysis is exact
NUMBERS = "numbers"  # a variant's worked numbers, as a whole
STATEMENTS = (GRADIENTS, INSTANCES, NETWORK, REGIONS, NUMBERS)  # verdicts on a claim as a whole


@dataclass(frozen=True)
class Verdict:
    """What one check found.

    ``ok``: whether the claim holds. ``method``: how it was decided (``"symbolic"``,
    ``"numeric"``, ``"failed"`` for an equality; a claim's own methods otherwise), ``detail``: the
    method's particulars (``"identical"``, ``"6 random points, 40 digits"``) or why it failed.
    ``kind``: what sort of claim was checked (see :data:`STATEMENTS` and the constants above),
    ``what``: which one (an answer check's label, the quantities a network recomputes).
    ``facts``: the numbers and names the summary prints (how many points were sampled, ...).
    """

    ok: bool
    method: str
    detail: str = ""
    kind: str = EQUALITY
    what: str = ""
    facts: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def label(self) -> str:
        """Human-readable description, e.g. ``numeric (6 random points, 40 digits)``."""
        return f"{self.method} ({self.detail})" if self.detail else self.method


NOTHING_TO_CHECK = Verdict(True, "definition", kind=DEFINITION)  # the verdict of a definition line
