"""The JSON format: ``solutions.json``, the one JSON document of a sheet's solutions
(:func:`derive.render.view.json_document`)."""

from __future__ import annotations

import json

from derive.render.registry import Document, Format, register_format
from derive.render.view import json_document


def json_text(doc: Document) -> str:
    """The JSON document of ``doc`` as text (two-space indents, UTF-8, a final newline)."""
    return json.dumps(json_document(doc.sheet, doc.results), indent=2, ensure_ascii=False) + "\n"


def render(doc: Document) -> dict[str, str]:
    return {"solutions.json": json_text(doc)}


FORMAT = register_format(Format("json", "solutions.json", render, main="solutions.json",
                                rank=30, default=True))
