"""The one summary of a part's verdicts: tallied once (:func:`summarize`), printed two ways.

:attr:`Summary.account` is the full account (``solutions.json``'s ``verified_by``), e.g.
``every line checked; gradients against symbolic: sympy.diff of the loss with the graph
substituted; 18 steps checked (18 symbolic); 2 answers = sympy.diff (2 symbolic)``;
:attr:`Summary.brief` the sheets' line (and ``verified_summary``), e.g. ``18 steps symbolically;
answer = sympy.diff (2 instances)``. Both come from the verdicts' data: their kind, method and
facts, never from printed text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from derive.verify.verdict import (
    ANSWER,
    GRADIENTS,
    INSTANCES,
    NETWORK,
    NUMBERS,
    REGIONS,
    STATEMENTS,
    STEP,
    Verdict,
)


@dataclass(frozen=True)
class Summary:
    """A part's verdicts, tallied: ``statements`` (in full, in brief) for each verdict on a claim
    as a whole, in the order of the claims; ``steps`` and ``answers`` as (method, count) of the
    checked lines and of the answer checks, by method."""

    statements: tuple[tuple[str, str], ...] = ()
    steps: tuple[tuple[str, int], ...] = ()
    answers: tuple[tuple[str, int], ...] = ()

    @property
    def checked_steps(self) -> int:
        return sum(n for _, n in self.steps)

    @property
    def checked_answers(self) -> int:
        return sum(n for _, n in self.answers)

    @property
    def account(self) -> str:
        """Every statement, then ``9 steps checked (8 numeric, 1 symbolic)``, then ``2 answers =
        sympy.diff (2 symbolic)``."""
        parts = [full for full, _ in self.statements]
        n, m = self.checked_steps, self.checked_answers
        if n:
            parts.append(f"{n} {'step' if n == 1 else 'steps'} checked ({_count(self.steps)})")
        if m:
            parts.append(f"{m} {'answer' if m == 1 else 'answers'} = sympy.diff "
                         f"({_count(self.answers)})")
        return "; ".join(parts)

    @property
    def brief(self) -> str:
        """``9 steps 8 numerically and 1 symbolically; answer = sympy.diff (2 instances)``;
        without checked lines or answers, the first statement in brief."""
        parts = []
        n, m = self.checked_steps, self.checked_answers
        if n:
            how = " and ".join(f"{method}ally" if len(self.steps) == 1 else f"{c} {method}ally"
                               for method, c in self.steps)
            parts.append(f"{n} step{'s' if n != 1 else ''} {how}")
        if m:
            parts.append("answer = sympy.diff" + (f" ({m} instances)" if m > 1 else ""))
        if not parts:
            return self.statements[0][1] if self.statements else ""
        return "; ".join(parts)


def summarize(verdicts: Iterable[Verdict]) -> Summary:
    """The tally of ``verdicts`` (a part's, in order)."""
    verdicts = list(verdicts)
    steps = Counter(v.method for v in verdicts if v.kind == STEP)
    answers = Counter(v.method for v in verdicts if v.kind == ANSWER)
    return Summary(tuple(_statement(v) for v in verdicts if v.kind in STATEMENTS),
                   tuple(sorted(steps.items())), tuple(sorted(answers.items())))


def _count(methods: tuple[tuple[str, int], ...]) -> str:
    return ", ".join(f"{count} {method}" for method, count in methods)


def _statement(v: Verdict) -> tuple[str, str]:
    """A verdict on a whole claim, in full and in brief."""
    f = v.facts
    if v.kind == GRADIENTS:
        how = {"symbolic": "sympy.diff of the loss with the ties and the graph substituted"
               if f["tied"] else "sympy.diff of the loss with the graph substituted",
               "numeric": "forward-mode sympy.diff through the tied graph" if f["tied"] else
               f"forward-mode sympy.diff through the graph at {f['points']} random points, "
               f"{f['digits']} digits"}
        against = "; ".join(f"{m}: {how[m]}" for m in f["methods"])
        return f"every line checked; {v.what} against {against}", "every line checked"
    if v.kind == INSTANCES:
        text = ("index sums expanded at concrete sizes and compared with sympy.diff of the "
                "expanded error")
        return text, text
    if v.kind == NETWORK:
        text = f"the network recomputes {v.what} ({v.method})"
        return text, text
    if v.kind == REGIONS:
        brief = (f"exact at {f['vertices']} piece vertices and {f['ends']} boundary endpoints, "
                 f"{f['total']:,} sampled points agree")
        return (f"{brief}; exact: y at {f['vertices']} piece vertices equals the piece's "
                f"formula, y = 0 at {f['ends']} boundary endpoints, and the closed form puts each "
                f"of {f['exact']:,} points (every vertex of the pieces' parts and of the convex "
                "sets, the middle of every edge and of every part, every point where y = 0 along "
                "an edge and where a side crosses such an edge) in the class of the sign of y, "
                f"points with y = 0 in no class; sampling: {f['total']:,} points ({f['grid']}x"
                f"{f['grid']} grid and {f['window']:,} random in the window, {f['far']:,} random "
                f"in a window ten times as large), 0 disagreements ({f['near']} within 1e-9 of "
                "the boundary not counted)"), brief
    if v.kind == NUMBERS:
        brief = (f"the numbers: {f['values']} forward values, {f['deltas']} δ's and "
                 f"{f['gradients']} gradients checked")
        return (f"{brief}: each value recomputed node by node ({f['dps']} digits); each gradient "
                "equal to the symbolic answer evaluated exactly at the point, and each gradient "
                f"and δ to central finite differences (mpmath, {f['dps']} digits, step "
                f"1e-{f['step']}); each rounding to {f['digits']} significant digits "
                "recomputed"), brief
    raise ValueError(f"no statement for a verdict of kind {v.kind!r}")
