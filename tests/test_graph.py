"""Computation graphs: structure, leaf classification, size-capped substitution, every error."""

from __future__ import annotations

import pytest
import sympy as sp

from derive.errors import InputError
from derive.maths.backprop import select
from derive.maths.graph import build_graph
from derive.sheet.model import Assignment
from derive.sheet.parse import parse_assignment

EX3 = [
    "z3 = x1*w13 + x2*w23", "a3 = tanh(z3)", "z4 = x1*w14 + x2*w24", "a4 = tanh(z4)",
    "z5 = a3*w35 + a4*w45", "a5 = tanh(z5)", "z6 = a3*w36 + a4*w46", "a6 = tanh(z6)",
    "y = a5*w57 + a6*w67", "E = log(cosh(y - t))",
]


def model(lines: list[str], first_line: int = 10) -> list[Assignment]:
    return [Assignment(*parse_assignment(s), s, first_line + i) for i, s in enumerate(lines)]


def graph(lines: list[str], **kw):
    return build_graph(model(lines), file="sheet.toml", **kw)


def fail(message: str, key: str) -> InputError:
    return InputError(f"[{key}] {message}", file="sheet.toml", line=99)


# --- structure ----------------------------------------------------------------------------------
def test_exercise_3_structure():
    g = graph(EX3)
    assert g.order == tuple(s.split(" =")[0] for s in EX3)
    assert g.inputs == ("x1", "x2")
    assert g.targets == ("t",)
    assert set(g.parameters) == {"w13", "w23", "w14", "w24", "w35", "w45", "w36", "w46",
                                 "w57", "w67"}
    assert g.consumers["a3"] == ("z5", "z6")
    assert g.consumers["x1"] == ("z3", "z4")
    assert g.parents["z5"][:2] == ("a3", "a4")
    assert g.descendants("w13") == {"z3", "a3", "z5", "a5", "z6", "a6", "y", "E"}
    assert "z4" not in g.descendants("w13")
    assert g.ancestors("z3") == {"x1", "x2", "w13", "w23"}
    assert g.kind("z3") == "node" and g.kind("x1") == "input" and g.kind("w13") == "parameter"


def test_order_follows_dependencies_not_listing():
    g = graph(["f = q*z", "q = x + y"])
    assert g.order == ("q", "f")
    assert g.parameters == ("z", "y") or set(g.parameters) == {"y", "z"}
    assert g.inputs == ("x",)


def test_declared_leaves_override_inference():
    g = graph(["q = x + y", "f = q*z"], declared={"inputs": ["x", "y"], "parameters": ["z"],
                                                  "targets": []})
    assert g.inputs == ("x", "y") and g.parameters == ("z",) and g.targets == ()


def test_expand_substitutes_and_refuses_when_large():
    g = graph(EX3)
    E = g.sym("E")
    full = g.expand(E, set(g.order), 1000)
    assert full is not None and full.free_symbols <= {g.sym(n) for n in g.leaves}
    assert g.expand(E, set(g.order), 10) is None
    actual = sum(1 for _ in sp.preorder_traversal(full))
    assert actual / 2 <= g.expanded_size(E, set(g.order)) <= 2 * actual  # an estimate


def test_expanded_size_counts_without_building():
    # each layer doubles the use of the previous one: size grows like 2^depth
    lines = ["h0 = x"] + [f"h{i} = tanh(h{i - 1}) * h{i - 1}" for i in range(1, 60)]
    g = graph(lines)
    assert g.expanded_size(g.sym("h59"), set(g.order)) > 2**59
    assert g.expand(g.sym("h59"), set(g.order), 10_000) is None


# --- errors -------------------------------------------------------------------------------------
def test_redefinition_is_located():
    with pytest.raises(InputError) as e:
        graph(["a = x", "b = a", "a = b"])
    assert e.value.line == 12 and "assigned twice (first on line 10)" in str(e.value)
    assert str(e.value).startswith("sheet.toml:12:")


def test_cycle_is_located_and_named():
    with pytest.raises(InputError) as e:
        graph(["y = x + 1", "a = tanh(b)", "b = a*w", "E = b**2"])
    assert e.value.line == 11
    assert "cycle" in str(e.value) and "a -> b -> a" in str(e.value)


def test_self_reference_is_a_cycle():
    with pytest.raises(InputError) as e:
        graph(["a = a + 1"])
    assert "a -> a" in str(e.value) and e.value.line == 10


def test_undefined_name_when_declared():
    """Only a declared ``parameters`` list can leave a leaf without a kind; the error is at the
    part's parameter line (the model line where the name is used is in the message)."""
    with pytest.raises(InputError) as e:
        graph(["z = w*x + b", "E = (z - t)**2"], declared={"inputs": ["x"], "targets": ["t"],
                                                            "parameters": ["w"]},
              param_error=fail)
    assert "[parameters] undefined name b in z (line 10)" in str(e.value), str(e.value)
    assert e.value.line == 99


@pytest.mark.parametrize(("declared", "inputs", "targets"), [
    # the bug report: inputs and targets declared, parameters left out -> every other leaf
    ({"inputs": ["i1", "i2"], "targets": ["o"]}, {"i1", "i2"}, {"o"}),
    # inputs alone (as the network task accepts): targets by their names, the rest parameters
    ({"inputs": ["i1", "i2"]}, {"i1", "i2"}, {"t"}),
    # targets alone: inputs by their names (x here), the rest parameters
    ({"targets": ["o", "t"]}, {"x"}, {"o", "t"}),
    # a declared kind is exactly its list, also when empty: x is then a parameter
    ({"inputs": [], "targets": ["o"]}, set(), {"o"}),
])
def test_partial_declarations_infer_the_kinds_left_out(declared, inputs, targets):
    g = graph(["z = w1*i1 + w2*i2 + v*x + b", "E = (z - o)**2 + t"], declared=declared,
              param_error=fail)
    assert set(g.inputs) == inputs and set(g.targets) == targets
    assert set(g.parameters) == set(g.leaves) - inputs - targets


def test_declared_parameters_and_a_leaf_of_no_kind():
    with pytest.raises(InputError) as e:
        graph(["z = w*i", "E = (z - t)**2"], declared={"parameters": ["w"]}, param_error=fail)
    assert str(e.value) == (
        "sheet.toml:99: [parameters] undefined name i in z (line 10): neither assigned, nor "
        "declared among the parameters, nor named like an input (x, x1) or a target (t, t1)")


@pytest.mark.parametrize(
    ("declared", "needle"),
    [
        ({"parameters": ["z"]}, "assigned on line 10"),
        ({"parameters": ["w9"]}, "not used by the model"),
        ({"parameters": ["w"], "inputs": ["w", "x"]}, "both"),
        ({"parameters": "w, x"}, "not used by the model"),
        ({"parameters": [1]}, "list of names"),
    ],
)
def test_bad_declarations_are_param_errors(declared, needle):
    with pytest.raises(InputError) as e:
        build_graph(model(["z = w*x", "E = z**2"]), file="sheet.toml", declared=declared,
                    param_error=fail)
    assert needle in str(e.value) and e.value.line == 99


def test_indexed_quantities_belong_to_chain_rule():
    with pytest.raises(InputError) as e:
        graph(["y = Sum(w[i]*x[i], (i, 1, d))"])
    assert "chain-rule" in str(e.value) and e.value.line == 10


@pytest.mark.parametrize(
    ("loss", "wrt", "needle", "key"),
    [
        (None, "w99", "not a name in the model", "wrt"),
        (None, "E", "the loss itself", "wrt"),
        ("L", "w13", "not assigned in the model", "loss"),
        (None, [], "a name, a list of names", "wrt"),
        (None, ["w13", 3], "a name, a list of names", "wrt"),
    ],
)
def test_select_errors(loss, wrt, needle, key):
    with pytest.raises(InputError) as e:
        select(graph(EX3), loss, wrt, fail)
    assert needle in str(e.value) and f"[{key}]" in str(e.value)


def test_select_all_and_default_loss():
    g = graph(EX3)
    loss, wrt = select(g, None, "all", fail)
    assert loss == "E" and wrt == g.parameters
    assert select(g, None, ["all"], fail)[1] == g.parameters  # --wrt all
    g2 = graph(["z = x + 1", "E = z**2"], declared={"inputs": ["x"]})
    with pytest.raises(InputError, match="no parameters"):
        select(g2, None, "all", fail)


def test_loss_defaults_to_last_assignment_in_computation_order():
    g = graph(["E = (y - t)**2", "y = w*x"])
    assert select(g, None, "w", fail)[0] == "E"
