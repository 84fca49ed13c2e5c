"""Faster paths of the MLP and regions benchmarks (issue 15) give exactly what the plain ways give:
the same SymPy trees (compared by ``srepr``), the same floats."""

from __future__ import annotations

import sympy as sp
from conftest import tanh_mlp

from derive.maths import backprop
from derive.maths.graph import build_graph
from derive.render.notation import TermOrder


def _closed_values(depth: int, width: int):
    g = build_graph(tanh_mlp(depth, width))
    bp = backprop.backward(g, "E", list(g.parameters), TermOrder())
    return g, [c.value for c in backprop.closed_forms(bp).values()]


def test_memoized_factor_terms_is_sympys_factor_terms_on_closed_gradients():
    g, values = _closed_values(3, 3)
    assert len(values) > 10
    for value in values:
        assert sp.srepr(backprop.factor_terms(g, value)) == sp.srepr(sp.factor_terms(value))
    assert g.memo["factor_terms"]  # the shared factors were memoized


def test_memoized_factor_terms_is_sympys_factor_terms_on_products_with_content():
    x, y, t = sp.symbols("x y t")
    g = build_graph(tanh_mlp(1, 1))
    for expr in (6 * x * (2 * y + 4 * t), -3 * (x - y) * (2 * x + 2) / 4, sp.S(2) / 3 * x,
                 (4 * x + 2) * sp.tanh(2 * y + 2 * t) * (1 - sp.tanh(x) ** 2),
                 -(x + 1) * (y - 1), x * (y + t), 2 * x + 4 * y, sp.exp(-(2 * x + 2)) * 3,
                 sp.Float(2.5) * (2 * x + 4)):
        assert sp.srepr(backprop.factor_terms(g, expr)) == sp.srepr(sp.factor_terms(expr)), expr


def _random_relu_net(seed: int, widths=(2, 6, 5, 1), kinds=("relu",)):
    """y of a random ReLU-style network as one uncollected SymPy formula over x1, x2."""
    import random
    from fractions import Fraction

    from derive.maths.functions import BY_NAME

    rng = random.Random(seed)
    xs = sp.symbols("x1 x2", real=True)
    layer = list(xs)
    for width in widths[1:-1]:
        layer = [BY_NAME[rng.choice(kinds)].cls(sp.Add(*(
            sp.Rational(Fraction(rng.randint(-16, 16), 4)) * u for u in layer),
            sp.Rational(rng.randint(-8, 8), 2))) for _ in range(width)]
    return sp.Add(*(sp.Rational(rng.randint(-8, 8), 3) * u for u in layer)), xs


def _plain_floats(expr, symbols):
    """The regions check's float function as it was before calls were hoisted."""
    from derive.maths.functions import BY_CLASS, CUSTOM_FUNCTIONS

    names = {}
    for cls in {type(e) for e in sp.preorder_traversal(expr) if isinstance(e, CUSTOM_FUNCTIONS)}:
        fn = BY_CLASS[cls]
        args = sp.symbols(f"u0:{fn.nargs}", real=True)
        names[cls.__name__] = sp.lambdify(args, fn.elementary(*args), modules="math")
    return sp.lambdify(symbols, expr, modules=[names, "math"])


def test_hoisted_float_formula_gives_the_same_floats_as_the_inline_one():
    import random

    from derive.verify import regions

    for seed, kinds in ((0, ("relu",)), (1, ("relu",)), (2, ("relu", "softplus")),
                        (3, ("relu", "sigmoid"))):
        expr, xs = _random_relu_net(seed, kinds=kinds)
        assert regions._repeated_calls(expr)  # first-layer units are read by every next unit
        fast, plain = regions._floats(expr, xs), _plain_floats(expr, xs)
        rng = random.Random(seed)
        for _ in range(2000):
            p = (rng.uniform(-30, 30), rng.uniform(-30, 30))
            assert _outcome(fast, p) == _outcome(plain, p), (seed, p)


def _outcome(f, p):
    """f(*p), or the type of the error it raised (softplus overflows far out)."""
    try:
        return f(*p)
    except ArithmeticError as e:
        return type(e)
