"""The figures of variants: a network's numbers drawn on the network (part (a)'s layout), any
other graph as a circuit; every label clear of the others, of the nodes and of the edges; real
minus signs. Over the bundled sheet's variants and a test sheet with other graphs."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import sympy as sp

from derive import pipeline
from derive.maths.network import build_network
from derive.render.figures.circuit import circuit_diagram
from derive.render.figures.draw import draw
from derive.render.figures.labels import label, number_runs, value_label
from derive.render.figures.layout import (
    Diagram,
    GraphNode,
    edge_crossings,
    graph_diagram,
    label_clashes,
    network_diagram,
)
from derive.sheet.load import bundled_sheet_path, load_sheet
from derive.sheet.variants import decimal_text
from derive.steps import CircuitDrawing, Figure, NetworkDrawing, NetworkValues, Value
from derive.variants.draw import variant_sheets

SHEETS = {"sheet02": bundled_sheet_path(),
          "variant_graphs": Path(__file__).parent / "sheets" / "variant_graphs.toml"}
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def figures() -> dict[tuple[str, str], tuple[Figure, dict]]:
    """(variant id, figure stem) -> (the values figure, the drawn values) of 3 variants of each
    sheet."""
    out = {}
    for path in SHEETS.values():
        for v in variant_sheets(load_sheet(str(path)), 3, 7):
            for r in pipeline.solve_sheet(v):
                for b in r.solution.blocks:
                    if isinstance(b, Figure) and b.stem.endswith("-values"):
                        out[v.id, b.stem] = (b, r.solution.data)
    return out


def layout(model) -> Diagram:
    if isinstance(model, CircuitDrawing):
        return circuit_diagram(model)
    return network_diagram(model.net, model.notation, model.names, model.values)


def svg_texts(model) -> list[str]:
    root = ET.fromstring(draw(model).svg)
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def said(texts: list[str]) -> dict[str, tuple[str, float]]:
    """``name = value`` / ``name ≈ value`` texts of a figure: name -> (relation, value)."""
    out = {}
    for t in texts:
        m = re.fullmatch(r"(\S+) ([=≈]) (\S+)", t)
        if m:
            out[m.group(1)] = (m.group(2), figure_number(m.group(3)))
    return out


def figure_number(text: str) -> float:
    text = text.replace("−", "-")
    if "·10" in text:
        mant, exp = text.split("·10")
        return float(mant) * 10 ** int(exp)
    return float(sp.Rational(text)) if "/" in text else float(text)


def test_every_variant_figure_is_found(figures):
    stems = {(i.split("-v")[0], s) for i, s in figures}
    assert stems == {("sheet02", "ex3-b-values"), ("sheet02", "ex4-b-values"),
                     ("variant_graphs", "ex1-b-values"), ("variant_graphs", "ex2-a-values")}
    assert len(figures) == 4 * 3


def test_no_label_clashes_and_no_edge_through_a_label(figures):
    problems = []
    for (vid, stem), (fig, _) in figures.items():
        d = layout(fig.model)
        problems += [(vid, stem, p) for p in label_clashes(d) + edge_crossings(d)]
        assert d.overlaps == 0, (vid, stem)
    assert problems == []


def test_no_edge_runs_through_a_node(figures):
    for (vid, stem), (fig, _) in figures.items():
        d = layout(fig.model)
        for e in d.edges:
            ends = (e.points[0], e.points[-1])
            for n in d.nodes:
                r = n.width / 2
                if any(math.hypot(p.x - n.at.x, p.y - n.at.y) <= max(r, n.height / 2) + 1e-6
                       for p in ends):
                    continue  # the edge's own source or target
                for p, q in zip(e.points, e.points[1:], strict=False):
                    assert _distance((n.at.x, n.at.y), (p.x, p.y), (q.x, q.y)) > min(
                        n.width, n.height) / 2, (vid, stem, n.id)


def _distance(c, p, q) -> float:
    dx, dy = q[0] - p[0], q[1] - p[1]
    t = max(0.0, min(1.0, ((c[0] - p[0]) * dx + (c[1] - p[1]) * dy) / (dx * dx + dy * dy)))
    return math.hypot(c[0] - p[0] - t * dx, c[1] - p[1] - t * dy)


def test_figure_numbers_use_a_real_minus_sign(figures):
    for (vid, stem), (fig, _) in figures.items():
        texts = svg_texts(fig.model)
        assert any("−" in t for t in texts), (vid, stem)  # every variant has a negative value
        assert not any(re.search(r"-[0-9]", t) for t in texts), (vid, stem)


def forward_backward_3(v: dict[str, float]):
    """Exercise 3 of the bundled sheet with plain floats: values, δ's and dE/dw13."""
    f = {"z3": v["x1"] * v["w13"] + v["x2"] * v["w23"],
         "z4": v["x1"] * v["w14"] + v["x2"] * v["w24"]}
    f["a3"], f["a4"] = math.tanh(f["z3"]), math.tanh(f["z4"])
    f["z5"] = f["a3"] * v["w35"] + f["a4"] * v["w45"]
    f["z6"] = f["a3"] * v["w36"] + f["a4"] * v["w46"]
    f["a5"], f["a6"] = math.tanh(f["z5"]), math.tanh(f["z6"])
    f["y"] = f["a5"] * v["w57"] + f["a6"] * v["w67"]
    f["E"] = math.log(math.cosh(f["y"] - v["t"]))
    d = {"y": math.tanh(f["y"] - v["t"])}
    d["5"] = d["y"] * v["w57"] * (1 - f["a5"] ** 2)
    d["6"] = d["y"] * v["w67"] * (1 - f["a6"] ** 2)
    d["3"] = (1 - f["a3"] ** 2) * (d["5"] * v["w35"] + d["6"] * v["w36"])
    return f, d, d["3"] * v["x1"]


def test_exercise_3_numbers_are_on_the_network(figures):
    """Part (b)'s figure is part (a)'s network with every weight, value, δ and the asked
    gradient on it, each as the sheet's values give it with plain floats."""
    for k in (1, 2, 3):
        fig, data = figures[f"sheet02-v0{k}", "ex3-b-values"]
        assert isinstance(fig.model, NetworkDrawing) and fig.model.values is not None
        drawn = {n: float(sp.Rational(t)) for n, t in data["variant"]["values"].items()}
        f, d, grad = forward_backward_3(drawn)
        shown = said(svg_texts(fig.model))
        for w in ("w13", "w23", "w14", "w24", "w35", "w45", "w36", "w46", "w57", "w67"):
            assert shown[w] == ("=", drawn[w]), w  # each edge carries its weight's value
        for n in ("x1", "x2", "t"):
            assert shown[n] == ("=", drawn[n])
        for n, value in f.items():
            rel, got = shown[n]
            assert got == pytest.approx(value, rel=6e-4, abs=1e-12), n
        for n, value in d.items():
            assert shown[f"δ{n}"][1] == pytest.approx(value, rel=6e-4), n
        assert shown["∂E/∂w13"][1] == pytest.approx(grad, rel=6e-4)
        assert "each edge carries its weight" in fig.caption and "asked gradient" in fig.caption


def test_a_rounded_value_is_marked_and_an_exact_one_is_not(figures):
    fig, data = figures["sheet02-v01", "ex3-b-values"]
    shown = said(svg_texts(fig.model))
    assert shown["a3"][0] == "≈"  # tanh(11/10)
    assert all(shown[n][0] == "=" for n in ("x1", "w13", "z3"))  # rationals
    assert "≈ marks a value rounded to 4 significant digits" in fig.caption


def test_biases_are_drawn_with_their_values_and_zero_biases_are_not():
    figs = {}
    for v in variant_sheets(load_sheet(str(SHEETS["variant_graphs"])), 1, 7):
        for r in pipeline.solve_sheet(v):
            figs.update({b.stem: (b, r.solution.data) for b in r.solution.blocks
                         if isinstance(b, Figure) and b.stem.endswith("-values")})
    fig, data = figs["ex1-b-values"]
    shown = said(svg_texts(fig.model))
    for b in ("b1", "b2", "c"):
        assert shown[b] == ("=", float(sp.Rational(data["variant"]["values"][b])))
    assert "its bias and its pre-activation" in fig.caption and "gradients" in fig.caption
    sheet02 = figures_of_sheet02_ex3()
    assert not any(t.startswith("b = ") for t in svg_texts(sheet02.model))
    assert "biases that are 0 are not drawn" in sheet02.caption


def figures_of_sheet02_ex3() -> Figure:
    v = variant_sheets(load_sheet(str(bundled_sheet_path())), 1, 7)[0]
    r = next(r for r in pipeline.solve_sheet(v) if r.name == "3b")
    return next(b for b in r.solution.blocks if isinstance(b, Figure))


def test_a_graph_that_is_no_network_is_a_circuit_without_crossings(figures):
    """Exercise 2 of the test sheet: a product of two nodes and a parameter only the loss's
    terms read: the network reading would call b a target, so it is drawn as a circuit; its
    leaves are ordered so that no two edges cross, its long edge goes round the nodes."""
    for k in (1, 2, 3):
        fig, data = figures[f"variant_graphs-v0{k}", "ex2-a-values"]
        assert isinstance(fig.model, CircuitDrawing)
        d = circuit_diagram(fig.model)
        assert d.crossings == 0
        assert max(len(e.points) for e in d.edges) > 2  # u -> E skips two columns
        shown = said(svg_texts(fig.model))
        assert {"δu", "δv", "δp", "δs", "∂E/∂w", "∂E/∂b"} <= set(shown)
        texts = {t.label.parts[0].tex: (n, t) for n in d.nodes for t in n.texts}
        for leaf in ("w", "b"):  # a leaf's gradient on its left, level with it
            value = fig.model.gradient[leaf][1].text
            n, t = texts[rf"\partial E / \partial {leaf} \approx {value}"]
            assert n.id == leaf and t.at.x < n.at.x - n.width / 2 and abs(t.at.y - n.at.y) < 1
        assert "each leaf's value (and the asked gradient) on its left" in fig.caption


def test_circuit_leaves_are_reordered_to_remove_crossings():
    """A leaf listed first but read by the lower node is moved below (the old layout kept the
    order of introduction and crossed)."""
    lab = lambda n: label(sp.Symbol(n))  # noqa: E731
    nodes = [GraphNode(n, k, lab(n), (value_label(Value("1")),))
             for n, k in (("a", "input"), ("b", "input"), ("c", "input"), ("d", "input"),
                          ("p", "neuron"), ("q", "neuron"), ("E", "loss"))]
    edges = [("a", "q"), ("b", "p"), ("c", "q"), ("d", "p"), ("p", "E"), ("q", "E")]
    d = graph_diagram(nodes, edges)
    assert d.crossings == 0
    assert label_clashes(d) == [] and edge_crossings(d) == []


def test_a_non_variant_network_figure_has_no_values():
    sheet = load_sheet(str(bundled_sheet_path()))
    ex = sheet.exercises[2]
    net = build_network([(a.name, a.expr) for a in ex.model], "E")
    plain = network_diagram(net, {}, ())
    assert plain.notes == ()
    values = NetworkValues({"x1": Value("-2")}, {}, ((sp.Symbol("q"), Value("0.5", False)),))
    with_values = network_diagram(net, {}, (), values)
    assert [t.label.parts[0].tex for t in with_values.notes] == [r"q \approx 0.5"]
    inputs = {n.id: n for n in with_values.nodes}
    assert [t.label.parts[0].tex for t in inputs["x1"].texts] == ["x_{1} = -2"]


def test_number_runs():
    assert [r.text for r in number_runs("-0.3")] == ["−0.3"]
    runs = number_runs(r"-1.25 \cdot 10^{-5}")
    assert [(r.text, r.shift) for r in runs] == [("−1.25·10", ""), ("−5", "super")]
    assert value_label(Value("0.5", exact=False)).parts[0].runs[0].text == "≈ "


def test_decimal_text_integers():
    assert decimal_text(sp.Integer(-1), 1) == "-1"
    assert decimal_text(sp.Integer(-1), 1, fixed=True) == "-1.0"
    assert decimal_text(sp.Rational(-3, 10), 2) == "-0.30"
    assert decimal_text(sp.Rational(1, 3), 1) == "1/3"
