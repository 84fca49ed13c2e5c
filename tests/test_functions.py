"""The function catalogue (derive.maths.functions.CATALOGUE): every entry agrees with SymPy, every
module reads its function lists from it, and erf (so exact GELU) is one entry."""

from __future__ import annotations

import ast
from pathlib import Path

import mpmath
import pytest
import sympy as sp

import derive
from derive.errors import InputError
from derive.maths import calculus
from derive.maths.functions import (
    BY_CLASS,
    BY_NAME,
    CATALOGUE,
    CUSTOM_FUNCTIONS,
    VARIADIC,
    softmax,
    symbol,
    to_elementary,
)
from derive.pipeline import verify_solution
from derive.render.notation import NOTATION_CHOICES, latex
from derive.render.prose import NOTES, markup, plain
from derive.sheet.parse import FUNCTION_NAMES, parse_expr
from derive.steps import Align, Note, Solution
from derive.verify import numeric
from derive.verify.claims import Answer

PACKAGE = Path(derive.__file__).parent
x, w, b = symbol("x"), symbol("w"), symbol("b")
SLOPE = sp.Rational(1, 10)  # the other argument of a two-argument entry (a leaky ReLU's slope)


def _applied(f, arg):
    if f.nargs == VARIADIC:  # softmax: the first output of the scores (arg, SLOPE)
        return f.cls(1, arg, SLOPE)
    return f.cls(arg, *(SLOPE,) * (f.nargs - 1)) if f.build is None else f.make(arg)


def _call(name: str, f) -> str:
    """How a sheet calls the entry ``f`` on x (as :func:`_applied` builds it)."""
    if f.nargs == VARIADIC:
        return f"{name}(1, x, 0.1)"
    return f"{name}(x)" if f.nargs == 1 else f"{name}(x, 0.1)"


# --- every entry agrees with SymPy -------------------------------------------------------------
@pytest.mark.parametrize("f", [f for f in CATALOGUE if f.derivative], ids=lambda f: f.name)
def test_each_derivative_is_sympys(f):
    u = symbol("u")
    e = _applied(f, u)
    mine = f.derivative(u, *e.args[1:])
    points = (sp.Rational(7, 10), sp.Rational(-13, 10), sp.Rational(23, 10))
    for p in points:
        truth = sp.diff(e, u).subs(u, p)
        assert sp.N(mine.subs(u, p) - truth, 30) == pytest.approx(0, abs=1e-25), (f.name, p)


@pytest.mark.parametrize("f", [f for f in CATALOGUE if f.numeric], ids=lambda f: f.name)
def test_each_numeric_implementation_matches_sympy_n(f):
    u = symbol("u")
    e = _applied(f, u)
    assert numeric.FUNCTIONS[f.cls]  # the fast path knows it
    for p in (sp.Rational(7, 10), sp.Rational(-13, 10)):
        with mpmath.workdps(numeric.DIGITS):
            fast = numeric.Evaluator(numeric.point({u: p}))(e)
        assert abs(complex(fast) - complex(sp.N(e.subs(u, p), 40))) < 1e-30, (f.name, p)


@pytest.mark.parametrize("f", [f for f in CATALOGUE if f.rule], ids=lambda f: f.name)
def test_each_rule_note_prints_in_both_forms(f):
    note = Note(f.rule_kind)
    assert f.rule_kind in NOTES
    assert markup(note).startswith("$")
    text = plain(note)
    assert "$" not in text and "\\" not in text and "'" in text


def test_parse_names_and_notation_keys_come_from_the_catalogue():
    for f in CATALOGUE:
        for name in f.parse:
            assert name in FUNCTION_NAMES
            parsed = parse_expr(_call(name, f))
            assert parsed == _applied(f, x)
    assert set(NOTATION_CHOICES) == {f.name for f in CATALOGUE if f.notations}
    assert set(CUSTOM_FUNCTIONS) == {f.cls for f in CATALOGUE if f.elementary}
    assert all(f.name == f.cls.__name__ for f in CATALOGUE if f.cls is not sp.Pow)


# --- erf and exact GELU -----------------------------------------------------------------------
def test_erf_parses_differentiates_with_its_rule_and_prints():
    e = parse_expr("erf(x)")
    assert e == sp.erf(x)
    step = calculus.differentiate(e, x)
    assert step.rule == "elementary" and step.formula == Note("derivative:erf")
    assert step.result == 2 / sp.sqrt(sp.pi) * sp.exp(-x**2)
    assert markup(step.formula) == r"$\operatorname{erf}'(u) = \frac{2}{\sqrt{\pi}} e^{-u^2}$"
    assert plain(step.formula) == "erf'(u) = 2/sqrt(pi)*exp(-u^2)"
    for e in (sp.erf(x), sp.erf(x) ** 2, sp.erf(w * x + b)):  # as tanh prints, not as SymPy
        tanh_form = latex(e.replace(sp.erf, sp.tanh))
        assert latex(e) == tanh_form.replace(r"\tanh", r"\operatorname{erf}")
    assert latex(sp.erf(x) ** 2) == r"\operatorname{erf}^{2}(x)"


def test_erf_is_on_the_fast_numeric_path():
    e = sp.erf(x / sp.sqrt(2)) + x
    with mpmath.workdps(numeric.DIGITS):
        value = numeric.Evaluator(numeric.point({x: sp.Rational(3, 7)}))(e)
        third = mpmath.mpf(3) / 7
        assert abs(value - (mpmath.erf(third / mpmath.sqrt(2)) + third)) < mpmath.mpf(10) ** -50
    assert numeric.agree(e, e + sp.erf(0 * x), {x: sp.Rational(3, 7)}, sp.Rational(1, 10**30))


@pytest.mark.parametrize("text", ["x*(1 + erf(x/sqrt(2)))/2",
                                  "(w*x + b)*(1 + erf((w*x + b)/sqrt(2)))/2"])
def test_exact_gelu_derives_with_the_erf_rule_and_verifies(text):
    expr = parse_expr(text)
    var = w if expr.has(w) else x
    d = calculus.derivation(expr, var)
    assert Note("derivative:erf") in d.rules
    sol = verify_solution(Solution(blocks=[Align(tuple(d.lines))], answer=d.answer,
                                   claims=[Answer("answer", d.answer, sp.diff(expr, var))]),
                          "gelu")
    assert all(ln.verified_by for ln in sol.lines())
    assert sp.simplify(d.answer - sp.diff(expr, var)) == 0


def test_the_gelu_sheet_exists_for_the_sheet_tests():
    """tests/test_unseen_sheets.py builds, checks and verifies every sheet under tests/sheets."""
    text = (Path(__file__).parent / "sheets" / "gelu.toml").read_text()
    assert "erf(" in text and 'task = "backprop"' in text and 'task = "derivative"' in text


# --- a new function is one catalogue entry: no other module lists function classes -----------
CATALOGUE_MODULE = PACKAGE / "maths" / "functions.py"
CUSTOM_NAMES = {f.cls.__name__ for f in CATALOGUE if f.cls in CUSTOM_FUNCTIONS} | {"erf"}


def listed_functions(source: str, names: set[str] = CUSTOM_NAMES) -> list[str]:
    """Where ``source`` names one of ``names`` (function classes, as ``relu`` or ``sp.erf``) as an
    element of a list, tuple, set or dict literal (key or value), or in an isinstance tuple."""
    def named(node: ast.AST) -> str | None:
        if isinstance(node, ast.Name) and node.id in names:
            return node.id
        if isinstance(node, ast.Attribute) and node.attr in names:
            return node.attr
        return None

    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            elements = node.elts
        elif isinstance(node, ast.Dict):
            elements = [k for k in node.keys if k is not None] + node.values
        else:
            continue
        out += [f"line {node.lineno}: {n}" for n in map(named, elements) if n]
    return out


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p != CATALOGUE_MODULE)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_but_the_catalogue_lists_function_classes(path):
    assert listed_functions(path.read_text()) == []


@pytest.mark.parametrize("source", [
    "_UNARY = {relu: 'relu', sp.tanh: 'tanh'}",
    "ODD = (sp.sin, relu, leaky_relu)",
    "if isinstance(e, (sigmoid, softplus)): pass",
    "FUNCS = [sp.erf]",
    "S = {softplus}",
])
def test_the_check_catches_planted_lists(source):
    assert listed_functions(source)


@pytest.mark.parametrize("source", [
    "if isinstance(e, relu): pass",
    "y = relu(x) + sigmoid(x)",
    "if f in (relu(Z), sp.Max(0, Z)): pass",
    "KINDS = ('relu', 'abs')",
])
def test_the_check_passes_single_uses(source):
    assert listed_functions(source) == []


def test_by_name_and_by_class_index_the_catalogue():
    assert BY_NAME["erf"].cls is sp.erf and BY_CLASS[sp.erf].name == "erf"
    assert len(BY_NAME) == len(CATALOGUE)


# --- a learnable leaky-ReLU slope ---------------------------------------------------------------
@pytest.mark.parametrize("f", [f for f in CATALOGUE if f.partials and f.nargs != VARIADIC],
                         ids=lambda f: f.name)  # softmax's: test_softmax_partials_are_sympys...
def test_each_partial_is_the_difference_quotient(f):
    """∂f/∂(argument k) of the catalogue against a central difference of the elementary form."""
    u = symbol("u")
    args = [u, *(symbol(f"a{k}") for k in range(2, f.nargs + 1))]
    for k, partial in enumerate(f.partials, start=1):
        for point in ((sp.Rational(7, 10), SLOPE), (sp.Rational(-13, 10), sp.Rational(3, 10))):
            at = dict(zip(args, point, strict=False))
            h = sp.Rational(1, 10**12)
            up = f.elementary(*[at[v] + (h if i == k else 0) for i, v in enumerate(args)])
            down = f.elementary(*[at[v] - (h if i == k else 0) for i, v in enumerate(args)])
            quotient = sp.N((up - down) / (2 * h), 30)
            mine = sp.N(partial(*[at[v] for v in args]), 30)
            assert abs(mine - quotient) < 1e-9, (f.name, k, point)
            assert sp.diff(f.cls(*args), args[k]).subs(at) == partial(*args).subs(at)


def test_a_symbolic_slope_parses_and_differentiates():
    a, z = symbol("a"), symbol("z")
    e = parse_expr("leaky_relu(w*x + b, a)")
    assert e == BY_NAME["leaky_relu"].cls(w * x + b, a)
    with pytest.raises(Exception, match="slope must be a number"):
        parse_expr("leaky_relu(x, 2)")
    with pytest.raises(Exception, match="slope must be a number"):
        parse_expr("leaky_relu(x, a + 1)")
    d = calculus.derivation(parse_expr("(leaky_relu(z, a) - t)**2/2"), a)
    truth = (BY_NAME["leaky_relu"].cls(z, a) - symbol("t")) * sp.Piecewise((0, z > 0), (z, True))
    for zv in (sp.Rational(3, 2), sp.Rational(-5, 4)):
        at = {z: zv, a: SLOPE, symbol("t"): sp.Rational(1, 3)}
        assert sp.N((d.answer - truth).subs(at)) == 0
    sol = verify_solution(Solution(blocks=[Align(tuple(d.lines))], answer=d.answer,
                                   claims=[Answer("answer", d.answer, truth)]), "slope")
    assert all(ln.verified_by for ln in sol.lines())


# --- softmax ----------------------------------------------------------------------------------
def test_softmax_partials_are_sympys_of_its_exp_ratio():
    """d p_k/d z_j = p_k (delta_kj - p_j), as sympy.diff of e^{z_k} / sum_j e^{z_j}."""
    z = [symbol(f"z{i}") for i in (1, 2, 3)]
    ratio = [sp.exp(v) / sum(sp.exp(u) for u in z) for v in z]
    partial = BY_NAME["softmax"].partials[0]
    for k in (1, 2, 3):
        assert sp.simplify(to_elementary(softmax(k, *z)) - ratio[k - 1]) == 0
        for j in (1, 2, 3):
            truth = sp.diff(ratio[k - 1], z[j - 1])
            mine = partial(sp.Integer(k), sp.Integer(j), *z)
            assert sp.simplify(to_elementary(mine) - truth) == 0, (k, j)
            assert sp.simplify(to_elementary(sp.diff(softmax(k, *z), z[j - 1])) - truth) == 0
    assert sp.diff(softmax(2, *z), z[1]) == softmax(2, *z) * (1 - softmax(2, *z))


def test_softmax_parses_prints_and_refuses_a_bad_index():
    e = parse_expr("softmax(2, z1, z2, z3)")
    z = [symbol(f"z{i}") for i in (1, 2, 3)]
    assert e == softmax(2, *z)
    assert latex(e) == r"\operatorname{softmax}(z)_{2}"  # the scores z1..z3: the vector z
    assert latex(parse_expr("softmax(1, a, b)")) == r"\operatorname{softmax}(a, b)_{1}"
    assert latex(parse_expr("softmax(1, z2, z1)")) == r"\operatorname{softmax}(z_{2}, z_{1})_{1}"
    assert parse_expr(str(e)) == e  # SymPy syntax reads back
    for bad, says in [("softmax(0, z1, z2)", "integer from 1 to 2"),
                      ("softmax(3, z1, z2)", "integer from 1 to 2"),
                      ("softmax(k, z1, z2)", "integer from 1 to 2"),
                      ("softmax(1, z1)", "2 to 8 scores, got 1")]:
        with pytest.raises(InputError, match=says):
            parse_expr(bad)


def test_softmax_values_do_not_overflow():
    z = [symbol(f"z{i}") for i in (1, 2)]
    e = softmax(1, *z)
    with mpmath.workdps(numeric.DIGITS):
        value = numeric.Evaluator(numeric.point({z[0]: sp.Integer(900), z[1]: sp.Integer(901)}))(e)
        assert abs(value - 1 / (1 + mpmath.e)) < mpmath.mpf(10) ** -40


def test_the_softmax_sheet_reaches_p_minus_t():
    """tests/sheets/softmax_fn.toml writes p_i = softmax(i, z1, z2, z3): the backward pass names
    each softmax output by its node and the one-hot fact gives δ_z1 = p1 - t1."""
    from derive.pipeline import solve_sheet
    from derive.sheet.load import load_sheet

    sheet = load_sheet(Path(__file__).parent / "sheets" / "softmax_fn.toml")
    (result,) = solve_sheet(sheet)
    p1, t1 = symbol("p1"), symbol("t1")
    assert result.solution.answers["z1"] == p1 - t1
    lines = result.solution.lines()
    assert all(ln.verified_by for ln in lines)
    assert any(ln.rhs == p1 - t1 for ln in lines)
    first = next(ln for ln in lines if isinstance(ln.lhs, sp.Derivative))
    assert not first.rhs.has(softmax)  # ∂p_i/∂z_1 through the nodes: p1 (1 - p1), -p1 p2, ...
