"""The solution model: what a task produces and the templates render.

A task never formats text. It returns a :class:`Solution`, a sequence of blocks, whose words are
plain strings (``*emphasis*`` allowed, never ``$``) and whose mathematics is data:

* :class:`Math`: a SymPy object inside a sentence, printed by each printer in its own notation;
* :class:`Note`: a fixed formula or phrase named by kind (``"derivative-rule"``, ...) with its
  arguments; each printer has a template for every kind (:mod:`derive.render.prose`);
* :class:`Prose`: a sentence made of strings, :class:`Math` and :class:`Note` parts
  (:func:`prose`; :func:`joined` for a list such as "a, b and c");
* :class:`Rules`: a line's rule annotation of several reasons (each of the above), which the
  printers join; built by :func:`rules`, taken apart by :func:`reasons`, never by splitting text.

``data`` values are JSON values, SymPy objects (each writer prints them in SymPy syntax in its
term order) or the above (printed as sheet markup).

Blocks:

* :class:`Text`: a sentence (a string or :class:`Prose`);
* :class:`Align`: derivation lines ``lhs = rhs`` each with a short rule annotation, rendered as an
  ``aligned`` environment; every :class:`Line` with a ``check`` is verified (the verify step,
  :mod:`derive.verify.solution`, gives each line its :class:`~derive.verify.verdict.Verdict`);
* :class:`Table`: a table whose cells are markup strings or SymPy objects (printed as math);
* :class:`Figure`: a drawing, as a model of what to draw (:class:`NetworkDrawing`,
  :class:`RegionDrawing`, :class:`CircuitDrawing`); :mod:`derive.render.figures` draws it as
  TikZ and SVG.

Lines hold SymPy objects for display (``lhs``/``rhs``, which may contain unevaluated Leibniz
derivatives and products) and, separately, the claim that is checked: the concrete equality
``check = (a, b)``, both sides in the sheet's quantities, or an equality of index sums checked on
concrete instances. A line without a check is a definition (``u_1 = y - t``) and says so. What a
solution claims besides its lines (an answer equals ``sympy.diff``, a network recomputes the
model, ...) is in ``Solution.claims`` (:mod:`derive.verify.claims`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sympy as sp

from derive.sheet.model import Exercise, Part
from derive.verify.summary import Summary
from derive.verify.verdict import Verdict


@dataclass(frozen=True)
class Math:
    """A formula in a sentence. ``notation``/``order`` are the exercise's notation and the task's
    term order when the task has them (None: SymPy's names and order)."""

    expr: sp.Basic
    notation: dict[str, str] | None = field(default=None, compare=False, hash=False)
    order: Any = field(default=None, compare=False, hash=False)  # a TermOrder, or None


@dataclass(frozen=True)
class Note:
    """A fixed formula or phrase, by kind; its arguments are SymPy objects, strings or numbers."""

    kind: str
    args: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Prose:
    """A sentence: strings (words, no ``$``), :class:`Math` and :class:`Note` parts in order."""

    parts: tuple[str | Math | Note, ...]

    def __add__(self, other: Inline) -> Prose:
        return Prose(self.parts + (other.parts if isinstance(other, Prose) else (other,)))

    def __radd__(self, other: str | Math | Note) -> Prose:
        return Prose((other,) + self.parts)


def prose(*parts: Inline) -> Prose:
    """``prose("The derivative of ", Math(y), " is:")``; nested Prose parts are flattened."""
    flat: list[str | Math | Note] = []
    for part in parts:
        flat.extend(part.parts if isinstance(part, Prose) else (part,))
    return Prose(tuple(flat))


Inline = str | Math | Note | Prose  # what a sentence, a rule note, a caption or a cell may be


def joined(items: Sequence[Inline], sep: str = ", ", last: str | None = None) -> Prose:
    """The items in order with ``sep`` between them, ``last`` (default ``sep``) before the last
    one: ``joined([a, b, c], ", ", " and ")`` reads "a, b and c"."""
    parts: list[Inline] = []
    for i, item in enumerate(items):
        if i:
            parts.append(last if last is not None and i == len(items) - 1 else sep)
        parts.append(item)
    return prose(*parts)


@dataclass(frozen=True)
class Rules:
    """A rule annotation made of several reasons in order, printed one after another with
    ``"; "`` between them (``chain rule; tanh' = 1 - tanh^2``). Build it with :func:`rules`;
    read the reasons back with :func:`reasons`."""

    items: tuple[Inline, ...]


Annotation = Inline | Rules  # what a line's rule may be


def rules(*items: Annotation) -> Annotation:
    """The annotation made of ``items`` in order: empty ones ("") left out, nested
    :class:`Rules` flattened, repeats kept (a caller that wants them dropped drops them). ``""``
    for no reason, the reason itself for one, :class:`Rules` for several."""
    flat = tuple(r for item in items for r in reasons(item))
    if not flat:
        return ""
    return flat[0] if len(flat) == 1 else Rules(flat)


def reasons(rule: Annotation) -> tuple[Inline, ...]:
    """The reasons of an annotation, in order: the items of :class:`Rules`, none for ``""``,
    else the annotation itself."""
    if isinstance(rule, Rules):
        return rule.items
    return (rule,) if rule != "" else ()


@dataclass(frozen=True)
class Line:
    """One line of a derivation: ``lhs = rhs`` justified by ``rule``."""

    lhs: sp.Basic | None  # None: continuation line (``= rhs``) of the previous lhs
    rhs: sp.Basic
    rule: Annotation = ""
    # the claim the line makes: a pair (a, b) both in the sheet's quantities, or an equality of
    # index sums (derive.verify.claims.Instantiated); None: a definition, nothing to check
    check: Any = None
    verified_by: str = ""  # the label of ``verdict``, set with it by verification
    relation: str = "="  # "=" or ":=" (a definition)
    verdict: Verdict | None = None  # set by verification

    def verified(self, verdict: Verdict) -> Line:
        return replace(self, verdict=verdict, verified_by=verdict.label)


@dataclass(frozen=True)
class Text:
    text: Inline


@dataclass(frozen=True)
class Align:
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class Table:
    header: tuple[Inline, ...]
    rows: tuple[tuple[Any, ...], ...]  # cells: Inline, or a SymPy object (displayed math)
    caption: Inline = ""


@dataclass(frozen=True)
class Value:
    """A number a figure writes: ``text`` is a decimal (or fraction) as LaTeX math (``-0.3``,
    ``1/3``, ``1.234 \\cdot 10^{-5}``); ``exact`` is False when it is rounded (written after ≈)."""

    text: str
    exact: bool = True


@dataclass(frozen=True)
class NetworkValues:
    """The numbers a network diagram carries at a variant's values: ``values`` for every
    quantity drawn (inputs, targets, weights and biases by their symbols' names, each neuron's
    pre-activation and activation, each loss), ``deltas`` (node -> (δ symbol, value)) and
    ``notes`` (quantity, value) written in a legend below the drawing: the asked gradients and
    any leaf the drawing has no place for."""

    values: dict[str, Value]
    deltas: dict[str, tuple[Any, Value]] = field(default_factory=dict)
    notes: tuple[tuple[Any, Value], ...] = ()


@dataclass(frozen=True)
class NetworkDrawing:
    """A network diagram of ``net`` (a :class:`derive.maths.network.Network`: inputs, neurons
    with their weights, biases and nonlinearities, losses with their targets), labelled in the
    exercise's ``notation`` with terms in the order of ``names``; ``title`` names the picture.
    With ``values`` (a variant's numbers) each edge carries its weight's value, each node its
    value(s) and δ, and a legend below the drawing the asked gradients."""

    net: Any
    notation: dict[str, str] = field(default_factory=dict)
    names: tuple[str, ...] = ()
    title: str = ""
    values: NetworkValues | None = None


@dataclass(frozen=True)
class RegionDrawing:
    """The decision regions of ``analysis`` (a :class:`derive.maths.regions.Analysis`: window,
    class regions, decision boundary, piece boundaries, symmetries) with the class names
    ``classes`` (``negative``, ``positive``: sheet markup), labelled in ``notation``."""

    analysis: Any
    classes: dict[str, str]
    notation: dict[str, str] = field(default_factory=dict)
    title: str = ""
    points: tuple[tuple[Any, Any], ...] = ()  # the exercise's data points (x1, x2), marked


@dataclass(frozen=True)
class CircuitDrawing:
    """A computation graph with numbers, like a CS231n circuit diagram: ``nodes`` (name, kind:
    ``input``, ``target``, ``neuron``, ``loss``) in topological order, ``edges`` (reader, read),
    each node's ``value`` written above it and, where the derivation has one, its gradient below
    it: ``gradient[name] = (quantity, value)`` (a δ symbol or a derivative)."""

    nodes: tuple[tuple[str, str], ...]
    edges: tuple[tuple[str, str], ...]
    value: dict[str, Value]
    gradient: dict[str, tuple[Any, Value]]
    notation: dict[str, str] = field(default_factory=dict)
    names: tuple[str, ...] = ()
    title: str = ""


@dataclass(frozen=True)
class Figure:
    stem: str  # file name stem: figures/<stem>.svg and figures/<stem>.tex
    model: NetworkDrawing | RegionDrawing | CircuitDrawing  # what to draw, in no output format
    caption: Inline = ""


Block = Text | Align | Table | Figure


@dataclass(frozen=True)
class Derived:
    """A result a solution derived: ``d(expr)/d(var) = value``, in the part's own symbols. A
    later part that needs the same derivative (up to renaming its symbols) cites it instead of
    deriving it again (:meth:`derive.tasks.spec.Context.cite`)."""

    expr: sp.Expr
    var: sp.Symbol
    value: sp.Expr


@dataclass
class Solution:
    """What a task returns for one part; verification adds ``verdicts`` and ``summary``."""

    blocks: list[Block] = field(default_factory=list)
    answer: sp.Expr | None = None  # the part's main answer (None for drawing tasks)
    answers: dict[str, sp.Expr] = field(default_factory=dict)  # several named answers
    data: dict[str, Any] = field(default_factory=dict)  # task-specific fields (JSON values,
    # SymPy objects or prose: see above)
    # what the task claims besides its lines (derive.verify.claims), e.g. answer = sympy.diff
    claims: list[Any] = field(default_factory=list)
    verdicts: tuple[Verdict, ...] = ()  # set by verification: every line's, then every claim's
    summary: Summary | None = None  # set by verification: the verdicts tallied
    derived: list[Derived] = field(default_factory=list)  # results a later part may cite

    @property
    def verified_by(self) -> str:
        """The full account of the checks ("" before verification)."""
        return self.summary.account if self.summary is not None else ""

    def lines(self) -> list[Line]:
        return [ln for b in self.blocks if isinstance(b, Align) for ln in b.lines]


@dataclass
class PartResult:
    """One part of a sheet with its verified solution."""

    exercise: Exercise
    part: Part
    solution: Solution

    @property
    def name(self) -> str:
        return f"{self.exercise.number}{self.part.label}"
