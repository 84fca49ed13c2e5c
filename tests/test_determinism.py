"""Verdicts do not depend on the machine (issue 15): what a build writes is decided by
deterministic budgets (the symbolic ladder's size gates), never by seconds. Wall-clock limits only
stop runaway work, and when one fires the build fails loudly.

``DERIVE_CLOCK_SCALE`` scales every wall-clock limit; the committed outputs must still check clean
with all of them ten times shorter, and on a machine kept busy by two CPU-bound processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest
import sympy as sp
from conftest import ROOT, run_cli

from derive.errors import InputError
from derive.maths.functions import sigmoid, symbol, to_elementary
from derive.verify import equality as verify
from derive.verify.equality import check_equal

x, y, t = symbol("x"), symbol("y"), symbol("t")


def _check_committed(tmp_path, env: dict[str, str]) -> None:
    if not (ROOT / "output" / "sheet02").is_dir():
        pytest.skip("no committed outputs yet")
    shutil.copytree(ROOT / "output", tmp_path / "output")
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # run_cli passes os.environ on to the subprocess
    try:
        proc = run_cli("check", cwd=tmp_path)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])


@pytest.mark.slow
def test_committed_outputs_check_clean_with_every_clock_ten_times_shorter(tmp_path):
    _check_committed(tmp_path, {"DERIVE_CLOCK_SCALE": "0.1"})


@pytest.mark.slow
def test_committed_outputs_check_clean_on_a_busy_machine(tmp_path):
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        time.sleep(0.2)
        _check_committed(tmp_path, {"DERIVE_CLOCK_SCALE": "0.1"})
    finally:
        for p in burners:
            p.kill()
        for p in burners:
            p.wait()


@pytest.fixture
def no_simplify(monkeypatch):
    """sympy.simplify, as the verifier calls it, raises: a rung below it must prove the line."""
    def refuse(*args, **kwargs):
        raise AssertionError("simplify was called")

    monkeypatch.setattr(verify.sp, "simplify", refuse)
    verify.PROVED_BY.clear()


@pytest.mark.parametrize(("lhs", "rhs", "rung"), [
    (sp.tanh(y - t), sp.sinh(y - t) / sp.cosh(y - t), "exp"),  # the bundled sheet's step
    (1 - sp.tanh(x) ** 2, 1 / sp.cosh(x) ** 2, "exp"),
    (sp.sin(x) ** 2 + sp.cos(x) ** 2, sp.S.One, "exp"),
    (sp.diff(1 / (1 + sp.exp(-x)), x), sigmoid(x) * (1 - sigmoid(x)), "cancel"),
    (sigmoid(x) * (1 - sigmoid(x)), sp.exp(-x) / (1 + sp.exp(-x)) ** 2, "cancel"),
    (sigmoid(-x), 1 - sigmoid(x), "cancel"),
    (sigmoid(x), (1 + sp.tanh(x / 2)) / 2, "exp"),
])
def test_the_ladder_proves_identities_without_simplify(no_simplify, lhs, rhs, rung):
    v = check_equal(lhs, rhs)
    assert v.ok and v.label == "symbolic (simplifies to 0)", v
    assert verify.PROVED_BY == {rung: 1}


def test_a_false_identity_is_not_proven_by_any_rung(no_simplify, monkeypatch):
    monkeypatch.setattr(verify, "SIMPLIFY_MAX_OPS", 0)  # no simplify at all
    diff = to_elementary(sp.tanh(x) - sp.sinh(x) / sp.cosh(2 * x))
    assert verify._symbolic_zero(diff) is None
    assert not check_equal(sp.tanh(x), sp.sinh(x) / sp.cosh(2 * x)).ok


def test_the_ladder_is_in_order_and_each_rung_is_gated_by_size(monkeypatch):
    assert verify.RUNGS == ("constants", "cancel", "exp", "simplify")
    diff = to_elementary(sp.tanh(x) - sp.sinh(x) / sp.cosh(x))
    monkeypatch.setattr(verify, "REWRITE_MAX_NODES", 5)  # too small for the rewrite
    assert not verify._rung("exp", diff)
    monkeypatch.setattr(verify, "EXPAND_MAX_TERMS", 1)
    assert not verify._rung("cancel", (x + 1) ** 2 - x**2 - 2 * x - 1)


def test_expanded_terms_bounds_what_expand_produces():
    for e in [(x + y + 1) ** 5, (x + y) ** 3 * (x - t) ** 2 + 1 / (x + 1) ** 4,
              sp.exp(x + y) * (x + 1) ** 3]:
        assert verify.expanded_terms(e) >= len(sp.Add.make_args(sp.expand(e)))
    assert verify.expanded_terms((x + y + t + 1) ** 1000) > verify.EXPAND_MAX_TERMS


def test_a_runaway_guard_gives_the_loud_error_not_a_numeric_label(monkeypatch):
    def runaway(*args, **kwargs):
        while True:
            time.sleep(0.01)

    monkeypatch.setattr(verify.sp, "simplify", runaway)  # the last rung never ends
    monkeypatch.setattr(verify, "SYMBOLIC_GUARD_SECONDS", 0.2)
    lhs, rhs = sp.Max(x, y) + sp.Min(x, y), x + y  # no exact rung proves it: simplify is tried
    with pytest.raises(InputError, match="gave up: the symbolic check of .* ran for more than"):
        check_equal(lhs, rhs)


def test_the_verdicts_are_the_same_with_every_clock_scaled_down(monkeypatch):
    cases = [(sp.tanh(y - t), sp.sinh(y - t) / sp.cosh(y - t)),
             (sp.diff(sp.log(sp.cosh(y - t)), y), sp.tanh(y - t)),
             (sp.Max(x, y) + sp.Min(x, y), x + y),
             (sigmoid(x), sigmoid(-x))]
    before = [check_equal(a, b) for a, b in cases]
    monkeypatch.setenv("DERIVE_CLOCK_SCALE", "0.1")
    assert [check_equal(a, b) for a, b in cases] == before


@pytest.mark.slow
def test_every_test_sheet_builds_the_same_whatever_the_hash_seed(tmp_path):
    """Python salts str hashes per process: an output that follows a set's order differs between
    two runs (the cancelled factors of a sigmoid unit did). Every test sheet, two salts."""
    sheets = sorted(str(p) for p in (ROOT / "tests" / "sheets").glob("*.toml"))
    trees = []
    for salt in ("1", "2"):
        out = tmp_path / salt
        env = {**os.environ, "PYTHONHASHSEED": salt, "PYTHONPATH": str(ROOT)}
        subprocess.run([sys.executable, "-m", "derive", "build", *sheets, "--format", "json",
                        "--out", str(out)], env=env, check=True, capture_output=True)
        trees.append({p.relative_to(out).as_posix(): p.read_bytes()
                      for p in sorted(out.rglob("*")) if p.is_file()})
    assert trees[0].keys() == trees[1].keys()
    assert [k for k in trees[0] if trees[0][k] != trees[1][k]] == []
