"""Detail levels: the standard solution of the bundled sheet is as short as a TA's, the full one
is today's derivation, and both are verified line by line.

**Displayed rows** of a part: the rows of the derivation blocks of its solution in the view model
(:func:`derive.render.view.view`: every ``align`` block's rows, a line broken to fit the page
counting once per row), for parts that are not drawings (task ``network``). The answer block,
which repeats the last row, is not counted; nor are the sentences between the blocks.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from derive.pipeline import solve_sheet
from derive.render.view import view
from derive.sheet.load import bundled_sheet_path, load_sheet, parse_sheet

DRAWINGS = ("network", "decision-boundary")
ROW_BOUND = 39  # 1.5 x the handwritten solution's 26 rows for exercises 2-4


def displayed_rows(sheet, results) -> dict[str, int]:
    """Displayed rows per part name ("2a"), for the parts that are not drawings."""
    v = view(sheet, results)
    out = {}
    for ex in v["exercises"]:
        for part in ex["parts"]:
            if part["task"] in DRAWINGS:
                continue
            out[f"{ex['number']}{part['label']}"] = sum(
                len(b["rows"]) for b in part["blocks"] if b["kind"] == "align")
    return out


def _sheet(detail: str | None):
    text = bundled_sheet_path().read_text()
    if detail is not None:
        text = text.replace('[sheet]\n', f'[sheet]\ndetail = "{detail}"\n', 1)
    return parse_sheet(text, "sheet02.toml")


@pytest.fixture(scope="module")
def standard():
    sheet = load_sheet(bundled_sheet_path())
    return sheet, solve_sheet(sheet)


@pytest.fixture(scope="module")
def full():
    sheet = _sheet("full")
    return sheet, solve_sheet(sheet)


def test_standard_rows_within_bound(standard):
    rows = displayed_rows(*standard)
    ex24 = {k: n for k, n in rows.items() if k[0] in "234"}
    assert sum(ex24.values()) <= ROW_BOUND, ex24


def main() -> None:  # python tests/test_detail.py: the table of rows per part
    for detail in ("standard", "full"):
        sheet = _sheet(detail)
        rows = displayed_rows(sheet, solve_sheet(sheet))
        ex24 = {k: n for k, n in rows.items() if k[0] in "234"}
        print(f"{detail:>8}: " + "  ".join(f"{k} {n}" for k, n in ex24.items())
              + f"  total {sum(ex24.values())}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()


SMALL = '''[sheet]
id = "small"
title = "Small"
{sheet_detail}

[[exercise]]
title = "One"
model = ["E = (y - t)**2"]

[[exercise.part]]
task = "derivative"
of = "E"
wrt = "y"
{part_detail}

[[exercise.part]]
task = "derivative"
of = "E"
wrt = "t"
'''


def test_detail_set_per_sheet_and_per_part():
    sheet = parse_sheet(SMALL.format(sheet_detail='detail = "full"',
                                     part_detail='detail = "standard"'), "small.toml")
    assert [p.detail for p in sheet.exercises[0].parts] == ["standard", "full"]
    sheet = parse_sheet(SMALL.format(sheet_detail="", part_detail=""), "small.toml")
    assert [p.detail for p in sheet.exercises[0].parts] == ["standard", "standard"]


def test_unknown_detail_is_a_located_error():
    from derive.errors import InputError

    with pytest.raises(InputError) as e:
        parse_sheet(SMALL.format(sheet_detail="", part_detail='detail = "terse"'), "small.toml")
    assert e.value.line == 14 and "standard, full" in e.value.message


FULL_GOLDEN = Path(__file__).parent / "golden" / "sheet02-full-steps.json"


def test_full_detail_is_the_derivation_of_before(full):
    """detail = "full" gives the derivations as they were before detail levels (the lines of
    every part in solutions.json, byte for byte); regenerate the golden file only when the full
    derivation changes on purpose."""
    from derive.pipeline import render

    sheet, results = full
    data = json.loads(render(sheet, results, ("json",))["solutions.json"])
    steps = {f"{ex['number']}{p['label']}": p["steps"] for ex in data["exercises"]
             for p in ex["parts"]}
    assert steps == json.loads(FULL_GOLDEN.read_text())


def test_both_levels_verified_line_by_line(standard, full):
    for _, results in (standard, full):
        for r in results:
            for line in r.solution.lines():
                assert line.check is None or (line.verdict is not None and line.verdict.ok), \
                    (r.name, line)


def test_a_result_of_an_earlier_part_is_cited_and_checked(standard):
    sheet, results = standard
    by_name = {r.name: r for r in results}
    for name in ("2b", "2c"):
        first = by_name[name].solution.lines()[0]
        assert first.rule.kind == "cited" and first.rule.args[0] == "2a"
        assert first.check is not None and first.verdict.ok


def test_a_wrong_cited_result_fails_verification():
    """The citation is a claim like any other line: a wrong earlier result is caught."""
    import sympy as sp

    from derive.errors import VerificationFailure
    from derive.steps import Derived, Solution
    from derive.tasks import REGISTRY, Context
    from derive.verify.solution import verify_solution

    sheet = load_sheet(bundled_sheet_path())
    ex = sheet.exercises[1]
    y, t = sp.symbols("y t")
    wrong = Solution(derived=[Derived(sp.log(sp.cosh(y - t)), y, sp.tanh(y + t))])
    part = ex.parts[1]
    ctx = Context(file=sheet.file, exercise=ex.number, label=part.label, model=ex.model,
                  params=part.params, param_lines=part.param_lines, line=part.line,
                  notation=ex.notation, names=ex.names, sheet_earlier={"2a": wrong},
                  detail="standard")
    solution = REGISTRY[part.task].run(ctx)
    assert solution.lines()[0].rule.kind == "cited"
    with pytest.raises(VerificationFailure):
        verify_solution(solution, "2b")


# --- rule labels name exactly what the step did (standard detail) --------------------------------
def _rules_of(results, name):
    from derive.render.prose import plain

    return [plain(ln.rule) for r in results if r.name == name for ln in r.solution.lines()]


def test_labels_name_the_node_that_reads_and_the_sign_cancellation(standard):
    _, results = standard
    rules_4b = " | ".join(_rules_of(results, "4b"))
    assert "∂y/∂a4 = 1" in rules_4b and "∂a4/∂a4" not in rules_4b
    rules_4d = _rules_of(results, "4d")
    assert "the signs cancel" in rules_4d and "multiply out" not in rules_4d


def test_min_is_not_called_the_max_rule():
    import sympy as sp

    from derive.maths.calculus import derivation
    from derive.render.prose import plain

    x = sp.Symbol("x")
    d = derivation(sp.Min(0, x), x, detail="standard")
    assert "min rule" in plain(d.lines[0].rule) and "max" not in plain(d.lines[0].rule)


def test_delta_convention_has_no_jab_and_avoids_the_exercise_letters():
    from derive.render.prose import plain
    from derive.tasks.backprop import explain_graph

    sol = explain_graph(["z = w*x", "a = tanh(z)", "f = (a - t)**2"], ["w"])
    intro = plain(sol.blocks[0].text)
    assert "as some solutions write" not in intro
    assert "δ_j = ∂f/∂z_j" in intro and "g'(z_j)" in intro and "f'(" not in intro
    sol = explain_graph(["z = w*a", "h = tanh(z)", "E = (h - t)**2"], ["w"])
    intro = plain(sol.blocks[0].text)
    assert "a_j" not in intro and "h_j = f(z_j)" in intro  # the input a keeps its letter


# --- no skipped key step: the cancellation of sigmoid with cross-entropy -------------------------
@pytest.fixture(scope="module")
def bce():
    sheet = load_sheet(Path(__file__).parent / "sheets" / "bce_sigmoid_221.toml")
    return {r.name: r.solution for r in solve_sheet(sheet)}


def test_sigmoid_cross_entropy_cancellation_is_a_named_step(bce):
    from derive.render.prose import plain

    lines = bce["2b"].lines()
    rules = [plain(ln.rule) for ln in lines]
    assert "multiply y*(1 - y) into each term: y and 1 - y cancel" in rules
    assert not any(r.endswith("simplify") for r in rules)
    k = rules.index("multiply y*(1 - y) into each term: y and 1 - y cancel")
    assert str(lines[k + 1].rhs) in ("-t + y", "y - t") and lines[k + 1].verdict.ok
    rules_1b = [plain(ln.rule) for ln in bce["1b"].lines()]
    assert "cancel sigmoid(z) and 1 - sigmoid(z)" in rules_1b
    assert rules_1b[-1] == "multiply out and collect"


# --- named quantities: the exercise's own nodes, and declared facts -----------------------------
def _solved(stem):
    sheet = load_sheet(Path(__file__).parent / "sheets" / f"{stem}.toml")
    return {r.name: r.solution for r in solve_sheet(sheet)}


def _latex_rows(solution):
    from derive.render.notation import latex

    return [latex(ln.rhs) for ln in solution.lines()]


def test_softmax_cross_entropy_gives_p_minus_t():
    import sympy as sp

    from derive.render.prose import markup

    sol = _solved("softmax_ce")["1a"]
    p1, t1 = sp.symbols("p1 t1", real=True)
    assert sol.answer == p1 - t1
    last = sol.lines()[-1]
    assert markup(last.rule) == "$t_{1} + t_{2} + t_{3} = 1$" and last.verdict.ok
    assert not any(ln.rhs.has(sp.exp) for ln in sol.lines()[4:])  # e^{z_i}/S written as p_i
    assert "given t1 + t2 + t3 = 1" in " ".join(v.what for v in sol.verdicts)
    # delta_p1 takes one term of the sum E = -(t1 log p1 + ...): the label says so
    delta_p1 = next(ln for ln in sol.lines() if str(ln.lhs) == "delta_p1")
    assert markup(delta_p1.rule) == "sum rule; constant factor rule; $(\\log u)' = 1/u$"


def test_rnn_deltas_are_stated_through_the_hidden_states():
    import sympy as sp

    sol = _solved("rnn_unrolled")["1a"]
    h1, h2, h3, r, y, t = sp.symbols("h1 h2 h3 r y t", real=True)
    from derive.maths.display import Dot

    def plain(e):
        return e.replace(lambda x: isinstance(x, Dot), lambda x: sp.Mul(*x.args))

    deltas = {str(ln.lhs): plain(ln.rhs) for ln in sol.lines()
              if ln.lhs is not None and str(ln.lhs).startswith("delta")}
    assert deltas["delta_h2"] == r * (1 - h3**2) * sp.Symbol("delta3", real=True)
    assert deltas["delta_h1"] == r * (1 - h2**2) * sp.Symbol("delta_h2", real=True)
    for answer in sol.answers.values():
        assert not answer.has(sp.tanh) and (y - t) in sp.Mul.make_args(answer)


def test_a_fact_must_be_an_equality():
    from derive.errors import InputError

    text = (Path(__file__).parent / "sheets" / "softmax_ce.toml").read_text()
    with pytest.raises(InputError) as e:
        parse_sheet(text.replace('facts = ["t1 + t2 + t3 = 1"]', 'facts = ["t1 + t2 + t3"]'),
                    "softmax.toml")
    assert "equalities" in e.value.message and e.value.line == 10


def test_chain_rule_with_weight_decay_adds_the_direct_term():
    import sympy as sp

    from derive.maths.functions import index, indexed_base

    sols = _solved("weight_decay")
    c, w = sp.symbols("c w", real=True)
    k, i = index("k"), index("i")
    N = sp.Symbol("N", integer=True, positive=True)
    y, t = indexed_base("y"), indexed_base("t")
    assert sols["1a"].answer == sp.Sum((y[k] - t[k]) * sp.Derivative(y[k], w), (k, 1, N)) / N \
        + c * w
    assert sols["1b"].answer.has(c * indexed_base("w")[i])
    assert all(ln.verdict.ok for s in sols.values() for ln in s.lines() if ln.check is not None)


def test_explain_takes_the_detail_level(capsys):
    from derive import cli

    assert cli.main(["explain", "log(cosh(y - t))", "--wrt", "y", "--detail", "full"]) == 0
    full = capsys.readouterr().out
    assert cli.main(["explain", "log(cosh(y - t))", "--wrt", "y"]) == 0
    standard = capsys.readouterr().out
    assert "u_1 := cosh(y - t)" in full and "u_1 := " not in standard
    assert standard.count("\n") < full.count("\n")
    assert cli.main(["explain", "x**2", "--wrt", "x", "--detail", "terse"]) == 2
