"""The performance table of issue 15: every row measured against its reference in one run.

Run from the repository root: ``python benchmarks/run.py`` (``--quick`` for smaller networks and
fewer repetitions, ``--rows build,explain,...`` for some rows only). It prints one table:

* ``build``: ``derive build --no-cache`` of the bundled sheet (no PDF, every check run: cold)
  against the import floor ``python -c "import sympy, jinja2"``: CPU seconds of each subprocess
  (user + system), each command run ``--repeat`` times alternately, the median of each, and
  their ratio. Both run with their bytecode cached (in a temporary ``PYTHONPYCACHEPREFIX``, after
  a first run that fills it), as an installed package runs.
* ``warm``: ``derive build`` of a copy of the bundled sheet with the cache of verified results
  (in a temporary ``DERIVE_CACHE_DIR``, filled by a first build), where before every run one
  part's text and points are changed (exercise 2, part a: a new sentence, new points), against
  the same floor.
* ``explain``: ``derive explain "log(cosh(y - t))" --wrt y`` against the same floor.
* ``mlp``: every one of the 1,010 gradients of a 10-layer x 10-wide tanh MLP (10 inputs, no
  biases, a linear output ``y = sum v_i a_i``, loss ``log(cosh(y - t))``), solved and every line
  and claim verified, as ``derive build`` does (CPU seconds in a fresh process). The anchor is
  ``sympy.diff`` of the fully substituted loss. Its cost grows about eightfold per layer (the
  substituted tree is width^depth large), so it is timed per parameter at depths 2 to 4 (two
  parameters each, spread over the layers) and extrapolated to depth 10 and every parameter.
* ``slope``: the same cost at depth 10 and growing width, the log-log slope of CPU seconds
  against the number of graph edges, fitted over the largest three sizes.
* ``micrograd``: micrograd's README example (10 nodes: ``c = a + b`` ... ``g += 10/f``, ReLUs
  included) with ``derive explain``'s backward pass at ``a = -4, b = 2``, solved and verified.
* ``regions``: benchmarks/bench_regions.py's whole build, through :func:`REGIONS_ROW`.

The machine is shared: CPU seconds, and ratios taken side by side in the same run, are what the
goals compare. Every number comes from a subprocess with a fresh SymPy cache.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOR = [sys.executable, "-c", "import sympy, jinja2"]
DERIVE = [sys.executable, "-m", "derive"]



def REGIONS_ROW() -> tuple[float, float, str]:  # noqa: N802 (the table's row, by name)
    """The regions row: ``benchmarks/bench_regions.py``'s whole build of a random 2-16-16-1
    ReLU net (seed 0), with the import floor measured in the same run."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    bench_regions = importlib.import_module("bench_regions")
    m = bench_regions.measure()
    return m["build"], m["floor"], f"{m['pieces']} pieces; import floor {m['floor']:.2f} s"


# --- subprocess timing --------------------------------------------------------------------------
def _env(cache: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = cache
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def cpu_of(cmd: list[str], env: dict[str, str], cwd: str) -> float:
    """CPU seconds (user + system) of one run of ``cmd``."""
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err[-2000:]}")
    return usage.ru_utime + usage.ru_stime


def side_by_side(cmd: list[str], repeat: int, cache: str, cwd: str,
                 prepare=lambda run: None, extra_env=None) -> tuple[float, float]:
    """Median CPU seconds of ``cmd`` and of the import floor, run alternately;
    ``prepare(run)`` is called before each run of ``cmd`` (run 0: the first, not counted)."""
    env = {**_env(cache), **(extra_env or {})}
    prepare(0)
    cpu_of(FLOOR, env, cwd), cpu_of(cmd, env, cwd)  # fill the bytecode cache
    floor, work = [], []
    for run in range(1, repeat + 1):
        floor.append(cpu_of(FLOOR, env, cwd))
        prepare(run)
        work.append(cpu_of(cmd, env, cwd))
    return statistics.median(work), statistics.median(floor)


SHEET = ROOT / "derive" / "sheets" / "sheet02.toml"
PART = "points = 10\ntext = '''\nUsing the chain rule"  # exercise 2, part a


def one_part_changed(copy: Path):
    """``prepare`` for the warm row: ``copy`` is the bundled sheet with exercise 2 part a's
    points and text changed, differently for every run."""
    text = SHEET.read_text(encoding="utf-8")
    if text.count(PART) != 1:
        raise SystemExit("benchmarks/run.py: the bundled sheet's exercise 2 part a has moved")

    def prepare(run: int) -> None:
        copy.write_text(text.replace(PART, f"points = {10 + run}\ntext = '''\nRun {run}: "
                                           f"the chain rule"), encoding="utf-8")
    return prepare


def child(row: str, *args: str) -> dict:
    """Run ``python benchmarks/run.py --child ROW ARGS`` and read the JSON it prints."""
    env = _env(tempfile.gettempdir() + "/derive-bench-pyc")
    out = subprocess.run([sys.executable, __file__, "--child", row, *args], env=env,
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"row {row} failed: {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- the work measured in a child process ---------------------------------------------------------
def mlp(depth: int, width: int):
    """The tests' deep tanh network (``tests/conftest.tanh_mlp``): ``depth`` tanh layers of
    ``width`` units, no biases, y = sum v_i a_i, E = log(cosh(y - t))."""
    sys.path.insert(0, str(ROOT / "tests"))
    conftest = importlib.import_module("conftest")
    return conftest.tanh_mlp(depth, width)


def child_mlp(depth: str, width: str) -> dict:
    """Solve and verify every gradient of the MLP: CPU seconds, edges, gradients, summary."""
    from derive.maths.graph import build_graph
    from derive.render.notation import TermOrder
    from derive.tasks.backprop import solve
    from derive.verify.solution import verify_solution

    g = build_graph(mlp(int(depth), int(width)))
    t0 = time.process_time()
    solution = verify_solution(solve(g, "E", list(g.parameters), TermOrder()))
    seconds = time.process_time() - t0
    return {"seconds": seconds, "edges": sum(len(p) for p in g.parents.values()),
            "gradients": len(solution.answers), "account": solution.summary.account}


def child_anchor(depth: str, width: str, sample: str) -> dict:
    """``sympy.diff`` of the fully substituted loss with respect to ``sample`` parameters spread
    over the layers: CPU seconds for them, and the number of parameters."""
    import sympy as sp

    from derive.maths.graph import build_graph

    g = build_graph(mlp(int(depth), int(width)))
    params = list(g.parameters)
    k = min(int(sample), len(params))
    picked = [params[round(i * (len(params) - 1) / max(k - 1, 1))] for i in range(k)]
    t0 = time.process_time()
    loss = g.expand(g.sym("E"), set(g.order), 10**12)
    for p in picked:
        sp.diff(loss, g.sym(p))
    seconds = time.process_time() - t0
    return {"seconds": seconds, "timed": k, "parameters": len(params)}


MICROGRAD = ["c = a + b", "d = a*b + b**3", "c2 = c + c + 1", "c3 = c2 + 1 + c2 + (-a)",
             "d2 = d + d*2 + relu(b + a)", "d3 = d2 + 3*d2 + relu(b - a)", "e = c3 - d3",
             "f = e**2", "g = f/2", "h = g + 10/f"]


def child_micrograd() -> dict:
    from derive.tasks.backprop import explain_graph
    from derive.verify.solution import verify_solution

    t0 = time.process_time()
    solution = verify_solution(explain_graph(MICROGRAD, ["a", "b"], at={"a": -4, "b": 2}))
    seconds = time.process_time() - t0
    grads = {k: float(v) for k, v in solution.data["gradients"].items()}
    # micrograd's README prints 138.8338 and 645.5773
    assert abs(grads["a"] - 138.8338) < 1e-4 and abs(grads["b"] - 645.5773) < 1e-4, grads
    return {"seconds": seconds, "gradients": grads, "account": solution.summary.account}


CHILDREN = {"mlp": child_mlp, "anchor": child_anchor, "micrograd": child_micrograd}


# --- the table ------------------------------------------------------------------------------------
def slope(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of log(seconds) against log(edges)."""
    xs = [math.log(e) for e, _ in points]
    ys = [math.log(s) for _, s in points]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / \
        sum((x - mx) ** 2 for x in xs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller networks, fewer repetitions")
    ap.add_argument("--rows", default="build,warm,explain,mlp,slope,micrograd,regions")
    ap.add_argument("--repeat", type=int, default=None, help="runs of each command (default 5)")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child[0]](*args.child[1:])))
        return
    rows = args.rows.split(",")
    repeat = args.repeat or (2 if args.quick else 5)
    depth, width = (4, 4) if args.quick else (10, 10)
    widths = (2, 3, 4) if args.quick else (6, 8, 10)
    table: list[tuple[str, str, str, str, str]] = []  # work, measured, reference, ratio, goal

    def add(work, measured, reference, ratio, goal, met):
        table.append((work, measured, reference, ratio, f"{goal} {'met' if met else 'NOT met'}"))
        print(f"  ... {work}: {measured} / {reference}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        cache = str(Path(tmp) / "pyc")
        if "build" in rows:
            cmd = [*DERIVE, "build", "--no-cache", "--out", str(Path(tmp) / "out")]
            work, floor = side_by_side(cmd, repeat, cache, tmp)
            add("derive build (bundled sheet, no PDF) / import floor, cold", f"{work:.2f} s",
                f"{floor:.2f} s", f"{work / floor:.2f}x", "<= 2.5x", work / floor <= 2.5)
        if "warm" in rows:
            copy = Path(tmp) / "sheet02.toml"
            cmd = [*DERIVE, "build", str(copy), "--out", str(Path(tmp) / "warm")]
            work, floor = side_by_side(cmd, repeat, cache, tmp, one_part_changed(copy),
                                       {"DERIVE_CACHE_DIR": str(Path(tmp) / "results")})
            add("  the same, one part's text and points changed (cache of verified results)",
                f"{work:.2f} s", f"{floor:.2f} s", f"{work / floor:.2f}x", "<= 1.3x",
                work / floor <= 1.3)
        if "explain" in rows:
            cmd = [*DERIVE, "explain", "log(cosh(y - t))", "--wrt", "y"]  # explain: no cache
            work, floor = side_by_side(cmd, repeat, cache, tmp)
            add('derive explain "log(cosh(y - t))" --wrt y / import floor', f"{work:.2f} s",
                f"{floor:.2f} s", f"{work / floor:.2f}x", "<= 1.2x", work / floor <= 1.2)
        sizes: dict[tuple[int, int], dict] = {}
        if "mlp" in rows:
            m = sizes[(depth, width)] = child("mlp", str(depth), str(width))
            per = []  # sympy.diff of the substituted loss, CPU seconds per parameter, by depth
            for d in (2, 3) if args.quick else (2, 3, 4):
                a = child("anchor", str(d), str(width), "2")
                per.append((d, a["seconds"] / a["timed"]))
            growth = (per[-1][1] / per[0][1]) ** (1 / (per[-1][0] - per[0][0]))
            anchor = per[-1][1] * growth ** (depth - per[-1][0]) * m["gradients"]
            add(f"all {m['gradients']:,} gradients of a {depth}x{width} tanh MLP (log-cosh), "
                f"every line verified", f"{m['seconds']:.1f} s",
                f"sympy.diff of the substituted loss: {per[-1][1]:.2g} s per parameter at "
                f"depth {per[-1][0]}, x{growth:.1f} per layer: ~{anchor:.1g} s extrapolated",
                f"{m['seconds'] / anchor:.1g}x", "<= 10 s", m["seconds"] <= 10)
        if "slope" in rows:
            points = []
            for w in widths:
                m = sizes.get((depth, w)) or child("mlp", str(depth), str(w))
                points.append((m["edges"], m["seconds"]))
            s = slope(points)
            add(f"log-log slope of that cost in edges (depth {depth}, widths "
                f"{', '.join(map(str, widths))})", f"{s:.2f}",
                ", ".join(f"{e} edges {t:.1f} s" for e, t in points), "", "<= 1.1", s <= 1.1)
        if "micrograd" in rows:
            m = child("micrograd")
            add("micrograd's example (10 nodes, --at a=-4,b=2), solved and verified",
                f"{m['seconds']:.2f} s", "", "", "<= 1 s", m["seconds"] <= 1)
        if "regions" in rows:
            measured, reference, detail = REGIONS_ROW()
            table.append(("exact regions of a random 2-16-16-1 ReLU net, whole build",
                          f"{measured:.1f} s", detail, f"{measured / reference:.1f}x",
                          "<= 5 s "
                          + ("met" if measured <= 5 else "NOT met")))
    heads = ("work", "measured (CPU)", "reference (CPU)", "ratio", "goal")
    widths_ = [max(len(r[i]) for r in [heads, *table]) for i in range(5)]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; CPU seconds, medians of "
          f"{repeat} alternating runs for the subprocess rows")
    for r in [heads, tuple("-" * w for w in widths_), *table]:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths_, strict=True)).rstrip())


if __name__ == "__main__":
    main()
