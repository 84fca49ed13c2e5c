"""What the exact decision regions of a random ReLU network cost in a whole build.

Run: ``.venv/bin/python benchmarks/bench_regions.py`` (``--widths 2,8,8,1`` for another shape,
``--seed N`` for another network, ``--profile`` to print the top of a cProfile of the build
instead of the table).

:func:`regions_sheet` writes a sheet with one exercise: a random ReLU network of the given layer
widths (two inputs, one output) with small rational weights drawn from ``random.Random(seed)``,
given as a computation list, and one ``decision-boundary`` part on its output. The main builds
that sheet with ``python -m derive build --no-cache`` (every format, no PDF, every check run)
into a temporary folder, in a child process, and measures its CPU seconds; in the same run it
measures the import floor,
``python -c "import sympy, jinja2"``. Columns: the number of pieces (activation patterns) the
build found, the build's CPU seconds, the floor's CPU seconds, their ratio.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import resource
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from derive import pipeline  # noqa: E402

WEIGHTS = [Fraction(n, d) for d in (1, 2, 4) for n in range(-8, 9) if n % d or d == 1]
# small rationals: integers -8..8, halves and quarters among them (n/d in lowest terms only once)


def _affine(weights: list[Fraction], names: list[str], bias: Fraction) -> str:
    """``7/4*x1 - 3/4*x2 - 3``: the nonzero terms, then the bias (if nonzero)."""
    terms = [(w, f"{abs(w)}*{n}") for w, n in zip(weights, names, strict=True) if w != 0]
    terms += [(bias, str(abs(bias)))] if bias != 0 else []
    if not terms:
        return "0"
    text = ("-" if terms[0][0] < 0 else "") + terms[0][1]
    return text + "".join((" - " if w < 0 else " + ") + t for w, t in terms[1:])


def regions_sheet(widths: tuple[int, ...] = (2, 16, 16, 1), seed: int = 0) -> str:
    """The TOML text of a sheet with one decision-boundary exercise over a random ReLU network.

    ``widths``: inputs (must be 2), hidden layers, outputs (must be 1). Each weight is drawn from
    the small rationals ``WEIGHTS`` (halved, so between -4 and 4), each hidden bias likewise,
    with ``random.Random(seed)``: the same text on every machine. The output's bias makes y = 0
    at a random point, so that the network has a decision boundary."""
    if len(widths) < 2 or widths[0] != 2 or widths[-1] != 1:
        raise ValueError("widths must start with 2 inputs and end with 1 output")
    rng = random.Random(seed)

    def draw() -> Fraction:
        return rng.choice(WEIGHTS) / 2

    names = ["x1", "x2"]
    at = {"x1": draw(), "x2": draw()}  # the boundary y = 0 passes through this point
    lines = []
    for layer, width in enumerate(widths[1:-1], 1):
        cur = []
        for j in range(1, width + 1):
            name = f"h{layer}_{j}"
            w, b = [draw() for _ in names], draw()
            lines.append(f"{name} = relu({_affine(w, names, b)})")
            at[name] = max(Fraction(0), sum((v * at[n] for v, n in zip(w, names, strict=True)),
                                            b))
            cur.append(name)
        names = cur
    w = [draw() for _ in names]
    lines.append(f"y = {_affine(w, names, -sum(v * at[n] for v, n in zip(w, names, strict=True)))}")
    model = "\n".join(f"    {json.dumps(s)}," for s in lines)
    shape = "-".join(map(str, widths))
    return f'''# A random {shape} ReLU network (seed {seed}): its exact decision regions.

[sheet]
id = "bench-regions"
title = "Decision Regions of a Random {shape} ReLU Network"

[[exercise]]
title = "A Random ReLU Network"
text = "A {shape} ReLU network with small rational weights, given as a computation list."
model = [
{model}
]

[[exercise.part]]
points = 10
text = "*Determine* the decision regions exactly."
task = "decision-boundary"
of = "y"
'''


def _cpu(cmd: list[str], cwd: Path) -> float:
    """CPU seconds (user + system) of a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(widths: tuple[int, ...] = (2, 16, 16, 1), seed: int = 0) -> dict:
    """Build the sheet in a child process: pieces, build and floor CPU seconds, their ratio."""
    with tempfile.TemporaryDirectory() as tmp:
        sheet = Path(tmp) / "regions.toml"
        sheet.write_text(regions_sheet(widths, seed))
        floor = _cpu([sys.executable, "-c", "import sympy, jinja2"], ROOT)
        build = _cpu([sys.executable, "-m", "derive", "build", "--no-cache", str(sheet),
                      "--out", str(Path(tmp) / "out")], ROOT)  # cold: every check run
        data = json.loads((Path(tmp) / "out" / "bench-regions" / "solutions.json").read_text())
    pieces = sum(len(p.get("pieces", ())) for ex in data["exercises"] for p in ex["parts"])
    return {"pieces": pieces, "build": build, "floor": floor, "ratio": build / floor}


def profile(widths: tuple[int, ...], seed: int, top: int = 30) -> str:
    """The top of a cProfile (cumulative and own time) of the whole build, in this process."""
    with tempfile.TemporaryDirectory() as tmp:
        sheet = Path(tmp) / "regions.toml"
        sheet.write_text(regions_sheet(widths, seed))
        prof = cProfile.Profile()
        prof.enable()
        pipeline.build([str(sheet)], Path(tmp) / "out", pipeline.choose_formats(None),
                       stdout=io.StringIO())
        prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--widths", default="2,16,16,1")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    widths = tuple(int(w) for w in args.widths.split(","))
    if args.profile:
        print(profile(widths, args.seed))
        return
    m = measure(widths, args.seed)
    shape = "-".join(map(str, widths))
    print("| network | pieces | build CPU s | import floor CPU s | ratio |\n|---|---|---|---|---|")
    print(f"| {shape} ReLU, seed {args.seed} | {m['pieces']} | {m['build']:.2f} | "
          f"{m['floor']:.2f} | {m['ratio']:.1f}x |")


if __name__ == "__main__":
    main()
