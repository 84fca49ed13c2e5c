"""Tasks backprop, shared-parameter and chain-rule: the bundled sheet's 2b, 2c, 3b, 4b, 4c, 4d,
sheets written from scratch, derive explain's computation lists, and every input error."""

from __future__ import annotations

import pytest
import sympy as sp

from derive.errors import InputError
from derive.maths.display import TermOrder
from derive.maths.functions import index, indexed_base, sigmoid, symbol
from derive.pipeline import solve_sheet, verify_solution
from derive.render.notation import sympy_str
from derive.render.prose import markup
from derive.sheet.load import bundled_sheet_path, load_sheet, parse_sheet
from derive.tasks import REGISTRY, Context
from derive.tasks.backprop import explain_graph
from derive.verify.equality import numeric_equal
from derive.verify.verdict import ANSWER

S = symbol


@pytest.fixture(scope="module")
def bundled():
    """The bundled sheet's parts solved by these tasks (verified), by name ("3b")."""
    sheet = load_sheet(bundled_sheet_path())
    out = {}
    for ex in sheet.exercises:
        earlier = {}
        for part in ex.parts:
            if part.task not in ("backprop", "shared-parameter", "chain-rule"):
                continue
            sol = verify_solution(REGISTRY[part.task].run(_ctx(sheet.file, ex, part, earlier)))
            earlier[part.label] = out[f"{ex.number}{part.label}"] = sol
    return out


def _ctx(file, ex, part, earlier=None, **override):
    params = {**part.params, **override}
    return Context(file=file, exercise=ex.number, label=part.label, model=ex.model,
                   params=params, param_lines={k: 77 for k in params}, line=part.line,
                   notation=ex.notation, names=ex.names, earlier=dict(earlier or {}))


# --- the bundled sheet ---------------------------------------------------------------------------
def test_3b_records_exactly_the_deltas_on_the_paths_from_w13(bundled):
    sol = bundled["3b"]
    assert list(sol.data["deltas"]) == ["y", "z6", "z5", "z3"]
    assert "z4" not in sol.data["deltas"] and "z4" in sol.data["skipped"]
    assert sol.data["delta_symbols"]["y"] == "delta_y"
    assert sol.data["checks"] == "symbolic"
    x1, z3, z5, z6, y, t = (S(n) for n in ("x1", "z3", "z5", "z6", "y", "t"))
    w35, w36, w57, w67 = (S(n) for n in ("w35", "w36", "w57", "w67"))
    seed = (sp.tanh(y - t) * w57 * (1 - sp.tanh(z5) ** 2) * w35
            + sp.tanh(y - t) * w67 * (1 - sp.tanh(z6) ** 2) * w36) * (1 - sp.tanh(z3) ** 2) * x1
    assert sp.simplify(sol.answer - seed) == 0  # the seed's last line, in forward quantities
    texts = " ".join(markup(b.text) for b in sol.blocks if hasattr(b, "text"))
    assert r"\partial E/\partial z_j" in texts  # says which δ convention it uses


def test_4b_answers(bundled):
    sol = bundled["4b"]
    x1, x2, w13, w24, y, t = (S(n) for n in ("x1", "x2", "w13", "w24", "y", "t"))
    assert sp.expand(sol.answers["w13"] - 2 * (y - t) * x1**2 * w13) == 0
    assert sp.expand(sol.answers["w24"] - 2 * (y - t) * x2**2 * w24) == 0
    assert list(sol.data["deltas"]) == ["y", "z4", "z3"]


def test_4c_states_the_multivariate_chain_rule(bundled):
    sol = bundled["4c"]
    E, v, w13, w24 = (S(n) for n in ("E", "v", "w13", "w24"))
    D = sp.Derivative
    assert sol.answer == D(E, w13) * D(w13, v) + D(E, w24) * D(w24, v)
    assert any(v.kind == ANSWER for v in sol.verdicts) and sol.data["form"] == "rule"


def test_4d_analytic_with_sigmoids(bundled):
    sol = bundled["4d"]
    x1, x2, w13, w24, y, t, v = (S(n) for n in ("x1", "x2", "w13", "w24", "y", "t", "v"))
    expected = 2 * (y - t) * (x1**2 * w13 * sigmoid(v) + x2**2 * w24 * sigmoid(-v))
    assert sp.expand(sol.answer - expected) == 0
    assert sol.data["tie_derivatives"] == {"w13": sigmoid(v), "w24": sigmoid(-v)}
    assert sol.data["from_part"] == {"w13": "b", "w24": "b"}
    rules = [markup(ln.rule) for ln in sol.lines()]
    assert any(r"\operatorname{softplus}' = \sigma" in r for r in rules)


def test_2b_chain_rule_with_symbolic_prediction(bundled):
    sol = bundled["2b"]
    k, N = index("k"), sp.Symbol("N", integer=True, positive=True)
    y, t = indexed_base("y"), indexed_base("t")
    expected = sp.Sum(sp.tanh(y[k] - t[k]) * sp.Derivative(y[k], S("w")), (k, 1, N)) / N
    assert sp.simplify(sol.answer - expected) == 0
    assert sol.data["checks"] == "instantiated" and len(sol.data["instances"]) >= 3


def test_2c_chain_rule_with_linear_model(bundled):
    sol = bundled["2c"]
    k, i, N = index("k"), index("i"), sp.Symbol("N", integer=True, positive=True)
    y, t, x = indexed_base("y"), indexed_base("t"), indexed_base("x")
    expected = sp.Sum(sp.tanh(y[k] - t[k]) * x[i, k], (k, 1, N)) / N
    assert sp.simplify(sol.answer - expected) == 0
    sizes = {(c["N"], c["d"]) for c in sol.data["instances"]}
    assert len(sizes) >= 3  # several N and d


def test_every_line_has_a_check_or_is_a_definition(bundled):
    for name, sol in bundled.items():
        for ln in sol.lines():
            assert ln.check is not None or ln.relation == ":=", (name, ln)
            assert ln.verified_by, (name, ln)


# --- sheets written from scratch -----------------------------------------------------------------
MAZUR = '''
[sheet]
id = "scratch"
title = "From scratch"

[[exercise]]
title = "Mazur's 2-2-2 network"
model = [
  "z3 = w1*x1 + w2*x2 + b1", "a3 = sigmoid(z3)",
  "z4 = w3*x1 + w4*x2 + b1", "a4 = sigmoid(z4)",
  "z5 = w5*a3 + w6*a4 + b2", "y1 = sigmoid(z5)",
  "z6 = w7*a3 + w8*a4 + b2", "y2 = sigmoid(z6)",
  "E = (t1 - y1)**2/2 + (t2 - y2)**2/2",
]

[[exercise.part]]
task = "backprop"
wrt = "all"

[[exercise]]
title = "Logistic regression with a tied weight"
model = ["z = w*x1 + w*x2 + b", "p = sigmoid(z)", "L = -(t*log(p) + (1 - t)*log(1 - p))"]

[[exercise.part]]
task = "backprop"
wrt = ["w", "b"]

[[exercise.part]]
task = "shared-parameter"
shared = "u"
ties = ["w = exp(u)", "b = u**2"]

[[exercise]]
title = "Mean squared error over a data set"
model = ["E = (y - t)**2/2"]

[[exercise.part]]
task = "chain-rule"
network = "tanh(Sum(w[j]*x[j, k], (j, 1, d)))"
wrt = "w[i]"
'''


def test_sheet_written_from_scratch_solves_and_verifies():
    results = solve_sheet(parse_sheet(MAZUR, "scratch.toml"))
    by_name = {r.name: r.solution for r in results}
    mazur = by_name["1a"]
    assert len(mazur.answers) == 10 and mazur.data["checks"] == "symbolic"
    assert set(mazur.data["deltas"]) == {"z3", "z4", "z5", "z6"}
    tied = by_name["2a"]
    assert [e for e in tied.data["deltas"]] == ["z"]  # p folded into z; sigmoid + CE
    shared = by_name["2b"]
    assert shared.data["from_part"] == {"w": "a", "b": "a"}
    mse = by_name["3a"]
    # tanh' written with the prediction's own name: (1 - y_k^2), not 1 - tanh^2(Σ ...)
    assert "x[i, k]" in sp.sstr(mse.answer) and "1 - y[k]**2" in sp.sstr(mse.answer)


# --- derive explain with a computation list ------------------------------------------------------
def test_explain_micrograd():
    sol = verify_solution(explain_graph(["q = x + y", "f = q*z"], "x,y,z".split(","),
                                        at={"x": -2, "y": 5, "z": -4}))
    assert sol.data["values"] == {"x": -2, "y": 5, "z": -4, "q": 3, "f": -12}
    assert sol.data["gradients"] == {"x": -4, "y": -4, "z": 3}
    assert sol.data["deltas"] == {"q": S("z")} and sol.data["deltas_at"] == {"q": -4}
    assert sol.data["loss"] == "f"


def test_explain_mazur_published_numbers():
    r = sp.Rational
    model = ["z3 = w1*x1 + w2*x2 + b1", "a3 = sigmoid(z3)", "z4 = w3*x1 + w4*x2 + b1",
             "a4 = sigmoid(z4)", "z5 = w5*a3 + w6*a4 + b2", "y1 = sigmoid(z5)",
             "z6 = w7*a3 + w8*a4 + b2", "y2 = sigmoid(z6)", "E = (t1 - y1)**2/2 + (t2 - y2)**2/2"]
    at = {"x1": r("0.05"), "x2": r("0.10"), "w1": r("0.15"), "w2": r("0.20"), "w3": r("0.25"),
          "w4": r("0.30"), "b1": r("0.35"), "w5": r("0.40"), "w6": r("0.45"), "w7": r("0.50"),
          "w8": r("0.55"), "b2": r("0.60"), "t1": r("0.01"), "t2": r("0.99")}
    sol = verify_solution(explain_graph(model, ["w5", "w1"], at=at))
    value = {n: sp.Float(v) for n, v in sol.data["gradients"].items()}
    assert abs(sp.Float(sol.data["values"]["E"]) - sp.Float("0.298371109")) < 1e-9
    assert abs(value["w5"] - sp.Float("0.082167041")) < 1e-9  # published: 0.082167041
    assert abs(value["w1"] - sp.Float("0.000438568")) < 1e-9  # published: 0.000438568
    assert [b for b in sol.blocks if type(b).__name__ == "Table"]


def test_explain_loss_option_and_all():
    sol = explain_graph(["h = tanh(w*x + b)", "y = v*h", "L = (y - t)**2"], "all", loss="y")
    assert sol.data["loss"] == "y" and set(sol.answers) == {"w", "b", "v"}
    assert numeric_equal(sol.answers["v"], S("h"))


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ((["q = x + ", "f = q*z"], ["x"]), "assignment 1"),
        ((["q = x + y", "f = q*z"], ["w"]), "--wrt: wrt 'w' is not a name"),
        ((["q = x + y", "f = q*z"], ["x"], "g"), "--loss"),
        ((["q = x + y", "q = q*z"], ["x"]), "assigned twice"),
        ((["q = x + r", "r = q*z"], ["x"]), "cycle"),
    ],
)
def test_explain_errors(args, needle):
    with pytest.raises(InputError) as e:
        explain_graph(*args)
    assert needle in str(e.value) and str(e.value).startswith("derive: error:")


@pytest.mark.parametrize(
    ("at", "needle"),
    [({"x": 1, "y": 2}, "no value for z"), ({"x": 1, "y": 2, "z": 3, "q": 1}, "computed by"),
     ({"x": 1, "y": 2, "z": 3, "k": 1}, "not a name"),
     ({"x": -1, "y": 0, "z": 1}, "not a finite real number")],
)
def test_explain_at_errors(at, needle):
    with pytest.raises(InputError, match=needle):
        explain_graph(["q = x + y", "f = log(q)*z"], ["x"], at=at)


# --- input errors of the tasks -------------------------------------------------------------------
def _part(exercise: int, label: str):
    sheet = load_sheet(bundled_sheet_path())
    ex = sheet.exercises[exercise - 1]
    return sheet.file, ex, next(p for p in ex.parts if p.label == label)


@pytest.mark.parametrize(
    ("where", "override", "needle"),
    [
        ((3, "b"), {"wrt": "w99"}, "not a name in the model"),
        ((3, "b"), {"wrt": "E"}, "the loss itself"),
        ((3, "b"), {"loss": "L"}, "not assigned"),
        ((3, "b"), {"parameters": ["w13", "q"]}, "not used by the model"),
        ((4, "d"), {"form": "numeric"}, "form must be"),
        ((4, "d"), {"shared": "z3"}, "used by the model itself"),
        ((4, "d"), {"shared": "2v"}, "must be a name"),
        ((4, "d"), {"ties": ["z3 = v"]}, "computed by the model"),
        ((4, "d"), {"ties": ["w99 = v"]}, "not used by the model"),
        ((4, "d"), {"ties": ["w13 = 2"]}, "does not depend on v"),
        ((4, "d"), {"ties": ["w13 = v", "w13 = 2*v"]}, "tied twice"),
        ((4, "d"), {"ties": ["w13 = v + w24", "w24 = v"]}, "uses w24"),
        ((4, "d"), {"ties": ["w13 = log(("]}, "tie"),
        ((4, "d"), {"ties": []}, "list of assignments"),
        ((2, "c"), {"output": "q"}, "does not contain the output q"),
        ((2, "c"), {"network": "Sum(v[i]*x[i, k], (i, 1, d))"}, "does not depend on w[i]"),
        ((2, "c"), {"network": "Sum(w[i]*x[i], (i, 1, d))"}, "data point index"),
        ((2, "c"), {"wrt": "w + 1"}, "wrt must be a name"),
        ((2, "c"), {"samples": "2N"}, "samples must be a name"),
        ((2, "c"), {"loss": "log(cosh(y - t)"}, "loss"),
    ],
)
def test_task_input_errors_point_at_the_parameter(where, override, needle):
    file, ex, part = _part(*where)
    with pytest.raises(InputError) as e:
        REGISTRY[part.task].run(_ctx(file, ex, part, **override))
    assert needle in str(e.value), str(e.value)
    assert e.value.line == 77 and e.value.file == file


# --- chain-rule: networks that are not linear in the index sum ----------------------------------
def _chain_rule_part(network: str, wrt: str, model: str = "E = (y - t)**2/2", **params):
    extra = "".join(f'{k} = "{v}"\n' for k, v in params.items())
    text = f'''
[sheet]
id = "cr"
title = "t"
[[exercise]]
title = "t"
model = ["{model}"]
[[exercise.part]]
task = "chain-rule"
network = "{network}"
wrt = "{wrt}"
{extra}'''
    (result,) = solve_sheet(parse_sheet(text, "cr.toml"))
    return result.solution


def _texts(sol) -> str:
    return " ".join(markup(b.text) for b in sol.blocks if hasattr(b, "text"))


@pytest.mark.parametrize("outer", ["sigmoid({})", "tanh({})", "({})**2", "sigmoid({} + b)"])
@pytest.mark.parametrize("wrt", ["w[i]", "w[j]"])
def test_chain_rule_resolves_the_index_range(outer, wrt):
    """Σ_i δ_ij x_i^(k) = x_j^(k) for 1 ≤ j ≤ d (stated), not Piecewise(..., (0, True))."""
    dummy = "j" if wrt == "w[i]" else "i"
    network = outer.format(f"Sum(w[{dummy}]*x[{dummy}, k], (i, 1, d))".replace(
        "(i, 1", f"({dummy}, 1"))
    sol = _chain_rule_part(network, wrt)
    assert not sol.answer.has(sp.Piecewise), sol.answer
    assert not any(ln.rhs.has(sp.Piecewise) for ln in sol.lines())
    j = wrt[2]
    assert rf"$1 \le {j} \le d$" in _texts(sol)
    # every line and the answer are proven symbolically at the concrete sizes: no timeouts
    assert all(ln.verified_by.startswith("symbolic") or ln.relation == ":="
               for ln in sol.lines()), [ln.verified_by for ln in sol.lines()]
    k, N = index("k"), sp.Symbol("N", integer=True, positive=True)
    y, t, x = indexed_base("y"), indexed_base("t"), indexed_base("x")
    jj = index(j)
    d_y = {"sigmoid({})": y[k] * (1 - y[k]), "tanh({})": 1 - y[k] ** 2,
           "sigmoid({} + b)": y[k] * (1 - y[k])}
    if outer in d_y:  # the derivative of the activation in the prediction's own name
        expected = sp.Sum((y[k] - t[k]) * d_y[outer] * x[jj, k], (k, 1, N)) / N
        assert sp.simplify(sol.answer - expected) == 0, sol.answer


def test_chain_rule_logistic_regression_is_p_minus_t():
    """Cross-entropy through σ: (1/M) Σ_n (p_n − t_n) x_j^(n), the textbook form."""
    sol = _chain_rule_part("sigmoid(Sum(w[i]*x[i, n], (i, 1, d)))", "w[j]",
                           model="E = -t*log(p) - (1 - t)*log(1 - p)",
                           output="p", samples="M", index="n")
    n, j, M = index("n"), index("j"), sp.Symbol("M", integer=True, positive=True)
    p, t, x = indexed_base("p"), indexed_base("t"), indexed_base("x")
    assert sol.answer == sp.Sum((p[n] - t[n]) * x[j, n], (n, 1, M)) / M
    assert not sol.answer.has(sigmoid)



@pytest.mark.parametrize(("network", "rule"), [
    ("Sum(w[i]*x[i, k], (i, 1, d)) + b", "linear in $b$"),
    ("sigmoid(Sum(w[i]*x[i, k], (i, 1, d)) + b)", r"chain rule; $\sigma' = \sigma(1 - \sigma)$"),
])
def test_chain_rule_scalar_parameter_names_its_rules(network, rule):
    """∂y_k/∂b is justified by the rules a TA names, not 'by sympy.diff'."""
    sol = _chain_rule_part(network, "b")
    rules = [markup(ln.rule) for ln in sol.lines()]
    assert "by sympy.diff" not in rules
    assert any(rule in r for r in rules), rules

# --- derivative: through the computation list --------------------------------------------------
THROUGH = ["z = w*x + b", "y = tanh(z)", "E = (y - t)**2"]


def _derivative_part(of: str, wrt: str, model=THROUGH):
    sheet = parse_sheet(f'''
[sheet]
id = "d"
title = "t"
[[exercise]]
title = "t"
model = {list(model)!r}
[[exercise.part]]
task = "derivative"
of = "{of}"
wrt = "{wrt}"
'''.replace("'", '"'), "d.toml")
    ex = sheet.exercises[0]
    part = ex.parts[0]
    return verify_solution(REGISTRY["derivative"].run(_ctx(sheet.file, ex, part)))


def _full(model) -> dict:
    from derive.sheet.parse import parse_assignment

    full: dict = {}
    for line in model:
        name, expr = parse_assignment(line)
        full[S(name)] = expr.xreplace(full)
    return full


@pytest.mark.parametrize(("of", "wrt", "through"), [
    ("E", "w", ["z", "y"]),  # w reaches E only through z and y
    ("E", "z", ["y"]),  # a node as the variable: its own definition is not substituted
    ("(y - t)**3", "b", ["z", "y"]),  # an expression over model names
    ("E", "t", []),  # occurs directly, and through nothing else: nothing substituted
])
def test_derivative_follows_the_computation_list(of, wrt, through):
    sol = _derivative_part(of, wrt)
    model = [m for m in THROUGH if not m.startswith(f"{wrt} =")]  # a node as variable stays
    full = _full(model)
    f = full[S(of)] if S(of) in full else _full([*model, f"Q = {of}"])[S("Q")]
    truth = sp.diff(f, S(wrt))
    assert sp.simplify(sol.answer.xreplace(full) - truth) == 0, sol.answer
    assert sol.data.get("substituted", []) == through
    if through:  # says which definitions were substituted, and answers in the model's names
        intro = markup(sol.blocks[0].text)
        assert "depends on" in intro and all(f"${n} = " in intro for n in through), intro
        assert S("y") in sol.answer.free_symbols


def test_derivative_of_a_name_that_does_not_depend_on_wrt_is_an_error():
    with pytest.raises(InputError, match="does not depend on q, neither directly nor through"):
        _derivative_part("E", "q")


def test_derivative_substitutes_only_the_names_on_the_paths():
    """v = 2*x does not depend on w: it stays a name; z1 and a1 are substituted."""
    model = ["z1 = w*x", "a1 = sigmoid(z1)", "v = 2*x", "E = a1*v"]
    sol = _derivative_part("E", "w", model)
    assert sol.data["substituted"] == ["z1", "a1"]
    assert S("v") in sol.answer.free_symbols
    truth = sp.diff(_full(model)[S("E")], S("w"))
    assert sp.simplify(sol.answer.xreplace(_full(model)) - truth) == 0


# --- backprop: partial declarations of the leaves ------------------------------------------------
PARTIAL = '''
[sheet]
id = "p"
title = "t"
[[exercise]]
title = "t"
model = ["net = w1*i1 + w2*i2 + b", "out = sigmoid(net)", "E = (target - out)**2/2"]
[[exercise.part]]
task = "backprop"
wrt = "all"
{declared}
'''


def test_backprop_with_inputs_and_targets_declared_infers_the_parameters():
    sheet = parse_sheet(PARTIAL.format(declared='inputs = ["i1", "i2"]\ntargets = ["target"]'),
                        "p.toml")
    (result,) = solve_sheet(sheet)
    assert set(result.solution.answers) == {"w1", "w2", "b"}


def test_backprop_undeclared_leaf_is_reported_at_the_parameters_line():
    text = PARTIAL.format(declared='inputs = ["i1", "i2"]\ntargets = ["target"]\n'
                                   'parameters = ["w1", "w2"]')
    with pytest.raises(InputError) as e:
        solve_sheet(parse_sheet(text, "p.toml"))
    line = next(i for i, s in enumerate(text.splitlines(), 1) if s.startswith("parameters"))
    assert e.value.line == line, str(e.value)
    assert "undefined name b in net (line 7)" in str(e.value)


# --- TA-level forms -------------------------------------------------------------------------------
def test_backprop_writes_sigmoid_derivatives_with_the_activation_names():
    """Mazur's out(1 − out): δ = o1(1 − o1)(o1 − t1), not σ(neto1)(1 − σ(neto1)) next to o1."""
    sheet = parse_sheet(MAZUR, "scratch.toml")
    sol = solve_sheet(sheet)[0].solution
    order = TermOrder(sheet.exercises[0].names)  # the JSON writer's term order
    assert sympy_str(sol.data["deltas"]["z5"], order) == "y1*(1 - y1)*(y1 - t1)"
    assert sympy_str(sol.data["deltas"]["z3"], order).startswith("a3*(1 - a3)*")
    for name, answer in sol.answers.items():
        assert not answer.has(sigmoid), (name, answer)
    assert {S("a3"), S("x1")} <= sol.answers["w1"].free_symbols
    # every rewritten line says which name it used
    rules = [markup(ln.rule) for ln in sol.lines() if ln.rhs.has(S("y1") * (1 - S("y1")))]
    assert rules and all(r"y_{1} = \sigma(z_{5})" in r for r in rules[:1]), rules


def test_backprop_intro_says_activation_in_the_singular():
    sol = solve_sheet(parse_sheet(MAZUR, "scratch.toml"))[1].solution  # z -> p, one activation
    intro = markup(sol.blocks[0].text)
    assert "(the activation $p$ is folded into its δ)" in intro, intro


def test_derivative_of_cross_entropy_over_one_denominator():
    sol = _derivative_part("E", "y", ["E = -(t*log(y) + (1 - t)*log(1 - y))"])
    y, t = S("y"), S("t")
    num, den = sp.fraction(sol.answer)
    assert (sp.expand(num - (y - t)), sp.expand(den - y * (1 - y))) == (0, 0), sol.answer
    assert sol.lines()[-1].rule == "one denominator"


def test_one_denominator_is_not_tried_for_high_degree_answers():
    """Putting ((y/(1 + (π + x)²))/(1 + (y/(1 + (π + x)²))²))² over one denominator means factoring
    a degree-22 polynomial in x, y and π: the long property run sat in factor for minutes. The
    degree is estimated from the tree first, and above FACTOR_MAX_DEGREE it is not tried."""
    from derive.maths.trees import degree, factorable

    x, y = S("x"), S("y")
    u = y / (1 + (sp.pi + x) ** 2)
    expr = (u / (1 + u**2)) ** 2
    n, den = sp.fraction(sp.together(sp.diff(expr, x)))
    assert not factorable(n, den)
    sol = _derivative_part("E", "x", [f"E = {sp.sstr(expr)}"])
    assert "one denominator" not in [ln.rule for ln in sol.lines()]
    assert degree(sp.Integer(3)) == 0 and degree(x**2 * y + sp.pi) == 3
    assert degree((x + y) ** 3 / (x * y)) == 5 and factorable(y - 1, y * (1 - y))


def test_gradient_with_respect_to_a_product_node_keeps_that_node():
    """∂E/∂h1 holds h1 as a variable: h1 = 2 x1 is not substituted back into its own gradient
    (the long property run found the answer 2(1 − tanh²(2x1))(h2 − t), which mixed both)."""
    from derive.maths.graph import build_graph
    from derive.sheet.model import Assignment
    from derive.sheet.parse import parse_assignment
    from derive.tasks.backprop import solve

    lines = ["h1 = 2*x1", "h2 = tanh(h1)", "E = (h2 - t)**2"]
    graph = build_graph([Assignment(*parse_assignment(s), s, i + 1) for i, s in enumerate(lines)])
    sol = verify_solution(solve(graph, "E", ["h1", "h2"], TermOrder()))
    h1, h2, t, x1 = S("h1"), S("h2"), S("t"), S("x1")
    assert x1 not in sol.answers["h1"].free_symbols, sol.answers["h1"]
    assert numeric_equal(sol.answers["h1"].subs(h2, sp.tanh(h1)),
                         sp.diff((sp.tanh(h1) - t) ** 2, h1))
