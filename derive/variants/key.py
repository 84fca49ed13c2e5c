"""The answer key of a set of variants, and ``derive stress``.

:func:`answers` reads every numeric answer of a solved variant from its verified results (the
``gradients`` the worked numbers put in the backprop parts' data). :func:`key_files` writes the
answer key of one sheet's variants to ``<out>/<sheet id>-key/``: ``answer-key.json`` (always:
each variant's drawn values, rejected draws and answers, each answer exact, rounded as the sheets
show it, and to 15 significant digits as a learning platform takes it), ``answer-key.md`` and
``answer-key.tex`` (a table, one row per variant, its numbers as math, for the formats chosen;
when the variants have no numeric answers, as decision-boundary exercises, a sentence naming the
parts graded from each variant's worked solution, before the table of drawn values); the
pipeline adds
the files of the formats that collect a set of documents (``moodle``: every variant's questions
in one file).
:func:`stress` draws many variants of a sheet and tabulates how often each rejection reason
fired and the range of every answer.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import mpmath
import sympy as sp

from derive import __version__
from derive.errors import InputError
from derive.render.markup import to_md, to_tex
from derive.render.notation import escape_tex
from derive.render.view import Printer
from derive.sheet.model import Exercise, Sheet
from derive.sheet.variants import NUMERIC_TASKS, decimal_text, number_text
from derive.steps import PartResult
from derive.variants.draw import draw_exercise
from derive.variants.numbers import rounded_text
from derive.variants.screen import Screen


@dataclass(frozen=True)
class AnswerValue:
    """One numeric answer of a variant: exercise, part, the quantity, its value (exact, or to
    20 digits) and the significant digits the sheets round it to."""

    exercise: Exercise
    part: str
    loss: str
    wrt: str
    value: sp.Expr
    digits: int
    tolerance: float | None

    @property
    def name(self) -> str:
        return f"{self.exercise.number}{self.part}"

    @property
    def shown(self) -> str:
        """As the tables show it (exact when rational)."""
        if self.value.is_Rational:
            return decimal_text(self.value)
        return rounded_text(self.value, self.digits)

    @property
    def number(self) -> str:
        """A decimal to 15 significant digits (what Moodle gets: :func:`number_text`)."""
        return number_text(self.value)

    def header(self) -> str:
        """``3b: $\\partial E / \\partial w_{13}$`` (sheet markup)."""
        p = Printer.for_exercise(self.exercise)
        d = sp.Derivative(sp.Symbol(self.loss, real=True), sp.Symbol(self.wrt, real=True),
                          evaluate=False)
        return f"{self.name}: ${p.tex(d)}$"


def answers(results: Sequence[PartResult]) -> list[AnswerValue]:
    """The numeric answers of a solved variant, in sheet order."""
    out = []
    for r in results:
        sol = r.solution
        if sol is None or r.part.task not in NUMERIC_TASKS or "variant" not in sol.data:
            continue
        for wrt, value in sol.data["gradients"].items():
            out.append(AnswerValue(r.exercise, r.part.label, sol.data["loss"], wrt,
                                   sp.sympify(value), sol.data["digits"], r.part.tolerance))
    return out


def key_document(base: Sheet, variants: Sequence[tuple[Sheet, list[PartResult]]], seed: int
                 ) -> dict:
    """The JSON answer key."""
    rows = []
    for sheet, results in variants:
        rows.append({
            "id": sheet.id,
            "values": {str(ex.number): {n: decimal_text(v) for n, v in ex.drawn.values.items()}
                       for ex in sheet.exercises if ex.drawn is not None},
            "rejected": {str(ex.number): dict(ex.drawn.rejected)
                         for ex in sheet.exercises if ex.drawn is not None},
            "answers": [{"part": a.name, "quantity": f"d{a.loss}/d{a.wrt}",
                         "exact": sp.sstr(a.value) if a.value.is_Rational else None,
                         "shown": a.shown, "number": a.number} for a in answers(results)],
        })
    return {"sheet": {"id": base.id, "title": base.title}, "generator": f"derive {__version__}",
            "seed": seed, "variants": rows}


def key_files(base: Sheet, variants: Sequence[tuple[Sheet, list[PartResult]]], seed: int,
              formats: Sequence[str]) -> dict[str, str]:
    """``answer-key.json``, and ``answer-key.md`` / ``answer-key.tex`` for the formats md / tex."""
    files = {"answer-key.json": json.dumps(key_document(base, variants, seed), indent=2,
                                           ensure_ascii=False) + "\n"}
    first = answers(variants[0][1]) if variants else []
    headers = ["variant", *[a.header() for a in first]]
    rows = [[sheet.id, *[a.shown for a in answers(results)]] for sheet, results in variants]
    value_tables = []
    for ex in base.exercises:
        if ex.variants is None:
            continue
        p = Printer.for_exercise(ex)
        syms = {s.name: s for a in ex.model for s in a.expr.free_symbols}
        places = {q.name: q.places for q in ex.variants.params}
        head = ["variant", *[f"${p.tex(syms[q.name])}$" for q in ex.variants.params]]
        body = []
        for sheet, _ in variants:
            drawn = next(e for e in sheet.exercises if e.number == ex.number).drawn
            body.append([sheet.id, *[decimal_text(drawn.values[q.name], places[q.name], True)
                                     for q in ex.variants.params]])
        value_tables.append((ex.number, head, body))
    title = f"{base.title}: answer key"
    count = f"{len(variants)} variant{'s' if len(variants) != 1 else ''}"
    sub = f"{count}, seed {seed}; generated by derive {__version__}"
    graded = [f"{ex.number}{p.label}" for ex in base.exercises if ex.variants is not None
              for p in ex.parts if p.task not in NUMERIC_TASKS]
    none = ("No numeric answers: " + ", ".join(graded) + " are graded from each variant's "
            "worked solution (its own network and regions).") if graded else \
        "No numeric answers."
    if "md" in formats:
        md = [f"# {to_md(title)}", "", to_md(sub), "",
              _md_table(headers, rows) if first else to_md(none)]
        for number, head, body in value_tables:
            md += ["", f"## Exercise {number}: the drawn values", "", _md_table(head, body)]
        files["answer-key.md"] = "\n".join(md) + "\n"
    if "tex" in formats:
        tex = [r"\documentclass[11pt,a4paper,landscape]{article}", r"\usepackage[T1]{fontenc}",
               r"\usepackage{lmodern}", r"\usepackage{amsmath}",
               r"\usepackage[margin=2cm]{geometry}", r"\begin{document}",
               rf"\section*{{{to_tex(title)}}}", to_tex(sub) + r"\par\medskip", "",
               _tex_table(headers, rows) if first else to_tex(none) + r"\par"]
        for number, head, body in value_tables:
            tex += ["", rf"\subsection*{{Exercise {number}: the drawn values}}",
                    r"{\small", _tex_table(head, body), "}"]
        files["answer-key.tex"] = "\n".join([*tex, r"\end{document}"]) + "\n"
    return files


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    """A Markdown table: the variant's id, then its numbers as math (``$-0.1151$``: a minus
    sign, not a hyphen), as the TeX table prints them."""
    out = ["| " + " | ".join(to_md(h) for h in head) + " |",
           "|" + "---|" * len(head)]
    out += ["| " + " | ".join([to_md(row[0]), *[to_md(f"${c}$") for c in row[1:]]]) + " |"
            for row in rows]
    return "\n".join(out)


def _tex_table(head: list[str], rows: list[list[str]]) -> str:
    out = [r"\begin{tabular}{l" + "r" * (len(head) - 1) + "}", r"\hline",
           " & ".join(to_tex(h) for h in head) + r" \\", r"\hline"]
    out += [" & ".join([escape_tex(row[0]), *[f"${c}$" for c in row[1:]]]) + r" \\"
            for row in rows]
    return "\n".join([*out, r"\hline", r"\end{tabular}"])


# --- derive stress ----------------------------------------------------------------------------
def stress(sheet: Sheet, count: int, seed: int) -> str:
    """``derive stress``: ``count`` variants of every exercise with variants; how often each
    rejection reason fired, and the range (min, max) of every answer over the variants."""
    varied = [ex for ex in sheet.exercises if ex.variants is not None]
    if not varied:
        raise InputError("declares no variant parameters (add an [exercise.variants] table)",
                         file=sheet.file)
    lines = [f"{sheet.id}: {count} variants per exercise, seed {seed}"]
    for ex in varied:
        tally: Counter = Counter()
        screen = Screen(ex)
        outcomes = draw_exercise(sheet, ex, count, seed, screen, tally)
        draws = count + sum(o.rejected_draws for o in outcomes)
        lines += ["", f"Exercise {ex.number}: {count} accepted of {draws} draws"]
        w = max([48, *map(len, tally)])
        lines.append(f"  {'rejection reason':<{w}} {'count':>7} {'share':>7}")
        if not tally:
            lines.append(f"  {'(none)':<{w}} {0:>7} {'0.0%':>7}")
        for reason, n in sorted(tally.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {reason:<{w}} {n:>7} {100 * n / draws:>6.1f}%")
        keys = list(outcomes[0].gradients) if outcomes else []
        if keys:
            lines.append(f"  {'answer':<24} {'min':>14} {'max':>14}")
        for label, wrt in keys:
            vals = [o.gradients[(label, wrt)] for o in outcomes]
            loss = next(a.loss for a in screen.asked if a.label == label)
            lines.append(f"  {f'{ex.number}{label} d{loss}/d{wrt}':<24} "
                         f"{mpmath.nstr(min(vals), 6):>14} {mpmath.nstr(max(vals), 6):>14}")
        lines.append(f"  {'drawn value':<24} {'min':>14} {'max':>14}")
        for p in ex.variants.params:
            got = [o.drawn.values[p.name] for o in outcomes]
            lines.append(f"  {p.name:<24} {decimal_text(min(got), p.places, True):>14} "
                         f"{decimal_text(max(got), p.places, True):>14}")
    return "\n".join(lines) + "\n"
