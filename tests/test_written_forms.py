"""The lecturer's forms: sums, products and decimals print as the sheet writes them.

The parser records the written order of every sum and product of a sheet and the text of every
decimal (:func:`derive.sheet.parse.written_forms`); the exercise carries the record
(:class:`derive.maths.display.Names`) and every printer follows it. Two sheets that write the
same expression in different orders print it differently; printing never changes the
mathematics (each printed string parses back to the same expression).
"""

from __future__ import annotations

import json

import sympy as sp

from derive.maths.display import Names, TermOrder, WrittenForms, settle_numbers
from derive.maths.functions import symbol
from derive.pipeline import render, solve_sheet
from derive.render.notation import latex, sympy_str
from derive.render.text import term
from derive.render.view import Printer
from derive.sheet.load import parse_sheet
from derive.sheet.parse import parse_expr, written_forms

SHEET = '''
[sheet]
id = "forms"
title = "Forms"

[[exercise]]
title = "Shared parameter"
model = ["z3 = {product}", "a3 = 0.5*z3**2", "E = (a3 - t)**2"]

[[exercise.part]]
task = "shared-parameter"
shared = "v"
ties = ["w13 = {tie}"]
form = "analytic"
'''


def _order(*texts: str, names=()) -> TermOrder:
    return TermOrder(Names(names, written_forms(texts)))


def test_the_same_sum_prints_in_each_sheets_order():
    e = parse_expr("log(1 + exp(v))")
    assert latex(e, order=_order("w = log(1 + exp(v))")) == r"\log(1 + e^{v})"
    assert latex(e, order=_order("w = log(exp(v) + 1)")) == r"\log(e^{v} + 1)"
    assert sympy_str(e, _order("w = log(1 + exp(v))")) == "log(1 + exp(v))"
    assert sympy_str(e, _order("w = log(exp(v) + 1)")) == "log(exp(v) + 1)"


def test_the_same_product_prints_in_each_sheets_order():
    e = parse_expr("w13*x1")
    assert latex(e, order=_order("z3 = x1*w13")) == "x_{1} w_{13}"
    assert latex(e, order=_order("z3 = w13*x1")) == "w_{13} x_{1}"
    assert sympy_str(2 * e, _order("z3 = x1*w13")) == "2*x1*w13"  # a coefficient goes first
    assert sympy_str(-e, _order("z3 = x1*w13")) == "-x1*w13"


def test_a_regularised_objective_keeps_its_written_order():
    text = "J = L + lambda_/2*(w1**2 + w2**2)"
    e = parse_expr(text.split("=")[1])
    assert latex(e, order=_order(text)) == r"L + \frac{1}{2} \lambda (w_{1}^{2} + w_{2}^{2})"
    flipped = "J = lambda_/2*(w2**2 + w1**2) + L"
    assert latex(e, order=_order(flipped)) == r"\frac{1}{2} \lambda (w_{2}^{2} + w_{1}^{2}) + L"


def test_sums_built_from_written_sums_keep_their_order():
    """Parentheses, minus signs and numbers distributed by SymPy keep the written order."""
    forms = written_forms(["y = 1 - relu(x1) - relu(x2) + relu(x1 + x2)", "u = x - (y + 2*z)",
                           "q = 3*(b + a)"])
    order = TermOrder(Names(["x1", "x2", "x", "y", "z", "a", "b"], forms))
    assert sympy_str(parse_expr("relu(x1 + x2) - relu(x2) + 1 - relu(x1)"), order) == \
        "1 - relu(x1) - relu(x2) + relu(x1 + x2)"
    assert sympy_str(parse_expr("x - y - 2*z"), order) == "x - y - 2*z"
    assert sympy_str(parse_expr("-y - 2*z"), order) == "-y - 2*z"
    assert latex(parse_expr("3*a + 3*b"), order=order) == "3 (b + a)"


def test_a_derived_sum_takes_the_written_order_of_the_terms_it_shares():
    order = _order("z = w2*x2 + w1*x1 + b", names=["w1", "x1", "w2", "x2", "b"])
    assert sympy_str(parse_expr("w1*x1 + w2*x2"), order) == "w2*x2 + w1*x1"
    assert sympy_str(parse_expr("w1*x1 + c"), TermOrder(["w1", "x1", "c"])) == "w1*x1 + c"


def test_constants_go_first_when_the_sheet_writes_them_first():
    first = settle_numbers([written_forms(["y = 1 - relu(x)", "w = log(1 + exp(v))"])])[0]
    last = settle_numbers([written_forms(["y = relu(x) - 1", "w = log(exp(v) + 1)"])])[0]
    assert first.numbers_first and not last.numbers_first
    e = parse_expr("x**2 + 1")  # a sum neither sheet writes
    assert sympy_str(e, TermOrder(Names(["x"], first))) == "1 + x**2"
    assert sympy_str(e, TermOrder(Names(["x"], last))) == "x**2 + 1"
    # an exercise that writes no constant in a sum follows the rest of the sheet
    settled = settle_numbers([written_forms(["y = 2 + x"]), written_forms(["z = x*w"])])
    assert [f.numbers_first for f in settled] == [True, True]


def test_argument_orientation_follows_the_written_sum():
    e = sp.cosh(parse_expr("t - y"))
    assert latex(e, order=_order("E = cosh(t - y)", names=["y", "t"])) == r"\cosh(t - y)"
    assert latex(e, order=_order("E = cosh(y - t)", names=["t", "y"])) == r"\cosh(y - t)"


def test_decimals_print_as_written_and_short_fractions_as_fractions():
    order = _order("g = 0.5*x*(1 + tanh(0.7978845608*(x + 0.044715*x**3)))", "s = .05*x",
                   names=["x"])
    inner = parse_expr("x + 0.044715*x**3")
    assert latex(inner, order=order) == "x + 0.044715 x^{3}"
    assert sympy_str(inner, order) == "x + 0.044715*x**3"
    assert latex(parse_expr("0.5*x**2"), order=order) == r"\frac{1}{2} x^{2}"  # a half: a fraction
    assert latex(parse_expr("x/20"), order=order) == "0.05 x"  # .05 as a plain decimal
    assert latex(-sp.Rational(8943, 200000), order=order) == "-0.044715"
    # the sum written as a number times a sum, which SymPy multiplies out, is shown so
    assert latex(parse_expr("0.7978845608*(x + 0.044715*x**3)"), order=order) == \
        "0.7978845608 (x + 0.044715 x^{3})"
    # a number no literal matches prints as an exact decimal when it is one (a product of the
    # sheet's decimals: 2 * 0.044715), else as a fraction
    assert latex(sp.Rational(8943, 100000) * parse_expr("x"), order=order) == "0.08943 x"
    assert latex(sp.Rational(8943, 700000) * parse_expr("x"), order=order) == \
        r"\frac{8943 x}{700000}"
    assert latex(parse_expr("x/10")) == r"\frac{x}{10}"  # no sheet: no decimals


def test_the_short_fraction_rule():
    forms = written_forms(["a = 0.5 + 0.25*x + 0.125*y + 1.5*z + 0.1*u + 0.2*v + 0.75*w"])
    assert [forms.decimal(sp.Rational(n, d)) for n, d in
            [(1, 2), (1, 4), (1, 8), (3, 2), (3, 4)]] == [None] * 5
    assert forms.decimal(sp.Rational(1, 10)) == "0.1"
    assert forms.decimal(sp.Rational(-1, 5)) == "-0.2"
    assert forms.decimal(sp.Rational(3, 10)) is None  # not written


def test_printed_strings_parse_back_to_the_same_expression():
    order = _order("g = 0.044715*x**3 + x", "z = x1*w13 + b", "p = 1 - relu(x1)",
                   names=["x", "x1", "w13", "b"])
    for text in ["0.044715*x**3 + x", "w13*x1 + b", "3*w13*x1", "1 - relu(x1)",
                 "-0.044715*x/(1 + x)", "x/10 - 2*w13*x1"]:
        e = parse_expr(text)
        assert parse_expr(sympy_str(e, order)) == e, text
        assert parse_expr(term(e, order)) == e, text


def test_no_written_forms_prints_as_before():
    order = TermOrder(["w13", "x1"])
    assert order.written == WrittenForms()
    assert latex(parse_expr("x1*w13"), order=order) == "w_{13} x_{1}"
    assert sympy_str(parse_expr("1 + exp(v)"), order) == "exp(v) + 1"


def test_the_record_does_not_depend_on_the_order_of_hashing():
    """Keys are sets, but only looked up: two records built from the same texts are equal and
    keep insertion order."""
    texts = ["z = x1*w13 + x2*w23", "w = log(1 + exp(v))", "y = 0.044715*x"]
    a, b = written_forms(texts), written_forms(texts)
    assert list(a.sums.items()) == list(b.sums.items())
    assert list(a.products.items()) == list(b.products.items())


def _built(product: str, tie: str) -> tuple[str, str]:
    sheet = parse_sheet(SHEET.replace("{product}", product).replace("{tie}", tie), "forms.toml")
    out = render(sheet, solve_sheet(sheet), ("md", "json"))
    return out["solutions.md"], out["solutions.json"]


def test_two_sheets_print_the_same_solution_in_their_own_forms():
    md, js = _built("x1*w13", "log(1 + exp(v))")
    md2, js2 = _built("w13*x1", "log(exp(v) + 1)")
    assert r"w_{13} = \log(1 + e^{v})" in md and r"w_{13} = \log(e^{v} + 1)" in md2
    assert r"\frac{e^{v}}{1 + e^{v}}" in md and r"\frac{e^{v}}{e^{v} + 1}" in md2
    steps = [s for ex in json.loads(js)["exercises"] for p in ex["parts"] for s in p["steps"]]
    steps2 = [s for ex in json.loads(js2)["exercises"] for p in ex["parts"] for s in p["steps"]]
    assert len(steps) == len(steps2)
    for s, s2 in zip(steps, steps2, strict=True):  # the same mathematics, line by line
        assert s["verified_by"] == s2["verified_by"]


def test_the_exercise_carries_the_record_to_every_printer():
    sheet = parse_sheet(SHEET.replace("{product}", "x1*w13").replace("{tie}", "log(1 + exp(v))"),
                        "forms.toml")
    ex = sheet.exercises[0]
    assert isinstance(ex.names, Names) and ex.written.sum_order([1, sp.exp(symbol("v"))])
    p = Printer.for_exercise(ex)
    w13, x1 = symbol("w13"), symbol("x1")
    assert p.tex(w13 * x1) == "x_{1} w_{13}" and p.str(w13 * x1) == "x1*w13"
    assert term(w13 * x1, p.order) == "x1*w13"


NET = '''
[sheet]
id = "leaky"
title = "Leaky"

[[exercise]]
title = "A leaky unit"
model = ["h = leaky_relu(w*x + b, 0.1)", "y = v*h"]

[[exercise.part]]
task = "network"
of = "y"
'''


def test_figure_labels_keep_the_written_decimal():
    """A neuron's nonlinearity in the network figure, SVG and TikZ, shows the slope as the
    sheet writes it: LReLU with 0.1, not 1/10."""
    sheet = parse_sheet(NET, "leaky.toml")
    out = render(sheet, solve_sheet(sheet), ("tex", "md"))
    svg, tikz = out["figures/ex1-a.svg"], out["figures/ex1-a.tex"]
    assert ">0.1</tspan>" in svg and "1/10" not in svg
    assert r"LReLU}_{0.1}" in tikz and r"\frac{1}{10}" not in tikz


# --- the tanh approximation of GELU: the sheet's decimals survive the tidying -------------------
def test_factoring_keeps_long_fractions_where_they_stand():
    from derive.maths.calculus import factor_out

    z, u = sp.symbols("z u", real=True)
    c = sp.Rational(8943, 200000)  # 0.044715
    expr = sp.Rational(1, 2) + sp.tanh(u) / 2 + c * z
    out = factor_out(expr)
    assert sp.simplify(out - expr) == 0
    assert c in out.atoms(sp.Rational)  # sp.factor_terms gives (250000 + ... + 89430 z)/500000
    assert all(n.q < 1000 or n == c for n in out.atoms(sp.Rational))
    # symbolic factors and short numbers are still pulled out; a long common factor as itself
    assert factor_out(2 * c * z * u + 2 * c * z) == 2 * c * z * (u + 1)
    assert factor_out(z * u / 2 + z / 2) == z * (u + 1) / 2


def test_a_product_of_written_decimals_prints_as_an_exact_decimal():
    from derive.maths.display import exact_decimal

    forms = WrittenForms(decimals={sp.Rational(8943, 200000): "0.044715"})
    product = 3 * sp.Rational(997355701, 1250000000) * sp.Rational(8943, 200000)
    assert exact_decimal(product) == "0.107032224408516"
    assert forms.decimal(-product) == "-0.107032224408516"
    assert forms.decimal(sp.Rational(1, 500000000000000)) is None  # 2e-15: left as a fraction
    assert forms.decimal(sp.Rational(1, 3)) is None and forms.decimal(sp.Rational(3, 8)) is None
    assert WrittenForms().decimal(product) is None  # a sheet that writes no decimal


def _gelu_tanh():
    from pathlib import Path

    from derive.sheet.load import load_sheet

    sheet = load_sheet(Path(__file__).parent / "sheets" / "gelu_tanh.toml")
    return sheet, {r.name: r for r in solve_sheet(sheet)}


def test_gelu_tanh_key_lines_keep_the_decimals():
    """Golden key lines of tests/sheets/gelu_tanh.toml: dGELU/dz and the δ's keep 0.7978845608
    and 0.044715 (their product as an exact decimal), never a 15-digit fraction; every line is
    verified."""
    sheet, results = _gelu_tanh()
    ex1, ex2 = sheet.exercises
    one, two = results["1a"].solution, results["2a"].solution
    for sol in (one, two):
        assert all(ln.verdict.ok for ln in sol.lines() if ln.check is not None)
    rows1 = [latex(ln.rhs, order=TermOrder(ex1.names)) for ln in one.lines()]
    tanh = r"\tanh(0.7978845608 (z + 0.044715 z^{3}))"
    assert rows1[-1] == (rf"\frac{{1}}{{2}} (1 + {tanh} + z (1 - \tanh^{{2}}(0.7978845608 "
                         r"(z + 0.044715 z^{3}))) (0.7978845608 + 0.107032224408516 z^{2}))")
    deltas = {str(ln.lhs): latex(ln.rhs, order=TermOrder(ex2.names)) for ln in two.lines()
              if ln.lhs is not None and str(ln.lhs).startswith("delta")}
    assert deltas["delta_z"] == (r"(0.7978845608 + 0.107032224408516 z^{2}) \cdot \delta_{u} "
                                 r"+ \frac{1}{2} (1 + \tanh(u)) \cdot \delta_{h}")
    assert deltas["delta_u"] == r"\frac{1}{2} z (1 - \tanh^{2}(u)) \cdot \delta_{h}"
    for row in rows1 + list(deltas.values()):
        assert "0000000" not in row
    # the gradients too: their common factors come out without clearing the decimals
    answer = latex(two.answers["b"], order=TermOrder(ex2.names))
    assert answer == (r"\frac{1}{2} v (y - t) (1 + z (1 - \tanh^{2}(u)) (0.7978845608 + "
                      r"0.107032224408516 z^{2}) + \tanh(u))")
