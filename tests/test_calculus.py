"""The expression-level step engine: every rule, the seed's 2a, and a property test."""

from __future__ import annotations

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive.errors import VerificationFailure
from derive.maths import calculus
from derive.maths.calculus import ELEMENTARY, derivation, differentiate, local_derivative
from derive.maths.display import Dot, TermOrder
from derive.maths.functions import BY_CLASS, leaky_relu, relu, sigmoid, softplus, symbol
from derive.pipeline import verify_solution
from derive.render.prose import markup, plain
from derive.steps import Align, Line, Note, Rules, Solution, reasons
from derive.verify.claims import Answer

x, y, t, w, b, z = (symbol(n) for n in "x y t w b z".split())


def rules_of(step):
    out = [step.rule]
    for s in step.substeps:
        out += rules_of(s)
    return out


def verified(expr, var, **kw):
    d = derivation(expr, var, **kw)
    sol = verify_solution(
        Solution(blocks=[Align(tuple(d.lines))], answer=d.answer,
                 claims=[Answer("answer", d.answer, sp.diff(expr, var))]), "test")
    return d, sol


@pytest.mark.parametrize(
    ("expr", "rule"),
    [
        (t**2, "constant"),
        (x, "variable"),
        (3 * x + t, "linear"),
        (sp.sin(x) + sp.cos(x), "sum"),
        (5 * sp.sin(x), "constant multiple"),
        (sp.sin(x) * sp.exp(x), "product"),
        (sp.sin(x) / sp.exp(x) ** 2 / (x**2 + 1), "quotient"),
        (x**3, "power"),
        (2**x, "exponential"),
        (sp.tanh(x**2), "chain"),
        (sp.tanh(x), "elementary"),
        (sp.Max(x, x**2), "max"),
        (x**x, "logarithmic"),
        (sp.acos(x), "sympy.diff"),  # no rule in the function catalogue
    ],
)
def test_each_rule_is_used_and_verifies(expr, rule):
    d, sol = verified(expr, x)
    assert d.root.rule == rule
    assert sp.simplify(d.answer - sp.diff(expr, x)) == 0 or rule == "max"
    assert all(ln.verified_by for ln in sol.lines())


@pytest.mark.parametrize("fn", sorted(ELEMENTARY, key=lambda f: f.__name__))
def test_elementary_table_matches_sympy(fn):
    extra = (sp.Rational(1, 10),) * (BY_CLASS[fn].nargs - 1)  # a leaky ReLU's slope
    d, sol = verified(fn(x, *extra), x)
    assert d.root.rule == "elementary"
    assert d.root.formula == ELEMENTARY[fn][1]
    # each function's rule note has a sheet form (math) and a plain one (no LaTeX left)
    assert markup(d.root.formula).startswith("$")
    text = plain(d.root.formula)
    assert text and "$" not in text and "\\" not in text and "'" in text


def test_custom_activations():
    for expr in (sigmoid(w * x + b), softplus(x), relu(3 * x - 1),
                 leaky_relu(x**2 - 1, sp.Rational(1, 10))):
        d, sol = verified(expr, x)
        assert "chain" in rules_of(d.root) or d.root.rule == "elementary"


def test_relu_convention_at_zero_is_stated():
    d = derivation(relu(x), x)
    assert d.root.formula == Note("derivative:relu")
    assert "H(0) = 0" in markup(d.root.formula)
    assert plain(d.root.formula) == "relu'(u) = Heaviside(u), Heaviside(0) = 0"
    assert d.answer == sp.Heaviside(x, 0)


def test_seed_2a_chain_through_cosh_and_log_with_tanh_identity():
    E = symbol("E")
    expr = sp.log(sp.cosh(y - t))
    d, sol = verified(expr, y, lhs=sp.Derivative(E, y, evaluate=False),
                      order=TermOrder(["E", "y", "t"]))
    assert sp.simplify(d.answer - sp.tanh(y - t)) == 0
    assert d.answer.has(sp.tanh)
    rules = " ".join(markup(r) for r in d.rules)
    assert "chain rule" in rules
    assert r"\cosh' = \sinh" in rules
    assert r"(\log u)' = 1/u" in rules
    assert r"\tanh = \sinh/\cosh" in rules
    # the intermediates are defined before use and never clash with sheet names
    defs = [ln for ln in d.lines if ln.relation == ":="]
    assert [ln.lhs.name for ln in defs] == ["u_1", "u_2"]
    # every non-definition line was checked
    assert all(ln.verified_by != "" for ln in sol.lines())


def test_intermediates_avoid_sheet_names():
    u1 = symbol("u_1")
    d = derivation(sp.tanh(u1 * sp.sin(x)), x)
    names = [u.name for u, _ in d.intermediates]
    assert "u_1" not in names


def test_named_rewrite_to_sigmoid():
    v = symbol("v")
    assert local_derivative(sp.log(1 + sp.exp(v)), v).result == sigmoid(v)
    assert local_derivative(-sp.log(1 + sp.exp(-v)), v).result == sigmoid(-v)


def test_local_derivative_of_tanh_names_its_rule():
    loc = local_derivative(sp.tanh(z), z)
    assert loc.result == 1 - sp.tanh(z) ** 2
    assert Note("derivative:tanh") in loc.rules
    assert plain(Rules(loc.rules)) == "tanh' = 1 - tanh^2"


def test_rules_of_a_line_are_data_never_joined_text():
    """A line with several reasons holds them as Rules (the printer joins them); the
    derivation's rules are those reasons, in order, each once."""
    d = derivation(sp.tanh(x**2), x)
    several = [ln.rule for ln in d.lines if isinstance(ln.rule, Rules)]
    assert several and all(len(r.items) > 1 for r in several)
    assert markup(several[0]) == "; ".join(markup(r) for r in several[0].items)
    flat = [r for ln in d.lines for r in reasons(ln.rule)]
    assert d.rules == list(dict.fromkeys(flat))
    assert Note("power-rule") in d.rules and "chain rule" in d.rules
    assert Note("substitute", (symbol("u_1"),)) in d.rules
    assert markup(Note("substitute", (symbol("u_1"), symbol("u_2")))) == \
        "substitute $u_{1}$, $u_{2}$"


def test_variable_and_linear_rules_name_their_variable():
    assert differentiate(x, x).formula == Note("variable-rule", (x,))
    assert markup(differentiate(x, x).formula) == r"$\partial x/\partial x = 1$"
    assert plain(differentiate(x, x).formula) == "∂x/∂x = 1"
    step = differentiate(3 * w + b, w)
    assert step.rule == "linear" and markup(step.formula) == "linear in $w$"
    assert plain(step.formula) == "linear in w"


def test_same_display_is_equality_after_orientation():
    order = TermOrder(["y", "t"])
    assert order.same_display(2 * y - 2 * t, sp.factor_terms(2 * y - 2 * t))
    assert not order.same_display(2 * y - 2 * t, 2 * y - t)
    assert not order.same_display(Dot(2, y - t), 2 * (y - t))  # a \cdot b is not a b


def test_a_wrong_step_is_caught():
    bad = Line(None, sp.cosh(x), "made up", (sp.cosh(x), sp.sinh(x)))
    with pytest.raises(VerificationFailure):
        verify_solution(Solution(blocks=[Align((bad,))]), "test")


def test_a_wrong_table_entry_is_caught(monkeypatch):
    monkeypatch.setitem(ELEMENTARY, sp.tanh, (lambda u: 1 + sp.tanh(u) ** 2, "wrong"))
    d = derivation(sp.tanh(x**2), x)
    with pytest.raises(VerificationFailure):
        verify_solution(Solution(blocks=[Align(tuple(d.lines))]), "test")


def test_a_wrong_answer_is_caught():
    with pytest.raises(VerificationFailure):
        verify_solution(Solution(claims=[Answer("answer", sp.sin(x), sp.cos(x))]), "test")


# --- property: random expressions -----------------------------------------------------------------
UNARY = [sp.exp, sp.sin, sp.cos, sp.tanh, sp.sinh, sp.cosh, sigmoid, softplus, relu, sp.Abs,
         lambda e: sp.log(e**2 + 1), lambda e: sp.sqrt(e**2 + 1), sp.atan]
VARS = [x, y, w]


def expressions(depth: int = 4):
    leaves = st.one_of(st.sampled_from(VARS), st.integers(-3, 3).map(sp.Integer),
                       st.sampled_from([sp.Rational(1, 2), sp.Rational(-3, 4)]))
    return st.recursive(
        leaves,
        lambda kids: st.one_of(
            st.tuples(st.sampled_from(UNARY), kids).map(lambda p: p[0](p[1])),
            st.tuples(kids, kids).map(lambda p: p[0] + p[1]),
            st.tuples(kids, kids).map(lambda p: p[0] * p[1]),
            st.tuples(kids, kids).map(lambda p: p[0] / (p[1] ** 2 + 1)),
            st.tuples(kids, st.integers(2, 3)).map(lambda p: p[0] ** p[1]),
            st.tuples(kids, kids).map(lambda p: sp.Max(p[0], p[1])),
        ),
        max_leaves=depth * 2,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions(), st.sampled_from(VARS))
def test_random_expressions_verify_and_match_sympy(expr, var):
    if not expr.has(var) or sp.count_ops(expr) > 60:
        return
    d, sol = verified(expr, var)
    assert all(ln.verified_by for ln in sol.lines())
    assert "failed" not in sol.verified_by


def test_namer_skips_used_letters():
    namer = calculus.Namer(["u_1", "u2", "v"])
    assert namer.fresh().name.startswith(("g_", "q_", "p_"))


def test_step_tree_is_data():
    step = differentiate(sp.sin(x) * x, x)
    assert step.rule == "product"
    assert len(step.substeps) == 2
    with pytest.raises(AttributeError):
        step.rule = "x"  # frozen


def test_cross_entropy_through_sigmoid_simplifies_to_sigma_minus_t():
    d, sol = verified(-(t * sp.log(sigmoid(z)) + (1 - t) * sp.log(1 - sigmoid(z))), z)
    assert d.answer == sigmoid(z) - t
    assert d.lines[-1].rule == "multiply out and collect"


def test_simplification_never_lengthens():
    d = derivation(sp.log(sp.cosh(y - t)), y)
    assert sp.count_ops(d.answer) <= sp.count_ops(sp.diff(sp.log(sp.cosh(y - t)), y))
    assert calculus.simplest_form(sp.tanh(y - t)) is None


@pytest.mark.parametrize("text, at, want", [
    ("max(b, leaky_relu(b, 0.01))", sp.Rational(1, 2), 1),  # a tie on all of b > 0
    ("max(b, leaky_relu(b, 0.01))", sp.Rational(-1, 2), sp.Rational(1, 100)),
    ("min(b, leaky_relu(b, 0.01))", sp.Rational(1, 2), 1),
    ("min(b, leaky_relu(b, 0.01))", sp.Rational(-1, 2), 1),
    ("max(relu(b), b)", sp.Rational(3, 2), 1),
])
def test_max_rule_is_right_where_the_arguments_tie_on_an_interval(text, at, want):
    from derive.pipeline import verify_solution
    from derive.sheet.parse import parse_expr
    from derive.tasks.derivative import solve

    expr = parse_expr(text)
    (b,) = expr.free_symbols
    solution = verify_solution(solve(expr, b, None), text)
    assert solution.answer.subs(b, at) == want


@pytest.mark.parametrize("text, wrt", [
    ("(y - t)**2", "y"),  # SymPy's 2y - 2t and factor_terms' 2(y - t) print alike
    ("log(cosh(y - t))", "y"),
    ("-t*log(y) - (1 - t)*log(1 - y)", "y"),
    ("3*(w*x - t)**2/2", "w"),
    ("sigmoid(w*x + b)", "w"),
])
def test_no_tidying_line_prints_like_the_line_before(text, wrt):
    """A reader must never see a step that changes nothing on the page."""
    from derive.render.notation import latex
    from derive.sheet.parse import parse_expr

    expr = parse_expr(text)
    var = next(s for s in expr.free_symbols if s.name == wrt)
    d = derivation(expr, var)
    shown = [latex(ln.rhs) for ln in d.lines if ln.relation == "="]
    assert all(a != b for a, b in zip(shown, shown[1:], strict=False)), shown
    assert sp.simplify(d.answer - sp.diff(expr, var)) == 0


def test_softmax_of_composite_scores_is_the_chain_rule_through_each_score():
    """softmax(k, a_1(x), ..., a_n(x)): no fallback to sympy.diff; the line names the chain rule
    and softmax's partials, and the derivation is verified."""
    from derive.maths.functions import softmax

    e = softmax(1, w * x, 2 * x, y)
    root = differentiate(e, x)
    assert root.rule == "partials" and [s.expr for s in root.substeps] == [w * x, 2 * x]
    assert sp.simplify(root.result - sp.diff(e, x).doit()) == 0
    d = derivation(e, x, detail="standard")
    first = plain(d.lines[0].rule)
    assert first.startswith("chain rule; ") and "softmax" in first and "sympy.diff" not in first
    assert calculus.FALLBACK_FORMULA not in [plain(r) for r in d.rules]
    assert sp.simplify(d.answer - sp.diff(e, x).doit()) == 0
    assert local_derivative(e, x).rules[0] == "chain rule"
