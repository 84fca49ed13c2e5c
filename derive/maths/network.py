"""Networks: the layered neurons behind an expression or an exercise's computation list.

Conventions
-----------
* Neuron ``j`` reads sources ``s_i`` (network inputs or earlier neurons) and computes the
  pre-activation ``z_j = sum_i w_ij s_i + b_j`` and the output ``a_j = f_j(z_j)``.
* Layer 0 holds the inputs; a neuron's layer is one more than its deepest source, so nested units
  form deeper layers and a source may skip layers (an input feeding the output directly).
* Weights and biases are SymPy expressions: exact Rationals when the network comes from an
  expression such as ``1 - relu(x1) - relu(x2) + relu(x1 + x2)``, weight symbols (``w13``) when it
  comes from a computation list such as ``z3 = x1*w13 + x2*w23``, ``a3 = tanh(z3)``.
* A unit in an expression is ``relu(u)``, ``max(0, u)``, ``leaky_relu(u, a)``, ``max(u, a u)``,
  ``|u|``, ``tanh(u)``, ``sigmoid(u)`` or ``softplus(u)`` with ``u`` affine in the inputs and
  earlier units. ``max(u, v) = v + relu(u - v)`` and ``min(u, v) = v - relu(v - u)`` become
  ReLU units.
* In a computation list, ``z = <affine>`` read only by ``a = f(z)`` is one neuron (the z/a pair);
  any other affine assignment is a linear (identity) neuron. A quantity that is neither (``E =
  log(cosh(y - t))``) is a loss node; the free symbols only it reads (``t``) are targets. A
  quantity that reads a loss node is a loss node too (a regularised objective ``J = L + s``), and
  the terms of a loss that read no node (the regulariser ``s = λ/2 (w1² + w2²)``, also when it is
  written into ``E = (y - t)**2/2 + s``) belong to the loss node: their symbols are parameters,
  not sources or targets.
* Inputs are the ``inputs`` given, else the free symbols whose names start with ``x``, else all free
  symbols. Assignments that do not depend on the inputs (``w13 = log(1 + exp(v))``) define
  parameters and stay symbols.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sympy as sp

from derive.errors import InputError
from derive.maths.functions import CATALOGUE, leaky_relu, relu, symbol

Z = symbol("z")  # the argument in an activation's formula f(z)
PIECEWISE_LINEAR = ("relu", "leaky_relu", "abs", "identity")
# the one-argument activation units of the function catalogue: class -> neuron kind
_UNARY = {f.cls: f.activation for f in CATALOGUE if f.activation and f.nargs == 1}


@dataclass(frozen=True)
class Activation:
    """``f(z)``; ``slopes = (slope for z < 0, slope for z > 0)`` when f is piecewise linear."""

    kind: str  # relu, leaky_relu, abs, identity, tanh, sigmoid, softplus, other
    formula: sp.Expr  # f(Z)
    slopes: tuple[sp.Rational, sp.Rational] | None = None

    def __call__(self, arg: sp.Expr) -> sp.Expr:
        return self.formula.xreplace({Z: arg})

    @property
    def piecewise_linear(self) -> bool:
        return self.slopes is not None


class Nonlinearity(sp.Basic):
    """The name of an activation as a neuron shows it: ρ, σ, tanh, |·|, id, LReLU_a (the printers
    write it in the sheet's notation)."""

    def __new__(cls, kind: str, slope: sp.Expr = sp.S.Zero):
        return sp.Basic.__new__(cls, sp.Symbol(kind), sp.sympify(slope))

    @property
    def kind(self) -> str:
        return self.args[0].name

    @property
    def slope(self) -> sp.Expr:
        """The slope for z < 0 of a leaky ReLU (0 otherwise)."""
        return self.args[1]


def nonlinearity(act: Activation) -> Nonlinearity | None:
    """The name of a known activation (None for ``other``, which has only its formula)."""
    if act.kind == "leaky_relu":
        return Nonlinearity(act.kind, act.slopes[0])
    return Nonlinearity(act.kind) if act.kind != "other" else None


def activation(formula: sp.Expr) -> Activation:
    """Classify ``f(Z)``: the known activations by name, anything else as ``other``."""
    f = rationalize(formula)
    one, zero = sp.Integer(1), sp.Integer(0)
    if f == Z:
        return Activation("identity", f, (one, one))
    if f in (relu(Z), sp.Max(0, Z)):
        return Activation("relu", relu(Z), (zero, one))
    if f == sp.Abs(Z):
        return Activation("abs", f, (-one, one))
    if isinstance(f, leaky_relu) and f.args[0] == Z and f.args[1].is_Rational:
        return Activation("leaky_relu", f, (f.args[1], one))
    if isinstance(f, sp.Max) and len(f.args) == 2 and Z in f.args:
        other = f.args[1] if f.args[0] == Z else f.args[0]
        ratio = sp.simplify(other / Z)
        if ratio.is_Rational and 0 <= ratio < 1:
            return activation(leaky_relu(Z, ratio))
    for cls, kind in _UNARY.items():
        if f == cls(Z):
            return Activation(kind, f)
    return Activation("other", f)


@dataclass(frozen=True)
class Neuron:
    """``name = f(sum_i w_i source_i + bias)``; ``pre`` names its z when the sheet does."""

    name: str
    layer: int
    activation: Activation
    weights: tuple[tuple[str, sp.Expr], ...]  # (source, weight), zero weights omitted
    bias: sp.Expr
    pre: str | None = None

    def preactivation(self, value: dict[str, sp.Expr]) -> sp.Expr:
        return sp.Add(*(w * value[s] for s, w in self.weights)) + self.bias


@dataclass(frozen=True)
class Loss:
    """A non-neuron quantity read from the network's outputs, e.g. ``E = log(cosh(y - t))``."""

    name: str
    expr: sp.Expr  # in the model's names (reads outputs and targets)
    sources: tuple[str, ...]
    layer: int


@dataclass(frozen=True)
class Network:
    inputs: tuple[str, ...]
    neurons: tuple[Neuron, ...]  # by layer, then by order within the layer
    outputs: tuple[str, ...]  # neurons that no neuron reads
    targets: tuple[str, ...] = ()
    losses: tuple[Loss, ...] = ()

    def neuron(self, name: str) -> Neuron:
        return next(n for n in self.neurons if n.name == name)

    @property
    def depth(self) -> int:
        return max((n.layer for n in self.neurons), default=0)

    @property
    def piecewise_linear(self) -> bool:
        return all(n.activation.piecewise_linear for n in self.neurons)

    def values(self, inputs: dict[str, sp.Expr] | None = None) -> dict[str, sp.Expr]:
        """Every node's value as an expression in the inputs (or at the given input values)."""
        value: dict[str, Any] = {x: symbol(x) for x in self.inputs}
        value.update(inputs or {})
        for t in self.targets:
            value[t] = symbol(t)
        for n in self.neurons:
            value[n.name] = n.activation(n.preactivation(value))
        for loss in self.losses:
            value[loss.name] = loss.expr.xreplace({symbol(k): v for k, v in value.items()})
        return value

    def to_json(self) -> dict[str, Any]:
        return {
            "inputs": list(self.inputs),
            "neurons": [
                {
                    "name": n.name,
                    "pre": n.pre,
                    "layer": n.layer,
                    "activation": n.activation.kind,
                    "f": sp.sstr(n.activation.formula),
                    "bias": sp.sstr(n.bias),
                    "weights": {s: sp.sstr(w) for s, w in n.weights},
                }
                for n in self.neurons
            ],
            "outputs": list(self.outputs),
            "targets": list(self.targets),
            "losses": [{"name": c.name, "expr": sp.sstr(c.expr)} for c in self.losses],
        }


def rationalize(expr: sp.Expr) -> sp.Expr:
    """Floats written in a sheet (``0.5``) become the exact rationals they denote."""
    floats = expr.atoms(sp.Float)
    return expr.xreplace({f: sp.Rational(str(f)) for f in floats}) if floats else expr


# --- building ----------------------------------------------------------------------------------
class _Builder:
    """Turns assignments into neurons; see the module docstring for the rules."""

    def __init__(self, defs: dict[str, sp.Expr], inputs: Sequence[str]):
        self.defs = defs
        self.inputs = tuple(inputs)
        self.units: set[str] = set(self.inputs)  # names whose value is a node
        self.dependent: set[str] = set(self.inputs)  # names that depend on the inputs
        self.specs: list[dict[str, Any]] = []  # neurons in creation order
        self.anonymous: dict[tuple, str] = {}
        self.losses: set[str] = set()
        self.reserved = set(defs) | {s.name for e in defs.values() for s in e.free_symbols}

    def depends(self, expr: sp.Expr) -> bool:
        return any(s.name in self.dependent for s in expr.free_symbols)

    def new_neuron(self, name, kind_formula, terms, pre=None) -> str:
        bias = terms.pop(None, sp.Integer(0))
        spec = {"name": name, "activation": activation(kind_formula), "terms": terms,
                "bias": bias, "pre": pre}
        self.specs.append(spec)
        self.units.add(name)
        self.dependent.add(name)
        return name

    def rename(self, old: str, new: str) -> None:
        for spec in self.specs:
            if spec["name"] == old:
                spec["name"] = new
            spec["terms"] = {(new if k == old else k): v for k, v in spec["terms"].items()}
        self.anonymous = {k: (new if v == old else v) for k, v in self.anonymous.items()}
        self.units.discard(old)
        self.units.add(new)

    def unit(self, formula: sp.Expr, arg: sp.Expr) -> dict[Any, sp.Expr]:
        """An anonymous neuron ``formula(arg)``; identical units are shared."""
        terms = self.affine(arg)
        key = (formula, tuple(sorted(((str(k), v) for k, v in terms.items()), key=str)))
        if key not in self.anonymous:
            self.anonymous[key] = self.new_neuron(f"\0{len(self.anonymous)}", formula, terms)
        return {self.anonymous[key]: sp.Integer(1)}

    def affine(self, e: sp.Expr) -> dict[Any, sp.Expr]:
        """``{source: weight, None: bias}`` with e = sum weight * source + bias."""
        if not self.depends(e):
            return {None: e}
        if isinstance(e, sp.Symbol):
            if e.name in self.units:
                return {e.name: sp.Integer(1)}
            if e.name in self.losses:
                raise InputError(f"{e.name} is not a neuron, so no neuron can read it")
            raise InputError(f"{e.name} is used before it is computed")
        if isinstance(e, sp.Add):
            out: dict[Any, sp.Expr] = {}
            for arg in e.args:
                for k, v in self.affine(arg).items():
                    out[k] = out.get(k, 0) + v
            return {k: v for k, v in out.items() if k is None or sp.expand(v) != 0}
        if isinstance(e, sp.Mul):
            dep = [f for f in e.args if self.depends(f)]
            if len(dep) > 1:
                raise InputError(
                    f"{sp.sstr(e)} multiplies {sp.sstr(dep[0])} by {sp.sstr(dep[1])}, both of "
                    "which depend on the inputs, so it is not a weighted sum"
                )
            coeff = sp.Mul(*(f for f in e.args if f is not dep[0]))
            return {k: coeff * v for k, v in self.affine(dep[0]).items()}
        return self.function(e)

    def function(self, e: sp.Expr) -> dict[Any, sp.Expr]:
        if isinstance(e, (sp.Max, sp.Min)):
            args = sorted(e.args, key=lambda a: (self.depends(a), sp.count_ops(a),
                                                 sp.default_sort_key(a)))
            v, rest = args[0], args[1:]
            u = type(e)(*rest) if len(rest) > 1 else rest[0]
            if isinstance(e, sp.Max):
                if v == 0:
                    return self.unit(relu(Z), u)
                for big, small in ((u, v), (v, u)):
                    ratio = sp.simplify(small / big)
                    if ratio.is_Rational and 0 < ratio < 1:
                        return self.unit(leaky_relu(Z, ratio), big)
                return _add(self.affine(v), self.unit(relu(Z), u - v))
            if v == 0:
                return {k: -w for k, w in self.unit(relu(Z), -u).items()}
            relu_part = self.unit(relu(Z), v - u)
            return _add(self.affine(v), {k: -w for k, w in relu_part.items()})
        if isinstance(e, leaky_relu) and not self.depends(e.args[1]):
            return self.unit(leaky_relu(Z, e.args[1]), e.args[0])
        for cls in _UNARY:
            if isinstance(e, cls):
                return self.unit(cls(Z), e.args[0])
        raise InputError(
            f"{sp.sstr(e)} is not a network unit: a network is a weighted sum of units relu(u), "
            "max(u, v), min(u, v), |u|, leaky_relu(u, a), tanh(u), sigmoid(u), softplus(u) of "
            "weighted sums u, v of the inputs and earlier units"
        )


def _add(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return out


def _closure(defs: dict[str, sp.Expr], roots: Sequence[str]) -> set[str]:
    """The names in ``roots`` and every model quantity they are computed from."""
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in seen or name not in defs:
            continue
        seen.add(name)
        stack.extend(s.name for s in defs[name].free_symbols)
    return seen


def _is_affine_in(expr: sp.Expr, var: sp.Symbol) -> bool:
    return not sp.diff(expr, var).has(var)


def _natural(name: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def build_network(
    model: Sequence[tuple[str, sp.Expr]],
    of: str,
    inputs: Sequence[str] | None = None,
    include_loss: bool = True,
) -> Network:
    """The network computing ``of`` from a computation list ``[(name, expr), ...]`` in order.

    With ``include_loss`` the assignments that read ``of`` (a loss such as ``E = (y - t)**2``) are
    included too. Raises :class:`InputError` saying why when the computation is not a network.
    """
    order = [name for name, _ in model]
    defs = {name: rationalize(expr) for name, expr in model}
    if of not in defs:
        raise InputError(f"{of!r} is not defined in the model (it defines {', '.join(order)})")
    roots = [of]
    if include_loss:
        roots += [n for n in order if n != of and of in _closure(defs, [n])]
    names = _closure(defs, roots)
    free = sorted({s.name for n in names for s in defs[n].free_symbols} - set(defs), key=_natural)
    if inputs is None:
        inputs = [s for s in free if s.startswith("x")] or free
    for x in inputs:  # an input may be unused (y = relu(x1) on the (x1, x2) plane)
        if x in defs:
            raise InputError(f"input {x!r} is computed in the model, so it is not an input")
    todo = [n for n in order if n in names]
    b = _Builder({n: defs[n] for n in todo}, sorted(inputs, key=_natural))
    for n in todo:
        if b.depends(defs[n]):
            b.dependent.add(n)
    readers = {n: [m for m in todo if symbol(n) in defs[m].free_symbols] for n in todo}
    pre_of: dict[str, str] = {}  # activation output -> its pre-activation (the z/a pairs)
    for n in todo:
        if n in b.dependent and len(readers[n]) == 1:
            a = readers[n][0]
            if defs[a].free_symbols == {symbol(n)} and not _is_affine_in(defs[a], symbol(n)):
                pre_of[a] = n
    losses: list[tuple[str, sp.Expr]] = []
    for n in todo:
        e = defs[n]
        if n not in b.dependent or n in pre_of.values():
            continue
        if n in pre_of:
            z = pre_of[n]
            b.new_neuron(n, e.xreplace({symbol(z): Z}), b.affine(defs[z]), pre=z)
            continue
        try:
            terms = b.affine(e)
        except InputError as err:
            reads = {s.name for s in e.free_symbols}
            if n == of and not include_loss or not (reads & (b.units | b.losses)) - set(
                b.inputs
            ) or (reads & set(b.inputs)):
                raise InputError(f"{n} = {sp.sstr(e)} is not a network: {err.message}") from None
            losses.append((n, e))  # reads neurons (not inputs) but is none: a loss
            b.losses.add(n)
            continue
        anon = [k for k in terms if isinstance(k, str) and k.startswith("\0")]
        if len(terms) == 1 and len(anon) == 1 and terms[anon[0]] == 1:
            b.rename(anon[0], n)  # a = tanh(x1*w13 + ...) is one neuron, named a
        else:
            b.new_neuron(n, Z, terms)
    if not b.specs:
        raise InputError(f"{of} = {sp.sstr(defs[of])} has no neurons: it is not a network")
    return _finish(b, losses)


def _finish(b: _Builder, losses: list[tuple[str, sp.Expr]]) -> Network:
    layer: dict[str, int] = {x: 0 for x in b.inputs}
    for spec in b.specs:
        layer[spec["name"]] = 1 + max((layer[k] for k in spec["terms"]), default=0)
    # unnamed hidden units are numbered h1, h2, ... by layer, then by their weights
    anon = sorted(
        (s for s in b.specs if s["name"].startswith("\0")),
        key=lambda s: (layer[s["name"]], _terms_key(s["terms"], b.inputs)),
    )
    prefix = next(p for p in ("h", "u", "v", "q")
                  if not any(re.fullmatch(rf"{p}\d+", r) for r in b.reserved))
    new_name = {s["name"]: f"{prefix}{i + 1}" for i, s in enumerate(anon)}
    rank = {s["name"]: i for i, s in enumerate(anon)}
    specs = sorted(enumerate(b.specs), key=lambda ts: (
        layer[ts[1]["name"]], rank.get(ts[1]["name"], -1), ts[0]))
    position = {x: i for i, x in enumerate(b.inputs)}
    for i, (_, spec) in enumerate(specs):
        position[spec["name"]] = len(position) + i
    neurons = []
    for _, spec in specs:
        old = spec["name"]
        weights = tuple(
            (new_name.get(k, k), v)
            for k, v in sorted(spec["terms"].items(), key=lambda kv: position[kv[0]])
        )
        neurons.append(Neuron(new_name.get(old, old), layer[old], spec["activation"], weights,
                              spec["bias"], spec["pre"]))
    read = {s for n in neurons for s, _ in n.weights}
    outputs = tuple(n.name for n in neurons if n.name not in read)
    nodes = {n.name: n.layer for n in neurons} | {x: 0 for x in b.inputs}
    targets: list[str] = []
    loss_nodes = []
    for name, e in losses:
        # the terms that read no node (a regulariser s in J = L + s) are the loss node's own:
        # their parameters are neither sources nor targets
        read = [symbol(s) for s in nodes]
        data = sp.expand(e, deep=False).as_independent(*read, as_Add=True)[1]
        srcs = sorted((s.name for s in data.free_symbols), key=_natural)
        targets += [s for s in srcs if s not in nodes and s not in targets]
        depth = 1 + max((nodes.get(s, 0) for s in srcs), default=0)
        nodes[name] = depth
        loss_nodes.append(Loss(name, e, tuple(srcs), depth))
    return Network(b.inputs, tuple(neurons), outputs, tuple(targets), tuple(loss_nodes))


def _terms_key(terms: dict, inputs: Sequence[str]) -> tuple:
    """Order hidden units by their input weights: (1, 0) before (0, 1) before (1, 1)."""
    weights = [terms.get(k, sp.Integer(0)) for k in inputs]
    nonzero = tuple(i for i, w in enumerate(weights) if w != 0)
    return (len(nonzero), nonzero, tuple(sp.default_sort_key(w) for w in weights),
            sp.default_sort_key(terms.get(None, sp.Integer(0))), tuple(sorted(map(str, terms))))


def network_from_expr(
    expr: sp.Expr, output: str = "y", inputs: Sequence[str] | None = None
) -> Network:
    """The network of ``output = expr``."""
    return build_network([(output, expr)], output, inputs, include_loss=False)


# --- the model's expressions -------------------------------------------------------------------
def expanded(model: Sequence[tuple[str, sp.Expr]], name: str, keep: set[str]) -> sp.Expr:
    """``name``'s expression with every model quantity substituted, except those in ``keep``."""
    defs = {n: rationalize(e) for n, e in model}
    expr = defs[name]
    for _ in range(len(defs) + 1):
        new = expr.xreplace({symbol(n): e for n, e in defs.items() if n not in keep})
        if new == expr:
            break
        expr = new
    return expr
