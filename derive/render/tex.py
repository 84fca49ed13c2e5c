"""The LaTeX format: the student sheet ``exercises.tex``, ``solutions.tex``, one statement and one
solution fragment per part (``parts/ex2-a-statement.tex``, ``parts/ex2-a-solution.tex``), one
intro fragment per exercise (``parts/ex2-intro.tex``) and the ``derive.sty`` they need, from the
view model through the ``*.tex.j2`` templates."""

from __future__ import annotations

from derive.render.registry import Document, Format, register_format
from derive.render.templates import STYLE, environment, style_text


def render(doc: Document) -> dict[str, str]:
    v = doc.view
    env = environment("tex")
    files = {
        "exercises.tex": env.get_template("exercises.tex.j2").render(sheet=v),
        "solutions.tex": env.get_template("solutions.tex.j2").render(sheet=v),
        STYLE: style_text(),
    }
    fragment = env.get_template("fragment.tex.j2")
    for ex in v["exercises"]:
        files[f"parts/{ex['stem']}-intro.tex"] = fragment.render(sheet=v, ex=ex, part=None,
                                                                  what="intro")
        for part in ex["parts"]:
            for what in ("statement", "solution"):
                files[f"parts/{part['stem']}-{what}.tex"] = fragment.render(
                    sheet=v, ex=ex, part=part, what=what)
    return files


FORMAT = register_format(Format(
    "tex", "exercises.tex, solutions.tex, parts/*.tex and derive.sty", render,
    main="solutions.tex", rank=10, default=True))
