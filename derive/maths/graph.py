"""Computation graphs: an exercise's ordered assignments as a DAG of named nodes.

Every assignment ``name = expr`` is a *node*; every name an expression reads but no assignment
defines is a *leaf*. Edges run from the names an expression reads to the node it defines
(``z3 = x1*w13`` gives edges ``x1 -> z3`` and ``w13 -> z3``).

Leaves are classified, for ``wrt = "all"`` and for the prose on the sheets:

* inferred (nothing declared): leaves named ``x``, ``x1``, ``x_i`` are **inputs**, leaves named
  ``t``, ``t1``, ``t_k`` are **targets**, and every other leaf (weights ``w13``, biases ``b1``, a
  shared ``v``, micrograd's ``y`` and ``z``) is a **parameter**;
* declared: a part may list any of ``inputs``, ``targets`` and ``parameters``. A declared kind is
  exactly its list; a kind left out is inferred as above from the leaves not declared (inputs and
  targets by their names, parameters as every leaf left over). So ``inputs = ["i1", "i2"]`` alone
  makes ``i1``, ``i2`` the inputs, ``t``-named leaves the targets and the rest parameters. Only
  when ``parameters`` is declared can a leaf be left without a kind: that is an "undefined name"
  error. Declared names must be leaves of the model, each of one kind; errors in declarations
  are located at the part's parameter line (``param_error``).

Errors (``file:line`` through :class:`~derive.errors.InputError`): a name assigned twice, a cycle
(``a = f(b)``, ``b = g(a)``, also ``a = a + 1``), an undefined name when leaves are declared, and
indexed quantities (those belong to the ``chain-rule`` task). The topological order keeps the
sheet's order wherever the dependencies allow it.

Nothing here builds a fully substituted expression unless asked through :meth:`Graph.expand`,
which refuses (returns None) once the result would exceed a size limit: substituting a deep
graph into itself grows exponentially with depth.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import sympy as sp

from derive.errors import InputError
from derive.maths.functions import symbol

INPUT_NAME = re.compile(r"^x(\d+|_\w+)?$")
TARGET_NAME = re.compile(r"^t(\d+|_\w+)?$")
KINDS = ("inputs", "targets", "parameters")

ParamError = Callable[[str, str], InputError]  # (message, param key) -> located error


@dataclass(frozen=True)
class Graph:
    """A computation graph. Names are the sheet's; ``order`` is topological."""

    order: tuple[str, ...]  # assigned names, topologically sorted (sheet order where possible)
    exprs: Mapping[str, sp.Expr]
    lines: Mapping[str, int | None]
    sources: Mapping[str, str]
    leaves: tuple[str, ...]  # in order of first use
    inputs: tuple[str, ...]
    targets: tuple[str, ...]
    parameters: tuple[str, ...]
    parents: Mapping[str, tuple[str, ...]]  # node -> the names its expression reads
    consumers: Mapping[str, tuple[str, ...]]  # name -> the nodes that read it (topological)
    symbols: Mapping[str, sp.Symbol]
    file: str | None = None

    # --- lookups ----------------------------------------------------------------------------
    def sym(self, name: str) -> sp.Symbol:
        return self.symbols[name]

    def is_node(self, name: str) -> bool:
        return name in self.exprs

    def __contains__(self, name: object) -> bool:
        return name in self.symbols

    @property
    def names(self) -> tuple[str, ...]:
        """Every name, leaves first (in order of use) then nodes in topological order."""
        return self.leaves + self.order

    def kind(self, name: str) -> str:
        """'input', 'target', 'parameter' or 'node'."""
        if self.is_node(name):
            return "node"
        for kind in KINDS:
            if name in getattr(self, kind):
                return kind[:-1]
        raise KeyError(name)

    def error(self, message: str, name: str | None = None) -> InputError:
        """An InputError at the line where ``name`` is assigned (or first used)."""
        line = None
        if name is not None:
            line = self.lines.get(name)
            if line is None and name not in self.exprs:
                line = next((self.lines[c] for c in self.consumers.get(name, ())), None)
        return InputError(message, file=self.file, line=line)

    @cached_property
    def memo(self) -> dict:
        """Results computed from this graph, each under its caller's key (the graph never
        changes, so they hold as long as it lives): reachability here, and what
        :mod:`derive.maths.backprop` computes more than once (``sympy.diff`` truths)."""
        return {}

    # --- reachability -------------------------------------------------------------------------
    def ancestors(self, name: str) -> frozenset[str]:
        """Every name ``name`` depends on (not including itself); computed once per name."""
        key = ("ancestors", name)
        if key not in self.memo:
            self.memo[key] = _reach(name, self.parents)
        return self.memo[key]

    def descendants(self, name: str) -> frozenset[str]:
        """Every node that depends on ``name`` (not including itself); computed once per name."""
        key = ("descendants", name)
        if key not in self.memo:
            self.memo[key] = _reach(name, self.consumers)
        return self.memo[key]

    # --- substitution -------------------------------------------------------------------------
    @cached_property
    def _shapes(self) -> dict[str, tuple[int, dict[str, int]]]:
        """Per node: tree size of its expression and how often it reads each node."""
        out = {}
        for n, e in self.exprs.items():
            counts: dict[str, int] = {}
            total = 0
            for a in sp.preorder_traversal(e):
                total += 1
                if isinstance(a, sp.Symbol) and a.name in self.exprs:
                    counts[a.name] = counts.get(a.name, 0) + 1
            out[n] = (total, counts)
        return out

    def expanded_size(self, expr: sp.Expr, over: Collection[str], limit: int | None = None
                      ) -> int:
        """Tree size of ``expr`` after substituting the definitions of the nodes in ``over``
        (recursively), estimated without building it (SymPy's flattening changes it a little):
        integer arithmetic over the nodes involved, whatever the size of the result. With
        ``limit``, counting stops at the first substituted node larger than it (the result,
        which contains that node, is larger too): then some number above ``limit``."""
        needed = _needed(expr, over, self)
        size: dict[str, int] = {}
        for n in self.order:
            if n in needed:
                total, counts = self._shapes[n]
                size[n] = total + sum(c * (size[m] - 1) for m, c in counts.items() if m in size)
                if limit is not None and size[n] > limit:
                    return size[n]
        return _size_with(expr, size)

    def expand(self, expr: sp.Expr, over: Collection[str], limit: int) -> sp.Expr | None:
        """``expr`` with the nodes in ``over`` replaced by their definitions, recursively; None
        when the result would have more than ``limit`` tree nodes (nothing is built then)."""
        if self.expanded_size(expr, over, limit) > limit:
            return None
        done: dict[sp.Symbol, sp.Expr] = {}
        needed = _needed(expr, over, self)
        for n in self.order:
            if n in needed:
                done[self.sym(n)] = self.exprs[n].xreplace(done)
        return expr.xreplace(done)


def _reach(start: str, edges: Mapping[str, Iterable[str]]) -> frozenset[str]:
    seen: set[str] = set()
    stack = list(edges.get(start, ()))
    while stack:
        n = stack.pop()
        if n not in seen:
            seen.add(n)
            stack.extend(edges.get(n, ()))
    return frozenset(seen)


def _needed(expr: sp.Expr, over: Collection[str], g: Graph) -> set[str]:
    needed: set[str] = set()
    stack = [s.name for s in expr.free_symbols if s.name in over and g.is_node(s.name)]
    while stack:
        n = stack.pop()
        if n not in needed:
            needed.add(n)
            stack.extend(p for p in g.parents[n] if p in over and g.is_node(p))
    return needed


def _size_with(expr: sp.Expr, size: Mapping[str, int]) -> int:
    total = 0
    for node in sp.preorder_traversal(expr):
        if isinstance(node, sp.Symbol) and node.name in size:
            total += size[node.name]
        else:
            total += 1
    return total


# --- building ----------------------------------------------------------------------------------
def build_graph(
    assignments: Sequence[Any],
    *,
    file: str | None = None,
    declared: Mapping[str, Sequence[str]] | None = None,
    param_error: ParamError | None = None,
) -> Graph:
    """The graph of ``assignments`` (objects with ``name``, ``expr``, ``source``, ``line``).

    ``declared`` may hold ``inputs``, ``targets`` and ``parameters`` lists (a part's params);
    ``param_error(message, key)`` locates errors in them (default: the file, no line).
    """
    param_error = param_error or (lambda msg, key: InputError(msg, file=file))
    exprs: dict[str, sp.Expr] = {}
    lines: dict[str, int | None] = {}
    sources: dict[str, str] = {}
    symbols: dict[str, sp.Symbol] = {}
    for a in assignments:
        if a.name in exprs:
            first = lines[a.name]
            where = f" (first on line {first})" if first is not None else ""
            raise InputError(f"{a.name} is assigned twice{where}", file=file, line=a.line)
        expr = sp.sympify(a.expr)
        if expr.atoms(sp.Indexed, sp.IndexedBase):
            raise InputError(
                f"{a.name}: indexed quantities are not part of a computation graph "
                "(use the chain-rule task for sums over a dataset)", file=file, line=a.line)
        exprs[a.name], lines[a.name], sources[a.name] = expr, a.line, a.source
        for s in sorted(expr.free_symbols, key=sp.default_sort_key):
            symbols.setdefault(s.name, s)
    for name in exprs:
        symbols.setdefault(name, symbol(name))

    parents = {n: _reads(e, exprs) for n, e in exprs.items()}
    leaves = tuple(dict.fromkeys(p for n in exprs for p in parents[n] if p not in exprs))
    order = _toposort(list(exprs), parents, lines, file)
    position = {n: i for i, n in enumerate(order)}
    consumers: dict[str, list[str]] = {n: [] for n in (*leaves, *order)}
    for n in order:
        for p in parents[n]:
            consumers[p].append(n)
    consumers = {n: sorted(c, key=position.__getitem__) for n, c in consumers.items()}
    kinds = _classify(leaves, exprs, lines, consumers, declared or {}, param_error, file)
    return Graph(
        order=tuple(order),
        exprs=exprs,
        lines=lines,
        sources=sources,
        leaves=leaves,
        inputs=kinds["inputs"],
        targets=kinds["targets"],
        parameters=kinds["parameters"],
        parents=parents,
        consumers={n: tuple(c) for n, c in consumers.items()},
        symbols=symbols,
        file=file,
    )


def _reads(expr: sp.Expr, exprs: Mapping[str, sp.Expr]) -> tuple[str, ...]:
    """Names read by ``expr``: nodes first in the order assigned, then leaves by name."""
    names = {s.name for s in expr.free_symbols}
    nodes = [n for n in exprs if n in names]
    return tuple(nodes) + tuple(sorted(names - set(nodes)))


def _toposort(names, parents, lines, file) -> list[str]:
    """Kahn's algorithm; among ready nodes the one assigned first goes first."""
    position = {n: i for i, n in enumerate(names)}
    waiting = {n: sum(1 for p in parents[n] if p in position) for n in names}
    users: dict[str, list[str]] = {n: [] for n in names}
    for n in names:
        for p in parents[n]:
            if p in position:
                users[p].append(n)
    ready = [position[n] for n in names if waiting[n] == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        n = names[heapq.heappop(ready)]
        order.append(n)
        for u in users[n]:
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, position[u])
    if len(order) < len(names):
        cycle = _find_cycle([n for n in names if waiting[n] > 0], parents, position)
        first = min(cycle, key=position.__getitem__)
        i = cycle.index(first)
        path = " -> ".join([*cycle[i:], *cycle[:i], first])
        raise InputError(f"cycle in the computation graph: {path} (each uses the next)",
                         file=file, line=lines[first])
    return order


def _find_cycle(stuck: list[str], parents, position) -> list[str]:
    stuck_set = set(stuck)
    walk: list[str] = []
    at = stuck[0]
    while at not in walk:
        walk.append(at)
        at = next(p for p in parents[at] if p in stuck_set)
    return walk[walk.index(at):]


def _classify(leaves, exprs, lines, consumers, declared, param_error, file) -> dict[str, tuple]:
    lists: dict[str, list[str]] = {}
    for kind in KINDS:
        value = declared.get(kind)
        if value is None:
            continue
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise param_error(f"{kind} must be a list of names such as [\"w13\", \"w23\"]", kind)
        for v in value:
            if v in exprs:
                raise param_error(
                    f"{v} is declared among the {kind} but assigned on line {lines[v]}", kind)
            if v not in leaves:
                raise param_error(f"{v} is declared among the {kind} but not used by the model",
                                  kind)
        lists[kind] = list(dict.fromkeys(value))
    seen: dict[str, str] = {}
    for kind, names in lists.items():
        for n in names:
            if n in seen:
                raise param_error(f"{n} is declared among both the {seen[n]} and the {kind}", kind)
            seen[n] = kind
    rest = [n for n in leaves if n not in seen]
    for kind, pattern in (("inputs", INPUT_NAME), ("targets", TARGET_NAME)):
        if kind not in lists:  # inferred by name from the leaves not declared
            seen.update((n, kind) for n in rest if n not in seen and pattern.match(n))
    if "parameters" not in lists:  # every leaf left over
        seen.update((n, "parameters") for n in rest if n not in seen)
    for n in leaves:
        if n not in seen:
            user = consumers[n][0]
            where = f" (line {lines[user]})" if lines[user] is not None else ""
            named = [{"inputs": "an input (x, x1)", "targets": "a target (t, t1)"}[k]
                     for k in ("inputs", "targets") if k not in lists]
            raise param_error(
                f"undefined name {n} in {user}{where}: neither assigned, nor declared among the "
                f"{_or(list(lists))}" + (f", nor named like {_or(named)}" if named else ""),
                "parameters")
    return {k: tuple(n for n in leaves if seen.get(n) == k) for k in KINDS}


def _or(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
