"""Shared test helpers.

Tests that need TeX or node skip with a reason when the tool is missing, and fail instead when
CI sets DERIVE_REQUIRE_TEX=1 / DERIVE_REQUIRE_NODE=1 (CI installs both).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp
from hypothesis import HealthCheck, settings

from derive import pipeline
from derive.maths.functions import symbol
from derive.sheet.model import Assignment

# CI runs the property tests derandomized, so a run is reproducible; locally they explore.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def _private_cache_dir(tmp_path_factory):
    """Every ``derive build`` the tests run (in process or in a subprocess) keeps its cache of
    verified results in a folder of this test session, never in the user's cache."""
    if "DERIVE_CACHE_DIR" in os.environ:
        yield
        return
    os.environ["DERIVE_CACHE_DIR"] = str(tmp_path_factory.mktemp("derive-cache"))
    try:
        yield
    finally:
        del os.environ["DERIVE_CACHE_DIR"]


def tiny_sheet(id: str = "tiny", title: str = "Tiny", model: str = "E = log(cosh(y - t))") -> str:
    """The TOML text of a one-exercise, one-part sheet: the derivative of ``E`` with respect to
    ``y`` under the computation list ``[model]``."""
    return f'''[sheet]
id = "{id}"
title = "{title}"

[[exercise]]
title = "One"
model = ["{model}"]

[[exercise.part]]
task = "derivative"
of = "E"
wrt = "y"
'''


def need_tool(tool: str, env: str) -> None:
    """Skip (or fail, when ``env`` is set) unless ``tool`` is on PATH."""
    if shutil.which(tool):
        return
    if os.environ.get(env) == "1":
        pytest.fail(f"{tool} is required here ({env}=1) but not installed")
    pytest.skip(f"{tool} is not installed (set {env}=1 to make this a failure)")


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600
            ) -> subprocess.CompletedProcess:
    """Run ``python -m derive ARGS`` in a subprocess."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "derive", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def tanh_mlp(depth: int, width: int) -> list[Assignment]:
    """x1..x_width -> ``depth`` tanh layers of ``width`` units (no biases) -> y = sum v_i a_i;
    E = log(cosh(y - t)): the deep network of the speed tests and the benchmark table."""
    out, prev = [], [symbol(f"x{i}") for i in range(1, width + 1)]
    for layer in range(1, depth + 1):
        cur = []
        for j in range(1, width + 1):
            z = sp.Add(*(symbol(f"w{layer}_{i}_{j}") * p for i, p in enumerate(prev, 1)))
            out.append(Assignment(f"z{layer}_{j}", z, "", None))
            out.append(Assignment(f"a{layer}_{j}", sp.tanh(symbol(f"z{layer}_{j}")), "", None))
            cur.append(symbol(f"a{layer}_{j}"))
        prev = cur
    out.append(Assignment("y", sp.Add(*(symbol(f"v{i}") * p for i, p in enumerate(prev, 1))),
                          "", None))
    out.append(Assignment("E", sp.log(sp.cosh(symbol("y") - symbol("t"))), "", None))
    return out


VARIANT_FORMATS = ("tex", "md", "json", "moodle")  # what the variant tests read


@pytest.fixture(scope="session")
def bundled_variants(tmp_path_factory) -> Path:
    """The bundled sheet's variants as ``derive build --variants 3 --seed 7 --format
    tex,md,json,moodle`` writes them (three variant folders and the answer key), built once per
    test session for every test file that reads them."""
    out = tmp_path_factory.mktemp("bundled-variants")
    assert pipeline.build([], out, VARIANT_FORMATS, stdout=io.StringIO(), variants=3,
                          seed=7) == 0
    return out
