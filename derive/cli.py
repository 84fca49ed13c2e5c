"""The ``derive`` command line: build, check, list, explain.

Exit codes: 0 success; 1 drift or a failed verification; 2 bad input (one line
``file:line: message`` or ``derive: error: message``, no traceback, nothing written).
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from derive import __version__
from derive.errors import InputError, VerificationFailure, one_line


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2
        raise InputError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="derive", description="Verified, step-by-step solution sheets for "
                "neural-network exercises.")
    p.add_argument("--version", action="version", version=f"derive {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    b = sub.add_parser("build", help="solve, verify and write a sheet's outputs",
                       description="Solve every part, verify every step and write the outputs "
                       "to OUT/<sheet id>/. Without SHEET, builds the bundled sheet.")
    b.add_argument("sheets", nargs="*", metavar="SHEET", help="sheet TOML files")
    b.add_argument("--out", default="output", help="output folder (default: ./output)")
    b.add_argument("--format", default="tex,md,json",
                   help="comma-separated subset of tex,md,json (default: all)")
    b.add_argument("--pdf", action="store_true", help="also compile the .tex files to PDF")

    c = sub.add_parser("check", help="re-derive, verify and compare with the files under OUT",
                       description="Exit 0 when everything verifies and OUT matches, 1 on drift "
                       "or a failed verification (a unified diff is printed), 2 on bad input.")
    c.add_argument("sheets", nargs="*", metavar="SHEET")
    c.add_argument("--out", default="output", help="output folder (default: ./output)")
    c.add_argument("--format", default=None,
                   help="comma-separated subset of tex,md,json (default: the formats the last "
                   "build wrote, as its manifest records them)")

    li = sub.add_parser("list", help="exercises, parts, tasks, points and status")
    li.add_argument("sheets", nargs="*", metavar="SHEET")

    e = sub.add_parser("explain", help="the step-by-step derivative of an expression",
                       description='Examples: derive explain "log(cosh(y - t))" --wrt y;  '
                       'derive explain "q = x + y" "f = q*z" --wrt x,y,z --at x=-2,y=5,z=-4')
    e.add_argument("expr", nargs="+", metavar="EXPR",
                   help="an expression, or a computation list (one assignment per argument)")
    e.add_argument("--wrt", required=True, help="variable(s), comma-separated")
    e.add_argument("--format", default="text", choices=["text", "latex", "md", "json"])
    e.add_argument("--at", default=None, help="values for a numeric backward pass: x=-2,y=5")
    e.add_argument("--loss", default=None, help="the loss node (default: the last assignment)")
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        from derive.verify.equality import cpu_budget  # a pathological sheet ends, with exit 2

        with cpu_budget(what=f"derive {args.command}"):
            return COMMANDS[args.command](args)
    except InputError as e:
        print(str(e), file=sys.stderr)
        return 2
    except VerificationFailure as e:
        print(f"derive: verification failed: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("derive: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `derive list | head`: the reader left; no traceback, no retry
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (RecursionError, MemoryError) as e:  # a safety net: input too deep or too large
        what = "nested too deeply" if isinstance(e, RecursionError) else "too large"
        print(f"derive: error: the computation is {what} for SymPy (shorten the model or the "
              "expression)", file=sys.stderr)
        return 2


# --- helpers -------------------------------------------------------------------------------------
def _sheets(paths: list[str]):
    """The sheets of one command; two with the same id (one folder) are refused."""
    from derive.sheet.load import bundled_sheet_path, load_sheet

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


def _formats(text: str) -> tuple[str, ...]:
    from derive.render.view import FORMATS

    chosen = tuple(f.strip() for f in text.split(",") if f.strip())
    bad = [f for f in chosen if f not in FORMATS]
    if bad or not chosen:
        raise InputError(f"--format must be a comma-separated subset of {','.join(FORMATS)}")
    return chosen


def _recorded(formats) -> tuple[str, ...]:
    """The formats as a manifest records them: in the registry's order, each once."""
    from derive.render.view import FORMATS

    return tuple(f for f in FORMATS if f in formats)


def _render(sheet, formats):
    from derive.pipeline import solve_sheet
    from derive.render.view import render_all

    results = solve_sheet(sheet)
    return results, render_all(sheet, results, formats)


# --- commands ------------------------------------------------------------------------------------
def cmd_build(args) -> int:
    from derive.io.writer import validate_outputs, write_many
    from derive.verify.equality import cpu_budget_paused

    formats = _formats(args.format)
    sheets = _sheets(args.sheets)
    rendered = [(s, *_render(s, formats)) for s in sheets]  # everything before any write
    folders = [Path(args.out) / sheet.id for sheet in sheets]
    for folder, (_, _, files) in zip(folders, rendered, strict=True):
        validate_outputs(folder, files)  # refuse early (links, files in the way, read-only)
    pdfs: list[dict[str, bytes]] = [{} for _ in sheets]
    if args.pdf:
        from derive.io.pdf import NO_TEX, compile_documents, standalone, tex_available

        if not tex_available():
            print(NO_TEX, file=sys.stderr)
        else:
            for k, (_, _, files) in enumerate(rendered):
                pdfs[k] = compile_documents(files, standalone(files)) or {}
    specs = []
    for folder, (_, _, files), compiled in zip(folders, rendered, pdfs, strict=True):
        sources = {pdf: pdf[: -len(".pdf")] + ".tex" for pdf in compiled}
        specs.append((folder, {**files, **compiled}, _recorded(formats), sources))
    with cpu_budget_paused():  # a build is never stopped halfway through writing
        write_many(specs)  # all sheets or none
    for folder, (sheet, results, files), compiled in zip(folders, rendered, pdfs, strict=True):
        pending = [r for r in results if r.status == "pending"]
        print(f"{sheet.id}: {len(results) - len(pending)} parts solved and verified, "
              f"{len(pending)} pending; wrote {len(files)} files to {folder}")
        for pdf in sorted(compiled):
            print(f"wrote {folder / pdf}")
    return 0


def cmd_check(args) -> int:
    from derive.errors import terminal_safe
    from derive.io.compare import compare_outputs
    from derive.io.manifest import recorded_formats
    from derive.render.view import FORMATS

    status = 0
    for sheet in _sheets(args.sheets):
        folder = Path(args.out) / sheet.id
        formats = _formats(args.format) if args.format is not None else (
            recorded_formats(folder, FORMATS) or FORMATS)
        results, files = _render(sheet, formats)
        drift = compare_outputs(folder, files, _recorded(formats))
        for d in drift.values():
            status = 1
            where = terminal_safe(str(d.path))  # a file name can hold escape sequences
            if d.reason == "differs":
                sys.stdout.writelines(terminal_safe(line) for line in difflib.unified_diff(
                    d.current.splitlines(keepends=True), d.expected.splitlines(keepends=True),
                    fromfile=f"{where} (on disk)", tofile=f"{where} (derived)"))
            elif d.reason == "missing":
                print(f"{where}: missing (run `derive build`)")
            else:
                print(f"{where}: {d.reason}")
        solved = [r for r in results if r.status == "solved"]
        pending = [r for r in results if r.status == "pending"]
        for r in pending:
            print(f"{sheet.id} {r.name}: pending (task `{r.part.task}` is not implemented yet)")
        verdict = "drift" if drift else "clean"
        print(f"{sheet.id}: {len(solved)} parts verified, {len(pending)} pending, "
              f"{len(drift)} files drifted: {verdict}")
    return status


def cmd_list(args) -> int:
    for sheet in _sheets(args.sheets):
        from derive.tasks import REGISTRY

        print(f"{sheet.id}: {one_line(sheet.title, 1000)}")  # titles are one line, made safe
        for ex in sheet.exercises:  # for a terminal (no escape sequence gets through)
            print(f"  Exercise {ex.number}: {one_line(ex.title, 1000)} ({_pts(ex.points)} P)")
            for part in ex.parts:
                status = "ready" if part.task in REGISTRY else "pending"
                print(f"    ({part.label}) {part.task:<18} {_pts(part.points):>4} P  {status}")
    return 0


def _pts(value) -> str:
    if value is None:
        return "-"
    return str(int(value)) if float(value).is_integer() else str(value)


def cmd_explain(args) -> int:
    from derive.explain import explain

    text = explain(args.expr, args.wrt, fmt=args.format, at=args.at, loss=args.loss)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


COMMANDS = {"build": cmd_build, "check": cmd_check, "list": cmd_list, "explain": cmd_explain}


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
