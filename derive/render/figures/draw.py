"""Figures: a figure's model (:class:`derive.steps.NetworkDrawing`,
:class:`derive.steps.RegionDrawing`) drawn as TikZ and SVG by :func:`draw`.

The templates (``templates/figures/*.j2``) place what :mod:`derive.render.figures.layout` computed
(with labels from :mod:`derive.render.figures.labels`); they do no arithmetic. TikZ output needs
only TikZ itself (no libraries); SVG output is a standalone document with a white background
(readable in dark mode).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import jinja2

from derive.render.figures.circuit import circuit_diagram
from derive.render.figures.labels import FONT_PX
from derive.render.figures.layout import network_diagram, region_plot
from derive.render.templates import template_dir
from derive.steps import CircuitDrawing, NetworkDrawing, RegionDrawing

FONT_FAMILY = "Latin Modern Roman, CMU Serif, Times New Roman, DejaVu Serif, serif"
# fills (hex RGB): light, and distinguishable in grey-scale print
COLORS = {
    "input": "EDEDED", "neuron": "FFFFFF", "output": "FFF1CC", "target": "FFFFFF",
    "loss": "FBE3E1", "negative": "BBD4F2", "positive": "FAD7AC", "zero": "D9D9D9",
}


# --- templates ----------------------------------------------------------------------------------
def num(value: float) -> str:
    """A coordinate for a drawing: at most 3 decimals, no trailing zeros, no ``-0``."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@cache
def _env(tex: bool) -> jinja2.Environment:
    """The figure templates' environment (one per process and flavour: templates compile once)."""
    options: dict[str, Any] = dict(
        loader=jinja2.FileSystemLoader(str(template_dir() / "figures")),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    if tex:
        options.update(block_start_string="((*", block_end_string="*))",
                       variable_start_string="(((", variable_end_string=")))",
                       comment_start_string="((=", comment_end_string="=))", autoescape=False)
    else:
        options["autoescape"] = True
    env = jinja2.Environment(**options)
    env.filters["num"] = num
    return env


def render(name: str, **context: Any) -> tuple[str, str]:
    """``(tikz, svg)`` from ``figures/<name>.tikz.j2`` and ``figures/<name>.svg.j2``."""
    context.setdefault("font_px", FONT_PX)
    tikz = _env(True).get_template(f"{name}.tikz.j2").render(**context).strip() + "\n"
    svg = _env(False).get_template(f"{name}.svg.j2").render(**context).strip() + "\n"
    return tikz, svg


def network_figure(net, notation: dict[str, str] | None = None, names=(), title: str = "",
                   values=None) -> tuple[str, str]:
    """``(tikz, svg)`` drawings of a :class:`derive.maths.network.Network` (with a variant's
    ``values``, a :class:`derive.steps.NetworkValues`, on it)."""
    d = network_diagram(net, notation, names, values)
    return render("network", d=d, colors=COLORS, font_family=FONT_FAMILY,
                  title=title or ("network diagram" if values is None else
                                  "network diagram with values"))


def regions_figure(analysis, classes: dict[str, str], notation: dict[str, str] | None = None,
                   title: str = "", points=()) -> tuple[str, str]:
    """``(tikz, svg)`` drawings of a :class:`derive.maths.regions.Analysis` (with the data
    ``points`` marked)."""
    p = region_plot(analysis, classes, notation, points)
    return render("regions", p=p, colors=COLORS, font_family=FONT_FAMILY,
                  title=title or "decision regions")


@dataclass(frozen=True)
class Drawing:
    tikz: str  # a complete tikzpicture environment
    svg: str  # a complete SVG document


def draw(model: NetworkDrawing | RegionDrawing | CircuitDrawing) -> Drawing:
    """The TikZ and SVG drawings of a figure's model."""
    if isinstance(model, CircuitDrawing):  # a circuit is drawn by the network templates
        return Drawing(*render("network", d=circuit_diagram(model), colors=COLORS,
                               font_family=FONT_FAMILY,
                               title=model.title or "computation graph with values"))
    if isinstance(model, NetworkDrawing):
        return Drawing(*network_figure(model.net, model.notation, model.names, model.title,
                                       model.values))
    if isinstance(model, RegionDrawing):
        return Drawing(*regions_figure(model.analysis, model.classes, model.notation,
                                       model.title, model.points))
    raise TypeError(f"no drawing for figure model {model!r}")
