"""Walking SymPy expression trees: size, estimated polynomial degree, bottom-up evaluation.

Derivatives of a computation graph share subexpressions heavily: a tree walk that does not
remember what it has seen costs time exponential in the graph's depth. :func:`bottom_up` visits
each distinct subexpression once, with an explicit stack (no recursion limit on deep sheets).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sympy as sp

# Above this estimated degree, factor/cancel are not tried for a nicer form: their gcds grow
# quickly with the degree (minutes with pi in it). Textbook forms such as (y - t)/(y(1 - y))
# have degree 3.
FACTOR_MAX_DEGREE = 12


def size(e: sp.Basic) -> int:
    """Nodes of ``e`` as a tree (a shared subexpression counts each time it appears)."""
    return sum(1 for _ in sp.preorder_traversal(e))


def size_at_most(e: sp.Basic, limit: int) -> bool:
    """Whether ``e`` has at most ``limit`` nodes as a tree; stops counting past the limit (the
    tree of a derivative can be exponentially larger than its shared form)."""
    for count, _ in enumerate(sp.preorder_traversal(e), 1):
        if count > limit:
            return False
    return True


def degree(e: sp.Basic) -> int:
    """Total degree of ``e`` as a polynomial in its generators (symbols, constants such as pi,
    function values), estimated from the tree without multiplying anything out."""
    if e.is_Rational:
        return 0
    if e.is_Add:
        return max(degree(a) for a in e.args)
    if e.is_Mul:
        return sum(degree(a) for a in e.args)
    if e.is_Pow and e.exp.is_Integer:
        return abs(int(e.exp)) * degree(e.base)
    return 1


def factorable(*parts: sp.Basic) -> bool:
    """Whether factor/cancel on these parts together stays cheap (see FACTOR_MAX_DEGREE)."""
    return sum(degree(p) for p in parts) <= FACTOR_MAX_DEGREE


def bottom_up(expr: sp.Basic, memo: dict, leaf: Callable[[sp.Basic], Any],
              combine: Callable[[sp.Basic, list], Any]) -> Any:
    """The value of ``expr``: ``leaf(node)`` for an atom, ``combine(node, values of its
    arguments)`` for any other node, each distinct node once. ``memo`` holds the values found
    (and may be given some in advance: they are used as they are)."""
    stack = [expr]
    while stack:
        node = stack[-1]
        if node in memo:
            stack.pop()
            continue
        if not node.args:
            memo[node] = leaf(node)
            stack.pop()
            continue
        todo = [a for a in node.args if a not in memo]
        if todo:
            stack.extend(todo)
            continue
        stack.pop()
        memo[node] = combine(node, [memo[a] for a in node.args])
    return memo[expr]
