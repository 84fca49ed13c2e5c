"""Claims, verdicts and the one summary (issue 13, item 4).

Tasks record claims (:mod:`derive.verify.claims`); the verify step checks every one and attaches a
:class:`~derive.verify.verdict.Verdict` per check; the summary is tallied once from the verdicts.
"""

from __future__ import annotations

import ast
import dataclasses
import json
from collections import Counter
from pathlib import Path

import pytest
import sympy as sp

from derive.errors import VerificationFailure
from derive.maths.backprop import backward
from derive.maths.calculus import Local
from derive.maths.graph import build_graph
from derive.maths.regions import NEG, POS
from derive.pipeline import render, solve_sheet
from derive.sheet.load import bundled_sheet_path, load_sheet
from derive.sheet.model import Assignment
from derive.sheet.parse import parse_assignment
from derive.steps import Align, Line, Math, Note, Solution, rules
from derive.tasks import REGISTRY
from derive.verify import gradients
from derive.verify.claims import (
    Answer,
    AtRandomPoints,
    Gradients,
    Instances,
    Instantiated,
    Recomputes,
    Regions,
)
from derive.verify.solution import verify_solution
from derive.verify.summary import Summary, summarize
from derive.verify.verdict import ANSWER, DEFINITION, STATEMENTS, STEP

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def solved():
    sheet = load_sheet(bundled_sheet_path())
    return sheet, solve_sheet(sheet)


def _expected(claim) -> int:
    """How many verdicts a claim yields, counted from the claim alone."""
    if isinstance(claim, AtRandomPoints):
        n = len(claim.targets) if claim.targets is not None else len(claim.bp.gradients)
        return gradients.POINTS * n
    if isinstance(claim, Gradients):
        return 1 + sum(_expected(c) for c in claim.checks)
    if isinstance(claim, Instances):
        return 1 + len(claim.sums.sizes)
    return 1  # an Answer, the network, the regions


def test_every_check_of_a_built_sheet_yields_a_verdict_and_the_summary_counts_them(solved):
    sheet, results = solved
    doc = json.loads(render(sheet, results, ("json",))["solutions.json"])
    entries = {f"{ex['number']}{p['label']}": p for ex in doc["exercises"] for p in ex["parts"]}
    kinds: set[type] = set()
    for r in results:
        sol = r.solution
        lines = sol.lines()
        assert [ln.verdict for ln in lines] == list(sol.verdicts[: len(lines)]), r.name
        for ln in lines:  # every line is checked, or says it is a definition
            assert ln.verdict.ok and ln.verdict.kind == (STEP if ln.check is not None
                                                         else DEFINITION), (r.name, ln)
        claimed = sol.verdicts[len(lines):]
        assert len(claimed) == sum(_expected(c) for c in sol.claims), r.name
        assert all(v.ok and v.kind != STEP for v in claimed), r.name
        kinds |= {type(c) for c in sol.claims}
        s = sol.summary
        assert s == summarize(sol.verdicts)
        assert s.checked_steps == sum(ln.check is not None for ln in lines) \
            == sum(v.kind == STEP for v in sol.verdicts)
        assert dict(s.steps) == Counter(v.method for v in sol.verdicts if v.kind == STEP)
        assert dict(s.answers) == Counter(v.method for v in sol.verdicts if v.kind == ANSWER)
        assert len(s.statements) == sum(v.kind in STATEMENTS for v in sol.verdicts)
        entry = entries[r.name]  # the JSON prints exactly these, from the verdicts
        assert entry["verified_by"] == s.account and entry["verified_summary"] == s.brief
        assert [st["verified_by"] for st in entry["steps"]] == [ln.verdict.label for ln in lines]
    assert kinds >= {Answer, Gradients, Instances, Recomputes, Regions}


def test_the_summary_is_printed_from_tallies():
    network = ("the network recomputes y (exact at 64 rational points; symbolic)",) * 2
    regions = ("exact at 10 piece vertices and 4 boundary endpoints, 12,000 sampled points "
               "agree; exact: ...", "exact at 10 piece vertices and 4 boundary endpoints, "
               "12,000 sampled points agree")
    # a ';' inside the network's parentheses is no clause of its own
    assert Summary((network,)).brief == network[0] == Summary((network,)).account
    assert Summary((regions, network)).brief == regions[1]
    both = Summary((network,), steps=(("numeric", 6), ("symbolic", 1)),
                   answers=(("symbolic", 2),))
    assert both.account == (f"{network[0]}; 7 steps checked (6 numeric, 1 symbolic); 2 answers "
                            "= sympy.diff (2 symbolic)")
    assert both.brief == ("7 steps 6 numerically and 1 symbolically; answer = sympy.diff "
                          "(2 instances)")
    assert Summary(steps=(("symbolic", 1),), answers=(("numeric", 1),)).brief == \
        "1 step symbolically; answer = sympy.diff"
    assert Summary().account == Summary().brief == ""


# --- a wrong claim of each kind fails the build ---------------------------------------------------
def _replace_claim(sol: Solution, kind: type, change) -> Solution:
    assert any(isinstance(c, kind) for c in sol.claims), sol.claims
    return dataclasses.replace(sol, claims=[change(c) if isinstance(c, kind) else c
                                            for c in sol.claims])


def _first_check(sol: Solution, change, kind: type = tuple) -> Solution:
    """``sol`` with the claim of its first line whose check is a ``kind`` changed."""
    blocks, done = [], False
    for b in sol.blocks:
        if isinstance(b, Align) and not done:
            lines = list(b.lines)
            for i, ln in enumerate(lines):
                if isinstance(ln.check, kind):
                    lines[i] = dataclasses.replace(ln, check=change(ln.check))
                    done = True
                    break
            b = Align(tuple(lines))
        blocks.append(b)
    assert done
    return dataclasses.replace(sol, blocks=blocks)


def _wrong_network(c: Recomputes) -> Recomputes:
    out = next(n for n in c.network.neurons if n.name == c.of)
    neurons = tuple(dataclasses.replace(n, bias=n.bias + 1) if n is out else n
                    for n in c.network.neurons)
    return dataclasses.replace(c, network=dataclasses.replace(c.network, neurons=neurons))


def _wrong_regions(c: Regions) -> Regions:
    swapped = tuple(dataclasses.replace(r, sign={NEG: POS, POS: NEG}.get(r.sign, r.sign))
                    for r in c.analysis.regions)
    return dataclasses.replace(c, analysis=dataclasses.replace(c.analysis, regions=swapped))


def _wrong_gradient(c: Gradients) -> Gradients:
    first, *rest = c.checks
    return dataclasses.replace(c, checks=(dataclasses.replace(first, computed=2 * first.computed),
                                          *rest))


PLANTED = {
    "network expression (1a)": (1, "a", lambda s: _replace_claim(s, Recomputes, _wrong_network)),
    "regions (1b)": (1, "b", lambda s: _replace_claim(s, Regions, _wrong_regions)),
    "line (2a)": (2, "a", lambda s: _first_check(s, lambda ab: (ab[0], ab[1] + 1))),
    "answer (2a)": (2, "a", lambda s: _replace_claim(
        s, Answer, lambda c: dataclasses.replace(c, computed=c.computed + 1))),
    "index-sum line (2b)": (2, "b", lambda s: _first_check(
        s, lambda c: dataclasses.replace(c, rhs=2 * c.rhs), Instantiated)),
    "index-sum answer (2b)": (2, "b", lambda s: _replace_claim(
        s, Instances, lambda c: dataclasses.replace(c, answer=2 * c.answer))),
    "gradient (3b)": (3, "b", lambda s: _replace_claim(s, Gradients, _wrong_gradient)),
    "shared-parameter gradient (4c)": (4, "c", lambda s: _replace_claim(s, Gradients,
                                                                         _wrong_gradient)),
}


@pytest.mark.parametrize("planted", list(PLANTED))
def test_a_wrong_claim_fails_the_build(planted, monkeypatch):
    number, label, plant = PLANTED[planted]
    sheet = load_sheet(bundled_sheet_path())
    ex = next(e for e in sheet.exercises if e.number == number)
    parts = [p for p in ex.parts if p.label <= label]  # earlier parts feed later ones
    one = dataclasses.replace(sheet, exercises=(dataclasses.replace(ex, parts=tuple(parts)),))
    spec = REGISTRY[parts[-1].task]

    def run(ctx):
        solution = spec.run(ctx)
        return plant(solution) if ctx.exercise == number and ctx.label == label else solution

    monkeypatch.setitem(REGISTRY, spec.name, dataclasses.replace(spec, run=run))
    with pytest.raises(VerificationFailure):  # unchanged, the sheet builds (the first test)
        solve_sheet(one)


def test_a_wrong_gradient_at_random_points_fails():
    lines = ["z1 = w1*x1", "a1 = tanh(z1)", "z2 = w2*a1", "a2 = tanh(z2)", "y = v*a2",
             "E = (y - t)**2/2"]
    g = build_graph([Assignment(*parse_assignment(s), s, None) for s in lines])
    bp = backward(g, "E", ["w1"])
    good = Solution(claims=[Gradients("gradients", (AtRandomPoints(bp),))])
    assert verify_solution(good).summary.checked_answers == gradients.POINTS
    d = bp.delta("z2")
    wrong = Local(d.activation_local.result * 2, "wrong", ())
    bad = dataclasses.replace(bp, deltas=tuple(dataclasses.replace(x, activation_local=wrong)
                                               if x is d else x for x in bp.deltas))
    with pytest.raises(VerificationFailure):
        verify_solution(Solution(claims=[Gradients("gradients", (AtRandomPoints(bad),))]))


def test_an_instantiated_line_is_checked_at_its_sizes():
    """The claim of a chain-rule line compares the expanded sums, not the displayed ones."""
    sheet = load_sheet(bundled_sheet_path())
    ex = next(e for e in sheet.exercises if e.number == 2)
    one = dataclasses.replace(sheet, exercises=(dataclasses.replace(
        ex, parts=tuple(p for p in ex.parts if p.label == "b")),))
    (r,) = solve_sheet(one)
    claims = [ln.check for ln in r.solution.lines() if isinstance(ln.check, Instantiated)]
    assert claims and any(c.rhs.has(sp.Sum) for c in claims)  # no sum can be compared as shown
    assert all(c.sums.line_size == (3,) for c in claims)  # N = 3 (no d, no index i here)


# --- checks live under derive/verify/ -------------------------------------------------------------
CHECKS = {"check_equal", "numeric_equal", "real_somewhere", "check_network", "verify_network",
          "exact_points_agree", "check_regions", "at_random_points", "numeric_checks",
          "line_pair", "answer_pairs", "check_claim", "verify_solution", "check_lines",
          "answer_checks"}
# the verify entry point, called by the pipeline (and by `derive explain` until it runs through
# the pipeline, issue 13 item 3)
ENTRY = {("derive/pipeline.py", "verify_solution"), ("derive/explain.py", "verify_solution")}


def _modules(under: str = "derive"):
    for path in sorted((ROOT / under).rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        yield rel, ast.parse(path.read_text(encoding="utf-8"), rel)


def test_no_module_outside_verify_defines_or_calls_a_check():
    found = []
    for rel, tree in _modules():
        if rel.startswith("derive/verify/"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in CHECKS:
                found.append(f"{rel}:{node.lineno} defines {node.name}")
            if isinstance(node, ast.Call):
                f = node.func
                name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(
                    f, ast.Attribute) else None
                if name in CHECKS and (rel, name) not in ENTRY:
                    found.append(f"{rel}:{node.lineno} calls {name}")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "derive.verify") and (rel.startswith("derive/maths/") or rel.startswith(
                    "derive/tasks/") and node.module != "derive.verify.claims"):
                found.append(f"{rel}:{node.lineno} imports {node.module}")  # tasks: claims only
    assert not found, found


def test_tasks_raise_no_verification_failure():
    """A task states claims; only the verify step decides that one fails."""
    raised = [f"{rel}:{node.lineno}" for rel, tree in _modules("derive/tasks")
              for node in ast.walk(tree) if isinstance(node, ast.Raise) and node.exc is not None
              and "VerificationFailure" in ast.unparse(node.exc)]
    assert not raised


def test_the_verify_package_has_no_import_cycle():
    graph: dict[str, set[str]] = {}
    for rel, tree in _modules("derive/verify"):
        name = rel[:-3].replace("/", ".")
        graph[name] = {n.module for n in tree.body if isinstance(n, ast.ImportFrom)
                       and (n.module or "").startswith("derive.verify.")}
        graph[name] |= {f"derive.verify.{a.name}" for n in tree.body
                        if isinstance(n, ast.ImportFrom) and n.module == "derive.verify"
                        for a in n.names}

    def visit(m: str, path: tuple[str, ...]) -> None:
        assert m not in path, " -> ".join((*path, m))
        for dep in graph.get(m, ()):
            visit(dep, (*path, m))

    for m in graph:
        visit(m, ())


def test_equality_and_numeric_no_longer_import_each_other():
    imports = {rel: {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
               for rel, tree in _modules("derive/verify")}
    assert "derive.verify.equality" not in imports["derive/verify/numeric.py"]
    assert "derive.verify.points" in imports["derive/verify/numeric.py"]


def test_a_wrong_line_names_its_rule_in_the_failure():
    """The failure message of a wrong line says which step it is, in words (no printer needed)."""
    x = sp.Symbol("x", real=True)
    wrong = Line(None, x + 1, rules("chain rule", Math(x), Note("tanh_prime")), check=(x, x + 1))
    with pytest.raises(VerificationFailure, match=r"step 'chain rule; x; tanh_prime' does not "
                                                  r"verify: x != x \+ 1"):
        verify_solution(Solution(blocks=[Align((wrong,))]), where="2a")

