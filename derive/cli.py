"""The ``derive`` command line: build, check, list, explain, stress.

Exit codes: 0 success; 1 drift or a failed verification; 2 bad input (one line
``file:line: message`` or ``derive: error: message``, no traceback, nothing written).
"""

from __future__ import annotations

import argparse
import sys

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
    b.add_argument("--format", default=None,
                   help="comma-separated output formats (default: the default formats; an "
                   "unknown one lists them all)")
    b.add_argument("--pdf", action="store_true", help="also compile the .tex files to PDF")
    b.add_argument("--variants", type=int, default=None, metavar="N",
                   help="write N per-student variants of each sheet (OUT/<id>-v01/, ...) and "
                   "their answer key (OUT/<id>-key/) instead of the sheet")
    b.add_argument("--seed", type=int, default=None, metavar="S",
                   help="the seed the variants are drawn with (default 0): the same seed gives "
                   "the same files")
    b.add_argument("--no-cache", action="store_true",
                   help="check everything again: neither read nor write the cache of verified "
                   "results (DERIVE_NO_CACHE=1 does the same; the cache is in "
                   "DERIVE_CACHE_DIR, else XDG_CACHE_HOME/derive, else ~/.cache/derive)")

    c = sub.add_parser("check", help="re-derive, verify and compare with the files under OUT",
                       description="Exit 0 when everything verifies and OUT matches, 1 on drift "
                       "or a failed verification (a unified diff is printed), 2 on bad input.")
    c.add_argument("sheets", nargs="*", metavar="SHEET")
    c.add_argument("--out", default="output", help="output folder (default: ./output)")
    c.add_argument("--format", default=None,
                   help="comma-separated output formats (default: the formats the last build "
                   "wrote, as its manifest records them)")
    c.add_argument("--variants", type=int, default=None, metavar="N",
                   help="compare the N variants of each sheet (OUT/<id>-v01/, ...) and their "
                   "answer key (OUT/<id>-key/), as build --variants N wrote them")
    c.add_argument("--seed", type=int, default=None, metavar="S",
                   help="the seed the variants were drawn with (default 0)")
    c.add_argument("--cache", action="store_true",
                   help="reuse verdicts from the cache of verified results, as build does "
                   "(default: every check runs again)")

    li = sub.add_parser("list", help="exercises, parts, tasks and points")
    li.add_argument("sheets", nargs="*", metavar="SHEET")

    s = sub.add_parser("stress", help="draw many variants: rejections and answer ranges",
                       description="Draw N variants of every exercise with variant parameters "
                       "and print how often each rejection reason fired and the range of every "
                       "answer (useful for choosing ranges). Writes nothing.")
    s.add_argument("sheets", nargs="*", metavar="SHEET")
    s.add_argument("--variants", type=int, default=500, metavar="N",
                   help="variants per exercise (default 500)")
    s.add_argument("--seed", type=int, default=0, metavar="S", help="the seed (default 0)")

    e = sub.add_parser("explain", help="the step-by-step derivative of an expression",
                       description='Examples: derive explain "log(cosh(y - t))" --wrt y;  '
                       'derive explain "q = x + y" "f = q*z" --wrt x,y,z --at x=-2,y=5,z=-4')
    e.add_argument("expr", nargs="+", metavar="EXPR",
                   help="an expression, or a computation list (one assignment per argument)")
    e.add_argument("--wrt", required=True, help="variable(s), comma-separated")
    e.add_argument("--format", default="text",
                   help="an output format (text, latex, md, json, ...; default: text)")
    e.add_argument("--at", default=None, help="values for a numeric backward pass: x=-2,y=5")
    e.add_argument("--loss", default=None, help="the loss node (default: the last assignment)")
    e.add_argument("--detail", default="standard", choices=("standard", "full"),
                   help="standard (what a TA writes, the default) or full (every rule level)")
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


# --- commands ------------------------------------------------------------------------------------
def cmd_build(args) -> int:
    from derive import pipeline

    if args.seed is not None and args.variants is None:
        raise InputError("--seed goes with --variants N")
    return pipeline.build(args.sheets, args.out, pipeline.choose_formats(args.format), args.pdf,
                          variants=args.variants, seed=args.seed or 0,
                          use_cache=not args.no_cache)


def cmd_check(args) -> int:
    from derive import pipeline

    if args.seed is not None and args.variants is None:
        raise InputError("--seed goes with --variants N")
    formats = pipeline.choose_formats(args.format) if args.format is not None else None
    return pipeline.check(args.sheets, args.out, formats, variants=args.variants,
                          seed=args.seed or 0, use_cache=args.cache)


def cmd_list(args) -> int:
    from derive.pipeline import load_sheets
    from derive.render.view import points_text

    for sheet in load_sheets(args.sheets):
        print(f"{sheet.id}: {one_line(sheet.title, 1000)}")  # titles are one line, made safe
        for ex in sheet.exercises:  # for a terminal (no escape sequence gets through)
            total = points_text(ex.points) or "-"
            print(f"  Exercise {ex.number}: {one_line(ex.title, 1000)} ({total} P)")
            for part in ex.parts:
                pts = points_text(part.points) or "-"
                print(f"    ({part.label}) {part.task:<18} {pts:>4} P")
    return 0


def cmd_explain(args) -> int:
    from derive.pipeline import explain

    text = explain(args.expr, args.wrt, fmt=args.format, at=args.at, loss=args.loss,
                   detail=args.detail)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def cmd_stress(args) -> int:
    from derive.pipeline import load_sheets
    from derive.variants.draw import MAX_VARIANTS
    from derive.variants.key import stress

    if not 1 <= args.variants <= MAX_VARIANTS:
        raise InputError(f"--variants must be between 1 and {MAX_VARIANTS}")
    for sheet in load_sheets(args.sheets):
        sys.stdout.write(stress(sheet, args.variants, args.seed))
    return 0


COMMANDS = {"build": cmd_build, "check": cmd_check, "list": cmd_list, "explain": cmd_explain,
            "stress": cmd_stress}


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
