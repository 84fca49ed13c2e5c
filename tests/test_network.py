"""Network extraction: from expressions (1a) and computation lists (3a, 4a)."""

from __future__ import annotations

import pytest
import sympy as sp

from derive.errors import InputError
from derive.maths.functions import symbol
from derive.maths.network import build_network, network_from_expr
from derive.sheet.parse import parse_assignment, parse_expr
from derive.verify.network import check_network

EX1 = "1 - relu(x1) - relu(x2) + relu(x1 + x2)"
EX3 = ["z3 = x1*w13 + x2*w23", "a3 = tanh(z3)", "z4 = x1*w14 + x2*w24", "a4 = tanh(z4)",
       "z5 = a3*w35 + a4*w45", "a5 = tanh(z5)", "z6 = a3*w36 + a4*w46", "a6 = tanh(z6)",
       "y = a5*w57 + a6*w67", "E = log(cosh(y - t))"]
EX4 = ["z3 = x1*w13", "z4 = x2*w24", "a3 = 0.5*z3**2", "a4 = 0.5*z4**2", "y = a3 + a4",
       "E = (y - t)**2"]


def model(lines):
    return [parse_assignment(line) for line in lines]


def weights(neuron):
    return {s: w for s, w in neuron.weights}


def test_ex1a_three_hidden_relus_and_affine_output():
    net = network_from_expr(parse_expr(EX1))
    hidden = [n for n in net.neurons if n.layer == 1]
    assert [n.activation.kind for n in hidden] == ["relu"] * 3
    assert [(weights(n).get("x1", 0), weights(n).get("x2", 0)) for n in hidden] == [
        (1, 0), (0, 1), (1, 1)]
    assert all(n.bias == 0 for n in hidden)
    (out,) = [n for n in net.neurons if n.name == "y"]
    assert out.layer == 2 and out.activation.kind == "identity" and out.bias == 1
    assert [weights(out)[n.name] for n in hidden] == [-1, -1, 1]
    assert net.outputs == ("y",)
    assert check_network(net, [("y", parse_expr(EX1))], "y").what == "y"


def test_ex3a_neurons_are_the_z_a_pairs_with_weight_symbols():
    net = build_network(model(EX3), "E")
    assert net.inputs == ("x1", "x2")
    assert [(n.name, n.pre, n.layer, n.activation.kind) for n in net.neurons] == [
        ("a3", "z3", 1, "tanh"), ("a4", "z4", 1, "tanh"), ("a5", "z5", 2, "tanh"),
        ("a6", "z6", 2, "tanh"), ("y", None, 3, "identity")]
    assert weights(net.neuron("a5")) == {"a3": symbol("w35"), "a4": symbol("w45")}
    assert net.targets == ("t",)
    assert [loss.name for loss in net.losses] == ["E"]
    check_network(net, model(EX3), "E")


def test_ex4a_half_square_activation_and_loss_shown_from_output():
    net = build_network(model(EX4), "y")
    a3 = net.neuron("a3")
    assert a3.activation.kind == "other"
    assert a3.activation(symbol("z")) == symbol("z") ** 2 / 2
    assert weights(a3) == {"x1": symbol("w13")}
    assert weights(net.neuron("y")) == {"a3": 1, "a4": 1}
    assert [c.name for c in net.losses] == ["E"] and net.targets == ("t",)
    assert build_network(model(EX4), "y", include_loss=False).losses == ()


@pytest.mark.parametrize("text, kinds", [
    ("max(x1, x2) - min(x1, 0) + abs(x1 - x2)", {"relu", "abs"}),
    ("leaky_relu(x1 - 1, 0.1) + max(x2, 0.2*x2)", {"leaky_relu"}),
    ("relu(relu(x1) - relu(x2) + 1) - 2*relu(x1 + x2 - 1)", {"relu"}),
])
def test_unseen_piecewise_linear_networks_recompute_their_expression(text, kinds):
    expr = parse_expr(text)
    net = network_from_expr(expr)
    assert {n.activation.kind for n in net.neurons if n.name != "y"} == kinds
    check_network(net, [("y", expr)], "y")


def test_nested_units_are_deeper_layers_and_inputs_may_skip():
    net = network_from_expr(parse_expr("relu(relu(x1) - relu(x2) + 1) + x1"))
    assert net.depth == 3
    deep = [n for n in net.neurons if n.layer == 2]
    assert len(deep) == 1 and deep[0].bias == 1
    assert weights(net.neuron("y"))["x1"] == 1  # the input feeds the output directly


def test_other_names_and_inline_activations():
    lines = ["h = sigmoid(u1*v1 + u2*v2 + c)", "out = 3*h - 1", "L = (out - target)**2"]
    net = build_network(model(lines), "L", inputs=["u1", "u2"])
    assert [(n.name, n.activation.kind) for n in net.neurons] == [("h", "sigmoid"),
                                                                  ("out", "identity")]
    assert net.neuron("h").bias == symbol("c")
    assert net.targets == ("target",)


@pytest.mark.parametrize("text, words", [
    ("x1*relu(x2)", "multiplies"),
    ("sin(x1)", "not a network unit"),
    ("relu(x1)**2", "not a network unit"),
    ("3", "no neurons"),
])
def test_not_a_network_says_why(text, words):
    with pytest.raises(InputError, match=words):
        network_from_expr(parse_expr(text))


def test_unknown_name():
    with pytest.raises(InputError, match="not defined"):
        build_network(model(EX4), "q")


def test_json_fields():
    data = network_from_expr(parse_expr(EX1)).to_json()
    assert data["inputs"] == ["x1", "x2"]
    assert data["neurons"][2] == {"name": "h3", "pre": None, "layer": 1, "activation": "relu",
                                  "f": "relu(z)", "bias": "0",
                                  "weights": {"x1": "1", "x2": "1"}}
    assert sp.Rational(data["neurons"][3]["bias"]) == 1


# --- a regularised objective J = L + s -----------------------------------------------------------
def test_a_regularised_objective_is_a_loss_node_reading_the_loss():
    model = [parse_assignment(s) for s in (
        "z = w1*x1 + w2*x2 + b", "y = sigmoid(z)", "L = (y - t)**2/2",
        "J = L + λ/2*(w1**2 + w2**2)")]
    net = build_network(model, "J")
    assert [n.name for n in net.neurons] == ["y"]
    assert [(c.name, c.sources, c.layer) for c in net.losses] == [
        ("L", ("t", "y"), 2), ("J", ("L",), 3)]
    assert net.targets == ("t",)
    check_network(net, model, "J")
    assert build_network(model, "y").losses == net.losses  # the losses that read y, J included


def test_a_regulariser_written_into_the_loss_belongs_to_the_loss_node():
    model = [parse_assignment(s) for s in (
        "h = tanh(u*x + d)", "y = v*h + c", "E = (y - t)**2/2 + lambda_/2*v**2")]
    net = build_network(model, "E")
    (loss,) = net.losses
    assert loss.sources == ("t", "y") and net.targets == ("t",)  # v and lambda_ are parameters
    check_network(net, model, "E")
