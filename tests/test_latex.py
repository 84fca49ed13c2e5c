"""The sheet-notation printer and the line breaker (derive.render.notation,
derive.render.linebreak)."""

from __future__ import annotations

import re
import subprocess

import pytest
import sympy as sp
from conftest import need_tool
from hypothesis import given, settings
from hypothesis import strategies as st

from derive.maths.display import Dot, TermOrder, product_pairs
from derive.maths.functions import symbol
from derive.render.linebreak import break_expr, text_width, width
from derive.render.notation import SheetPrinter, flat_parens, latex
from derive.sheet.parse import parse_expr

ORDER = TermOrder(["z3", "x1", "w13", "x2", "w23", "a3", "y", "t", "N", "v"])


def tex(text: str, notation=None, **kw) -> str:
    return SheetPrinter(notation, ORDER, **kw).doprint(parse_expr(text))


@pytest.mark.parametrize(
    ("source", "notation", "expected"),
    [
        ("relu(x1) + relu(x1 + x2)", {"relu": "rho"}, r"\rho(x_{1}) + \rho(x_{1} + x_{2})"),
        ("relu(x1)", {"relu": "relu"}, r"\operatorname{ReLU}(x_{1})"),
        ("sigmoid(-v)", None, r"\sigma(- v)"),
        ("log(cosh(y - t))", None, r"\log\cosh(y - t)"),
        ("log(cosh(t - y))", None, r"\log\cosh(y - t)"),
        ("tanh(z3)**2", None, r"\tanh^{2}(z_{3})"),
        ("w13*x1", None, r"w_{13} x_{1}"),
        ("x[i, k]", None, r"x_{i}^{(k)}"),
        ("delta3", None, r"\delta_{3}"),
        ("0.5*z3**2", None, r"\frac{1}{2} z_{3}^{2}"),
        ("0.25 + x1", None, r"x_{1} + \frac{1}{4}"),
        ("Sum(w[i]*x[i, k], (i, 1, d))/N", None, r"\frac{1}{N} \sum_{i=1}^{d} w_{i} x_{i}^{(k)}"),
        ("tanh(x1/(1 + y))", None, r"\tanh\left(\frac{x_{1}}{y + 1}\right)"),
        ("max(x1, 0)", None, r"\max(0, x_{1})"),
    ],
)
def test_sheet_notation(source, notation, expected):
    assert tex(source, notation) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("delta3", r"\delta_{3}"),
        ("delta_y", r"\delta_{y}"),
        ("delta_z3", r"\delta_{z_{3}}"),
        ("delta_p2", r"\delta_{p_{2}}"),
        ("delta_neth1", r"\delta_{\mathrm{neth}_{1}}"),
        ("delta_neto12", r"\delta_{\mathrm{neto}_{12}}"),
    ],
)
def test_a_delta_carries_its_node_as_the_node_prints(name, expected):
    """δ of a multi-letter node used to print its raw name: \\delta_{neth1} beside the node
    \\mathrm{neth}_{1}."""
    assert latex(symbol(name)) == expected
    node = name.removeprefix("delta_")
    if node != name:
        assert expected == rf"\delta_{{{latex(symbol(node))}}}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("Sum(y[k] - t[k], (k, 1, N))/N", r"\frac{1}{N} \sum_{k=1}^{N} (y_{k} - t_{k})"),
        ("Sum(t[k] - y[k], (k, 1, N))/N", r"\frac{1}{N} \sum_{k=1}^{N} (t_{k} - y_{k})"),
        ("-Sum(y[k] - t[k], (k, 1, N))/N", r"- \frac{1}{N} \sum_{k=1}^{N} (y_{k} - t_{k})"),
        ("Sum(y[k] - t[k], (k, 1, N))", r"\sum_{k=1}^{N} (y_{k} - t_{k})"),
        ("Sum(-y[k], (k, 1, N))", r"- \sum_{k=1}^{N} y_{k}"),
        ("Sum(-y[k] - t[k], (k, 1, N))/N", r"- \frac{1}{N} \sum_{k=1}^{N} (y_{k} + t_{k})"),
    ],
)
def test_a_sum_keeps_the_sign_of_its_summand(source, expected):
    """Sum(y[k] - t[k], ...)/N used to print as - \\frac{1}{N} \\sum (t_k - y_k), right under a line
    with (y_k - t_k). A minus comes out of the sum only when every term of the summand is
    negative (never \\sum - ...)."""
    assert tex(source) == expected


def test_plain_factors_follow_the_sheet_when_asked():
    assert tex("x1*w13 + x2*w23", sheet_factors=True) == r"x_{1} w_{13} + x_{2} w_{23}"
    assert tex("2*w13*x1**2*(y - t)", sheet_factors=True) == r"2 x_{1}^{2} w_{13} (y - t)"


DEEP = ["z1 = w11*x1 + w21*x2 + b1", "a1 = relu(z1)", "z2 = w12*x1 + w22*x2 + b2",
        "z3 = w13*a1 + w23*a2 + b3"]


def test_factors_follow_the_products_the_sheet_writes():
    """'w_{11} x_{1} + ...' used to print beside 'x_{1} w_{12} + ...': factors were ordered by
    each name's first appearance, and x1 appears before w12. The sheet writes weights first in
    every product, so every product prints that way; a sheet that writes x1*w13 keeps x first."""
    names = [m for src in DEEP for m in re.findall(r"[A-Za-z]\w*", src)]
    order = TermOrder(names, product_pairs(DEEP))
    printer = SheetPrinter(None, order, sheet_factors=True)
    for source, expected in [
        ("w11*x1 + w21*x2 + b1", r"w_{11} x_{1} + w_{21} x_{2} + b_{1}"),
        ("x1*w12 + x2*w22 + b2", r"w_{12} x_{1} + w_{22} x_{2} + b_{2}"),
        ("a1*w13 + a2*w23 + b3", r"w_{13} a_{1} + w_{23} a_{2} + b_{3}"),
        ("2*x1**2*w12*(y - t)", r"2 w_{12} x_{1}^{2} (y - t)"),
    ]:
        assert printer.doprint(parse_expr(source)) == expected
    assert product_pairs(["z3 = x1*w13 + x2*w23", "Sum(w[i]*x[i, k], (i, 1, d))",
                          "w*tanh(x) + x**2*v"]) == [("x1", "w13"), ("x2", "w23"), ("w", "x")]
    inputs_first = TermOrder(["z3", "x1", "w13", "x2", "w23"], product_pairs(["x1*w13 + x2*w23"]))
    assert SheetPrinter(None, inputs_first, sheet_factors=True).doprint(
        parse_expr("w23*x1")) == r"x_{1} w_{23}"
    # two products that disagree: the first one the sheet writes wins, nothing loops
    both = TermOrder(["x1", "w1", "w2", "x2"], product_pairs(["x1*w1", "w2*x2"]))
    assert both.factor_key(symbol("x2")) < both.factor_key(symbol("w2"))


def test_never_max_zero_float_or_one_point_zero():
    x = symbol("x1")
    for expr in (sp.Max(0, x), sp.Float(1.0) * x, sp.Float(0.1) * x + sp.Float(0.30000000000000004),
                 parse_expr("relu(x1)")):
        out = latex(expr, {"relu": "rho"})
        assert "Max" not in out and "1.0" not in out and not re.search(r"\d\.\d", out), out


def test_dot_shows_every_factor():
    y, t = symbol("y"), symbol("t")
    out = latex(Dot(1 / sp.cosh(y - t), sp.sinh(y - t), 1, -1), order=ORDER)
    assert out == r"\frac{1}{\cosh(y - t)} \cdot \sinh(y - t) \cdot 1 \cdot (-1)"


def test_negative_factors_and_terms_of_explicit_products():
    """'\\frac{1}{u_1} \\cdot -1 \\cdot ...' (a nested explicit product starting with -1) and
    '+ - t \\cdot ...' (a term whose first factor is negative) used to print bare."""
    a, t, u, z = (symbol(n) for n in ("a", "t", "u_1", "z"))
    inner = Dot(-1, sp.tanh(z))
    first = Dot(a, Dot(1 / u, inner))
    second = Dot(-t, 1 / u)
    order = TermOrder(["a", "z", "t"])
    out = latex(sp.Add(first, second, evaluate=False), order=order)
    assert out == r"a \cdot \frac{1}{u_{1}} \cdot (-1) \cdot \tanh(z) - t \cdot \frac{1}{u_{1}}"
    assert r"\cdot -" not in out and "+ -" not in out
    # the line breaker splits the same way: '- t', not '+ - t'
    printer = SheetPrinter(None, order)
    ops = [(op, printer.print_piece(p)) for op, p, _ in printer.split(sp.Add(first, second))]
    assert ops[1] == ("-", r"t \cdot \frac{1}{u_{1}}")
    pieces = printer.split(first)
    assert [op for op, _, _ in pieces] == ["", r"\cdot", r"\cdot", r"\cdot"]
    assert [paren for _, _, paren in pieces] == [False, False, True, False]
    # a sum never starts with the negative term when it has a positive one
    assert latex(sp.Add(second, Dot(a, z), evaluate=False), order=TermOrder(["t", "a"])) == (
        r"a \cdot z - t \cdot \frac{1}{u_{1}}")


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (r"\left(x\right)", "(x)"),
        (r"\left(1 - \tanh^{2}\left(z\right)\right)", r"(1 - \tanh^{2}(z))"),
        (r"\left(\frac{a}{b} + \left(c\right)\right)", r"\left(\frac{a}{b} + (c)\right)"),
        (r"\left(\left(\sum_{k} a\right) b\right)", r"\left(\left(\sum_{k} a\right) b\right)"),
        (r"\left. x \right|", r"\left. x \right|"),
    ],
)
def test_flat_parens_only_where_content_is_flat(before, after):
    assert flat_parens(before) == after


# --- width estimate and breaking ------------------------------------------------------------------
def test_width_grows_with_content():
    assert 0 < width("x") < width("x + y") < width(r"x + y + \tanh(z)")
    assert width(r"\frac{a}{b}") < width("a + b")
    assert width(r"\text{chain rule}") == pytest.approx(text_width("chain rule"), rel=0.05)


SAMPLES = [
    r"\frac{\partial E}{\partial w_{13}}",
    r"\frac{\partial}{\partial u_{1}}(\log(u_{1})) \cdot \frac{\partial}{\partial y}(y - t)",
    r"x_{1} \tanh(y - t) (1 - \tanh^{2}(z_{3})) (w_{35} w_{57} (1 - \tanh^{2}(z_{5})))",
    r"\frac{1}{N} \sum_{k=1}^{N} \tanh(y_{k} - t_{k}) x_{i}^{(k)}",
    r"2 (y - t) (w_{13} x_{1}^{2} \sigma(v) + w_{24} x_{2}^{2} \sigma(- v))",
    r"\text{only the term with index } i \text{ depends on } w_{i}",
    r"\left(1 - \tanh^{2}(z_{6})\right) \cdot w_{67} \cdot \delta_{y}",
]


def test_width_estimate_matches_tex(tmp_path):
    """Within 15 % of what TeX measures (11pt Latin Modern, display style)."""
    need_tool("pdflatex", "DERIVE_REQUIRE_TEX")
    body = "\n".join(rf"\sbox0{{$\displaystyle {s}$}}\typeout{{W{i}=\the\wd0}}"
                     for i, s in enumerate(SAMPLES))
    (tmp_path / "w.tex").write_text(
        "\\documentclass[11pt]{article}\\usepackage[T1]{fontenc}\\usepackage{lmodern}"
        "\\usepackage{amsmath,amssymb}\\begin{document}\n" + body + "\n\\end{document}\n")
    subprocess.run(["pdflatex", "-interaction=nonstopmode", "w.tex"], cwd=tmp_path,
                   capture_output=True, timeout=120, check=True)
    log = (tmp_path / "w.log").read_text(errors="replace")
    for i, s in enumerate(SAMPLES):
        real = float(re.search(rf"W{i}=([\d.]+)pt", log).group(1)) / 10.95
        assert width(s) == pytest.approx(real, rel=0.15), s


LONG = ("(1 - tanh(z3)**2)*(w35*(1 - tanh(z5)**2)*w57*tanh(y - t) "
        "+ w36*(1 - tanh(z6)**2)*w67*tanh(y - t))*x1")


def test_a_long_product_breaks_between_factors_within_budget():
    printer = SheetPrinter(None, ORDER)
    expr = parse_expr(LONG)
    assert width(printer.doprint(expr)) > 20
    lines = break_expr(expr, printer, 20, 18)
    assert len(lines) > 1
    assert all(width(ln) <= 20 for ln in lines)
    for ln in lines[1:]:
        assert re.sub(r"^(\\quad )*", "", ln).startswith(("{}+", "{}-", r"{}\cdot"))


MAZUR_B1 = ("(1 - sigmoid(neth1))*(w5*(1 - sigmoid(neto1))*(o1 - t1)*sigmoid(neto1) "
            "+ w7*(1 - sigmoid(neto2))*(o2 - t2)*sigmoid(neto2))*sigmoid(neth1) "
            "+ (1 - sigmoid(neth2))*(w6*(1 - sigmoid(neto1))*(o1 - t1)*sigmoid(neto1) "
            "+ w8*(1 - sigmoid(neto2))*(o2 - t2)*sigmoid(neto2))*sigmoid(neth2)")


def test_a_sum_of_long_products_breaks_inside_its_terms():
    """Mazur's ∂E/∂b1: a sum of two products, each too long for a line, used to be broken only at
    its top-level '+' (54pt into the margin). Each term is opened up, a term starts its own row
    when it does not fit the row before, and rows inside a parenthesis are indented."""
    order = TermOrder(["neth1", "w1", "i1", "h1", "neto1", "w5", "o1", "t1", "w6", "w7", "w8"])
    printer = SheetPrinter(None, order, sheet_factors=True)
    expr = parse_expr(MAZUR_B1)
    assert width(printer.doprint(expr)) > 50
    lines = break_expr(expr, printer, 28, 25)
    assert all(width(ln) <= 28 for ln in lines), [(width(ln), ln) for ln in lines]
    assert len(lines) == 4
    assert lines[2].startswith(r"{}+ (1 - \sigma(\mathrm{neth}_{2})) \bigl(w_{6}")  # a new term
    assert lines[1].startswith(r"\quad {}+ w_{7}") and lines[3].startswith(r"\quad {}+ w_{8}")
    joined = " ".join(re.sub(r"^(\\quad )*\{\}", "", ln) for ln in lines)
    assert re.sub(r"\\[bB]ig[lr]|\s+", "", joined) == re.sub(r"\s+", "", printer.doprint(expr))


def test_a_rational_coefficient_before_a_long_sum_breaks_inside_the_sum():
    """GELU's derivative, 1/2 x (1 + erf(u) + ...): a fraction in front used to keep the whole
    product on one line (36pt into the margin); now the sum inside breaks, the 1/2 stays first."""
    printer = SheetPrinter(None, ORDER)
    expr = parse_expr("x*(1 + erf(sqrt(2)*(w*x + b)/2) + sqrt(2)*(w*x + b)*exp(-(w*x + b)**2/2)"
                      "/sqrt(pi))/2")
    assert width(printer.doprint(expr)) > 20
    lines = break_expr(expr, printer, 16, 14)
    assert len(lines) > 1 and all(width(ln) <= 16 for ln in lines), lines
    assert lines[0].startswith(r"\frac{1}{2} x")
    joined = " ".join(re.sub(r"^(\\quad )*\{\}", "", ln) for ln in lines)
    assert re.sub(r"\\[bB]ig[lr]|\\left|\\right|\s+", "", joined) == \
        re.sub(r"\\left|\\right|\s+", "", printer.doprint(expr))


def test_short_expressions_stay_on_one_line():
    printer = SheetPrinter(None, ORDER)
    assert break_expr(parse_expr("tanh(y - t)"), printer, 30, 30) == [r"\tanh(y - t)"]


def test_a_broken_sum_keeps_its_value():
    """Joining the broken lines gives the same formula as printing it whole."""
    printer = SheetPrinter(None, ORDER)
    expr = parse_expr("w13*x1 + w23*x2 - tanh(z3) + sigmoid(y - t) - log(1 + exp(v))")
    lines = break_expr(expr, printer, 8, 8)
    joined = " ".join(ln.removeprefix("{}") for ln in lines)
    assert re.sub(r"\s+", "", joined) == re.sub(r"\s+", "", printer.doprint(expr))


NAMES = st.sampled_from(["x1", "x2", "w13", "w23", "y", "t", "z3"])
TERMS = st.builds(lambda f, a, b: f"{f}({a} - {b})", st.sampled_from(["tanh", "sigmoid", "cosh"]),
                  NAMES, NAMES)


def _top_level_terms(line: str) -> int:
    """How many terms a line holds: top-level `` + ``/`` - `` outside any parentheses, plus one."""
    body, depth, count = line.removeprefix("{}+ ").removeprefix("{}- "), 0, 1
    for k, c in enumerate(body):
        depth += {"(": 1, ")": -1, "{": 1, "}": -1}.get(c, 0)
        if depth == 0 and body[k : k + 3] in (" + ", " - "):
            count += 1
    return count


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(NAMES, TERMS), min_size=2, max_size=8), st.floats(6, 30))
def test_every_broken_line_fits_unless_it_is_one_piece(factors, budget):
    printer = SheetPrinter(None, ORDER)
    expr = parse_expr(" + ".join(f"{a}*{b}" for a, b in factors))
    for ln in break_expr(expr, printer, budget, budget):
        assert width(ln) <= budget or _top_level_terms(ln) == 1, ln
