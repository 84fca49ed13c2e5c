"""An exercise's model evaluated numerically at a draw, to accept or reject it.

:class:`Screen` compiles every node of the model once (mpmath, :data:`DPS` digits) and, for each
quantity a numeric part asks a gradient of, forward-mode derivatives through the graph
(``sympy.diff`` of each node's expression). :meth:`Screen.evaluate` lists why a draw is
degenerate, in a fixed order: a constraint that does not hold, a point on a kink of a piecewise
function (ReLU, leaky ReLU, abs, max, min, Heaviside), a saturated tanh or sigmoid
(``|z| > SATURATED``), a zero gradient for an asked quantity, or a value that is not a finite
real number. For an exercise that draws its network's weights (a decision-boundary part), a
draw that passes those is analysed exactly with the weights in the model
(:func:`region_reasons`): it is rejected when a neuron cancels, the regions cannot be computed,
the boundary covers an area, or a class is empty (or outside the window). The numbers here only
screen draws and print ranges (``derive stress``); the worked numbers of a variant are computed
exactly and verified (:mod:`derive.variants.numbers`), and its regions by the decision-boundary
task's own claims.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import mpmath
import sympy as sp

from derive.errors import InputError
from derive.maths.backprop import select
from derive.maths.functions import BY_NAME, CATALOGUE, to_elementary
from derive.maths.graph import Graph, build_graph
from derive.maths.network import build_network
from derive.maths.regions import NEG, POS
from derive.maths.regions import ZERO as ZERO_SIGN
from derive.sheet.model import Assignment, Exercise, Part
from derive.sheet.variants import NUMERIC_TASKS, REGION_TASKS
from derive.tasks.decision_boundary import analyse, class_names
from derive.tasks.network import model_for
from derive.tasks.spec import Context

DPS = 40
SATURATED = 4  # |z| above which tanh(z) and sigmoid(z) count as saturated
ZERO = mpmath.mpf(10) ** -25  # a gradient this small is zero
SATURATING_NAMES = ("tanh", "sigmoid")  # catalogue entries that saturate for large |z|


def _kinked(f) -> bool:
    """A catalogue function with a kink or a jump at 0: its derivative switches (Heaviside,
    sign, a Piecewise), or its derivations bring DiracDelta (a step)."""
    if "DiracDelta" in f.brings:
        return True
    if f.derivative is None:
        return False
    args = [sp.Symbol(f"u{k}", real=True) for k in range(f.nargs)]
    return sp.sympify(f.derivative(*args)).has(sp.Heaviside, sp.sign, sp.DiracDelta,
                                               sp.Piecewise)


KINKED = (*(f.cls for f in CATALOGUE if _kinked(f)), sp.Max, sp.Min)
SATURATING = tuple(BY_NAME[n].cls for n in SATURATING_NAMES)
COMPARE = {"!=": operator.ne, "==": operator.eq, "<": operator.lt, "<=": operator.le,
           ">": operator.gt, ">=": operator.ge}


def _fn(expr: sp.Expr, args: list[sp.Symbol]):
    return sp.lambdify(args, to_elementary(expr), modules="mpmath")


@dataclass(frozen=True)
class Asked:
    """A numeric part's gradients: the loss and the quantities it asks for."""

    label: str
    loss: str
    wrt: tuple[str, ...]


class Screen:
    """The model of ``ex`` compiled for numeric evaluation at draws."""

    def __init__(self, ex: Exercise):
        g = build_graph(ex.model)
        self.graph: Graph = g
        self.exercise = ex
        self.asked: list[Asked] = []
        for part in ex.parts:
            if part.task in NUMERIC_TASKS:
                loss, wrt = select(g, part.params.get("loss"), part.params["wrt"],
                                   lambda msg, key: InputError(msg))
                self.asked.append(Asked(part.label, loss, tuple(wrt)))
        self.value = {n: (list(g.parents[n]), _fn(g.exprs[n], [g.sym(p) for p in g.parents[n]]))
                      for n in g.order}
        self.partial = {n: {p: _fn(sp.diff(g.exprs[n], g.sym(p)), [g.sym(q) for q in
                                                                   g.parents[n]])
                            for p in g.parents[n]} for n in g.order}
        self.kinks: list[tuple[str, str, list]] = []  # (node, what, [argument functions])
        self.saturating: list[tuple[str, str, object]] = []
        for n in g.order:
            args = [g.sym(p) for p in g.parents[n]]
            for atom in sorted(g.exprs[n].atoms(*KINKED, *SATURATING), key=sp.default_sort_key):
                shown = sp.sstr(atom)
                if isinstance(atom, SATURATING):
                    self.saturating.append((n, shown, _fn(atom.args[0], args)))
                else:
                    self.kinks.append((n, shown, [_fn(a, args) for a in _kink_args(atom)]))
        self.regions = [(part, _neurons(ex, part)) for part in ex.parts
                        if part.task in REGION_TASKS]
        self.constraints = [(c.source, COMPARE[c.op],
                             _fn(c.lhs, [g.sym(s.name) for s in sorted(
                                 c.lhs.free_symbols, key=lambda s: s.name)]),
                             sorted(s.name for s in c.lhs.free_symbols),
                             _fn(c.rhs, [g.sym(s.name) for s in sorted(
                                 c.rhs.free_symbols, key=lambda s: s.name)]),
                             sorted(s.name for s in c.rhs.free_symbols))
                            for c in (ex.variants.constraints if ex.variants else ())]

    def forward(self, values: Mapping[str, sp.Rational]) -> dict[str, object]:
        """Every leaf and every node that ``values`` determine (mpmath numbers: all of them,
        unless the inputs of decision regions are left free); raises ValueError when one is
        not a finite real number."""
        env: dict[str, object] = {n: mpmath.mpf(int(v.p)) / int(v.q) for n, v in values.items()}
        for n in self.graph.order:
            parents, fn = self.value[n]
            if all(p in env for p in parents):
                env[n] = _real(fn(*[env[p] for p in parents]))
        return env

    def gradient(self, env: Mapping[str, object], loss: str, wrt: str):
        """d(loss)/d(wrt) at ``env`` in forward mode (each node's tangent from its parents')."""
        g = self.graph
        dot: dict[str, object] = {wrt: mpmath.mpf(1)}
        for n in g.order:
            if n == wrt:
                continue
            args = [env[p] for p in g.parents[n]]
            total = mpmath.mpf(0)
            for p in g.parents[n]:
                if dot.get(p, 0) != 0:
                    total += self.partial[n][p](*args) * dot[p]
            dot[n] = _real(total)
        return dot.get(loss, mpmath.mpf(0))

    def evaluate(self, values: Mapping[str, sp.Rational]
                 ) -> tuple[list[str], dict[str, object], dict[tuple[str, str], object]]:
        """``(reasons, env, gradients)``: why the draw is degenerate (empty: it is not), every
        quantity's value and every asked gradient ``(part label, wrt) -> value``."""
        with mpmath.workdps(DPS):
            try:
                env = self.forward(values)
            except (ValueError, ZeroDivisionError, TypeError, OverflowError):
                return ["a quantity is not a finite real number"], {}, {}
            reasons = []
            for source, op, lf, ln, rf, rn in self.constraints:
                if not op(lf(*[env[n] for n in ln]), rf(*[env[n] for n in rn])):
                    reasons.append(f"constraint {source}")
            for n, shown, fns in self.kinks:
                if n not in env:
                    continue
                args = [env[p] for p in self.graph.parents[n]]
                vals = [f(*args) for f in fns]
                if any(abs(a - b) < ZERO for i, a in enumerate(vals)
                       for b in (vals[i + 1:] if len(vals) > 1 else [0])):
                    reasons.append(f"a point on a kink: {shown} at {n}")
            for n, shown, fn in self.saturating:
                if n not in env:
                    continue
                z = fn(*[env[p] for p in self.graph.parents[n]])
                if abs(z) > SATURATED:
                    reasons.append(f"saturated {shown} (|z| > {SATURATED})")
            grads = {}
            for a in self.asked:
                for w in a.wrt:
                    try:
                        v = _real(self.gradient(env, a.loss, w))
                    except (ValueError, ZeroDivisionError, TypeError, OverflowError):
                        reasons.append("a gradient is not a finite real number")
                        continue
                    grads[(a.label, w)] = v
                    if abs(v) < ZERO:
                        reasons.append(f"zero gradient d{a.loss}/d{w}")
        if self.regions and not reasons:  # exact, so only for a draw that passed the rest
            model = numeric_model(self.exercise.model, values)
            for part, neurons in self.regions:
                reasons += region_reasons(self.exercise, part, model, neurons)
        return list(dict.fromkeys(reasons)), env, grads


def numeric_model(model: Sequence[Assignment], values: Mapping[str, sp.Rational]
                  ) -> tuple[Assignment, ...]:
    """``model`` with ``values`` in place of the names they are drawn for (each line keeps
    its source text, which the sheet's statement shows)."""
    subs = {s: values[s.name] for a in model for s in a.expr.free_symbols if s.name in values}
    return tuple(replace(a, expr=a.expr.xreplace(subs)) for a in model)


def _context(ex: Exercise, part: Part, model: Sequence[Assignment]) -> Context:
    return Context(file="", exercise=ex.number, label=part.label, model=tuple(model),
                   params=part.params, param_lines={}, line=None, notation=ex.notation,
                   names=ex.names)


def _neurons(ex: Exercise, part: Part) -> int | None:
    """How many neurons the part's network has with the weights as declared (symbols)."""
    try:
        model, of = model_for(_context(ex, part, ex.model))
        return len(build_network(model, of, part.params.get("inputs"),
                                 include_loss=False).neurons)
    except InputError:  # not a network: the part's task says why when it is solved
        return None


def region_reasons(ex: Exercise, part: Part, model: Sequence[Assignment],
                   neurons: int | None) -> list[str]:
    """Why a decision-boundary part's regions with the drawn weights (``model``) are
    degenerate: a neuron that cancels or vanishes (fewer than the ``neurons`` the declared
    network has), a network the regions cannot be computed for, a boundary that covers an area
    (y equals the threshold on a whole piece), a class that is empty, or one with no point in
    the window. Each reason names the part, and the class by its name."""
    ctx = _context(ex, part, model)
    where = f"({part.label})"
    try:
        a, net, _, _ = analyse(ctx)
    except InputError as e:
        return [f"a degenerate network {where}: {e.message}"]
    out = []
    if neurons is not None and len(net.neurons) < neurons:
        out.append(f"a degenerate network {where}: a neuron cancels or vanishes")
    signs = {r.sign for r in a.regions}
    if ZERO_SIGN in signs:
        out.append(f"a decision boundary that covers an area {where}")
    classes = class_names(ctx)
    for sign, name in ((NEG, classes["negative"]), (POS, classes["positive"])):
        if sign not in signs:
            out.append(f"an empty class region {where}: {name}")
        elif not any(r.window for r in a.regions if r.sign == sign):
            out.append(f"a class region outside the window {where}: {name}")
    return out


def _kink_args(atom: sp.Basic) -> list[sp.Expr]:
    """Where a piecewise function has its kink: the argument is 0 (one argument), or two
    arguments are equal (max, min)."""
    if isinstance(atom, sp.Max | sp.Min):
        return list(atom.args)
    return [atom.args[0]]


def _real(x):
    if isinstance(x, int | float):
        x = mpmath.mpf(x)
    if not isinstance(x, mpmath.mpf) or not mpmath.isfinite(x):
        raise ValueError("not a finite real number")
    return x
