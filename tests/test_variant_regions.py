"""Variants of a decision-boundary exercise: the network's weights are drawn, each variant's
model holds them, and its network, regions and region figure are its own and verified; draws
whose regions are degenerate (an empty class, a neuron that cancels, a boundary that covers an
area) are rejected with their reasons (tests/sheets/variants/regions_variants.toml)."""

from __future__ import annotations

import io
import json
import re
import shutil
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest
import sympy as sp
from conftest import ROOT, run_cli

from derive import pipeline
from derive.errors import InputError
from derive.sheet.load import load_sheet, parse_sheet
from derive.variants.draw import draw_exercise, variant_sheets
from derive.variants.screen import Screen

SHEET = ROOT / "tests" / "sheets" / "variants" / "regions_variants.toml"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("regions-variants")
    pipeline.build([str(SHEET)], out, ("tex", "md", "json", "moodle"), stdout=io.StringIO(),
                   variants=3, seed=7)
    return out


def parts(built: Path, k: int) -> list[dict]:
    doc = json.loads((built / f"regions-variants-v0{k}" / "solutions.json").read_text())
    return doc["exercises"][0]["parts"]


def test_each_variant_has_its_own_verified_network_and_regions(built):
    regions, weights = [], []
    for k in (1, 2, 3):
        net, db = parts(built, k)
        assert net["verified"] and db["verified"]
        assert "sampled points agree" in db["verified_by"]  # the regions' own check
        drawn = {n: sp.Rational(v) for n, v in db["variant"]["values"].items()}
        assert set(drawn) == {"b0", "w1", "w2"} and net["variant"] == db["variant"]
        # the network has the drawn numbers as its weights and bias
        by_name = {n["name"]: n for n in net["neurons"]}
        assert sp.Rational(by_name["y"]["bias"]) == drawn["b0"]
        assert {x: sp.Rational(w) for x, w in by_name["h1"]["weights"].items()} == {
            "x1": drawn["w1"]}
        assert sp.Rational(by_name["h3"]["weights"]["x2"]) == drawn["w2"]
        regions.append(json.dumps(db["regions"]))
        weights.append(tuple(drawn.values()))
        svg = (built / f"regions-variants-v0{k}" / "figures" / "ex1-b.svg").read_text()
        ET.fromstring(svg)  # the region figure, with its legend
        assert "class 1" in svg and "class 2" in svg
    assert len(set(weights)) == 3 and len(set(regions)) == 3


def relu(z: float) -> float:
    return max(z, 0.0)


def test_each_variants_regions_recomputed_with_plain_floats(built):
    """At grid points of the window, y computed with plain floats from the sheet's formula and
    the variant's drawn values has the sign of the class whose closed form (in the JSON) holds
    there; no other class's holds."""
    for k in (1, 2, 3):
        db = parts(built, k)[1]
        v = {n: float(sp.Rational(t)) for n, t in db["variant"]["values"].items()}
        x1, x2 = sp.symbols("x1 x2", real=True)
        forms = {c: [[sp.sympify(rel, locals={"x1": x1, "x2": x2}) for rel in g]
                     for r in db["regions"] if r["class"] == c for g in r["closed_form"]]
                 for c in ("class 1", "class 2")}
        checked = 0
        for i in range(-8, 9):
            for j in range(-8, 9):
                a, b = i / 4 + 0.03, j / 4 - 0.02
                y = v["b0"] - relu(v["w1"] * a) - relu(b) + relu(a + v["w2"] * b)
                if abs(y) < 1e-9:
                    continue
                holds = {c: any(all(bool(rel.subs({x1: a, x2: b})) for rel in g) for g in gs)
                         for c, gs in forms.items()}
                assert holds == {"class 1": y < 0, "class 2": y > 0}, (k, a, b, y)
                checked += 1
        assert checked > 250


def test_statement_states_the_values_and_keeps_the_symbolic_network(built):
    md = (built / "regions-variants-v01" / "exercises.md").read_text()
    assert r"y = b_0 - \rho(w_1 x_1)" in md
    assert re.search(r"Use the values \$b_\{0\} = -?[0-9.]+\$, \$w_\{1\} = -?[0-9]+\$ and "
                     r"\$w_\{2\} = -?[0-9.]+\$\.", md)


def test_without_variants_the_symbolic_weights_are_a_one_line_error(tmp_path):
    r = run_cli("build", str(SHEET), "--out", str(tmp_path / "out"))
    assert r.returncode == 2
    assert r.stderr.strip().endswith(
        "the weight from x1 to h1 is w1, not a number: regions need numeric weights")
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def reasons(values: dict) -> list[str]:
    ex = load_sheet(SHEET).exercises[0]
    return Screen(ex).evaluate({k: sp.nsimplify(v) for k, v in values.items()})[0]


def test_degenerate_draws_and_their_reasons():
    assert reasons({"b0": 1, "w1": 1, "w2": 1}) == []
    assert reasons({"b0": -0.5, "w1": 1, "w2": 1}) == ["an empty class region (b): class 2"]
    assert reasons({"b0": 0.5, "w1": 0, "w2": 1}) == [
        "a degenerate network (b): a neuron cancels or vanishes"]
    assert "a decision boundary that covers an area (b)" in reasons({"b0": 0, "w1": 1, "w2": 1})


def test_empty_class_draws_are_rejected_and_tallied():
    sheet = load_sheet(SHEET)
    tally: Counter = Counter()
    out = draw_exercise(sheet, sheet.exercises[0], 30, 7, tally=tally)
    assert tally["an empty class region (b): class 2"] > 0  # b0 <= 0 draws class 2 empty
    screen = Screen(sheet.exercises[0])
    assert all(screen.evaluate(o.drawn.values)[0] == [] for o in out)
    assert sum(sum(o.drawn.rejected.values()) for o in out) == sum(tally.values())
    assert any("an empty class region (b): class 2" in o.drawn.rejected for o in out)


def test_rejections_are_recorded_in_the_json(built):
    key = json.loads((built / "regions-variants-key" / "answer-key.json").read_text())
    recorded = {v["id"]: v["rejected"]["1"] for v in key["variants"]}
    for k in (1, 2, 3):
        assert parts(built, k)[1]["variant"]["rejected"] == recorded[f"regions-variants-v0{k}"]
    assert all(v["answers"] == [] for v in key["variants"])


def test_stress_prints_the_tally():
    r = run_cli("stress", str(SHEET), "--variants", "30", "--seed", "7")
    assert r.returncode == 0, r.stderr
    m = re.search(r"^  an empty class region \(b\): class 2 +(\d+) +[0-9.]+%$", r.stdout, re.M)
    assert m and int(m.group(1)) > 0, r.stdout
    sheet = load_sheet(SHEET)
    tally: Counter = Counter()
    draw_exercise(sheet, sheet.exercises[0], 30, 7, tally=tally)
    assert int(m.group(1)) == tally["an empty class region (b): class 2"]
    assert re.search(r"^  b0 +-0\.[0-9] +1\.[0-9]$", r.stdout, re.M)  # the drawn range
    assert "answer" not in r.stdout  # no numeric answers, so no answer ranges
    widths = {len(ln) for ln in r.stdout.splitlines() if re.search(r"[0-9.]+%$", ln)}
    assert len(widths) == 1  # the reasons' column is as wide as the longest


def test_answer_key_and_moodle_for_region_parts(built):
    md = (built / "regions-variants-key" / "answer-key.md").read_text()
    assert "No numeric answers: 1a, 1b are graded from each variant's worked solution" in md
    assert md.count("| regions-variants-v0") == 3  # the drawn values, one row per variant
    root = ET.parse(built / "regions-variants-key" / "questions.xml").getroot()
    qs = [q for q in root.findall("question") if q.get("type") != "category"]
    assert sorted(q.findtext("name/text") for q in qs) == sorted(
        f"regions-variants-v0{k} 1{p}" for k in (1, 2, 3) for p in "ab")
    for q in qs:
        assert q.get("type") == "essay"
        files = [f.get("name") for f in q.findall("generalfeedback/file")]
        assert files and f"@@PLUGINFILE@@/{files[0]}" in q.findtext("generalfeedback/text")


HEAD = '[sheet]\nid = "rv"\ntitle = "R"\n\n[[exercise]]\ntitle = "One"\n'
MODEL = 'model = ["y = b0 - relu(w1*x1) - relu(x2) + relu(x1 + x2)"]\n'
REGIONS = '\n[[exercise.part]]\ntask = "decision-boundary"\nof = "y"\n'


def error(text: str) -> str:
    with pytest.raises(InputError) as e:
        parse_sheet(text, "r.toml")
    return str(e.value)


@pytest.mark.parametrize("variants, model, part, message", [
    ("b0 = { int = [0, 2] }\nw1 = { int = [1, 2] }\nx1 = { int = [0, 1] }\n", MODEL, REGIONS,
     "x1 is an input of the decision regions (an axis of the plane)"),
    ("b0 = { int = [0, 2] }\n", MODEL, REGIONS,
     "no values for w1 (every weight and bias of the network needs one"),
    ('b0 = { int = [0, 2] }\nw1 = { int = [1, 2] }\nconstraints = ["y > 0"]\n', MODEL, REGIONS,
     "constraint 'y > 0': y is not a drawn weight or bias nor computed from them alone"),
    ("b0 = { int = [0, 2] }\nw1 = { int = [1, 2] }\n", MODEL,
     '\n[[exercise.part]]\ntask = "decision-boundary"\nexpr = "b0 - relu(w1*x1) + relu(x2)"\n',
     "part (a) gives its network as 'expr'; with variants, write the network in the model"),
    ("b0 = { int = [0, 2] }\nw1 = { int = [1, 2] }\n",
     'model = ["y = b0 - relu(w1*x1) - relu(x2) + relu(x1 + x2)", "E = (y - t)**2"]\n',
     REGIONS + '\n[[exercise.part]]\ntask = "backprop"\nwrt = "w1"\n',
     "part (a) draws decision regions, so the variants draw the network's weights"),
])
def test_bad_region_variants_are_one_line_errors(variants, model, part, message):
    text = error(HEAD + model + "\n[exercise.variants]\n" + variants + part)
    assert text.startswith("r.toml:") and message in text and "\n" not in text


def test_a_constraint_on_the_drawn_weights():
    text = (HEAD + MODEL + "\n[exercise.variants]\nb0 = { int = [-2, 2] }\n"
            'w1 = { int = [-2, 2] }\nconstraints = ["w1 != 0", "b0 + w1 > 1"]\n' + REGIONS)
    sheet = parse_sheet(text, "r.toml")
    for v in variant_sheets(sheet, 3, 1):
        d = v.exercises[0].drawn.values
        assert d["w1"] != 0 and d["b0"] + d["w1"] > 1


# --- derive check --variants ------------------------------------------------------------------
def test_check_compares_the_variant_and_key_folders(built, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(built, out)
    args = ["check", str(SHEET), "--variants", "3", "--seed", "7", "--out", str(out)]
    clean = run_cli(*args)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "regions-variants-key: answer key of 3 variants, 0 files drifted: clean" in clean.stdout
    assert clean.stdout.count("0 files drifted: clean") == 4
    v02 = out / "regions-variants-v02" / "solutions.md"
    v02.write_text(v02.read_text().replace("Use the values", "Use the numbers"))
    key = out / "regions-variants-key" / "answer-key.json"
    key.write_text(key.read_text().replace('"seed": 7', '"seed": 70'))
    drift = run_cli(*args)
    assert drift.returncode == 1
    assert f"--- {v02} (on disk)" in drift.stdout and f"--- {key} (on disk)" in drift.stdout
    assert "regions-variants-v02: 2 parts verified, 1 files drifted: drift" \
        in drift.stdout
    assert "regions-variants-key: answer key of 3 variants, 1 files drifted: drift" \
        in drift.stdout
    other_seed = run_cli("check", str(SHEET), "--variants", "3", "--seed", "8", "--out",
                         str(tmp_path / "out"))
    assert other_seed.returncode == 1
    r = run_cli("check", str(SHEET), "--seed", "7", "--out", str(out))
    assert r.returncode == 2 and r.stderr.strip() == "derive: error: --seed goes with --variants N"
