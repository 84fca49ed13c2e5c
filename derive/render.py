"""Rendering: solved parts -> a view model of strings -> Jinja templates -> files.

All mathematics is printed here, once, by :mod:`derive.latex` (the same LaTeX serves the ``.tex``
files and the MathJax-rendered Markdown); templates only place strings. ``render_all`` returns the
complete set of output files as ``{relative path: text}``, so ``build`` and ``check`` share it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import sympy as sp

from derive import __version__
from derive.build import PartResult
from derive.latex import TermOrder, escape_tex, latex, sympy_str
from derive.markup import to_math, to_md, to_tex
from derive.model import Align, Figure, Line, Table, Text
from derive.sheet import Exercise, Sheet

FORMATS = ("tex", "md", "json")


def template_dir() -> Path:
    """Templates ship inside the wheel (derive/templates); in a checkout they are top-level."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("derive's templates are missing from this installation")


def environment(kind: str) -> jinja2.Environment:
    """A Jinja environment for ``tex`` (LaTeX-safe delimiters) or ``md``/``svg``."""
    common = dict(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    if kind == "tex":
        return jinja2.Environment(
            block_start_string="<%",
            block_end_string="%>",
            variable_start_string="<<",
            variable_end_string=">>",
            comment_start_string="<#",
            comment_end_string="#>",
            **common,
        )
    return jinja2.Environment(**common)


@dataclass
class Printer:
    """Math printing for one exercise: its notation and its term order."""

    notation: dict[str, str]
    order: TermOrder

    @classmethod
    def for_exercise(cls, ex: Exercise) -> Printer:
        return cls(ex.notation, TermOrder(ex.names))

    def tex(self, expr: sp.Basic) -> str:
        return latex(expr, self.notation, self.order)

    def str(self, expr: sp.Basic) -> str:
        return sympy_str(expr, self.order)


# --- view model ---------------------------------------------------------------------------------
def _line_view(line: Line, p: Printer) -> dict[str, str]:
    return {
        "lhs": p.tex(line.lhs) if line.lhs is not None else "",
        "rel": line.relation if line.relation == "=" else r"\coloneqq",
        "rhs": p.tex(line.rhs),
        "rule": to_math(line.rule) if line.rule else "",
    }


def _cell(cell: Any, p: Printer, kind: str) -> str:
    if isinstance(cell, sp.Basic):
        return f"${p.tex(cell)}$"
    return to_tex(str(cell)) if kind == "tex" else to_md(str(cell))


def _block_view(block, p: Printer, stem: str) -> dict[str, Any]:
    if isinstance(block, Text):
        return {"kind": "text", "tex": to_tex(block.text), "md": to_md(block.text)}
    if isinstance(block, Align):
        return {"kind": "align", "rows": [_line_view(ln, p) for ln in block.lines]}
    if isinstance(block, Table):
        return {
            "kind": "table",
            "columns": len(block.header),
            "header_tex": [to_tex(h) for h in block.header],
            "header_md": [to_md(h) for h in block.header],
            "rows_tex": [[_cell(c, p, "tex") for c in row] for row in block.rows],
            "rows_md": [[_cell(c, p, "md") for c in row] for row in block.rows],
            "caption_tex": to_tex(block.caption),
            "caption_md": to_md(block.caption),
        }
    if isinstance(block, Figure):
        return {
            "kind": "figure",
            "tikz": block.tikz.strip(),
            "svg": f"figures/{block.stem}.svg",
            "caption_tex": to_tex(block.caption),
            "caption_md": to_md(block.caption),
        }
    raise TypeError(f"unknown block {block!r}")


def _points(value) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def view(sheet: Sheet, results: list[PartResult]) -> dict[str, Any]:
    exercises = []
    by_ex: dict[int, list[PartResult]] = {}
    for r in results:
        by_ex.setdefault(r.exercise.number, []).append(r)
    for ex in sheet.exercises:
        p = Printer.for_exercise(ex)
        pts = [_points(part.points) for part in ex.parts if part.points is not None]
        total = _points(ex.points)
        points = f"{' + '.join(pts)} = {total} P" if len(pts) > 1 else (f"{total} P" if pts else "")
        parts = []
        for r in by_ex.get(ex.number, []):
            sol = r.solution
            parts.append(
                {
                    "label": r.part.label,
                    "points": _points(r.part.points),
                    "task": r.part.task,
                    "text_tex": to_tex(r.part.text),
                    "text_md": to_md(r.part.text),
                    "hint_tex": to_tex(r.part.hint),
                    "hint_md": to_md(r.part.hint),
                    "status": r.status,
                    "blocks": [_block_view(b, p, f"ex{ex.number}-{r.part.label}")
                               for b in (sol.blocks if sol else [])],
                    "answer": p.tex(sol.answer) if sol and sol.answer is not None else "",
                    "answers": [
                        {"lhs": name, "rhs": p.tex(v)} for name, v in (sol.answers if sol else {}).items()
                    ],
                    "verified_by_tex": escape_tex(sol.verified_by) if sol else "",
                    "verified_by_md": to_md(sol.verified_by.replace("$", r"\$")) if sol else "",
                }
            )
        exercises.append(
            {
                "number": ex.number,
                "title_tex": to_tex(ex.title),
                "title_md": to_md(ex.title),
                "points": points,
                "text_tex": to_tex(ex.text),
                "text_md": to_md(ex.text),
                "parts": parts,
            }
        )
    return {
        "id": sheet.id,
        "title_tex": to_tex(sheet.title),
        "title_md": to_md(sheet.title),
        "course_tex": to_tex(sheet.course),
        "course_md": to_md(sheet.course),
        "date_tex": to_tex(sheet.date),
        "date_md": to_md(sheet.date),
        "version": __version__,
        "exercises": exercises,
    }


# --- JSON ----------------------------------------------------------------------------------------
def json_document(sheet: Sheet, results: list[PartResult]) -> dict[str, Any]:
    exercises = []
    for ex in sheet.exercises:
        p = Printer.for_exercise(ex)
        parts = []
        for r in (r for r in results if r.exercise is ex):
            sol = r.solution
            entry: dict[str, Any] = {
                "label": r.part.label,
                "task": r.part.task,
                "points": r.part.points,
                "status": r.status,
            }
            if sol is None:
                entry["message"] = f"solution not generated: task `{r.part.task}` is not implemented yet"
                entry["verified"] = False
            else:
                entry["answer"] = p.str(sol.answer) if sol.answer is not None else None
                entry["answer_latex"] = p.tex(sol.answer) if sol.answer is not None else None
                if sol.answers:
                    entry["answers"] = {k: p.str(v) for k, v in sol.answers.items()}
                entry["steps"] = [
                    {
                        "rule": ln.rule,
                        "lhs": p.str(ln.lhs) if ln.lhs is not None else None,
                        "rhs": p.str(ln.rhs),
                        "relation": ln.relation,
                        "latex": (p.tex(ln.lhs) + " " if ln.lhs is not None else "")
                        + ("=" if ln.relation == "=" else ":=") + " " + p.tex(ln.rhs),
                        "verified_by": ln.verified_by,
                    }
                    for ln in sol.lines()
                ]
                entry["verified"] = True
                entry["verified_by"] = sol.verified_by
                for key, value in sol.data.items():
                    entry.setdefault(key, value)
            parts.append(entry)
        exercises.append({"number": ex.number, "title": ex.title, "parts": parts})
    return {"sheet": {"id": sheet.id, "title": sheet.title}, "generator": f"derive {__version__}",
            "exercises": exercises}


# --- all files -----------------------------------------------------------------------------------
def render_all(sheet: Sheet, results: list[PartResult], formats=FORMATS) -> dict[str, str]:
    """Every output file of the sheet, relative to ``<out>/<sheet id>/``."""
    files: dict[str, str] = {}
    v = view(sheet, results)
    if "tex" in formats:
        files["solutions.tex"] = environment("tex").get_template("solutions.tex.j2").render(sheet=v)
    if "md" in formats:
        files["solutions.md"] = environment("md").get_template("solutions.md.j2").render(sheet=v)
    if "json" in formats:
        files["solutions.json"] = (
            json.dumps(json_document(sheet, results), indent=2, ensure_ascii=False) + "\n"
        )
    for r in results:
        for b in r.solution.blocks if r.solution else []:
            if isinstance(b, Figure):
                files[f"figures/{b.stem}.svg"] = b.svg.strip() + "\n"
                files[f"figures/{b.stem}.tex"] = b.tikz.strip() + "\n"
    return files
