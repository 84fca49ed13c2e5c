"""How the printers write the network and region objects the tasks hand them as data: a neuron's
nonlinearity, the conditions of a piece, a union of convex sets, and the notes of networks and
regions (derive.render.notation, derive.render.prose)."""

from __future__ import annotations

import pytest
import sympy as sp

from derive.maths.functions import leaky_relu, relu, symbol
from derive.maths.geometry import Conditions, SetOf
from derive.maths.network import Nonlinearity, Z, activation, nonlinearity
from derive.render.figures.labels import label
from derive.render.notation import latex, sympy_str
from derive.render.prose import markup, plain
from derive.sheet.parse import parse_expr
from derive.steps import Math, Note, prose

X1, X2, Y = symbol("x1"), symbol("x2"), symbol("y")


@pytest.mark.parametrize(("kind", "notation", "expected"), [
    ("relu", None, r"\operatorname{ReLU}"),
    ("relu", {"relu": "rho"}, r"\rho"),
    ("relu", {"relu": "max"}, r"\max(0,\cdot)"),
    ("sigmoid", None, r"\sigma"),
    ("sigmoid", {"sigmoid": "sigmoid"}, r"\operatorname{sigmoid}"),
    ("softplus", {"softplus": "zeta"}, r"\zeta"),
    ("tanh", None, r"\tanh"),
    ("abs", None, r"\lvert\cdot\rvert"),
    ("identity", None, r"\mathrm{id}"),
])
def test_a_nonlinearity_prints_as_its_name(kind, notation, expected):
    assert latex(Nonlinearity(kind), notation) == expected


def test_a_leaky_relu_shows_its_slope():
    assert latex(Nonlinearity("leaky_relu", sp.Rational(1, 4))) == \
        r"\operatorname{LReLU}_{\frac{1}{4}}"


def test_nonlinearity_names_the_known_activations_only():
    assert nonlinearity(activation(relu(Z))) == Nonlinearity("relu")
    assert nonlinearity(activation(leaky_relu(Z, sp.Rational(1, 10)))) == Nonlinearity(
        "leaky_relu", sp.Rational(1, 10))
    assert nonlinearity(activation(sp.tanh(Z))) == Nonlinearity("tanh")
    assert nonlinearity(activation(Z**3)) is None  # "other": shown by its formula


def test_conditions_and_unions_print_in_both_notations():
    piece = Conditions(sp.Lt(X1, 0), sp.Gt(X2, 1))
    union = SetOf(piece, Conditions(sp.Gt(X1 + X2, sp.Rational(1, 2))))
    assert latex(piece) == r"x_{1} < 0,\ x_{2} > 1"
    assert latex(union) == r"\{x_{1} < 0,\ x_{2} > 1\} \cup \{x_{1} + x_{2} > \frac{1}{2}\}"
    assert sympy_str(piece) == "x1 < 0, x2 > 1"
    assert sympy_str(union) == "{x1 < 0, x2 > 1} | {x1 + x2 > 1/2}"


def test_notes_of_networks_and_regions():
    neuron = prose("Each ", Note("neuron-preactivation"), " with ", Note("neuron-activation"))
    assert markup(neuron) == "Each $z_j$ with $a_j = f(z_j)$"
    assert plain(neuron) == "Each z_j with a_j = f(z_j)"
    y = sp.Function("y")
    chain = Note("equal-chain", (Math(y(X2, X1), {"relu": "rho"}), Math(y(-X1, -X2)),
                                 Math(y(X1, X2))))
    assert markup(chain) == "$y(x_{2}, x_{1}) = y(- x_{1}, - x_{2}) = y(x_{1}, x_{2})$"
    assert plain(chain) == "y(x2, x1) = y(-x1, -x2) = y(x1, x2)"


# --- Greek names print as letters ---------------------------------------------------------------
@pytest.mark.parametrize("name, tex, text", [
    ("lambda_", r"\lambda", "λ"), ("lambda_1", r"\lambda_{1}", "λ1"), ("alpha", r"\alpha", "α"),
    ("beta_", r"\beta", "β"), ("Upsilon", r"\Upsilon", "Υ"), ("x_", r"\mathrm{x_}", "x_"),
])
def test_greek_names_print_as_letters(name, tex, text):
    assert latex(symbol(name)) == tex
    assert "".join(r.text for p in label(symbol(name)).parts for r in p.runs) == text


def test_a_greek_letter_of_a_formula_prints_as_itself():
    expr = parse_expr("λ/2*w**2*π")
    assert sorted(latex(expr).split()) == sorted(r"\frac{1}{2} \lambda \pi w^{2}".split())
    assert "λ" in "".join(r.text for p in label(expr).parts for r in p.runs)
    assert "π" in "".join(r.text for p in label(expr).parts for r in p.runs)
