"""The pipeline: load -> solve -> verify -> render -> write | compare.

``derive build`` (:func:`build`), ``derive check`` (:func:`check`) and ``derive explain``
(:func:`explain`) all run through it: sheets are loaded (:func:`load_sheets`), every part is solved
by its task and everything it claims verified (:func:`solve_sheet`,
:func:`derive.verify.solution.verify_solution`), the chosen formats of the
registry (:mod:`derive.render.formats`) render the files in memory (:func:`render`), and the files
are written as one transaction or compared with those on disk. Every part has a task (the loader
refuses a sheet naming a task derive does not have), so every part is solved or the build fails.
"""

from __future__ import annotations

import difflib
import re
import sys
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import TextIO

import sympy as sp

from derive.errors import InputError, terminal_safe
from derive.io import cache, compare, pdf, writer
from derive.io.manifest import recorded_formats
from derive.render import formats as registry
from derive.sheet.load import bundled_sheet_path, load_sheet
from derive.sheet.model import DETAIL_LEVELS, Assignment, Exercise, Part, Sheet
from derive.sheet.modelcheck import check_exercise
from derive.sheet.parse import parse_assignment, parse_expr
from derive.sheet.variants import NUMERIC_TASKS, draws_weights
from derive.steps import PartResult, Solution
from derive.tasks import REGISTRY, Context
from derive.variants.draw import variant_id, variant_sheets, with_drawn
from derive.variants.key import key_files
from derive.variants.numbers import add_numbers
from derive.verify.equality import cpu_budget_paused
from derive.verify.solution import verify_solution


def solve_sheet(sheet: Sheet, progress: Callable[[str], None] | None = None
                ) -> list[PartResult]:
    """Solve and verify every part; raises VerificationFailure on any failed check.
    ``progress`` (default: the command's, :data:`PROGRESS`; see :func:`progress_lines`) is
    told of each part when it is done."""
    progress = progress or PROGRESS.get()
    results = []
    total = sum(len(ex.parts) for ex in sheet.exercises)
    on_sheet: dict[str, Solution] = {}
    for ex in sheet.exercises:
        earlier: dict[str, Solution] = {}
        for part in ex.parts:
            spec = REGISTRY[part.task]
            ctx = Context(
                file=sheet.file,
                exercise=ex.number,
                label=part.label,
                model=ex.model,
                params=part.params,
                param_lines=part.param_lines,
                line=part.line,
                notation=ex.notation,
                names=ex.names,
                earlier=dict(earlier),
                detail=part.detail,
                sheet_earlier=dict(on_sheet),
                facts=ex.facts,
            )
            solution = spec.run(ctx)
            if ex.drawn is not None and part.task in NUMERIC_TASKS:  # a variant: its numbers
                solution = add_numbers(solution, ctx, ex)
            elif ex.drawn is not None and draws_weights(ex.parts):  # its weights, in the model
                solution = with_drawn(solution, ex)
            solution = verify_solution(solution, f"{sheet.file}: part {ex.number}{part.label}")
            earlier[part.label] = solution
            on_sheet[f"{ex.number}{part.label}"] = solution
            results.append(PartResult(ex, part, solution))
            if progress is not None:
                progress(f"{sheet.id}: part {ex.number}{part.label} ({part.task}) solved and "
                         f"verified [{len(results)}/{total}]")
    return results


PROGRESS_AFTER = 2.0  # seconds: a build that runs longer shows progress (on a terminal)
# the progress lines of the running build or check (set by build() and check() while they solve)
PROGRESS: ContextVar[Callable[[str], None] | None] = ContextVar("progress", default=None)


def progress_lines(stream: TextIO, after: float | None = None
                   ) -> Callable[[str], None] | None:
    """One line per part on ``stream`` once the command has run ``after`` seconds (default
    ``PROGRESS_AFTER``; wall time: it decides what the terminal shows, never what is written),
    when ``stream`` is a terminal; None (quiet) otherwise."""
    isatty = getattr(stream, "isatty", None)
    if isatty is None or not isatty():
        return None
    after = PROGRESS_AFTER if after is None else after
    start = time.monotonic()

    def report(text: str) -> None:
        if time.monotonic() - start >= after:
            print(f"derive: {text}", file=stream, flush=True)

    return report


# --- load ----------------------------------------------------------------------------------------
def load_sheets(paths: Sequence[str]) -> list[Sheet]:
    """The sheets of one command (the bundled sheet without paths); two with the same id (one
    output folder) are refused."""
    if not paths:
        return [load_sheet(bundled_sheet_path(), display="sheet02.toml (bundled)")]
    sheets = [load_sheet(p) for p in paths]
    seen: dict[str, str] = {}
    for path, sheet in zip(paths, sheets, strict=True):
        if sheet.id in seen:
            raise InputError(f"two sheets have the id {sheet.id!r} (each sheet needs its own id: "
                             f"it names the output folder): {seen[sheet.id]} and {path}")
        seen[sheet.id] = path
    return sheets


# --- render --------------------------------------------------------------------------------------
def choose_formats(text: str | None) -> tuple[str, ...]:
    """The formats of a comma-separated ``--format`` value (None: the registry's defaults), in
    the registry's order, each once."""
    if text is None:
        return registry.default_formats()
    chosen = [f.strip() for f in text.split(",") if f.strip()]
    if not chosen or any(f not in registry.FORMATS for f in chosen):
        raise InputError("--format must be a comma-separated subset of "
                         + ",".join(registry.format_names()))
    return registry.in_order(chosen)


def render(sheet: Sheet, results: list[PartResult], formats: Sequence[str] | None = None
           ) -> dict[str, str]:
    """Every output file of ``formats`` (default: the registry's defaults) and the figures,
    relative to ``<out>/<sheet id>/``."""
    return registry.render(sheet, results,
                           registry.default_formats() if formats is None else formats)


def derive_files(sheet: Sheet, formats: Sequence[str]) -> tuple[list[PartResult], dict[str, str]]:
    """Solve and verify ``sheet``, then render ``formats``: its results and its files."""
    results = solve_sheet(sheet)
    return results, render(sheet, results, formats)


# --- build and check -----------------------------------------------------------------------------
def derive_set(bases: Sequence[Sheet], formats: Sequence[str], variants: int | None = None,
               seed: int = 0) -> tuple[list[Sheet], list[tuple[list[PartResult], dict[str, str]]],
                                       list[tuple[str, dict[str, str]]]]:
    """What ``derive build`` writes and ``derive check`` compares: the sheets (``bases``, or
    with ``variants`` each base's variants drawn with ``seed``), each one's results and files,
    and with ``variants`` each base's answer key folder (``<id>-key``) and its files (the key,
    and the formats' files that collect every variant in one)."""
    sheets = list(bases) if variants is None else [
        v for base in bases for v in variant_sheets(base, variants, seed)]
    derived = [derive_files(s, formats) for s in sheets]
    keys = []
    for base in bases if variants is not None else ():
        mine = [(s, r) for s, (r, _) in zip(sheets, derived, strict=True)
                if s.variant_of == base.id]
        keys.append((f"{base.id}-key", {**key_files(base, mine, seed, formats),
                                        **registry.collect(mine, formats)}))
    return sheets, derived, keys


def build(paths: Sequence[str], out: str | Path, formats: Sequence[str], with_pdf: bool = False,
          stdout: TextIO | None = None, stderr: TextIO | None = None,
          variants: int | None = None, seed: int = 0, use_cache: bool = False) -> int:
    """``derive build``: derive every sheet in memory, then write all their folders or none
    (``OUT/<sheet id>/``), with ``with_pdf`` the compiled ``.tex`` documents too. With
    ``variants``, each sheet's ``variants`` variants drawn with ``seed`` instead
    (``OUT/<sheet id>-v01/``, ...), and each sheet's answer key (``OUT/<sheet id>-key/``).
    With ``use_cache``, the cache of verified results (:mod:`derive.io.cache`) is read and
    written: verdicts, figure drawings and compiled templates found there are reused. Returns
    0."""
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    formats = registry.in_order(formats)
    token = PROGRESS.set(progress_lines(stderr))
    try:  # everything before any write
        with cache.using(cache.open_store() if use_cache else None):
            sheets, derived, named_keys = derive_set(load_sheets(paths), formats, variants, seed)
    finally:
        PROGRESS.reset(token)
    folders = [Path(out) / sheet.id for sheet in sheets]
    keys = [(Path(out) / name, files) for name, files in named_keys]
    for folder, files in [*zip(folders, (f for _, f in derived), strict=True), *keys]:
        writer.validate_outputs(folder, files)  # refuse early (links, files in the way, read-only)
    pdfs: list[dict[str, bytes]] = [{} for _ in sheets]
    if with_pdf:
        if not pdf.tex_available():
            print(pdf.NO_TEX, file=stderr)
        else:
            for k, (_, files) in enumerate(derived):
                pdfs[k] = pdf.compile_documents(files, pdf.standalone(files)) or {}
    specs = []
    for folder, (_, files), compiled in zip(folders, derived, pdfs, strict=True):
        sources = {name: name[: -len(".pdf")] + ".tex" for name in compiled}
        specs.append((folder, {**files, **compiled}, formats, sources))
    specs += [(folder, files, None, None) for folder, files in keys]
    with cpu_budget_paused():  # a build is never stopped halfway through writing
        writer.write_many(specs)  # all sheets or none
    for sheet, folder, (results, files), compiled in zip(sheets, folders, derived, pdfs,
                                                          strict=True):
        print(f"{sheet.id}: {len(results)} parts solved and verified; wrote {len(files)} files "
              f"to {folder}", file=stdout)
        for name in sorted(compiled):
            print(f"wrote {folder / name}", file=stdout)
    for folder, files in keys:
        print(f"answer key: wrote {len(files)} files to {folder}", file=stdout)
    return 0


def check(paths: Sequence[str], out: str | Path, formats: Sequence[str] | None = None,
          stdout: TextIO | None = None, variants: int | None = None, seed: int = 0,
          use_cache: bool = False) -> int:
    """``derive check``: derive every sheet again and compare with ``OUT/<sheet id>/`` (the
    formats the last build recorded when ``formats`` is None); with ``variants``, each sheet's
    variants drawn with ``seed`` and its answer key, compared with ``OUT/<sheet id>-v01/``, ...
    and ``OUT/<sheet id>-key/`` (as ``derive build --variants`` writes them). Every check runs
    again unless ``use_cache`` (then as :func:`build` does). Returns 0 when everything verifies
    and matches, 1 on drift (a unified diff is printed)."""
    stdout = stdout or sys.stdout
    token = PROGRESS.set(progress_lines(sys.stderr))
    try:
        with cache.using(cache.open_store() if use_cache else None):
            return _check(paths, out, formats, stdout, variants, seed)
    finally:
        PROGRESS.reset(token)


def _check(paths: Sequence[str], out: str | Path, formats: Sequence[str] | None,
           stdout: TextIO, variants: int | None, seed: int) -> int:
    status = 0
    for base in load_sheets(paths):
        first = Path(out) / (base.id if variants is None else variant_id(base, 1, variants))
        chosen = registry.in_order(formats) if formats is not None else (
            recorded_formats(first, registry.FORMATS) or registry.default_formats())
        sheets, derived, keys = derive_set([base], chosen, variants, seed)
        for sheet, (results, files) in zip(sheets, derived, strict=True):
            drift = compare.compare_outputs(Path(out) / sheet.id, files, chosen)
            status |= _report(drift, stdout)
            verdict = "drift" if drift else "clean"
            print(f"{sheet.id}: {len(results)} parts verified, {len(drift)} files drifted: "
                  f"{verdict}", file=stdout)
        for name, files in keys:
            drift = compare.compare_outputs(Path(out) / name, files)
            status |= _report(drift, stdout)
            print(f"{name}: answer key of {len(sheets)} variants, {len(drift)} files drifted: "
                  f"{'drift' if drift else 'clean'}", file=stdout)
    return status


def _report(drift: dict[str, compare.Drift], stdout: TextIO) -> int:
    """Print each drifted file (a unified diff for one that differs); 1 when any drifted."""
    for d in drift.values():
        where = terminal_safe(str(d.path))  # a file name can hold escape sequences
        if d.reason == "differs":
            stdout.writelines(terminal_safe(line) for line in difflib.unified_diff(
                d.current.splitlines(keepends=True), d.expected.splitlines(keepends=True),
                fromfile=f"{where} (on disk)", tofile=f"{where} (derived)"))
        elif d.reason == "missing":
            print(f"{where}: missing (run `derive build`)", file=stdout)
        else:
            print(f"{where}: {d.reason}", file=stdout)
    return 1 if drift else 0


# --- explain -------------------------------------------------------------------------------------
EXPLAIN_ID = "explain"
FORMAT_ALIASES = {"latex": "tex"}  # explain's --format names the printers as a reader does
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def explain(exprs: Sequence[str], wrt: str, fmt: str = "text", at: str | None = None,
            loss: str | None = None, detail: str = "standard") -> str:
    """``derive explain``: the in-memory sheet of :func:`explain_sheet`, solved and verified as
    ``derive build`` does, printed by format ``fmt`` (its solutions file)."""
    name = FORMAT_ALIASES.get(fmt, fmt)
    if name not in registry.FORMATS:
        raise InputError("--format must be one of " + ", ".join(
            [*registry.format_names(), *FORMAT_ALIASES]))
    if detail not in DETAIL_LEVELS:
        raise InputError(f"--detail must be one of {', '.join(DETAIL_LEVELS)}")
    sheet = explain_sheet(exprs, wrt, at, loss, detail)
    try:
        results = solve_sheet(sheet)
    except InputError as e:  # a task's error: about the command line, not a file
        raise InputError(e.message) from None
    return render(sheet, results, (name,))[registry.FORMATS[name].main]


def explain_sheet(exprs: Sequence[str], wrt: str, at: str | None = None,
                  loss: str | None = None, detail: str = "standard") -> Sheet:
    """The sheet ``derive explain`` solves: one exercise; for one expression, one ``derivative``
    part per ``--wrt`` variable; for a computation list (assignments), its model and one
    ``backprop`` part with ``--wrt``, ``--loss`` and ``--at`` as that task's parameters. The
    exercise gets every check a sheet's exercise gets."""
    names = [w.strip() for w in wrt.split(",") if w.strip()]
    if not names:
        raise InputError("--wrt needs at least one variable name")
    graph = len(exprs) > 1 or "=" in exprs[0].replace("==", "")
    model: list[Assignment] = []
    if graph:
        for i, src in enumerate(exprs, 1):
            try:
                lhs, expr = parse_assignment(src)
            except InputError as e:
                raise InputError(f"assignment {i} ({src!r}): {e.message}") from None
            if any(a.name == lhs for a in model):
                raise InputError(f"{lhs} is assigned twice")
            model.append(Assignment(lhs, expr, src, None))
        params: dict = {"wrt": names}
        if loss is not None:
            params["loss"] = loss
        if at is not None:
            params["at"] = _at_values(at)
        parts = [Part("a", None, "", "", "backprop", params, {}, None, detail=detail)]
        title = "Backward pass"
    else:
        if at is not None or loss is not None:
            raise InputError("--at and --loss apply to a computation list (assignments)")
        try:
            parse_expr(exprs[0])
        except InputError as e:
            raise InputError(f"expression: {e.message}") from None
        for n in names:
            try:
                var = parse_expr(n)
            except InputError as e:
                raise InputError(f"--wrt: {e.message}") from None
            if not isinstance(var, sp.Symbol):
                raise InputError(f"--wrt: {n!r} is not a variable name")
        parts = [Part(_label(k), None, "", "", "derivative", {"of": exprs[0], "wrt": n}, {}, None,
                      detail=detail) for k, n in enumerate(names)]
        title = "Derivative"
    order = tuple(dict.fromkeys(m.group(0) for s in exprs for m in _NAME.finditer(s)))
    check_exercise(model, parts, {}, order)
    exercise = Exercise(1, title, "", tuple(model), {}, tuple(parts), None, order)
    return Sheet(EXPLAIN_ID, "derive explain", "", "", EXPLAIN_ID, (exercise,))


def _label(k: int) -> str:
    return "abcdefghijklmnopqrstuvwxyz"[k] if k < 26 else f"p{k + 1}"


def _at_values(at: str) -> dict[str, sp.Expr]:
    """``--at x=-2,y=5``: each value a number (an expression without names: ``1/2``)."""
    values: dict[str, sp.Expr] = {}
    for item in filter(None, (p.strip() for p in at.split(","))):
        name, eq, value = item.partition("=")
        if not eq or not name.strip():
            raise InputError(f"--at: expected name=value, got {item!r}")
        try:
            number = parse_expr(value.strip())
        except InputError as e:
            raise InputError(f"--at {name.strip()}: {e.message}") from None
        if not number.is_number:
            raise InputError(f"--at: the value of {name.strip()} must be a number")
        values[name.strip()] = number
    return values
