"""The backward pass: which δ's, computed once, equal to sympy.diff on random DAGs and deep MLPs."""

from __future__ import annotations

import dataclasses

import pytest
import sympy as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from derive.errors import InputError, VerificationFailure
from derive.maths.backprop import (
    SYMBOLIC_LIMIT,
    backward,
    closed_forms,
    select,
    sheet_form,
)
from derive.maths.calculus import Local
from derive.maths.display import TermOrder
from derive.maths.functions import relu, sigmoid, softplus, symbol
from derive.maths.graph import Graph, build_graph
from derive.pipeline import verify_solution
from derive.sheet.model import Assignment
from derive.sheet.parse import parse_assignment
from derive.tasks.backprop import solve
from derive.verify.equality import check_equal, numeric_equal
from derive.verify.gradients import at_random_points
from derive.verify.verdict import ANSWER

EX3 = [
    "z3 = x1*w13 + x2*w23", "a3 = tanh(z3)", "z4 = x1*w14 + x2*w24", "a4 = tanh(z4)",
    "z5 = a3*w35 + a4*w45", "a5 = tanh(z5)", "z6 = a3*w36 + a4*w46", "a6 = tanh(z6)",
    "y = a5*w57 + a6*w67", "E = log(cosh(y - t))",
]
EX4 = ["z3 = x1*w13", "z4 = x2*w24", "a3 = 0.5*z3**2", "a4 = 0.5*z4**2", "y = a3 + a4",
       "E = (y - t)**2"]


def graph(lines) -> Graph:
    return build_graph([Assignment(*parse_assignment(s), s, i + 1) for i, s in enumerate(lines)])


def fail(message: str, key: str) -> InputError:
    return InputError(message)


def full_truth(g: Graph, loss: str, wrt: str) -> sp.Expr:
    """sympy.diff of the loss with every node substituted (test-side, independent code)."""
    done: dict = {}
    for n in g.order:
        done[g.sym(n)] = g.exprs[n].xreplace(done)
    return sheet_form(sp.diff(done[g.sym(loss)], g.sym(wrt)))  # sinh/cosh written as tanh


def substitute_all(g: Graph, expr: sp.Expr) -> sp.Expr:
    for n in reversed(g.order):
        expr = expr.xreplace({g.sym(n): g.exprs[n]})
    return expr


# --- which δ's -----------------------------------------------------------------------------------
def test_3b_deltas_exactly_on_the_paths_from_w13_each_once():
    g = graph(EX3)
    bp = backward(g, "E", ["w13"])
    assert [d.node for d in bp.deltas] == ["y", "z6", "z5", "z3"]
    assert [d.symbol.name for d in bp.deltas] == ["delta_y", "delta6", "delta5", "delta3"]
    assert "z4" not in {d.node for d in bp.deltas} and "z4" in bp.skipped
    assert bp.folded == {"a3": "z3", "a5": "z5", "a6": "z6"}
    d3 = bp.delta("z3")
    assert [e.consumer for e in d3.edges] == ["z5", "z6"]
    tanh_prime = 1 - sp.tanh(g.sym("z3")) ** 2
    assert sp.simplify(d3.activation_local.result - tanh_prime) == 0
    assert d3.value == tanh_prime * (g.sym("w35") * bp.delta("z5").symbol
                                     + g.sym("w36") * bp.delta("z6").symbol)


def test_several_targets_share_their_deltas():
    g = graph(EX4)
    bp = backward(g, "E", ["w13", "w24"])
    nodes = [d.node for d in bp.deltas]
    assert nodes == ["y", "z4", "z3"] and len(set(nodes)) == len(nodes)
    g13, g24 = bp.gradients
    assert g13.value == bp.delta("z3").symbol * g.sym("x1")
    assert g24.value == bp.delta("z4").symbol * g.sym("x2")


def test_all_parameters_of_exercise_3_reuse_one_sweep():
    g = graph(EX3)
    loss, wrt = select(g, None, "all", fail)
    bp = backward(g, loss, wrt)
    assert [d.node for d in bp.deltas] == ["y", "z6", "z5", "z4", "z3"]
    for gr in bp.gradients:
        ans = closed_forms(bp)["d/" + gr.wrt].value
        assert check_equal(substitute_all(g, ans), full_truth(g, "E", gr.wrt)).ok


def test_micrograd_example_without_activations():
    g = graph(["q = x + y", "f = q*z"])
    bp = backward(g, "f", ["x", "y", "z"])
    assert [d.node for d in bp.deltas] == ["q"] and not bp.folded
    at = {g.sym("x"): -2, g.sym("y"): 5, g.sym("z"): -4}
    at[g.sym("q")] = 3
    at[bp.delta("q").symbol] = bp.delta("q").value.xreplace(at)
    assert [gr.value.xreplace(at) for gr in bp.gradients] == [-4, -4, 3]


def test_wrt_an_intermediate_node_is_its_delta():
    g = graph(EX3)
    bp = backward(g, "E", ["z5"])
    assert [d.node for d in bp.deltas] == ["y", "z5"]
    assert bp.gradients[0].delta is bp.delta("z5")


def test_target_off_the_path_has_zero_gradient():
    g = graph(["h = tanh(w*x)", "g = u*x", "E = (h - t)**2"])
    bp = backward(g, "E", ["u", "w"])
    assert bp.gradients[0].edges == () and bp.gradients[0].value == 0
    assert solve(g, "E", ["u"], TermOrder()).answers["u"] == 0


def test_activation_with_a_second_reader_is_not_folded():
    # z feeds a and the loss directly: δ_z has two terms, a gets its own δ
    g = graph(["z = w*x", "a = tanh(z)", "E = (a - t)**2 + z**2"])
    bp = backward(g, "E", ["w"])
    assert not bp.folded and [d.node for d in bp.deltas] == ["a", "z"]
    assert [d.symbol.name for d in bp.deltas] == ["delta_a", "delta_z"]


def test_tied_weight_sums_over_its_readers():
    g = graph(["z1 = w*x1", "a1 = tanh(z1)", "z2 = w*a1", "a2 = sigmoid(z2)",
               "E = (a2 - t)**2"])
    bp = backward(g, "E", ["w"])
    assert [e.consumer for e in bp.gradients[0].edges] == ["z1", "z2"]
    ans = closed_forms(bp)["d/w"].value
    assert check_equal(substitute_all(g, ans), full_truth(g, "E", "w")).ok


@pytest.mark.parametrize(
    "lines",
    [
        # cross-entropy with a sigmoid output
        ["z = w1*x1 + w2*x2 + b", "y = sigmoid(z)", "E = -(t*log(y) + (1 - t)*log(1 - y))"],
        # relu / sigmoid / tanh mix, softplus, leaky relu, a loss reading two nodes
        ["z1 = w1*x1 + b1", "a1 = relu(z1)", "z2 = w2*x1 + b2", "a2 = leaky_relu(z2, 0.1)",
         "z3 = v1*a1 + v2*a2", "a3 = softplus(z3)", "z4 = u1*a3 + u2*a1", "y = tanh(z4)",
         "E = (y - t)**2/2 + (a3 - t)**2/2"],
        # exp/log, product nodes, max
        ["p = w1*x1", "q = exp(p) * w2", "r = max(p, q)", "E = log(1 + r**2)"],
    ],
    ids=["cross-entropy", "mixed-activations", "products"],
)
def test_unseen_graphs_verify_and_match_sympy(lines):
    g = graph(lines)
    loss, wrt = select(g, None, "all", fail)
    sol = verify_solution(solve(g, loss, wrt, TermOrder()))
    bp = backward(g, loss, wrt)
    closed = closed_forms(bp, limit=10**6)
    for w in wrt:
        assert check_equal(substitute_all(g, closed["d/" + w].value),
                           full_truth(g, loss, w)).ok, w
    assert sol.data["checks"] == "symbolic"


def test_sigmoid_output_under_cross_entropy_gives_p_minus_t():
    g = graph(["z1 = w1*x + b1", "h1 = relu(z1)", "z2 = w2*h1 + b2", "p = sigmoid(z2)",
               "L = -(t*log(p) + (1 - t)*log(1 - p))"])
    bp = backward(g, "L", ["w1", "w2"])
    assert bp.delta("z2").simplified == g.sym("p") - g.sym("t")
    assert bp.delta("z1").simplified is None  # nothing shorter to say
    sol = verify_solution(solve(g, "L", ["w1", "w2"], TermOrder()))
    assert sol.data["deltas"]["z2"] == g.sym("p") - g.sym("t")
    assert sp.expand(sol.answers["w2"] - g.sym("h1") * (g.sym("p") - g.sym("t"))) == 0


# --- random DAGs ---------------------------------------------------------------------------------
OPS = ("affine", "product", "tanh", "sigmoid", "softplus", "relu", "square", "exp", "logsq")


@st.composite
def dags(draw):
    leaves = [symbol(f"p{i}") for i in range(draw(st.integers(2, 4)))]
    assignments: list[Assignment] = []
    pool = list(leaves)
    for j in range(draw(st.integers(2, 6))):
        parents = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True))
        coeffs = draw(st.lists(st.integers(-3, 3).filter(bool), min_size=len(parents),
                               max_size=len(parents)))
        s = sp.Add(*(c * p for c, p in zip(coeffs, parents, strict=True)))
        op = draw(st.sampled_from(OPS))
        expr = {
            "affine": s + draw(st.integers(-2, 2)),
            "product": sp.Mul(*parents),
            "tanh": sp.tanh(s), "sigmoid": sigmoid(s), "softplus": softplus(s),
            "relu": relu(s), "square": s**2, "exp": sp.exp(s / 4),
            "logsq": sp.log(1 + s**2),
        }[op]
        name = f"h{j}"
        assignments.append(Assignment(name, expr, f"{name} = {expr}", j + 1))
        pool.append(symbol(name))
    nodes = [a.name for a in assignments]
    extra = draw(st.sampled_from(nodes))  # the loss may read a second node: several paths
    loss = (symbol(nodes[-1]) - symbol("t")) ** 2 + symbol(extra) ** 2 / 2
    assignments.append(Assignment("E", loss, "E = ...", len(assignments) + 1))
    wrt = draw(st.lists(st.sampled_from([s.name for s in leaves]), min_size=1, unique=True))
    return assignments, wrt


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags())
def test_random_dags_equal_sympy_diff(case):
    assignments, wrt = case
    g = build_graph(assignments)
    wrt = [w for w in wrt if w in g]
    assume(wrt)
    bp = backward(g, "E", wrt)
    names = [d.node for d in bp.deltas]
    assert len(names) == len(set(names))  # each δ once
    assert set(names) | set(bp.folded) <= (bp.relevant - {"E"}) | set(wrt)
    closed = closed_forms(bp, limit=10**6)
    for w in wrt:
        truth = full_truth(g, "E", w)
        assert numeric_equal(substitute_all(g, closed["d/" + w].value), truth), w
    verify_solution(solve(g, "E", wrt, TermOrder()))  # every line and the answer checks


# --- deep graphs ---------------------------------------------------------------------------------
def mlp(depth: int, width: int) -> list[Assignment]:
    out, prev = [], [symbol(f"x{i}") for i in range(1, width + 1)]
    for layer in range(1, depth + 1):
        cur = []
        for j in range(1, width + 1):
            z = sum(symbol(f"w{layer}_{i}_{j}") * p for i, p in enumerate(prev, 1))
            out.append(Assignment(f"z{layer}_{j}", z + symbol(f"b{layer}_{j}"), "", None))
            out.append(Assignment(f"a{layer}_{j}", sp.tanh(symbol(f"z{layer}_{j}")), "", None))
            cur.append(symbol(f"a{layer}_{j}"))
        prev = cur
    out.append(Assignment("y", sum(symbol(f"v{i}") * p for i, p in enumerate(prev, 1)), "", None))
    out.append(Assignment("E", (symbol("y") - symbol("t")) ** 2 / 2, "", None))
    return out


def _largest_line(solution) -> int:
    sizes = [0]
    for ln in solution.lines():
        for e in (ln.rhs, *(ln.check or ())):
            sizes.append(sum(1 for _ in sp.preorder_traversal(e)))
    return max(sizes)


def test_deep_mlp_derives_without_substituting_and_verifies_numerically():
    g = build_graph(mlp(6, 3))
    E = g.sym("E")
    assert g.expanded_size(E, set(g.order)) > 25 * SYMBOLIC_LIMIT  # never built
    wrt = ["w1_1_1", "b1_2", "w6_3_1", "v2"]
    sol = verify_solution(solve(g, "E", wrt, TermOrder()))
    assert sol.data["checks"] == "symbolic+numeric"  # v2 is next to the output: symbolic
    assert sol.data["answer_form"]["w1_1_1"] == "recurrence"
    assert sol.data["answer_form"]["v2"] == "closed"
    # each once: y, every pre-activation of layers 2-6, and of layer 1 only z1_1 and z1_2
    expected = {"y", "z1_1", "z1_2"} | {f"z{la}_{j}" for la in range(2, 7) for j in (1, 2, 3)}
    assert set(sol.data["deltas"]) == expected
    # lines stay small whatever the depth: nothing is ever fully substituted
    shallow = verify_solution(solve(build_graph(mlp(3, 3)), "E", wrt[:2] + ["v2"], TermOrder()))
    assert _largest_line(sol) <= _largest_line(shallow) + 10
    labels = [v.what for v in sol.verdicts if v.kind == ANSWER]
    # the numeric targets at once, one random combination per point
    assert sum(label.startswith("dE/d(w1_1_1, ..., ") and " along a random direction of the "
               in label for label in labels) == 3
    assert "dE/dv2 = sympy.diff of the substituted loss" in labels


def test_checks_at_random_points_catch_a_wrong_delta():
    g = build_graph(mlp(4, 2))
    bp = backward(g, "E", ["w1_1_1"])
    good = at_random_points(bp)
    assert all(check_equal(a, b).ok for _, a, b in good)
    d = bp.delta("z2_1")
    wrong = Local(d.activation_local.result * 2, "wrong", ())
    bad_delta = dataclasses.replace(d, activation_local=wrong)
    bad = dataclasses.replace(bp, deltas=tuple(bad_delta if x is d else x for x in bp.deltas))
    assert not all(check_equal(a, b).ok for _, a, b in at_random_points(bad))


def test_one_pass_per_point_checks_every_gradient_and_a_wrong_one_is_named():
    g = build_graph(mlp(4, 2))
    wrt = list(g.parameters)
    bp = backward(g, "E", wrt)
    good = at_random_points(bp)
    assert len(good) == 3 and all(check_equal(a, b).ok for _, a, b in good)
    assert all(f"along a random direction of the {len(wrt)} targets" in label
               for label, _, _ in good)
    gr = next(x for x in bp.gradients if x.wrt == "w1_2_1")
    wrong = dataclasses.replace(gr, edges=tuple(
        dataclasses.replace(e, upstream=e.upstream * 3) for e in gr.edges))
    bad = dataclasses.replace(bp, gradients=tuple(wrong if x is gr else x
                                                  for x in bp.gradients))
    rows = at_random_points(bad)  # the combination disagrees: one row per target and point
    assert len(rows) == 3 * len(wrt)
    failing = {label.split(" at ")[0] for label, a, b in rows if not check_equal(a, b).ok}
    assert failing == {"dE/dw1_2_1"}


def test_a_node_target_gets_a_pass_of_its_own():
    g = build_graph(mlp(3, 2))
    bp = backward(g, "E", ["z2_1", "w1_1_1"])
    rows = at_random_points(bp)
    assert all(check_equal(a, b).ok for _, a, b in rows)
    assert sorted(label.split(" at ")[0] for label, _, _ in rows) == \
        ["dE/dw1_1_1"] * 3 + ["dE/dz2_1"] * 3


def test_a_wrong_local_derivative_fails_verification(monkeypatch):
    import derive.maths.backprop as engine

    real = engine.local_derivative

    def broken(expr, var, **kw):
        loc = real(expr, var, **kw)
        if isinstance(expr, sp.tanh):
            return Local(1 + sp.tanh(var) ** 2, loc.rules, loc.lines)  # tanh' with a wrong sign
        return loc

    monkeypatch.setattr(engine, "local_derivative", broken)
    with pytest.raises(VerificationFailure):
        verify_solution(solve(graph(EX3), "E", ["w13"], TermOrder()))
