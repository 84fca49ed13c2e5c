"""The command line, run as a user would (subprocess)."""

from __future__ import annotations

import json
import shutil

import pytest
import sympy as sp
from conftest import ROOT, run_cli

from derive.maths.functions import sigmoid, symbol
from derive.sheet.parse import parse_expr


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """`derive build` of the bundled sheet in an empty folder."""
    folder = tmp_path_factory.mktemp("build")
    proc = run_cli("build", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    return folder


def test_build_writes_the_three_formats(built):
    out = built / "output" / "sheet02"
    for name in ("solutions.tex", "solutions.md", "solutions.json"):
        assert (out / name).is_file()


def test_part_2a_in_json(built):
    doc = json.loads((built / "output" / "sheet02" / "solutions.json").read_text())
    part = doc["exercises"][1]["parts"][0]
    assert part["verified"] is True
    y, t = symbol("y"), symbol("t")
    assert sp.simplify(parse_expr(part["answer"]) - sp.tanh(y - t)) == 0
    rules = " ".join(s["rule"] for s in part["steps"])
    assert "cosh" in rules and "log" in rules and r"\tanh = \sinh/\cosh" in rules
    assert all(s["verified_by"] for s in part["steps"])


def test_check_is_clean_then_detects_drift(built):
    proc = run_cli("check", cwd=built)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    md = built / "output" / "sheet02" / "solutions.md"
    original = md.read_text()
    md.write_text(original.replace("Solution", "Solutoin", 1))
    try:
        proc = run_cli("check", cwd=built)
        assert proc.returncode == 1
        assert "-" in proc.stdout and "Solutoin" in proc.stdout and "@@" in proc.stdout
    finally:
        md.write_text(original)


def test_check_counts_every_part_as_verified(built):
    proc = run_cli("check", cwd=built)
    doc = json.loads((built / "output" / "sheet02" / "solutions.json").read_text())
    parts = [p for ex in doc["exercises"] for p in ex["parts"]]
    assert all(p["verified"] is True for p in parts)
    assert f"sheet02: {len(parts)} parts verified, 0 files drifted: clean" in proc.stdout


def test_build_is_deterministic(built, tmp_path):
    proc = run_cli("build", cwd=tmp_path)
    assert proc.returncode == 0
    for f in (built / "output" / "sheet02").rglob("*"):
        if f.is_file():
            copy = tmp_path / "output" / "sheet02" / f.relative_to(built / "output" / "sheet02")
            assert copy.read_bytes() == f.read_bytes()


def test_committed_outputs_are_current(tmp_path):
    """The committed output/ matches a fresh build (what `derive check` enforces in CI)."""
    if not (ROOT / "output" / "sheet02").is_dir():
        pytest.skip("no committed outputs yet")
    shutil.copytree(ROOT / "output", tmp_path / "output")
    proc = run_cli("check", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]


@pytest.mark.parametrize(
    ("expr", "wrt", "truth"),
    [
        ("log(cosh(y - t))", "y", lambda y, t, w, x, b: sp.tanh(y - t)),
        ("sigmoid(w*x + b)", "w",
         lambda y, t, w, x, b: x * sigmoid(w * x + b) * (1 - sigmoid(w * x + b))),
        ("x**x", "x", lambda y, t, w, x, b: x**x * (sp.log(x) + 1)),
        ("tanh(w*x)**2 / (1 + exp(-b*x))", "x", None),
        ("softplus(relu(x) * w) + max(x, b)", "w", None),
    ],
)
def test_explain_json_agrees_with_sympy(expr, wrt, truth):
    proc = run_cli("explain", expr, "--wrt", wrt, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # the sheet JSON writer's document: one exercise, one part
    (part,) = doc["exercises"][0]["parts"]
    assert part["verified"] is True and part["task"] == "derivative" and part["steps"]
    assert all(step["verified_by"] for step in part["steps"])
    syms = [symbol(n) for n in "y t w x b".split()]
    expected = truth(*syms) if truth else sp.diff(parse_expr(expr), symbol(wrt))
    from derive.verify.equality import check_equal

    assert check_equal(parse_expr(part["answer"]), expected).ok


def test_explain_json_is_the_sheet_json_writers_document():
    """explain --format json prints what solutions.json holds for the same in-memory sheet."""
    from derive.pipeline import explain, explain_sheet, solve_sheet
    from derive.render.json import json_document

    args = (["h = tanh(w*x + b)", "E = (h - t)**2"], "w,b")
    sheet = explain_sheet(*args, at="w=1,b=0,x=1/2,t=1")
    expected = json_document(sheet, solve_sheet(sheet))
    assert json.loads(explain(*args, fmt="json", at="w=1,b=0,x=1/2,t=1")) == json.loads(
        json.dumps(expected))
    (part,) = expected["exercises"][0]["parts"]
    assert part["task"] == "backprop" and set(part["gradients"]) == {"w", "b"}


def test_explain_text_has_no_latex_and_an_answer_per_variable():
    proc = run_cli("explain", "sigmoid(w*x + b)", "--wrt", "w,b")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\nanswer: ") == 2 and proc.stdout.count("verified: ") == 2
    assert "∂(sigmoid(w*x + b))/∂w = " in proc.stdout
    assert not any(c in proc.stdout for c in "\\${}"), proc.stdout


@pytest.mark.parametrize(("args", "needle"), [
    (["x**2", "--wrt", "x", "--format", "pdf"], "--format must be one of"),
    (["x**2", "--wrt", "x", "--at", "x=1"], "apply to a computation list"),
    (["x**2", "--wrt", "2*x"], "is not a variable name"),
    (["q = x + y", "f = q*z", "--wrt", "x", "--at", "x=1"], "no value for"),
    (["x**2", "--wrt", " , "], "at least one variable"),
])
def test_explain_errors_exit_2(args, needle):
    proc = run_cli("explain", *args)
    assert proc.returncode == 2 and proc.stderr.startswith("derive: error: "), proc.stderr
    assert needle in proc.stderr and proc.stderr.count("\n") == 1


def test_explain_text_prints_steps():
    proc = run_cli("explain", "log(cosh(y - t))", "--wrt", "y")
    assert proc.returncode == 0
    assert "chain rule" in proc.stdout and "tanh(y - t)" in proc.stdout
    # equations read as equations, and each line says how it was checked
    assert "With u_1 = cosh(y - t) and u_2 = y - t:" in proc.stdout, proc.stdout
    assert "Eq(" not in proc.stdout
    assert "(✓ symbolic: identical)" in proc.stdout


def test_explain_text_of_a_computation_list_reads_as_text():
    """The backprop introduction in terminal text: no LaTeX left, a fraction followed by a factor
    keeps a space (∂k/∂n δ_k, not ∂k/∂nδ_k), leaky ReLU's switch is a Heaviside."""
    proc = run_cli("explain", "h = leaky_relu(w*x, 0.1)", "E = (h - t)**2/2", "--wrt", "w")
    assert proc.returncode == 0, proc.stderr
    assert "δ_n = Σ_k ∂k/∂n δ_k over the nodes k that read n" in proc.stdout
    assert not any(c in proc.stdout for c in "\\${}"), proc.stdout
    assert "answer ∂/∂w: x*(h - t)*(9*Heaviside(w*x, 0)/10 + 1/10)" in proc.stdout


@pytest.mark.parametrize(
    "hostile",
    [
        "__import__('os').system('touch /tmp/derive-pwned')",
        "().__class__.__bases__[0].__subclasses__()",
        "open('/etc/passwd').read()",
        "lambda: 1",
        "2**10**10",
    ],
)
def test_explain_refuses_code(hostile, tmp_path):
    proc = run_cli("explain", hostile, "--wrt", "x", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("derive: error:")
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.iterdir())


def test_bad_sheet_exits_2_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[sheet]\nid = "x"\ntitle = "t"\n\n[[exercise]]\ntitle = "e"\n'
                   'model = ["y = x."]\n'
                   '[[exercise.part]]\ntask = "derivative"\nof = "y"\nwrt = "x"\n')
    proc = run_cli("build", str(bad), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"{bad}:7: ")
    assert proc.stderr.count("\n") == 1
    assert not (tmp_path / "output").exists()


def test_list_shows_parts():
    proc = run_cli("list")
    assert proc.returncode == 0
    assert "derivative" in proc.stdout and "(d)" in proc.stdout


def test_help_for_every_command():
    for cmd in ("build", "check", "list", "explain"):
        proc = run_cli(cmd, "--help")
        assert proc.returncode == 0 and "usage" in proc.stdout


AT_SHEET = """[sheet]
id = "at"
title = "At a point"

[[exercise]]
title = "Backprop at a point"
model = ["q = x + y", "f = q*z"]

[[exercise.part]]
task = "backprop"
wrt = ["x", "z"]
at = { x = -2, y = 5, z = %s }
"""


def test_backprop_at_a_point_in_a_sheet(tmp_path):
    """The backprop task's ``at`` (what explain's --at becomes): numbers only, never parsed."""
    from derive.pipeline import load_sheets, solve_sheet

    good = tmp_path / "at.toml"
    good.write_text(AT_SHEET % "-4")
    (r,) = solve_sheet(load_sheets([str(good)])[0])
    assert r.solution.data["gradients"] == {"x": -4, "z": 3}
    bad = tmp_path / "bad.toml"
    bad.write_text(AT_SHEET % '"__import__(\'os\')"')
    proc = run_cli("build", str(bad), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "the value of z must be a number" in proc.stderr
    assert not (tmp_path / "out").exists()
