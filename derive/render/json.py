"""The JSON format: ``solutions.json``, the one JSON document of a sheet's solutions (the same
writer prints ``derive explain --format json``).

For each part: its label, task and points, the answer in SymPy syntax and in
LaTeX, every derivation step (rule as sheet markup, both sides in SymPy syntax, the line's LaTeX
and the label of its verdict), the full and the short account of the verification
(:class:`derive.verify.summary.Summary`) and the task's ``data``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from derive import __version__
from derive.render.prose import json_data, markup
from derive.render.registry import Document, Format, register_format
from derive.render.view import Printer, verified_summary
from derive.steps import Line

if TYPE_CHECKING:
    from derive.sheet.model import Sheet
    from derive.steps import PartResult


def _step(ln: Line, p: Printer) -> dict[str, Any]:
    return {
        "rule": markup(ln.rule),
        "lhs": p.str(ln.lhs) if ln.lhs is not None else None,
        "rhs": p.str(ln.rhs),
        "relation": ln.relation,
        "latex": (p.tex(ln.lhs) + " " if ln.lhs is not None else "")
        + ("=" if ln.relation == "=" else ":=") + " " + p.tex(ln.rhs),
        "verified_by": ln.verdict.label if ln.verdict is not None else "",
    }


def json_document(sheet: Sheet, results: list[PartResult]) -> dict[str, Any]:
    """The JSON document of a sheet's results (what ``solutions.json`` holds)."""
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
                "answer": p.str(sol.answer) if sol.answer is not None else None,
                "answer_latex": p.tex(sol.answer) if sol.answer is not None else None,
            }
            if sol.answers:
                entry["answers"] = {k: p.str(v) for k, v in sol.answers.items()}
            entry["steps"] = [_step(ln, p) for ln in sol.lines()]
            entry["verified"] = True
            entry["verified_by"] = sol.summary.account if sol.summary is not None else ""
            entry["verified_summary"] = verified_summary(sol)
            for key, value in sol.data.items():
                entry.setdefault(key, json_data(value, p.str))
            parts.append(entry)
        exercises.append({"number": ex.number, "title": ex.title, "parts": parts})
    return {"sheet": {"id": sheet.id, "title": sheet.title}, "generator": f"derive {__version__}",
            "exercises": exercises}


def json_text(doc: Document) -> str:
    """The JSON document of ``doc`` as text (two-space indents, UTF-8, a final newline)."""
    return json.dumps(json_document(doc.sheet, doc.results), indent=2, ensure_ascii=False) + "\n"


def render(doc: Document) -> dict[str, str]:
    return {"solutions.json": json_text(doc)}


FORMAT = register_format(Format("json", "solutions.json", render, main="solutions.json",
                                rank=30, default=True))
