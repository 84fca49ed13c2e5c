"""What verification costs per derivative, with and without the fast numeric path.

Run: ``.venv/bin/python benchmarks/bench_verify.py`` (``--quick`` for 40 expressions,
``--n N`` for N, ``--budget S`` for the test-only soft symbolic budget per line, 0.1 s in the
property runs; the default, as in a build, is none: the deterministic ladder of
:func:`derive.verify.equality._symbolic_zero` alone decides). The last line counts the lines each
rung
of the ladder proved.

The expressions are the property tests' random expressions (depth <= 6, every function the parser
knows), drawn with a fixed seed. Each is differentiated with respect to one variable (derive's
step-by-step derivation) and every line is verified, as ``derive build`` does. Two rows:

* ``sympy.N only``: every numeric point evaluated with ``sympy.N`` (the verifier before the fast
  path);
* ``fast path``: points confirmed by mpmath at 60 digits (``derive.verify.numeric``), ``sympy.N``
only
  where the fast values disagree or cannot be trusted.

Columns: expressions, lines verified, how many were settled symbolically and numerically, total
seconds, then the mean, median, 95th percentile and maximum seconds per expression, and the
expressions skipped (constants; no real value anywhere, so nothing to check). The variable is the
drawn one, or the first in alphabetical order when the formula does not contain it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from derive.errors import InputError, VerificationFailure  # noqa: E402
from derive.pipeline import verify_solution  # noqa: E402
from derive.sheet.parse import parse_expr  # noqa: E402
from derive.tasks.derivative import solve  # noqa: E402
from derive.verify import equality as verify  # noqa: E402
from derive.verify import numeric  # noqa: E402


def expressions(n: int) -> list[tuple[str, str]]:
    from test_properties import VARIABLES, expression_text

    out: list[tuple[str, str]] = []

    @seed(20261126)
    @settings(max_examples=n, database=None, deadline=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(expression_text(), st.sampled_from(VARIABLES))
    def collect(text, var):
        out.append((text, var))

    collect()
    return out[:n]


def run(cases: list[tuple[str, str]]) -> tuple[list[float], Counter]:
    times, methods = [], Counter()
    for text, var_name in cases:
        try:
            expr = parse_expr(text)
        except InputError:
            continue
        names = {s.name: s for s in expr.free_symbols}
        if not names:  # a constant: its derivative is 0 in one line, not counted
            methods["constants"] += 1
            continue
        var = names.get(var_name) or names[sorted(names)[0]]  # as the property test does
        t0 = time.perf_counter()
        try:
            sol = verify_solution(solve(expr, var, None))
        except VerificationFailure:
            methods["nowhere real"] += 1  # (the property test sets these aside too)
            continue
        times.append(time.perf_counter() - t0)
        for line in sol.lines():
            methods[line.verified_by.split(" ")[0]] += 1
    return times, methods


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--budget", type=float, default=None)
    args = ap.parse_args()
    verify.SIMPLIFY_SECONDS = args.budget
    cases = expressions(40 if args.quick else args.n)
    budget = "none (size gates only)" if args.budget is None else f"{args.budget:g} s per line"
    print(f"{len(cases)} random expressions, soft symbolic budget {budget}\n")
    print(f"{'numeric points':<16}{'exprs':>6}{'lines':>7}{'symb.':>7}{'num.':>6}{'total s':>9}"
          f"{'mean':>8}{'median':>8}{'p95':>8}{'max':>8}   skipped")
    for label, patches in (
        ("sympy.N only", [mock.patch.object(numeric, "agree", lambda *a, **k: False),
                          mock.patch.object(numeric, "sign", lambda *a, **k: None)]),
        ("fast path", []),
    ):
        for p in patches:
            p.start()
        try:
            times, methods = run(cases)
        finally:
            for p in patches:
                p.stop()
        q = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]
        lines = sum(v for k, v in methods.items() if k in ("symbolic", "numeric", "definition"))
        print(f"{label:<16}{len(times):>6}{lines:>7}{methods['symbolic']:>7}"
              f"{methods['numeric']:>6}{sum(times):>9.1f}{statistics.mean(times):>8.3f}"
              f"{statistics.median(times):>8.3f}{q:>8.3f}{max(times):>8.2f}   "
              f"{methods['constants']} constants, "
              f"{methods['nowhere real']} nowhere real")
    print("\nproved by rung (both rows):", dict(verify.PROVED_BY))


if __name__ == "__main__":
    main()
