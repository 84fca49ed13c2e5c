"""``derive build --variants N --seed S``: the variant folders, their worked numbers (verified as
claims) and the answer key; byte-identical reruns."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
import sympy as sp
from conftest import ROOT, run_cli

from derive import pipeline
from derive.cli import main
from derive.errors import VerificationFailure
from derive.render.figures.layout import label_clashes, network_diagram
from derive.sheet.load import bundled_sheet_path, load_sheet
from derive.sheet.variants import decimal_text
from derive.steps import Figure, NetworkDrawing, PartResult
from derive.variants.draw import variant_sheets
from derive.variants.key import stress
from derive.verify.claims import Numbers
from derive.verify.numbers import check_numbers


@pytest.fixture
def built(bundled_variants) -> Path:
    return bundled_variants  # built once per session (conftest)


def test_writes_three_variants_and_an_answer_key(built):
    assert sorted(p.name for p in built.iterdir()) == [
        "sheet02-key", "sheet02-v01", "sheet02-v02", "sheet02-v03"]
    for k in (1, 2, 3):
        folder = built / f"sheet02-v0{k}"
        for name in ("exercises.tex", "solutions.tex", "exercises.md", "solutions.md",
                     "solutions.json"):
            assert (folder / name).is_file()
    key = json.loads((built / "sheet02-key" / "answer-key.json").read_text())
    assert [v["id"] for v in key["variants"]] == ["sheet02-v01", "sheet02-v02", "sheet02-v03"]
    assert key["seed"] == 7
    md = (built / "sheet02-key" / "answer-key.md").read_text()
    rows = [ln for ln in md.splitlines() if ln.startswith("| sheet02-v0")]
    assert len(rows) == 3 + 3 + 3  # the answer table, then one table of values per exercise


def test_rerun_is_byte_identical_whatever_the_hash_seed(built):
    """A rerun in another process, with another salt for Python's str hash, derives every
    variant folder and the answer key byte for byte as the session's build wrote them
    (``derive check --variants`` compares every file, the manifests too)."""
    salt = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"
    env = {**os.environ, "PYTHONHASHSEED": salt, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "derive", "check", "--variants", "3", "--seed",
                        "7", "--out", str(built)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count(" 0 files drifted: clean") == 4  # three variants and the key


def test_another_seed_draws_other_values(built):
    a = json.loads((built / "sheet02-v01" / "solutions.json").read_text())
    other = variant_sheets(load_sheet(bundled_sheet_path()), 1, 8)[0].exercises[2].drawn
    assert a["exercises"][2]["parts"][1]["variant"]["values"] != {
        n: decimal_text(v) for n, v in other.values.items()}


def test_variants_state_their_values_and_keep_the_derivation(built):
    ex3 = (built / "sheet02-v02" / "exercises.md").read_text()
    assert "Use the values $x_{1} = " in ex3
    sol = json.loads((built / "sheet02-v02" / "solutions.json").read_text())
    part = sol["exercises"][2]["parts"][1]
    assert part["task"] == "backprop" and part["steps"]  # the symbolic derivation is there
    assert "the numbers: 10 forward values, 4 δ's and 1 gradients checked" in part["verified_by"]
    assert part["answer"].startswith("x1*tanh(y - t)")  # symbolic, as in the plain sheet
    md = (built / "sheet02-v02" / "solutions.md").read_text()
    backward = md[md.index("| $\\delta_{6}$"):md.index("Backward pass: every")]
    assert "1 - a_{6}^{2}" in backward and "tanh" not in backward.split("\n")[0]  # named nodes


# --- must-show 2: exercise 3's tables recomputed with plain floats -----------------------------
def forward_backward_3(v: dict[str, float]) -> tuple[dict[str, float], dict[str, float], float]:
    """Exercise 3 of the bundled sheet, by hand: forward values, δ's and dE/dw13."""
    f: dict[str, float] = {}
    f["z3"] = v["x1"] * v["w13"] + v["x2"] * v["w23"]
    f["a3"] = math.tanh(f["z3"])
    f["z4"] = v["x1"] * v["w14"] + v["x2"] * v["w24"]
    f["a4"] = math.tanh(f["z4"])
    f["z5"] = f["a3"] * v["w35"] + f["a4"] * v["w45"]
    f["a5"] = math.tanh(f["z5"])
    f["z6"] = f["a3"] * v["w36"] + f["a4"] * v["w46"]
    f["a6"] = math.tanh(f["z6"])
    f["y"] = f["a5"] * v["w57"] + f["a6"] * v["w67"]
    f["E"] = math.log(math.cosh(f["y"] - v["t"]))
    d: dict[str, float] = {}
    d["y"] = math.tanh(f["y"] - v["t"])
    d["z6"] = d["y"] * v["w67"] * (1 - f["a6"] ** 2)
    d["z5"] = d["y"] * v["w57"] * (1 - f["a5"] ** 2)
    d["z3"] = (1 - f["a3"] ** 2) * (d["z5"] * v["w35"] + d["z6"] * v["w36"])
    return f, d, d["z3"] * v["x1"]


def number(text: str) -> float:
    return float(sp.Rational(text)) if "/" in text else float(text)


def shown_values(md: str) -> dict[str, float]:
    """The value column of the solutions.md tables of exercise 3, by the row's quantity."""
    section = md[md.index("## Exercise 3"):md.index("## Exercise 4")]
    out = {}
    for m in re.finditer(r"^\| \$(.+?)\$ \| \$(?:\\approx )?(-?[0-9./]+)\$ \|", section, re.M):
        out[m.group(1)] = float(m.group(2))
    for m in re.finditer(r"^\| \$(.+?)\$ \| \$\\frac\{(-?\d+)\}\{(\d+)\}\$ \|", section, re.M):
        out[m.group(1)] = int(m.group(2)) / int(m.group(3))
    for m in re.finditer(r"^\| \$(.+?)\$ \| \$- ?\\frac\{(\d+)\}\{(\d+)\}\$ \|", section, re.M):
        out[m.group(1)] = -int(m.group(2)) / int(m.group(3))
    return out


@pytest.mark.parametrize("k", [1, 2, 3])
def test_exercise_3_tables_recomputed_with_plain_floats(built, k):
    folder = built / f"sheet02-v0{k}"
    part = json.loads((folder / "solutions.json").read_text())["exercises"][2]["parts"][1]
    drawn = {n: number(t) for n, t in part["variant"]["values"].items()}
    # the values are the sheet's: every declared leaf, in its declared range
    declared = tomllib.loads(bundled_sheet_path().read_text())["exercise"][2]["variants"]
    for name, spec in declared.items():
        if name in ("constraints", "digits"):
            continue
        lo, hi = spec.get("int") or spec.get("decimal") or (min(spec["choices"]),
                                                             max(spec["choices"]))
        assert lo <= drawn[name] <= hi
    f, d, grad = forward_backward_3(drawn)
    for n, value in f.items():
        assert number(part["values"][n]) == pytest.approx(value, rel=1e-12, abs=1e-12), n
    for n, value in d.items():
        assert number(part["deltas_at"][n]) == pytest.approx(value, rel=1e-12, abs=1e-12), n
    assert number(part["gradients"]["w13"]) == pytest.approx(grad, rel=1e-12)
    # and the rounded numbers the tables print
    shown = shown_values((folder / "solutions.md").read_text())
    names = {"z3": "z_{3}", "a3": "a_{3}", "z6": "z_{6}", "y": "y", "E": "E"}
    for n, tex in names.items():
        assert shown[tex] == pytest.approx(f[n], rel=6e-4, abs=1e-12), n
    assert shown[r"\delta_{3}"] == pytest.approx(d["z3"], rel=6e-4)
    assert shown[r"\frac{\partial E}{\partial w_{13}}"] == pytest.approx(grad, rel=6e-4)
    # the answer key holds the same gradient
    key = json.loads((built / "sheet02-key" / "answer-key.json").read_text())
    row = key["variants"][k - 1]
    answer = next(a for a in row["answers"] if a["part"] == "3b")
    assert float(answer["number"]) == pytest.approx(grad, rel=1e-12)


# --- the numbers are a claim: wrong numbers fail the build -----------------------------------
@pytest.fixture(scope="module")
def solved() -> list[PartResult]:
    """Variant 1 of the bundled sheet (seed 7), solved and verified in memory."""
    return pipeline.solve_sheet(variant_sheets(load_sheet(bundled_sheet_path()), 1, 7)[0])


@pytest.fixture(scope="module")
def claim(solved) -> Numbers:
    sol = next(r.solution for r in solved if r.name == "3b")
    return next(c for c in sol.claims if isinstance(c, Numbers))


def test_the_claim_verifies(claim):
    verdict = check_numbers(claim)
    assert verdict.ok and verdict.facts["gradients"] == 1 and verdict.facts["deltas"] == 4


def test_a_wrong_forward_value_fails(claim):
    values = {**claim.values, "a5": claim.values["a5"] + sp.Rational(1, 10**30)}
    with pytest.raises(VerificationFailure, match="the value of a5"):
        check_numbers(replace(claim, values=values))


def test_a_wrong_gradient_fails_against_the_symbolic_answer(claim):
    grads = {"w13": claim.gradients["w13"] * (1 + sp.Rational(1, 10**35))}
    with pytest.raises(VerificationFailure, match="is not the symbolic answer"):
        check_numbers(replace(claim, gradients=grads))


def test_a_wrong_gradient_fails_against_finite_differences(claim):
    """Without a symbolic answer to compare with, central differences catch it."""
    grads = {"w13": claim.gradients["w13"] * (1 + sp.Rational(1, 10**35))}
    with pytest.raises(VerificationFailure, match="central finite differences"):
        check_numbers(replace(claim, gradients=grads, answers={}))


def test_a_wrong_delta_fails(claim):
    deltas = {**claim.deltas, "z5": claim.deltas["z5"] * 2}
    with pytest.raises(VerificationFailure, match="the δ of z5"):
        check_numbers(replace(claim, deltas=deltas))


def test_a_wrong_rounding_fails(claim):
    what, exact, text = claim.shown[0]
    wrong = f"{float(text) + 0.002:.4g}"
    with pytest.raises(VerificationFailure, match="rounded to 4 significant digits"):
        check_numbers(replace(claim, shown=((what, exact, wrong), *claim.shown[1:])))


# --- the command line -------------------------------------------------------------------------
def test_cli_errors_write_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["build", "--seed", "3", "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == "derive: error: --seed goes with --variants N"
    assert main(["build", str(ROOT / "tests/sheets/gelu.toml"), "--variants", "2", "--out",
                 str(out)]) == 2
    err = capsys.readouterr().err
    assert "declares no variant parameters" in err and len(err.strip().splitlines()) == 1
    assert main(["build", "--variants", "0", "--out", str(out)]) == 2
    assert "--variants must be between 1 and" in capsys.readouterr().err
    assert not out.exists()


# --- derive stress ----------------------------------------------------------------------------
def test_stress_prints_rejections_and_ranges(built):
    r = run_cli("stress", "--variants", "3", "--seed", "7")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith("sheet02: 3 variants per exercise, seed 7\n")
    assert "Exercise 3: 3 accepted of " in out and "Exercise 4: 3 accepted of " in out
    assert "rejection reason" in out
    # the ranges are those of the answers the build wrote with the same seed
    key = json.loads((built / "sheet02-key" / "answer-key.json").read_text())
    values = [float(a["number"]) for v in key["variants"] for a in v["answers"]
              if a["part"] == "3b"]
    m = re.search(r"^  3b dE/dw13 +(\S+) +(\S+)$", out, re.M)
    assert m, out
    assert float(m.group(1)) == pytest.approx(min(values), rel=1e-5)
    assert float(m.group(2)) == pytest.approx(max(values), rel=1e-5)
    assert stress(load_sheet(bundled_sheet_path()), 3, 7) == out  # deterministic


def test_stress_counts_every_rejection():
    r = run_cli("stress", "--variants", "200")
    assert r.returncode == 0, r.stderr
    section = r.stdout.split("Exercise 3:")[1].split("Exercise 4:")[0]
    accepted, draws = map(int, re.match(r" (\d+) accepted of (\d+) draws", section).groups())
    assert accepted == 200 and draws > 200  # x1 = 0 gives a zero gradient: some are rejected
    counts = {m.group(1).strip(): int(m.group(2))
              for m in re.finditer(r"^  (\S.*?) +(\d+) +[0-9.]+%$", section, re.M)}
    assert counts["zero gradient dE/dw13"] > 0
    assert sum(counts.values()) >= draws - accepted  # a rejected draw has one reason or more


# --- the computation graph with values (CS231n style) -----------------------------------------
def test_exercise_3_graph_shows_every_value_and_delta(built):
    folder = built / "sheet02-v01"
    part = json.loads((folder / "solutions.json").read_text())["exercises"][2]["parts"][1]
    svg = (folder / "figures" / "ex3-b-values.svg").read_text()
    root = ET.fromstring(svg)
    texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    f, d, grad = forward_backward_3({n: number(t) for n, t in part["variant"]["values"].items()})
    shown = {}
    for t in texts:  # "a3 ≈ 0.8005", "w13 = −0.3", "δ3 ≈ 0.05754", "∂E/∂w13 ≈ −0.1151"
        m = re.fullmatch(r"(\S+) [=≈] (\S+)", t)
        if m:
            shown[m.group(1)] = number(m.group(2).replace("−", "-"))
    for n, value in f.items():  # every node's value, as the table rounds it
        assert shown[n] == pytest.approx(value, rel=6e-4, abs=1e-12), n
    assert shown["δ3"] == pytest.approx(d["z3"], rel=6e-4)
    assert shown["δy"] == pytest.approx(d["y"], rel=6e-4)
    assert shown["∂E/∂w13"] == pytest.approx(grad, rel=6e-4)
    tikz = (folder / "figures" / "ex3-b-values.tex").read_text()
    assert r"\delta_{3}" in tikz and "tikzpicture" in tikz
    assert "figures/ex3-b-values.svg" in (folder / "solutions.md").read_text()


def test_values_figures_have_no_overlapping_nodes_or_labels(solved):
    for name in ("3b", "4b"):
        sol = next(r.solution for r in solved if r.name == name)
        fig = next(b for b in sol.blocks if isinstance(b, Figure))
        assert isinstance(fig.model, NetworkDrawing) and fig.model.values is not None
        m = fig.model
        d = network_diagram(m.net, m.notation, m.names, m.values)
        pts = [(n.at.x, n.at.y) for n in d.nodes]
        assert len(pts) == len(set(pts))
        for i, (x0, y0) in enumerate(pts):
            for x1, y1 in pts[i + 1:]:
                assert math.hypot(x1 - x0, y1 - y0) > 1.0
        assert label_clashes(d) == []
