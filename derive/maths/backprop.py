"""The backward pass: reverse-mode differentiation over a computation graph, as a TA writes it.

Conventions (stated on the sheets):

* **δ_j = ∂E/∂z_j**, the derivative of the loss with respect to a node. An *activation* node
  ``a = f(z)`` that reads a single node ``z``, where ``z`` feeds nothing else on the way to the
  loss, is folded into ``z``: it gets no δ of its own, and ``δ_z = f'(z) Σ_k (∂z_k/∂a) δ_k``, the
  textbook ``δ_j = f'(z_j) Σ_k w_jk δ_k`` (for affine ``z_k``, ``∂z_k/∂a_j = w_jk``). (The seed's
  handwritten solution calls ∂E/∂a "δ"; derive uses the standard ∂E/∂z and says so.)
* Every other node ``n`` on the way gets ``δ_n = ∂E/∂n = Σ_k (∂k/∂n) δ_k``. The loss gets none
  (∂E/∂E = 1), so a node read by the loss contributes ``∂E/∂n`` directly.
* Names: a pre-activation carrying a folded activation whose name ends in an index gets that index
  (``z3`` -> δ_3); every other node keeps its name (``y`` -> δ_y, the seed's δ_7; ``q`` -> δ_q).
* Only nodes on a path from a target to the loss get a δ. Each is computed once, in reverse
  topological order, and reused by every target: ``∂E/∂w = Σ_k (∂z_k/∂w) δ_k`` over the nodes
  that read ``w`` (one term for an ordinary weight, several for a weight used twice).

The sweep costs one local derivative per edge (on the terms of the expression that contain the
variable), so it is linear in the number of edges. Closed forms (every δ substituted, in forward
quantities) and fully substituted losses are only built below a size limit; the gradients of
deep graphs are claimed to agree with ``sympy.diff`` at random points instead, which the verifier
checks in forward mode (:mod:`derive.verify.gradients`).
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import sympy as sp
from sympy.core.mul import _keep_coeff

from derive.errors import InputError
from derive.maths import trees
from derive.maths.calculus import Local, factor_out, local_derivative, long_number, named_rewrites
from derive.maths.display import Dot, TermOrder
from derive.maths.functions import symbol
from derive.maths.graph import Graph

SYMBOLIC_LIMIT = 400  # tree nodes: larger closed forms / substituted losses are not built
SIMPLIFY_LIMIT = 80  # tree nodes: larger δ's are not tried for a shorter form

Fail = Callable[[str, str], InputError]  # (message, param key) -> located error


@dataclass(frozen=True)
class Edge:
    """One term of a backward sum: node ``consumer`` reads the quantity; ∂consumer/∂quantity."""

    consumer: str
    local: Local
    upstream: sp.Expr  # δ of the consumer, or 1 when the consumer is the loss

    @property
    def value(self) -> sp.Expr:
        return self.local.result * self.upstream


@dataclass(frozen=True)
class Delta:
    """δ of ``node`` = ∂E/∂node; ``activation`` is the folded ``a = f(node)``, if any."""

    node: str
    symbol: sp.Symbol
    activation: str | None
    activation_local: Local | None  # f'(node) = ∂activation/∂node
    edges: tuple[Edge, ...]  # over the consumers of the activation (or of the node)
    # a much shorter form written with the activation's own name: σ'(z) ∂L/∂p -> p - t
    simplified: sp.Expr | None = None

    @property
    def result(self) -> sp.Expr:
        """The δ as the derivation goes on with it: the simplified form when there is one."""
        return self.value if self.simplified is None else self.simplified

    @property
    def source(self) -> str:
        """The quantity the edges differentiate: the activation when folded, else the node."""
        return self.activation or self.node

    @property
    def value(self) -> sp.Expr:
        """f'(z) Σ_k (∂z_k/∂a) δ_k, in δ symbols and forward quantities."""
        total = sp.Add(*(e.value for e in self.edges))
        return self.activation_local.result * total if self.activation_local else total


@dataclass(frozen=True)
class Gradient:
    """∂E/∂wrt: through the δ of ``wrt`` when it is a node with one, else over its readers."""

    wrt: str
    edges: tuple[Edge, ...]
    delta: Delta | None = None

    @property
    def value(self) -> sp.Expr:
        if self.delta is not None:
            return self.delta.symbol
        return sp.Add(*(e.value for e in self.edges))


@dataclass(frozen=True)
class BackwardPass:
    graph: Graph
    loss: str
    wrt: tuple[str, ...]
    relevant: frozenset[str]  # nodes and targets on a path from a target to the loss
    deltas: tuple[Delta, ...]  # in the order computed (reverse topological)
    gradients: tuple[Gradient, ...]  # in the order of ``wrt``
    folded: Mapping[str, str]  # activation -> its pre-activation

    def delta(self, node: str) -> Delta:
        return next(d for d in self.deltas if d.node == node)

    @property
    def delta_symbols(self) -> dict[sp.Symbol, Delta]:
        return {d.symbol: d for d in self.deltas}

    @property
    def skipped(self) -> tuple[str, ...]:
        """Nodes that reach the loss but do not depend on any target (they get no δ)."""
        before = self.graph.ancestors(self.loss)
        return tuple(n for n in self.graph.order if n in before and n not in self.relevant)


# --- choosing the loss and the targets ----------------------------------------------------------
def select(graph: Graph, loss: str | None, wrt: str | Sequence[str], fail: Fail
           ) -> tuple[str, tuple[str, ...]]:
    """Validate ``loss`` (default: the last assignment in computation order, which is the last
    one written when the list is written in order) and ``wrt`` (a name, names or "all")."""
    if not graph.order:
        raise fail("the model has no assignments", "model")
    if loss is None:
        loss = graph.order[-1]  # the last assignment, in computation order
    elif not isinstance(loss, str) or not graph.is_node(loss):
        raise fail(f"loss {loss!r} is not assigned in the model (assigned: "
                   f"{', '.join(graph.exprs)})", "loss")
    if isinstance(wrt, (list, tuple)) and list(wrt) == ["all"] and "all" not in graph:
        wrt = "all"  # --wrt all at the terminal
    if isinstance(wrt, str):
        wrt = list(graph.parameters) if wrt == "all" else [wrt]
        if not wrt:
            raise fail("wrt = \"all\" but the model has no parameters (declare them with "
                       "parameters = [...])", "wrt")
    if not isinstance(wrt, (list, tuple)) or not wrt or not all(isinstance(w, str) for w in wrt):
        raise fail("wrt must be a name, a list of names or \"all\"", "wrt")
    for w in wrt:
        if w not in graph:
            raise fail(f"wrt {w!r} is not a name in the model (names: "
                       f"{', '.join(graph.names)})", "wrt")
        if w == loss:
            raise fail(f"wrt {w!r} is the loss itself", "wrt")
    return loss, tuple(dict.fromkeys(wrt))


# --- the sweep -----------------------------------------------------------------------------------
def backward(graph: Graph, loss: str, wrt: Sequence[str], order: TermOrder | None = None
             ) -> BackwardPass:
    """The backward pass from ``loss`` to the targets ``wrt`` (validated by :func:`select`)."""
    g = graph
    before_loss = g.ancestors(loss) | {loss}
    relevant = frozenset(
        n for w in wrt for n in (g.descendants(w) | {w}) if n in before_loss)
    readers = {n: tuple(k for k in g.consumers.get(n, ()) if k in relevant) for n in relevant}
    reserved = [n for n in g.names if n[:1] in "uvgqp"]  # all the intermediate namer needs

    def local(k: str, var: str) -> Local:
        expr, v = g.exprs[k], g.sym(var)
        dropped = False
        if isinstance(expr, sp.Add):  # only the terms that contain var: linear in the edges
            kept = [t for t in expr.args if t.has(v)]
            dropped = len(kept) < len(expr.args)
            expr = sp.Add(*kept)
        loc = local_derivative(expr, v, reserved=reserved, order=order)
        if not loc.rules:
            return Local(loc.result, ("linearity",), loc.lines)
        if dropped and loc.result.has(v) and "sum rule" not in loc.rules:
            # a nonlinear term of a sum: the other terms' derivatives are 0 (a linear one says
            # "linear in v", which covers them)
            return dataclasses.replace(loc, rules=("sum rule", *loc.rules))
        return loc

    folded: dict[str, str] = {}
    for a in g.order:
        if a not in relevant or a == loss or a in wrt:
            continue
        nodes = [p for p in g.parents[a] if g.is_node(p)]
        if len(nodes) != 1 or any(p in wrt and p != nodes[0] for p in g.parents[a]):
            continue  # a = f(z) only; a target leaf read by a needs a term of its own
        z = nodes[0]
        if z in relevant and z != loss and z not in folded and readers[z] == (a,):
            folded[a] = z
    activation_of = {z: a for a, z in folded.items()}
    owners = [n for n in reversed(g.order) if n in relevant and n != loss and n not in folded]
    names = _delta_names(g, owners, activation_of)

    def upstream(k: str) -> sp.Expr:
        return sp.S.One if k == loss else names[k]

    deltas: dict[str, Delta] = {}
    for n in owners:
        a = activation_of.get(n)
        src = a or n
        edges = tuple(Edge(k, local(k, src), upstream(k)) for k in readers[src])
        d = Delta(n, names[n], a, local(a, n) if a else None, edges)
        deltas[n] = dataclasses.replace(d, simplified=_simplify(g, d))

    gradients = []
    for w in wrt:
        if w in deltas:
            gradients.append(Gradient(w, (), deltas[w]))
        else:
            ks = readers.get(w, ())
            gradients.append(Gradient(w, tuple(Edge(k, local(k, w), upstream(k)) for k in ks)))
    return BackwardPass(g, loss, tuple(wrt), relevant, tuple(deltas.values()),
                        tuple(gradients), folded)


def _simplify(g: Graph, d: Delta) -> sp.Expr | None:
    """δ written with the activation's name (σ(z) -> p where p = σ(z)) and cancelled, when that
    is much shorter: the classic δ = p - t of a sigmoid output under cross-entropy."""
    if d.activation is None or g.sym(d.activation) not in d.value.free_symbols:
        return None  # only when the activation's name is already there (∂L/∂p = -t/p + ...)
    if trees.size(d.value) > SIMPLIFY_LIMIT:
        return None
    f_z = g.exprs[d.activation]
    named = d.value.xreplace({f_z: g.sym(d.activation)})
    if named == d.value:
        return None
    if not trees.factorable(named):
        return None
    candidate = sp.factor(sp.cancel(named))
    return candidate if trees.size(candidate) <= 0.6 * trees.size(d.value) else None


_INDEXED = re.compile(r"^[A-Za-z]+_?(\d+)$")


def _delta_names(g: Graph, owners: list[str], activation_of: Mapping[str, str]
                 ) -> dict[str, sp.Symbol]:
    index = {n: m.group(1) for n in owners
             if n in activation_of and (m := _INDEXED.match(n))}
    counts = Counter(index.values())
    taken = set(g.symbols)
    out: dict[str, sp.Symbol] = {}
    for n in owners:
        clean = re.sub(r"[^A-Za-z0-9]", "", n)
        candidates = [f"delta{index[n]}"] if counts.get(index.get(n), 0) == 1 else []
        candidates += [f"delta_{clean}", f"delta_{clean}bp"]
        name = next(c for c in candidates if c not in taken)
        taken.add(name)
        out[n] = symbol(name)
    return out


# --- closed forms (only when small) -------------------------------------------------------------
@dataclass(frozen=True)
class Closed:
    """A δ or gradient with every δ substituted: evaluated, and as a displayed product."""

    value: sp.Expr
    shown: sp.Expr


def closed_forms(bp: BackwardPass, limit: int = SYMBOLIC_LIMIT) -> dict[str, Closed]:
    """Closed forms of the δ's (by node) and gradients (by ``"d/" + wrt``) whose size stays
    within ``limit`` tree nodes. Sizes are counted first, so nothing large is ever built."""
    size: dict[sp.Expr, int] = {sp.S.One: 0}
    out: dict[sp.Expr, Closed] = {sp.S.One: Closed(sp.S.One, sp.S.One)}

    def edges_size(edges) -> int:
        return sum(trees.size(e.local.result) + size.get(e.upstream, limit + 1) for e in edges)

    def build(edges, act: Local | None, upstream_first: bool = False) -> Closed:
        terms = [(e.local.result * out[e.upstream].value,
                  _dot(out[e.upstream].shown, e.local.result) if upstream_first
                  else _dot(e.local.result, out[e.upstream].shown)) for e in edges]
        value = sp.Add(*(t for t, _ in terms))
        shown = terms[0][1] if len(terms) == 1 else sp.Add(*(s for _, s in terms),
                                                           evaluate=False)
        if act is not None:
            return Closed(act.result * value, _dot(act.result, shown))
        return Closed(value, shown)

    result: dict[str, Closed] = {}
    for d in bp.deltas:
        s = edges_size(d.edges)
        if d.activation_local:
            s += trees.size(d.activation_local.result)
        size[d.symbol] = s
        if d.simplified is not None:
            s = trees.size(d.simplified) + sum(size.get(u, limit + 1) for u in
                                               d.simplified.free_symbols & set(size))
        if s > limit:
            continue
        if d.simplified is None:
            out[d.symbol] = result[d.node] = build(d.edges, d.activation_local)
        elif all(u in out for u in d.simplified.free_symbols & set(size)):
            value = d.simplified.xreplace({u: out[u].value for u in size if u in out})
            out[d.symbol] = result[d.node] = Closed(value, value)
    for gr in bp.gradients:
        if gr.delta is not None:
            if gr.delta.node in result:
                result["d/" + gr.wrt] = result[gr.delta.node]
        elif edges_size(gr.edges) <= limit:
            result["d/" + gr.wrt] = (build(gr.edges, None, True) if gr.edges
                                     else Closed(sp.S.Zero, sp.S.Zero))
    return result


def _dot(a: sp.Expr, b: sp.Expr) -> sp.Expr:
    """a · b shown factor by factor; a factor 1 from the loss (∂E/∂E) is not shown."""
    if b == 1:
        return a
    if a == 1:
        return b
    fa = list(a.args) if isinstance(a, Dot) else [a]
    fb = list(b.args) if isinstance(b, Dot) else [b]
    return Dot(*fa, *fb)


def monomials(graph: Graph) -> dict[sp.Symbol, sp.Expr]:
    """Nodes defined as a plain product of leaves (``z3 = x1*w13``): the seed substitutes these
    into its closed forms ("because z3 = x1 w13")."""
    out = {}
    for n, e in graph.exprs.items():
        if isinstance(e, sp.Mul) and all(
            f.is_Number or (f.is_Symbol and not graph.is_node(f.name)) for f in e.args
        ):
            out[graph.sym(n)] = e
    return out


def factor_terms(graph: Graph, expr: sp.Expr) -> sp.Expr:
    """``sympy.factor_terms(expr)`` (default options), the same expression, with the factors
    of a product memoized in ``graph.memo``: the closed gradients of one layer share their
    δ's closed form, which SymPy would factor once per gradient. SymPy factors a product as
    the content of its primitive part times the product of its factors, each factored
    (``factor_terms``' inner ``do``): this does the same, one factor at a time, and calls
    ``sympy.factor_terms`` on everything else. An expression with the sheet's long decimals
    (0.044715) is factored by :func:`~derive.maths.calculus.factor_out`, which keeps them where
    they stand instead of clearing them into one 15-digit denominator."""
    memo = graph.memo.setdefault("factor_terms", {})
    if any(long_number(a) for a in expr.atoms(sp.Rational)):
        if expr not in memo:
            memo[expr] = factor_out(expr)
        return memo[expr]
    if isinstance(expr, sp.Mul):
        content, primitive = expr.as_content_primitive()
        if primitive.is_Mul:
            return _keep_coeff(content, primitive.func(
                *[factor_terms(graph, a) for a in primitive.args]))
    if expr not in memo:
        memo[expr] = sp.factor_terms(expr)
    return memo[expr]


# --- sympy.diff of the substituted loss: the other side of the gradients' claims -----------------
def truth(bp: BackwardPass, name: str, limit: int = SYMBOLIC_LIMIT) -> sp.Expr | None:
    """sympy.diff of the loss, with every node that depends on ``name`` substituted, with
    respect to ``name``; None when that substituted loss would exceed ``limit``."""
    return loss_truth(bp.graph, bp.loss, name, limit)


def loss_truth(graph: Graph, loss: str, name: str, limit: int = SYMBOLIC_LIMIT
               ) -> sp.Expr | None:
    """As :func:`truth`, for any graph and loss; computed once per graph, loss, name and limit
    (the solution asks for it once for the lines and once for the answer check)."""
    key = ("truth", loss, name, limit)
    if key not in graph.memo:
        expanded = graph.expand(graph.sym(loss), _over(graph, name), limit)
        graph.memo[key] = None if expanded is None else \
            sheet_form(sp.diff(expanded, graph.sym(name)))
    return graph.memo[key]


def _over(graph: Graph, name: str) -> set[str]:
    """The nodes substituted for checks about ``name``: those that depend on it, and the plain
    products of leaves, which answers may already show substituted (``z3 = x1 w13``)."""
    key = ("monomials",)
    if key not in graph.memo:
        graph.memo[key] = frozenset(s.name for s in monomials(graph))
    return (set(graph.descendants(name)) | graph.memo[key]) - {name}


def sheet_form(expr: sp.Expr) -> sp.Expr:
    """``expr`` with the engine's named identities applied (sinh/cosh = tanh, ...): the same
    function, written as derive writes it, so that checks can decide equality quickly."""
    for _, new in named_rewrites(expr):
        expr = new
    return expr


def substituted(bp: BackwardPass, expr: sp.Expr, name: str, limit: int = SYMBOLIC_LIMIT
                ) -> sp.Expr | None:
    """``expr`` (in forward quantities) with the nodes that depend on ``name`` substituted,
    i.e. as a function of ``name`` and quantities independent of it; None when too large."""
    return bp.graph.expand(expr, _over(bp.graph, name), limit)
