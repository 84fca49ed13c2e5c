"""derive.maths.trees: size, estimated degree, and the shared bottom-up walk."""

import sympy as sp

from derive.maths.trees import bottom_up, degree, factorable, size

x, y = sp.symbols("x y")


def test_bottom_up_visits_each_distinct_subexpression_once():
    """A chain e_{k+1} = sin(e_k) + e_k shares e_k twice per level: as a tree it has 2^40 paths,
    as a DAG 40 levels. The walk must see each distinct node once."""
    e = x
    for _ in range(40):
        e = sp.sin(e) + e
    calls = []

    def combine(node, args):
        calls.append(node)
        return 1 + sum(args)

    bottom_up(e, {}, lambda leaf: 0, combine)
    assert len(calls) == len(set(calls)) == 80  # one sin and one Add per level


def test_bottom_up_uses_given_values_and_needs_no_recursion():
    """Values given in advance are used as they are (an Indexed quantity from a point), and a
    chain far deeper than Python's recursion limit is walked with an explicit stack."""
    w = sp.IndexedBase("w")[1]
    e = w
    for _ in range(3000):
        e = sp.exp(e, evaluate=False)
    depth = bottom_up(e, {w: 0}, lambda leaf: 1 / 0, lambda node, args: args[0] + 1)
    assert depth == 3000


def test_size_and_degree():
    assert size(x + y) == 3 and size(x * (x + y)) == 5
    assert degree(sp.Rational(1, 2)) == 0 and degree(x**2 * y + sp.pi) == 3
    assert degree(1 / (x * y * (1 - y))) == 3 and degree(sp.sin(x) ** 4) == 4
    assert factorable((y - 1) / (y * (1 - y))) and not factorable((x + y + sp.pi) ** 13)
