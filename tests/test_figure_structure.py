"""Structure of the network and region side: the two tasks emit data only (no printer imports, no
LaTeX calls, no ``$`` strings), the figure modules import at module level without a cycle, and
the mathematical objects the printers write carry no printing methods."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from derive.maths.geometry import Conditions, SetOf
from derive.maths.network import Nonlinearity

ROOT = Path(__file__).resolve().parents[1] / "derive"
TASKS = ("tasks/network.py", "tasks/decision_boundary.py")
FIGURES = ("render/figures/draw.py", "render/figures/layout.py", "render/figures/labels.py")


def tree(rel: str) -> ast.Module:
    return ast.parse((ROOT / rel).read_text(), rel)


def imported(module: ast.Module) -> list[str]:
    names = []
    for node in ast.walk(module):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
    return names


@pytest.mark.parametrize("rel", TASKS)
def test_the_task_does_not_import_the_printers(rel):
    assert not [m for m in imported(tree(rel)) if m.startswith("derive.render")]


@pytest.mark.parametrize("rel", TASKS)
def test_the_task_prints_no_latex(rel):
    module = tree(rel)
    calls = [n for n in ast.walk(module) if isinstance(n, ast.Call) and (
        getattr(n.func, "id", None) in ("latex", "_latex")
        or getattr(n.func, "attr", None) in ("latex", "_latex", "doprint"))]
    assert not calls, [ast.unparse(c) for c in calls]
    methods = [n.name for n in ast.walk(module) if isinstance(n, ast.FunctionDef)
               and n.name in ("_latex", "_sympystr", "_pretty")]
    assert not methods


def docstrings(module: ast.Module) -> set[int]:
    return {id(n.body[0].value) for n in ast.walk(module)
            if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and n.body and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)}


@pytest.mark.parametrize("rel", TASKS)
def test_the_task_builds_no_dollar_strings(rel):
    module = tree(rel)
    skip = docstrings(module)
    dollars = [n.value for n in ast.walk(module) if isinstance(n, ast.Constant)
               and isinstance(n.value, str) and "$" in n.value and id(n) not in skip]
    assert not dollars


@pytest.mark.parametrize("rel", (*TASKS, *FIGURES, "maths/geometry.py", "maths/regions.py"))
def test_imports_are_at_module_level(rel):
    inner = [ast.unparse(n) for f in ast.walk(tree(rel))
             if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
             for n in ast.walk(f) if isinstance(n, ast.Import | ast.ImportFrom)]
    assert not inner


def test_labels_and_layout_do_not_import_the_drawing():
    """draw -> layout -> labels: the shared pieces live in labels, so there is no cycle."""
    assert "derive.render.figures.draw" not in imported(tree("render/figures/layout.py"))
    for rel in ("render/figures/layout.py", "render/figures/draw.py"):
        assert "derive.render.figures.labels" in imported(tree(rel))
    assert not [m for m in imported(tree("render/figures/labels.py"))
                if m.startswith("derive.render.figures")]


@pytest.mark.parametrize("cls", [Nonlinearity, Conditions, SetOf])
def test_printed_objects_carry_no_printing_methods(cls):
    assert not {"_latex", "_sympystr", "_pretty"} & set(vars(cls))
