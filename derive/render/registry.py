"""The output-format registry: each format is one module ``derive/render/<name>.py`` that
registers a :class:`Format` (its name, the files it writes, its render function) with
:func:`register_format`; :mod:`derive.render.formats` imports the built-in ones.

A render function takes a :class:`Document` (a sheet and its solved, verified parts) and returns
``{relative path: text}``. The format-neutral view (:func:`derive.render.view.view`) and the
figure drawings are computed at most once per document, for the formats that ask for them; the
figure files are every format's (:meth:`Document.figure_files`). While the command uses the
cache of verified results (:mod:`derive.io.cache`), each drawing's text is kept there too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from derive.io import cache
from derive.render.figures.draw import Drawing, draw
from derive.render.templates import result_key
from derive.render.view import view
from derive.steps import Figure

if TYPE_CHECKING:
    from derive.sheet.model import Sheet
    from derive.steps import PartResult


@dataclass
class Document:
    """What every format renders: a sheet and its results (each solved and verified)."""

    sheet: Sheet
    results: list[PartResult]

    @cached_property
    def figures(self) -> list[Figure]:
        """Every figure of the solved parts, in sheet order."""
        return [b for r in self.results if r.solution is not None for b in r.solution.blocks
                if isinstance(b, Figure)]

    @cached_property
    def drawings(self) -> dict[int, Drawing]:
        """Each figure drawn once (TikZ and SVG), by the figure block's identity."""
        return {id(f): _drawing(f.model) for f in self.figures}

    @cached_property
    def view(self) -> dict[str, Any]:
        """The format-neutral view model of the sheet (:func:`derive.render.view.view`)."""
        return view(self.sheet, self.results, self.drawings)

    def figure_files(self) -> dict[str, str]:
        """``figures/<stem>.svg`` and ``figures/<stem>.tex`` of every figure."""
        files: dict[str, str] = {}
        for f in self.figures:
            d = self.drawings[id(f)]
            files[f"figures/{f.stem}.svg"] = d.svg.strip() + "\n"
            files[f"figures/{f.stem}.tex"] = d.tikz.strip() + "\n"
        return files


def _drawing(model) -> Drawing:
    """:func:`draw` of ``model``, or the drawing the running command's cache holds for it (its
    TikZ and SVG text, under :func:`derive.render.templates.result_key`)."""
    key = result_key("drawing", model)
    store = cache.active()
    if key is None or store is None:
        return draw(model)
    found = store.get("drawings", key)
    if isinstance(found, list) and len(found) == 2 and all(isinstance(s, str) for s in found):
        return Drawing(*found)
    drawing = draw(model)
    store.put("drawings", key, [drawing.tikz, drawing.svg])
    return drawing


@dataclass(frozen=True)
class Format:
    """One output format."""

    name: str  # as ``--format`` and the manifest name it
    files: str  # the files it writes, in words (for messages)
    render: Callable[[Document], dict[str, str]]
    main: str  # the file that holds the solutions (what ``derive explain`` prints)
    rank: int = 100  # the registry's order (the manifest records formats in it)
    default: bool = False  # written by ``derive build`` and checked without --format
    # the files of a set of documents in one (a sheet's variants: their answer key's folder)
    collect: Callable[[Sequence[Document]], dict[str, str]] | None = None


FORMATS: dict[str, Format] = {}


def register_format(fmt: Format) -> Format:
    """Add ``fmt`` to the registry (each name once); returns it."""
    if fmt.name in FORMATS:
        raise ValueError(f"format {fmt.name!r} is registered twice")
    FORMATS[fmt.name] = fmt
    return fmt


def unregister_format(name: str) -> None:
    """Remove a format (for tests that register a throwaway one)."""
    del FORMATS[name]


def format_names() -> tuple[str, ...]:
    """Every registered format, in the registry's order."""
    return tuple(f.name for f in sorted(FORMATS.values(), key=lambda f: (f.rank, f.name)))


def default_formats() -> tuple[str, ...]:
    """The formats ``derive build`` writes without ``--format``, in the registry's order."""
    return tuple(n for n in format_names() if FORMATS[n].default)


def in_order(formats) -> tuple[str, ...]:
    """``formats`` in the registry's order, each once (as a manifest records them)."""
    return tuple(n for n in format_names() if n in formats)


def collect(documents: Sequence[tuple[Sheet, list[PartResult]]], formats) -> dict[str, str]:
    """The files of the chosen formats that collect a set of documents (each sheet and its
    results), in the registry's order."""
    docs = [Document(sheet, list(results)) for sheet, results in documents]
    files: dict[str, str] = {}
    for name in in_order(formats):
        if FORMATS[name].collect is not None:
            files.update(FORMATS[name].collect(docs))
    return files


def render(sheet: Sheet, results: list[PartResult], formats) -> dict[str, str]:
    """Every output file of ``formats`` for the sheet, relative to ``<out>/<sheet id>/``; the
    figure files always."""
    doc = Document(sheet, list(results))
    files: dict[str, str] = {}
    for name in in_order(formats):
        files.update(FORMATS[name].render(doc))
    files.update(doc.figure_files())
    return files
