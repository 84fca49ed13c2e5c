"""Figure layout and rendering: labels on their edges without overlaps, valid SVG, golden files.

Regenerate the golden files after an intended change with::

    DERIVE_REGEN=1 .venv/bin/pytest tests/test_layout.py
"""

from __future__ import annotations

import math
import os
import subprocess
import xml.etree.ElementTree as ET
from itertools import combinations
from pathlib import Path

import pytest

from derive.maths.network import build_network, network_from_expr
from derive.maths.regions import analyze
from derive.pipeline import render, solve_sheet
from derive.render.figures.draw import draw, network_figure, regions_figure
from derive.render.figures.layout import _box, _boxes_overlap, network_diagram, region_plot
from derive.sheet.load import bundled_sheet_path, load_sheet
from derive.sheet.parse import parse_assignment, parse_expr
from derive.steps import Figure, NetworkDrawing, RegionDrawing
from tests.conftest import need_tool
from tests.test_network import EX1, EX3, EX4

GOLDEN = Path(__file__).parent / "golden" / "figures"
NAMES = ("y", "t", "x1", "x2")
NOTATION = {"relu": "rho"}
SVG = "{http://www.w3.org/2000/svg}"
CLASSES = {"negative": "class 1", "positive": "class 2"}


def net_of(name):
    if name == "ex1a":
        return network_from_expr(parse_expr(EX1))
    lines, of = {"ex3a": (EX3, "E"), "ex4a": (EX4, "y")}[name]
    return build_network([parse_assignment(s) for s in lines], of)


def figures():
    out = {}
    for name in ("ex1a", "ex3a", "ex4a"):
        out[name] = network_figure(net_of(name), NOTATION, NAMES)
    out["ex1b"] = regions_figure(analyze(net_of("ex1a")), CLASSES, NOTATION)
    return out


@pytest.mark.parametrize("name", ["ex1a", "ex3a", "ex4a", "ex1b"])
def test_golden_figures(name):
    tikz, svg = figures()[name]
    for ext, text in (("tex", tikz), ("svg", svg)):
        path = GOLDEN / f"{name}.{ext}"
        if os.environ.get("DERIVE_REGEN") == "1":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        assert path.read_text() == text, f"{path} is out of date (DERIVE_REGEN=1 regenerates)"


def test_figures_are_models_drawn_when_rendering():
    """A task's Figure holds what to draw (the network, the region analysis), no TikZ or SVG; the
    files under figures/ are the drawings of those models, made by the renderer."""
    sheet = load_sheet(bundled_sheet_path())
    results = solve_sheet(sheet)
    shown = [b for r in results for b in r.solution.blocks if isinstance(b, Figure)]
    assert {type(f.model) for f in shown} == {NetworkDrawing, RegionDrawing}
    assert not any(isinstance(v, str) and ("<svg" in v or "tikzpicture" in v)
                   for f in shown for v in vars(f.model).values())
    files = render(sheet, results)
    for f in shown:
        drawing = draw(f.model)
        assert files[f"figures/{f.stem}.svg"] == drawing.svg
        assert files[f"figures/{f.stem}.tex"] == drawing.tikz
        assert drawing.tikz.strip() in files["solutions.tex"] or drawing.tikz.strip() in files[
            f"parts/{f.stem}-solution.tex"]
    with pytest.raises(TypeError, match="no drawing"):
        draw(object())


@pytest.mark.parametrize("name", ["ex1a", "ex3a", "ex4a", "ex1b"])
def test_svg_is_standalone_xml_with_white_background(name):
    _, svg = figures()[name]
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    first = root.find(f"{SVG}rect")
    assert first is not None and first.get("fill") == "#ffffff"
    assert first.get("width") == root.get("width")
    assert root.findall(f".//{SVG}tspan[@baseline-shift='sub']")


def test_every_weight_is_on_its_own_edge():
    for name in ("ex3a", "ex4a", "ex1a"):
        net = net_of(name)
        d = network_diagram(net, NOTATION, NAMES)
        labels = [e.text for e in d.edges if e.text is not None]
        assert len(labels) == sum(len(n.weights) for n in net.neurons)
        for e in d.edges:
            if e.text is None:
                continue
            p = (e.text.at.x, e.text.at.y)
            assert min(_dist(p, a, b) for a, b in zip(e.points, e.points[1:], strict=False)) \
                < 1e-9
    tikz, svg = network_figure(net_of("ex3a"), NOTATION, NAMES)
    for w in ("13", "23", "14", "24", "35", "45", "36", "46", "57", "67"):
        assert f"$w_{{{w}}}$" in tikz
        assert f'<tspan font-style="italic">w</tspan><tspan baseline-shift="sub" ' \
               f'font-size="70%">{w}</tspan>' in svg


def _dist(p, a, b):
    dx, dy = b.x - a.x, b.y - a.y
    t = max(0.0, min(1.0, ((p[0] - a.x) * dx + (p[1] - a.y) * dy) / (dx * dx + dy * dy)))
    return math.hypot(p[0] - a.x - t * dx, p[1] - a.y - t * dy)


@pytest.mark.parametrize("name", ["ex1a", "ex3a", "ex4a"])
def test_labels_do_not_overlap_nodes_or_each_other(name):
    d = network_diagram(net_of(name), NOTATION, NAMES)
    assert d.overlaps == 0
    texts = [(e.text.at, e.text.label) for e in d.edges if e.text] + [
        (t.at, t.label) for n in d.nodes for t in n.texts]
    boxes = [_box(p.x, p.y, lab.width, lab.height) for p, lab in texts]
    for a, b in combinations(boxes, 2):
        assert not _boxes_overlap(a, b)
    nodes = [_box(n.at.x, n.at.y, n.width, n.height) for n in d.nodes]
    for box in boxes:
        assert not any(_boxes_overlap(box, n) for n in nodes)
    for box in boxes + nodes:  # everything inside the picture
        assert d.frame.x0 <= box[0] and box[2] <= d.frame.x1
        assert d.frame.y0 <= box[1] and box[3] <= d.frame.y1


def test_ex1a_has_no_crossings():
    assert network_diagram(net_of("ex1a"), NOTATION, NAMES).crossings == 0


def test_unseen_deep_network_routes_skip_edges():
    net = network_from_expr(parse_expr("relu(relu(x1) - relu(x2) + 1) + x1 - 1/2"))
    d = network_diagram(net, NOTATION)
    assert d.overlaps == 0
    assert any(len(e.points) > 2 for e in d.edges)  # x1 -> y passes two columns
    ET.fromstring(network_figure(net, NOTATION)[1])


def test_region_plot_model():
    a = analyze(net_of("ex1a"))
    p = region_plot(a, CLASSES, NOTATION)
    assert len(p.boundary) == len(a.boundary) == 4
    assert {s.kind for s in p.legend} >= {"negative", "positive", "boundary", "edge", "mirror"}
    assert len(p.mirrors) >= 1  # the figure shows the symmetry
    assert sorted(area.sign for area in p.areas) == ["negative", "negative", "positive"]


@pytest.mark.tex
def test_tikz_compiles(tmp_path):
    need_tool("pdflatex", "DERIVE_REQUIRE_TEX")
    body = "\n\n".join(tikz for tikz, _ in figures().values())
    doc = ("\\documentclass[11pt]{article}\\usepackage[T1]{fontenc}\\usepackage{lmodern}"
           "\\usepackage{amsmath,amssymb}\\usepackage{tikz}\\begin{document}\n"
           f"{body}\n\\end{{document}}\n")
    (tmp_path / "f.tex").write_text(doc)
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "f.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:]
