"""The Markdown format: ``exercises.md`` and ``solutions.md`` (math for MathJax), from the view
model through the ``*.md.j2`` templates."""

from __future__ import annotations

import re

from derive.render.registry import Document, Format, register_format
from derive.render.templates import environment


def render(doc: Document) -> dict[str, str]:
    env = environment("md")
    files = {}
    for name in ("exercises.md", "solutions.md"):
        text = env.get_template(f"{name}.j2").render(sheet=doc.view)
        files[name] = re.sub(r"\n{3,}", "\n\n", text)  # one blank line between blocks
    return files


FORMAT = register_format(Format("md", "exercises.md and solutions.md", render,
                                main="solutions.md", rank=20, default=True))
