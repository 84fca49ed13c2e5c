"""Property-based verification: random expressions, computation graphs and ReLU networks.

* **Expressions** (written as sheet text, parsed by :mod:`derive.sheet.parse`): depth up to 6, every
  function the parser supports, integer and decimal constants, ``pi``, five variables. Every
  recorded step of the derivation verifies (:func:`derive.pipeline.verify_solution`), and the answer
  equals ``sympy.diff`` (checked again here, numerically at random points).
* **Computation graphs**: DAGs of up to 30 nodes with mixed activations, shared subexpressions
  (nodes read by several later nodes) and several paths to the loss. The backward pass's answer
  for every target equals ``sympy.diff`` of the loss with the whole graph substituted, at random
  points with 30 digits; every line of the solution verifies.
* **ReLU networks** (2 inputs, 1-2 hidden layers, up to 8 units, small integer weights): the exact
  class regions agree with the sign of the network's formula, evaluated exactly, at random and
  lattice points (lattice points lie on the networks' lines: the hard cases).

The default suite runs a short version. ``pytest -m slow`` runs a fixed-seed sample of the long
run (hypothesis ``@seed``, one shard per CPU): 1,000 expressions, 200 graphs and 100 networks, in
every CI job. ``DERIVE_SOAK=1 pytest -m slow`` is the soak: 10,000 expressions, 1,000 graphs and
500 networks. Each long test asserts that it really ran that many examples, with 0 failures.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from contextlib import contextmanager
from fractions import Fraction

import mpmath
import pytest
import sympy as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from derive.errors import InputError, VerificationFailure
from derive.maths.backprop import backward
from derive.maths.display import TermOrder
from derive.maths.graph import build_graph
from derive.pipeline import verify_solution
from derive.sheet.model import Assignment
from derive.sheet.parse import parse_assignment, parse_expr
from derive.tasks.backprop import solve as solve_backprop
from derive.tasks.derivative import solve as solve_derivative
from derive.verify.equality import (
    _compare,
    _domain_guards,
    check_equal,
    cpu_budget,
    numeric_equal,
)
from derive.verify.points import free_quantities

SHORT = {"deadline": None, "suppress_health_check": list(HealthCheck), "derandomize": True}
# `-m slow` runs a fixed-seed sample in every CI job; DERIVE_SOAK=1 runs the whole soak (about
# 45 minutes on two CPUs; see the README, "Property-based tests").
SOAK = os.environ.get("DERIVE_SOAK") == "1"
LONG_EXPRESSIONS, LONG_GRAPHS, LONG_NETWORKS = (10_000, 1_000, 500) if SOAK else (1_000, 200, 100)
SEEN: Counter = Counter()  # examples that ran to the end, per property
SLOW: list[str] = []  # examples set aside for using more than EXAMPLE_CPU_SECONDS
EXAMPLE_CPU_SECONDS = 60.0
PROPERTY_SIMPLIFY_SECONDS = 0.1  # per-step symbolic budget in these runs (numeric after that)


@contextmanager
def _cpu_budget(kind: str, case: object):
    """derive's own CPU budget (:func:`derive.verify.equality.cpu_budget`, CPU time, so independent
    of
    load) for one example. An example that runs out is set aside, counted and listed: a
    performance problem to look at, which must not stall the run, and no mismatch."""
    try:
        with cpu_budget(EXAMPLE_CPU_SECONDS, "one example"):
            yield
    except InputError as e:
        if "gave up" not in str(e):
            raise
        SEEN[f"{kind} set aside: over {EXAMPLE_CPU_SECONDS:g} s of CPU"] += 1
        SLOW.append(repr(case)[:400])
        assume(False)
    except MemoryError:  # past the long run's address-space limit (see _SHARD): the same kind
        SEEN[f"{kind} set aside: out of memory"] += 1  # of problem as running out of CPU
        SLOW.append("(out of memory) " + repr(case)[:400])
        assume(False)


@pytest.fixture(autouse=True)
def _short_simplify_budget(monkeypatch):
    """Thousands of checks: a step that simplify cannot settle in 0.1 s is verified numerically
    (6 random points, 40 digits), as it would be after 2 s; only the label differs."""
    from derive.verify import equality as verify

    monkeypatch.setattr(verify, "SIMPLIFY_SECONDS", PROPERTY_SIMPLIFY_SECONDS)

# --- random expressions --------------------------------------------------------------------------
VARIABLES = ["x", "y", "w", "b", "t"]
UNARY = ["exp", "log", "ln", "sqrt", "sin", "cos", "tan", "sinh", "cosh", "tanh", "sigmoid",
         "softplus", "relu", "abs", "Heaviside", "erf"]
POSITIVE_ARGUMENT = {"log", "ln", "sqrt"}  # arguments made to depend on a variable


def _leaf() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(VARIABLES),
        st.sampled_from(VARIABLES),
        st.integers(1, 5).map(str),
        st.sampled_from(["0.5", "1.5", "2", "3", "pi"]),
    )


def _with_variable(text: str) -> str:
    return text if any(v in text for v in VARIABLES) else f"({text} + x)"


@st.composite
def expression_text(draw, depth: int = 6) -> str:
    """A formula as a lecturer types it, of syntax-tree depth at most ``depth``."""
    if depth == 0 or draw(st.integers(0, 9)) < 3:
        return draw(_leaf())
    kind = draw(st.sampled_from(["unary"] * 5 + ["binary"] * 4 + ["power", "neg", "leaky",
                                                                  "maxmin", "softmax"]))
    a = draw(expression_text(depth - 1))
    if kind == "unary":
        f = draw(st.sampled_from(UNARY))
        return f"{f}({_with_variable(a) if f in POSITIVE_ARGUMENT else a})"
    if kind == "neg":
        return f"-({a})"
    if kind == "leaky":
        return f"leaky_relu({a}, {draw(st.sampled_from(['0.01', '0.1', '0.5']))})"
    if kind == "power":
        exponent = draw(st.sampled_from(["2", "3", "-1", "0.5", "(1 + x**2)"]))
        return f"(1 + ({a})**2)**{exponent}" if exponent in ("0.5", "(1 + x**2)") \
            else f"({a})**{exponent}"
    b = draw(expression_text(depth - 1))
    if kind == "maxmin":
        return f"{draw(st.sampled_from(['max', 'min']))}({a}, {b})"
    if kind == "softmax":
        return f"softmax({draw(st.sampled_from(['1', '2']))}, {a}, {b})"
    op = draw(st.sampled_from(["+", "-", "*", "/"]))
    if op == "/":
        b = f"(1 + ({_with_variable(b)})**2)"  # a denominator that is never 0
    return f"({a}) {op} ({b})"


def _real_somewhere(expr: sp.Expr) -> bool:
    """Some random point of derive's real domain gives ``expr`` a defined value (the same
    sampling as the verifier's)."""
    free = free_quantities(expr)
    return _compare(expr, expr, free, 1, 0, _domain_guards(expr), []) is not None or not free


def _check_expression(text: str, var_name: str) -> None:
    with _cpu_budget("expressions", (text, var_name)):
        _expression(text, var_name)


def _expression(text: str, var_name: str) -> None:
    try:
        expr = parse_expr(text)
    except InputError:
        SEEN["expressions set aside: the parser refuses them"] += 1
        assume(False)  # e.g. a constant that folds to log(0); rare
        return
    var = next((s for s in expr.free_symbols if s.name == var_name), None)
    if var is None:
        var = sorted(expr.free_symbols, key=lambda s: s.name)[0] if expr.free_symbols else None
    assume(var is not None)
    if not _real_somewhere(expr):  # log(-exp(y)), sqrt(-1/sqrt(3 + x)): no real value at all
        SEEN["expressions set aside: nowhere real"] += 1
        assume(False)
    truth = sp.diff(expr, var)
    try:
        solution = verify_solution(solve_derivative(expr, var, None), f"{text!r} d/d{var}")
    except VerificationFailure:
        if not numeric_equal(truth, truth):  # sympy.diff itself is undefined on the domain
            SEEN["expressions set aside: sympy.diff undefined wherever real"] += 1
            assume(False)  # e.g. |relu(-w**(3/2))|: SymPy's d|f| is 0/0 where f = 0
        raise
    assert all(line.verified_by for line in solution.lines())  # every recorded step checked
    assert solution.answer == truth or check_equal(solution.answer, truth).ok, text
    SEEN["expressions"] += 1
    SEEN["expression steps"] += len(solution.lines())


@settings(max_examples=30, **SHORT)
@given(expression_text(depth=4), st.sampled_from(VARIABLES))  # the long run goes to depth 6
def test_random_expressions_derive_and_verify(text, var):
    _check_expression(text, var)


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
def test_an_example_over_its_cpu_budget_is_set_aside_and_listed(monkeypatch):
    from hypothesis.errors import UnsatisfiedAssumption

    monkeypatch.setattr(__import__(__name__), "EXAMPLE_CPU_SECONDS", 0.01)
    SEEN.clear()
    SLOW.clear()
    with pytest.raises(UnsatisfiedAssumption):
        _check_expression("sinh((1 + (b/(1 + tan(log(3 + x))**2))**2)**(1 + x**2))", "x")
    assert SEEN == {"expressions set aside: over 0.01 s of CPU": 1}
    assert SLOW and "sinh" in SLOW[0]


def test_every_supported_function_occurs_in_the_strategy():
    from derive.sheet.parse import ALIASES, FUNCTION_NAMES

    covered = set(UNARY) | {"leaky_relu", "max", "min", "softmax"} | set(ALIASES)  # Max is max
    assert FUNCTION_NAMES - covered == {"Sum"}  # sums over a dataset: the chain-rule task


# --- random computation graphs ---------------------------------------------------------------
ACTIVATIONS = ["tanh({s})", "sigmoid({s})", "softplus({s})", "relu({s})", "leaky_relu({s}, 0.1)",
               "exp({s}/4)", "({s})**2", "log(1 + ({s})**2)", "sin({s})", "abs({s})",
               "max({s}, 0.5)", "{s}", "sqrt(1 + ({s})**2)"]


@st.composite
def computation_graphs(draw, max_nodes: int = 30):
    """(assignments as text, targets): leaves x1.. (inputs), w1.. (weights), t (target).

    Parents are drawn from every earlier quantity, recent nodes likelier (depth); a node read by
    several later ones is a shared subexpression; the loss reads the last node and up to two
    others (several paths). Targets are weights the loss depends on, sometimes a node.
    """
    leaves = [f"x{i}" for i in range(1, draw(st.integers(1, 3)) + 1)]
    leaves += [f"w{i}" for i in range(1, draw(st.integers(2, 6)) + 1)]
    n_nodes = draw(st.one_of(st.integers(2, 12), st.integers(2, max_nodes - 1)))  # + the loss
    pool = list(leaves)
    depends = {leaf: {leaf} for leaf in leaves}
    lines: list[str] = []
    for j in range(1, n_nodes + 1):
        parents = []
        for _ in range(draw(st.integers(1, 3))):
            if draw(st.booleans()) and len(pool) > len(leaves):
                parents.append(pool[draw(st.integers(max(len(leaves), len(pool) - 4),
                                                     len(pool) - 1))])
            else:
                parents.append(draw(st.sampled_from(pool)))
        parents = list(dict.fromkeys(parents))
        if draw(st.integers(0, 3)) == 0 and len(parents) > 1:
            s = "*".join(parents)
        else:
            coeffs = [draw(st.sampled_from(["", "2*", "-", "0.5*", "-3*"])) for _ in parents]
            s = " + ".join(f"{c}{p}" for c, p in zip(coeffs, parents, strict=True))
        name = f"h{j}"
        lines.append(f"{name} = " + draw(st.sampled_from(ACTIVATIONS)).format(s=s))
        depends[name] = {name}.union(*(depends[p] for p in parents))
        pool.append(name)
    nodes = [f"h{j}" for j in range(1, n_nodes + 1)]
    others = draw(st.lists(st.sampled_from(nodes), max_size=2, unique=True))
    lines.append(f"E = (h{n_nodes} - t)**2" + "".join(f" + 0.5*{o}**2" for o in others))
    reach = set().union(*(depends[n] for n in [nodes[-1], *others]))
    candidates = sorted(w for w in reach if w.startswith("w"))
    if not candidates or draw(st.integers(0, 4)) == 0:
        candidates += sorted(n for n in reach if n.startswith("h"))
    targets = draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=3, unique=True))
    return lines, targets


def _full_loss(graph, loss: str, keep: str | None = None) -> sp.Expr:
    """The loss as a formula in the leaves, with the whole graph substituted; a node ``keep``
    stays a variable (∂E/∂h for a node h holds everything upstream of h fixed)."""
    done: dict = {}
    for n in graph.order:
        done[graph.sym(n)] = graph.sym(n) if n == keep else graph.exprs[n].xreplace(done)
    return done[graph.sym(loss)]


class _Evaluator:
    """Numeric value of a SymPy expression at a point, each distinct subexpression once.

    ``sympy.diff`` of a substituted graph shares its subexpressions; walking it as a tree (as
    ``evalf`` and ``lambdify`` do) costs time exponential in the graph's depth. mpmath, 40 digits.
    """

    def __init__(self, env: dict[sp.Symbol, mpmath.mpf]):
        self.env = env
        self.memo: dict[sp.Basic, mpmath.mpf] = {}

    def __call__(self, e: sp.Basic):
        stack = [e]
        while stack:
            node = stack[-1]
            if node in self.memo:
                stack.pop()
                continue
            if self._opaque(node):  # conditions and the like: SymPy evaluates the whole subtree
                stack.pop()
                floats = {k: sp.Float(mpmath.nstr(v, 45), 45) for k, v in self.env.items()
                          if k in node.free_symbols}
                self.memo[node] = mpmath.mpmathify(sp.N(node.xreplace(floats), 45))
                continue
            todo = [a for a in node.args if a not in self.memo] if not node.is_Atom else []
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            self.memo[node] = self._node(node, [self.memo[a] for a in node.args])
        return self.memo[e]

    @staticmethod
    def _opaque(node: sp.Basic) -> bool:
        return isinstance(node, sp.Piecewise | sp.Derivative | sp.Subs) or not isinstance(
            node, sp.Expr)

    def _node(self, node: sp.Basic, args: list):
        if node.is_Symbol:
            return self.env[node]
        if node.is_Number or node.is_NumberSymbol:
            return mpmath.mpf(sp.N(node, 45))
        if node.is_Add:
            return mpmath.fsum(args)
        if node.is_Mul:
            return mpmath.fprod(args)
        if node.is_Pow:
            return args[0] ** args[1]
        if isinstance(node, sp.Heaviside):
            return mpmath.mpf(1 if args[0] > 0 else 0 if args[0] < 0 else args[1])
        if isinstance(node, sp.DiracDelta):
            return mpmath.mpf(0) if args[0] != 0 else mpmath.inf
        return _function(type(node), len(args))(*args)


_FUNCTIONS: dict = {}


def _function(cls, nargs: int):
    """An mpmath function for a SymPy function class (derive's activations via their
    elementary forms), compiled once."""
    from derive.maths.functions import to_elementary

    key = (cls, nargs)
    if key not in _FUNCTIONS:
        zs = sp.symbols(f"z0:{nargs}", real=True)
        _FUNCTIONS[key] = sp.lambdify(zs, to_elementary(cls(*zs)), modules="mpmath")
    return _FUNCTIONS[key]


def _point(graph, bp, rng: random.Random) -> dict[sp.Symbol, mpmath.mpf]:
    """Leaves at random; nodes forward; δ's backward (from the pass's own recurrences)."""
    env: dict[sp.Symbol, mpmath.mpf] = {}
    for leaf in graph.leaves:
        env[graph.sym(leaf)] = mpmath.mpf(rng.choice([-1, 1]) * rng.randint(7, 200)) / \
            rng.choice([97, 101, 103])
    for n in graph.order:
        env[graph.sym(n)] = _Evaluator(env)(graph.exprs[n])
    for d in bp.deltas:  # computed in reverse topological order: each reads later ones only
        env[d.symbol] = _Evaluator(env)(d.value)
    return env


def _inputs(graph, env: dict, target: str) -> dict:
    """The point as the reference formula for ``target`` sees it: the leaves, and the target
    node's forward value when it is a node."""
    return {s: v for s, v in env.items() if s.name in graph.leaves or s.name == target}


def _check_graph(lines: list[str], targets: list[str]) -> None:
    with _cpu_budget("graphs", (lines, targets)):
        _graph(lines, targets)


def _graph(lines: list[str], targets: list[str]) -> None:
    assignments = [Assignment(*parse_assignment(s), s, i + 1) for i, s in enumerate(lines)]
    graph = build_graph(assignments)
    targets = [w for w in targets if w in graph and w in graph.ancestors("E")]
    assume(targets)
    bp = backward(graph, "E", targets)
    solution = verify_solution(solve_backprop(graph, "E", targets, TermOrder()), "graph")
    truths = {w: sp.diff(_full_loss(graph, "E", keep=None if w in graph.leaves else w),
                         graph.sym(w)) for w in targets}  # the reference: sympy.diff
    rng = random.Random(len(lines) * 1000 + len(targets))
    checked = 0
    with mpmath.workdps(40):
        for _ in range(12):
            try:
                env = _point(graph, bp, rng)
                row = [(_Evaluator(env)(solution.answers[w]), _Evaluator(_inputs(graph, env, w))(
                    truths[w])) for w in targets]
            except (ZeroDivisionError, ValueError, TypeError, OverflowError):
                continue
            if not all(mpmath.isfinite(a) and mpmath.isfinite(b) and mpmath.im(a) == 0
                       and mpmath.im(b) == 0 for a, b in row):
                continue  # a kink of relu/abs/max exactly hit, or an overflow: another point
            for (derived, truth), w in zip(row, targets, strict=True):
                scale = max(abs(derived), abs(truth), 1)
                assert abs(derived - truth) <= mpmath.mpf(10) ** -25 * scale, \
                    (w, derived, truth, lines)
            checked += 1
            if checked == 3:
                break
    assert checked >= 1, lines
    SEEN["graphs"] += 1
    SEEN["graph nodes"] += len(lines)
    SEEN["gradients"] += len(targets)


@settings(max_examples=15, **SHORT)
@given(computation_graphs(max_nodes=12))
def test_random_graphs_backprop_equals_sympy_diff(case):
    _check_graph(*case)


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")  # assume()
def test_graph_whose_gradient_is_zero_on_a_kink_verifies_without_simplify(monkeypatch):
    """Found by the long run (it failed only when simplify ran out of time on a busy machine):
    relu(relu(leaky_relu(-|x1 h1|))) is 0 everywhere, every random point was on the kink of a
    Heaviside in the gradient, and the numeric check found no point to use."""
    from derive.verify import equality as verify

    monkeypatch.setattr(verify, "SIMPLIFY_SECONDS", 1e-6)  # 0 would mean no limit
    _check_graph(["h1 = exp(x1*w1/4)", "h2 = abs(x1*h1)", "h4 = leaky_relu(-h2, 0.1)",
                  "h9 = relu(h4)", "h10 = relu(h9)", "E = (h10 - t)**2"], ["w1"])


# --- random ReLU networks --------------------------------------------------------------------
@st.composite
def relu_networks(draw) -> list[str]:
    """Model lines: 2 inputs, 1-2 hidden ReLU layers, at most 8 units, output y."""
    widths = draw(st.sampled_from([[1], [2], [3], [4], [5], [6], [8], [2, 2], [3, 2], [2, 3],
                                   [3, 3], [4, 2], [4, 4], [5, 3]]))
    weight = st.integers(-3, 3)
    lines, prev = [], ["x1", "x2"]
    for layer, width in enumerate(widths, 1):
        cur = []
        for j in range(1, width + 1):
            terms = [f"{draw(weight)}*{p}" for p in prev]
            name = f"h{layer}{j}"
            lines.append(f"{name} = relu({' + '.join(terms)} + {draw(weight)})")
            cur.append(name)
        prev = cur
    out = " + ".join(f"{draw(weight)}*{p}" for p in prev)
    lines.append(f"y = {out} + {draw(weight)}")
    return lines


def _check_network(lines: list[str], boundary: bool = False) -> None:
    """Off the boundary (y != 0) the closed form's class is the sign of y; with ``boundary``,
    also: points where y = 0 belong to neither class."""
    from derive.maths.network import build_network, expanded
    from derive.maths.regions import NEG, POS, analyze

    model = [parse_assignment(s) for s in lines]
    try:
        net = build_network(model, "y", include_loss=False)
        a = analyze(net, output="y")
    except InputError:
        assume(False)  # e.g. every unit is dead or has no weights: not a network
        return
    x1, x2 = a.symbols
    formula = expanded(model, "y", set())
    (lo1, hi1), (lo2, hi2) = a.window.x1, a.window.x2
    span = max(hi1 - lo1, hi2 - lo2, Fraction(1))
    rng = random.Random(len(lines) * 7919 + sum(map(len, lines)))
    points = [(Fraction(rng.randint(-400, 400), 37) * span / 4,
               Fraction(rng.randint(-400, 400), 41) * span / 4) for _ in range(150)]
    points += [(Fraction(i), Fraction(j)) for i in range(-4, 5) for j in range(-4, 5)]
    for p in points:
        value = formula.xreplace({x1: sp.Rational(p[0].numerator, p[0].denominator),
                                  x2: sp.Rational(p[1].numerator, p[1].denominator)})
        assert value.is_Rational, value
        inside = {r.sign for r in a.regions
                  if any(all(s.f.at(p) > 0 if s.strict else s.f.at(p) >= 0 for s in group)
                         for group in r.groups)}
        if value > 0:
            assert POS in inside and NEG not in inside, (lines, p, value, inside)
        elif value < 0:
            assert NEG in inside and POS not in inside, (lines, p, value, inside)
        elif boundary:
            assert not inside & {NEG, POS}, (lines, p, value, inside)
    SEEN["networks"] += 1
    SEEN["network points"] += len(points)


@settings(max_examples=15, **SHORT)
@given(relu_networks())
def test_random_relu_networks_regions_agree_with_sampling(lines):
    _check_network(lines)


@settings(max_examples=30, **SHORT)
@given(relu_networks())
def test_random_relu_networks_boundary_points_are_in_no_class(lines):
    _check_network(lines, boundary=True)


# --- the long run ---------------------------------------------------------------------------------
LONG = {"expressions": LONG_EXPRESSIONS, "graphs": LONG_GRAPHS, "networks": LONG_NETWORKS}


def run_shard(kind: str, shard: int, examples: int) -> dict:
    """Run ``examples`` examples of one property with the fixed seed ``shard``, in this process;
    returns the counts. (The long run starts one such process per CPU.)"""
    from hypothesis import seed

    from derive.verify import equality as verify

    verify.SIMPLIFY_SECONDS = PROPERTY_SIMPLIFY_SECONDS
    strategy, check = {
        "expressions": (st.tuples(expression_text(), st.sampled_from(VARIABLES)),
                        lambda case: _check_expression(*case)),
        "graphs": (computation_graphs(max_nodes=30), lambda case: _check_graph(*case)),
        "networks": (relu_networks(), _check_network),
    }[kind]

    @seed(1000 + shard)
    @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def prop(case):
        check(case)

    SEEN.clear()
    SLOW.clear()
    prop()
    return {**SEEN, "slow": list(SLOW)}


_SHARD = """
import json, resource, sys
# a runaway example fails with MemoryError and its traceback, instead of being killed silently
# by the kernel (a shard once grew to 24 GB; the OOM killer left no trace of the example)
resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, 6 * 2**30))
sys.path.insert(0, {tests!r})
import test_properties
print("RESULT " + json.dumps(test_properties.run_shard({kind!r}, {shard}, {examples})))
"""


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(LONG))
def test_long_run(kind):
    """10,000 expressions, 1,000 graphs, 500 networks: fixed seeds, split over the CPUs
    (``DERIVE_PROPERTY_WORKERS`` overrides), 0 failures, and every example counted."""
    import json
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    total = LONG[kind]
    workers = int(os.environ.get("DERIVE_PROPERTY_WORKERS", min(os.cpu_count() or 1, 4)))
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    started = time.monotonic()
    procs = []
    for shard in range(workers):
        n = total // workers + (shard < total % workers)
        code = _SHARD.format(tests=str(root / "tests"), kind=kind, shard=shard, examples=n)
        procs.append(subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, env=env, cwd=root))
    counts: Counter = Counter()
    slow: list[str] = []
    failures = []
    for proc in procs:
        out, err = proc.communicate(timeout=3600)
        result = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 or not result:
            failures.append(f"shard exit code {proc.returncode}\n{err[-6000:]}")
            continue
        shard_result = json.loads(result[-1][len("RESULT "):])
        slow.extend(shard_result.pop("slow"))
        counts.update(shard_result)
    assert not failures, "\n\n".join(failures)
    seconds = time.monotonic() - started
    print(f"\nlong run, {kind}: {dict(counts)} in {seconds:.0f} s on {workers} processes")
    for case in slow:
        print(f"  set aside (over {EXAMPLE_CPU_SECONDS:g} s of CPU): {case}")
    assert counts[kind] == total

