"""What a task claims, as data; the verify step (:mod:`derive.verify.solution`) checks every claim.

A derivation line claims its ``check``: a pair ``(a, b)``, both sides in the sheet's quantities, or
an :class:`Instantiated` equality of index sums. A solution's ``claims`` are the rest:

* :class:`Answer`: an answer equals an independent result (``sympy.diff``);
* :class:`AtRandomPoints`: the gradients of a backward pass equal forward-mode ``sympy.diff``
  through its graph at random points;
* :class:`Gradients`: the part's gradients equal ``sympy.diff`` of the loss, as a whole: by its
  :class:`Answer` claims (symbolic) and :class:`AtRandomPoints` claims (numeric);
* :class:`Instances`: an index-sum answer at every size of its plan (:attr:`IndexSums.sizes`);
* :class:`Recomputes`: an extracted network recomputes the model's quantity and its losses;
* :class:`Regions`: a decision-region analysis is exact for the network's formula;
* :class:`Numbers`: a variant's worked numbers (forward values, δ's, gradients) are right.

Nothing here checks anything: tasks build these and never call a check themselves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import sympy as sp

from derive.maths.backprop import BackwardPass
from derive.maths.network import Network
from derive.maths.regions import Analysis
from derive.steps import Line

LINE_SIZE = (3, 3, 2)  # (N, d, i) at which the lines of an index-sum derivation are checked
ANSWER_SIZES = ((1, 1, 1), (2, 2, 1), (2, 2, 2), (3, 3, 1), (3, 3, 3), (4, 2, 2))  # the answer's


@dataclass(frozen=True)
class Answer:
    """``computed`` (the part's answer, in a form that can be compared) equals ``truth``."""

    label: str  # e.g. "answer = sympy.diff"
    computed: sp.Expr
    truth: sp.Expr


@dataclass(frozen=True)
class AtRandomPoints:
    """The gradients of ``bp`` (of ``targets``; None: all) equal forward-mode ``sympy.diff``
    through its graph at random points (:func:`derive.verify.gradients.at_random_points`)."""

    bp: BackwardPass
    targets: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Gradients:
    """The part's gradients equal ``sympy.diff`` of the loss: ``checks`` are the
    :class:`Answer` claims (the answer, substituted, against ``sympy.diff`` of the substituted
    loss) and :class:`AtRandomPoints` claims (where that would be too large to build).
    ``subject`` names them in the summary (``"gradients"``, ``"∂E/∂v"``); ``tied``: the graph
    has ties in front of the model (a shared parameter)."""

    subject: str
    checks: tuple[Answer | AtRandomPoints, ...]
    tied: bool = False


@dataclass(frozen=True)
class IndexSums:
    """An error averaged over a data set, ``E = (1/N) Σ_k ℓ(y_k, t_k)``, as the chain-rule task
    writes it: what its claims about index sums are about."""

    E: sp.Symbol  # the error
    Eb: sp.IndexedBase  # E_k, one term
    yb: sp.IndexedBase  # y_k, the prediction for data point k
    tb: sp.IndexedBase  # t_k, its target
    ell: sp.Expr  # the per-sample loss, in y and t
    y: sp.Symbol
    t: sp.Symbol
    k: sp.Symbol  # the data point index
    N: sp.Symbol  # the number of data points
    wrt: sp.Expr  # the parameter: a name, or an indexed name w[i]
    network: sp.Expr | None  # y_k written out; None: y_k is an undefined function of wrt

    @property
    def d(self) -> sp.Symbol | None:
        """The symbolic upper limit of a sum in the network (its input dimension), if any."""
        return next((hi for s in (self.network.atoms(sp.Sum) if self.network is not None else ())
                     for _, _, hi in s.limits if isinstance(hi, sp.Symbol)), None)

    @property
    def i(self) -> sp.Expr | None:
        """The index of an indexed parameter, if it is one."""
        return self.wrt.indices[0] if isinstance(self.wrt, sp.Indexed) else None

    @property
    def keys(self) -> list[str]:
        """The sizes that vary: ``N``, then ``d`` and ``i`` when there are such."""
        return ["N"] + (["d"] if self.d is not None else []) + (
            ["i"] if self.i is not None else [])

    @property
    def sizes(self) -> list[tuple[int, ...]]:
        """The sizes (values of :attr:`keys`) at which the answer is checked."""
        sizes = ANSWER_SIZES if self.d is not None or self.i is not None else \
            tuple((n, 1, 1) for n in (1, 2, 3, 4))
        return [s[: len(self.keys)] for s in dict.fromkeys(sizes)]

    @property
    def line_size(self) -> tuple[int, ...]:
        """The sizes at which each derivation line is checked."""
        return LINE_SIZE[: len(self.keys)]


@dataclass(frozen=True)
class Instantiated:
    """A line's claim ``lhs = rhs`` about index sums (``lhs`` a derivative of E, E_k or y_k as
    displayed), checked with the sums expanded at :attr:`IndexSums.line_size` against
    ``sympy.diff`` of the expanded quantity."""

    sums: IndexSums
    lhs: sp.Expr
    rhs: sp.Expr


def instantiated(sums: IndexSums, lines: Sequence[Line]) -> list[Line]:
    """``lines`` with each one's check the :class:`Instantiated` claim of its right side (a
    continuation line about the left side of the line above it)."""
    out, lhs = [], None
    for ln in lines:
        lhs = ln.lhs if ln.lhs is not None else lhs
        out.append(dataclasses.replace(ln, check=Instantiated(sums, lhs, ln.rhs)))
    return out


@dataclass(frozen=True)
class Instances:
    """The index-sum derivation's ``answer`` for ∂E/∂wrt equals ``sympy.diff`` of the expanded
    error at every size of :attr:`IndexSums.sizes`."""

    sums: IndexSums
    answer: sp.Expr


@dataclass(frozen=True)
class Recomputes:
    """The network recomputes ``of`` and each of its losses from the computation list
    ``model`` (``[(name, expr), ...]``)."""

    network: Network
    model: Sequence[tuple[str, sp.Expr]]
    of: str


@dataclass(frozen=True)
class Regions:
    """The decision-region ``analysis`` is exact for ``expr``, the network's own formula."""

    analysis: Analysis
    expr: sp.Expr


@dataclass(frozen=True)
class Numbers:
    """The worked numbers of a backward pass ``bp`` at the leaf values ``at``: ``values`` (node ->
    exact value), ``deltas`` (node -> exact δ), ``gradients`` (target -> exact value), each
    recomputed node by node at high precision; each gradient equal to the part's symbolic
    ``answers`` evaluated exactly at the point and to central finite differences of the loss, each
    δ to central finite differences in its node; ``shown`` (what, exact value, the rounding to
    ``digits`` significant digits that is printed) each the rounding of its value."""

    bp: BackwardPass
    at: dict[str, sp.Expr]
    values: dict[str, sp.Expr]
    deltas: dict[str, sp.Expr]
    gradients: dict[str, sp.Expr]
    answers: dict[str, sp.Expr]
    shown: tuple[tuple[str, sp.Expr, str], ...]
    digits: int


Claim = Answer | AtRandomPoints | Gradients | Instances | Recomputes | Regions | Numbers
LineCheck = tuple[sp.Expr, sp.Expr] | Instantiated  # what a derivation line may claim
