"""Structure rules of the package (issue 13): the mathematics and the tasks never print, and the
imports of every module are at module level, public and free of cycles.

Every module under ``derive/maths/`` and ``derive/tasks/`` is read with :mod:`ast` (imports inside
functions included) and must not

* import the printers or the file writers (``derive.render``, ``derive.io``);
* call a function named ``latex``;
* hold a string constant with a ``$`` in it (math markup built by hand), except a regular
  expression: the first argument of ``re.compile``/``match``/``fullmatch``/``search``/``sub``.

Rule notes and sentences are data (:class:`derive.steps.Math`, ``Note``, ``Prose``, ``Rules``),
printed by :mod:`derive.render.prose`.

Every module of ``derive/`` (read with :mod:`ast`)

* imports at module level, never inside a function (``derive/cli.py`` excepted: its commands
  import lazily, for start-up time);
* uses no underscore name of another derive module (imported by name, or read as an attribute of
  an imported module);
* takes part in no import cycle: the graph of module-level imports (``if TYPE_CHECKING:`` ones
  included, they are dependencies too) has none. Importing a submodule runs its package's
  ``__init__`` first, but that is not an edge of the graph: a package may import its own
  submodules (the task registry does) while they import each other.

The task registry is explicit: every module of ``derive/tasks/`` but ``spec`` is listed in
``TASK_MODULES`` and declares one task, and ``TASK_NAMES`` is read from the registry.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

import pytest

import derive
import derive.tasks
from derive.tasks import spec as task_spec

PACKAGE = Path(derive.__file__).parent
CHECKED = ("maths", "tasks")
PRINTERS = ("derive.render", "derive.io")
REGEX_CALLS = {"compile", "match", "fullmatch", "search", "sub"}  # of the re module


def violations(source: str, package: str = "derive.tasks") -> list[str]:
    """What in ``source`` (a module of ``package``) breaks the rules above, one message per
    offence."""
    tree = ast.parse(source)
    patterns: set[int] = set()  # ids of the string constants that are regular expressions
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "re"
                and node.func.attr in REGEX_CALLS and node.args
                and isinstance(node.args[0], ast.Constant)):
            patterns.add(id(node.args[0]))
    out = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", "?")
        if isinstance(node, ast.Import):
            out += [f"line {line}: import {a.name}" for a in node.names if _printer(a.name)]
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, package)
            if _printer(module) or any(_printer(f"{module}.{a.name}") for a in node.names):
                out.append(f"line {line}: from {module} import "
                           + ", ".join(a.name for a in node.names))
        elif isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else \
                node.func.attr if isinstance(node.func, ast.Attribute) else None
            if name == "latex":
                out.append(f"line {line}: latex(...) called")
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and "$" in node.value
              and id(node) not in patterns):
            out.append(f"line {line}: string with $: {node.value[:50]!r}")
    return out


def _absolute(node: ast.ImportFrom, package: str) -> str:
    """The module an ``import from`` names, relative imports resolved against ``package``."""
    if not node.level:
        return node.module or ""
    base = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _printer(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in PRINTERS)


def _modules() -> list[str]:
    return sorted(str(p.relative_to(PACKAGE)) for d in CHECKED for p in (PACKAGE / d).rglob("*.py"))


def _source(module: str) -> str:
    return (PACKAGE / module).read_text(encoding="utf-8")


def _package(module: str) -> str:
    return ".".join(["derive", *Path(module).parent.parts])


@pytest.mark.parametrize("module", _modules())
def test_maths_and_tasks_never_print(module):
    assert violations(_source(module), _package(module)) == [], module


def test_the_walk_covers_both_packages():
    modules = _modules()
    assert {"maths/calculus.py", "maths/regions.py", "tasks/chain_rule.py",
            "tasks/network.py", "tasks/decision_boundary.py"} <= set(modules)


@pytest.mark.parametrize("source", [
    "from derive.render.notation import latex\n",
    "import derive.render.prose\n",
    "import derive.io.output as out\n",
    "from derive.io import output\n",
    "from derive import render\n",
    "from ..render import notation\n",
    "from .. import io\n",
    "def f():\n    from derive.render.prose import markup\n    return markup\n",
    "def f(e):\n    return latex(e)\n",
    "def f(e):\n    return notation.latex(e, {}, None)\n",
    "RULE = r'$\\tanh = \\sinh/\\cosh$'\n",
    "def f(x):\n    return f'linear in ${x}$'\n",
    "def f(x):\n    return 'a' + '$' + x + '$'\n",
    "import re\nOUT = re.sub(r'a', '$', 'abc')\n",  # a replacement is not a pattern
    "def f():\n    '''Math in ``$...$``.'''\n",  # docstrings too
])
def test_the_check_catches_planted_violations(source):
    assert violations(source), source


@pytest.mark.parametrize("source", [
    "import re\nNAME = re.compile(r'^[A-Za-z][A-Za-z0-9_]*$')\n",
    "import re\nok = re.fullmatch(r'w\\d+$', 'w13')\n",
    "import re\nok = re.match(r'x$', 'x') or re.search(r'y$', 'y')\n",
    "import re\nOUT = re.sub(r'\\s+$', '', 'abc ')\n",
    "from derive.steps import Math, Note\nNOTE = Note('derivative:tanh')\n",
    "from derive.maths.display import TermOrder\n",
    "from . import backprop\nfrom ..maths import calculus\n",
    "def f(e, order):\n    return order.same_display(e, e)\n",
])
def test_the_check_passes_clean_sources(source):
    assert violations(source) == [], source


# --- imports: at module level, public, without cycles ---------------------------------------------
LAZY = {"cli.py"}  # the command line imports each command's modules when the command runs


def _module_name(rel: str) -> str:
    """``derive.sheet.parse`` for ``sheet/parse.py``, ``derive.tasks`` for ``tasks/__init__.py``."""
    parts = ["derive", *Path(rel).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _all_modules() -> dict[str, str]:
    """Every module of the package: dotted name -> source."""
    return {_module_name(str(p.relative_to(PACKAGE))): p.read_text(encoding="utf-8")
            for p in sorted(PACKAGE.rglob("*.py"))}


def _containing_package(name: str, modules: Mapping[str, str]) -> str:
    """The package relative imports of module ``name`` start from (itself, for a package)."""
    is_package = any(m.startswith(name + ".") for m in modules) or name == "derive"
    return name if is_package else name.rsplit(".", 1)[0]


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def imports_in_functions(source: str) -> list[str]:
    """Every import statement of ``source`` inside a function (methods and nested ones too)."""
    tree = ast.parse(source)
    return [f"line {node.lineno}: {ast.unparse(node)}"
            for fn in ast.walk(tree) if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
            for node in ast.walk(fn) if isinstance(node, ast.Import | ast.ImportFrom)]


def private_uses(source: str, name: str, modules: Mapping[str, str]) -> list[str]:
    """Uses in ``source`` (module ``name``) of an underscore name of another derive module of
    ``modules``: ``from derive.x import _y``, or ``m._y`` where ``m`` names an imported module."""
    tree = ast.parse(source)
    package = _containing_package(name, modules)
    bound: dict[str, str] = {}  # local (dotted) name -> the derive module it names
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            for a in node.names:
                if f"{base}.{a.name}" in modules:  # a module imported from its package
                    bound[a.asname or a.name] = f"{base}.{a.name}"
                elif base in modules and base != name and _private(a.name):
                    uses.append(f"line {node.lineno}: from {base} import {a.name}")
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name in modules:
                    bound[a.asname or a.name] = a.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr) \
                and isinstance(node.value, ast.Name | ast.Attribute):
            owner = ast.unparse(node.value)
            owner = bound.get(owner, owner if owner in modules else None)
            if owner is not None and owner != name:
                uses.append(f"line {node.lineno}: {ast.unparse(node)}")
    return uses


def module_imports(source: str, name: str, modules: Mapping[str, str]) -> set[str]:
    """The derive modules of ``modules`` that module ``name`` imports at module level."""
    package = _containing_package(name, modules)
    found: set[str] = set()
    todo: list[ast.AST] = [ast.parse(source)]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue  # runs when called, not on import
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            for a in node.names:
                found.add(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base)
        todo.extend(ast.iter_child_nodes(node))
    return {m for m in found if m in modules and m != name}


def import_cycle(modules: Mapping[str, str]) -> list[str] | None:
    """A cycle of module-level imports among ``modules`` (name -> source), as the list of its
    modules with the first repeated at the end, or None."""
    graph = {name: sorted(module_imports(src, name, modules)) for name, src in modules.items()}
    state: dict[str, str] = {}  # "open" while on the current path, then "done"
    for root in sorted(graph):
        if root in state:
            continue
        path, stack = [root], [iter(graph[root])]
        state[root] = "open"
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = "done"
                stack.pop()
            elif state.get(nxt) == "open":
                return [*path[path.index(nxt):], nxt]
            elif nxt not in state:
                state[nxt] = "open"
                path.append(nxt)
                stack.append(iter(graph[nxt]))
    return None


MODULES = _all_modules()


@pytest.mark.parametrize("rel", [str(p.relative_to(PACKAGE)) for p in sorted(PACKAGE.rglob("*.py"))
                                 if str(p.relative_to(PACKAGE)) not in LAZY])
def test_no_import_inside_a_function(rel):
    assert imports_in_functions(_source(rel)) == [], rel


def test_no_use_of_another_modules_private_names():
    uses = [f"{name}: {use}" for name, src in MODULES.items()
            for use in private_uses(src, name, MODULES)]
    assert not uses, "underscore names of other modules:\n" + "\n".join(uses)


def test_the_import_graph_has_no_cycle():
    cycle = import_cycle(MODULES)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])
    edges = module_imports(MODULES["derive.sheet.parse"], "derive.sheet.parse", MODULES)
    assert "derive.sheet.reals" in edges  # the graph has the edges it should


@pytest.mark.parametrize("source", [
    "def f():\n    import os\n",
    "def f():\n    from derive.sheet.parse import parse_expr\n",
    "class A:\n    def m(self):\n        from . import x\n",
    "async def f():\n    import json\n",
    "def f():\n    def g():\n        import re\n",
])
def test_the_inner_import_check_catches_planted_ones(source):
    assert imports_in_functions(source), source


@pytest.mark.parametrize("source", [
    "import os\nfrom derive.errors import InputError\n",
    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from derive.steps import Line\n",
    "try:\n    import tomllib\nexcept ImportError:\n    tomllib = None\n",
    "class A:\n    import math\n",
    "def f(importer):\n    return importer.import_module('x')\n",
])
def test_the_inner_import_check_passes_module_level_imports(source):
    assert imports_in_functions(source) == [], source


@pytest.mark.parametrize("source", [
    "from derive.verify.equality import _time_limit\n",
    "from ..verify.equality import _Timeout\n",  # relative, from derive.sheet
    "from derive.sheet import parse\nparse._prescan('x', 1)\n",
    "from derive.sheet import parse as p\nvalue = p._quote\n",
    "import derive.sheet.parse as p\np._quote('x')\n",
    "import derive.sheet.parse\nderive.sheet.parse._quote('x')\n",
    "from derive.verify import equality\nequality._time_limit = None\n",
])
def test_the_private_name_check_catches_planted_uses(source):
    assert private_uses(source, "derive.sheet.reals", MODULES), source


@pytest.mark.parametrize("source", [
    "from derive import __version__\n",
    "from derive.sheet.parse import parse_expr\n",
    "class A:\n    def f(self):\n        return self._x\n",
    "import sympy as sp\nx = sp.Integer(1)._mpf_ if False else None\n",
    "def f(node):\n    return node._args\n",
    "_LOCAL = 1\nprint(_LOCAL)\n",
])
def test_the_private_name_check_passes_public_uses(source):
    assert private_uses(source, "derive.sheet.reals", MODULES) == [], source


def test_a_module_may_use_its_own_private_names_by_its_dotted_name():
    source = "import derive.sheet.parse\nderive.sheet.parse._quote('x')\n"
    assert private_uses(source, "derive.sheet.parse", MODULES) == []


def test_the_cycle_check_finds_and_reports_a_planted_cycle():
    modules = {
        "derive": "",
        "derive.a": "import derive.b\n",
        "derive.b": "from derive import c\n",
        "derive.c": "from derive.a import thing\n",
        "derive.d": "import derive.a\n",
    }
    assert import_cycle(modules) == ["derive.a", "derive.b", "derive.c", "derive.a"]


@pytest.mark.parametrize("modules", [
    {"derive": "", "derive.p": "from . import q\n", "derive.p.q": "from . import r\n",
     "derive.p.r": "from .q import x\n"},
    {"derive": "", "derive.a": "from .b import x\n", "derive.b": "from . import a\n"},
    {"derive": "", "derive.a": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                               "    from derive.b import B\n", "derive.b": "import derive.a\n"},
])
def test_the_cycle_check_resolves_relative_and_type_checking_imports(modules):
    assert import_cycle(modules) is not None


@pytest.mark.parametrize("modules", [
    {"derive": "", "derive.a": "import derive.b\n", "derive.b": "def f():\n    import derive.a\n"},
    {"derive": "", "derive.p": "from derive.p import q\n",
     "derive.p.q": "from derive.p.r import x\n", "derive.p.r": ""},  # no edge back to the package
])
def test_the_cycle_check_passes_acyclic_graphs(modules):
    assert import_cycle(modules) is None


# --- the task registry ----------------------------------------------------------------------------
def test_every_task_module_is_registered_and_declares_one_task():
    files = {p.stem for p in (PACKAGE / "tasks").glob("*.py")} - {"__init__", "spec"}
    listed = {m.__name__.rsplit(".", 1)[1] for m in derive.tasks.TASK_MODULES}
    assert listed == files
    for module in derive.tasks.TASK_MODULES:
        assert len(task_spec.declared_in(module)) == 1, module.__name__
    assert list(derive.tasks.REGISTRY.values()) == [
        task_spec.declared_in(m)[0] for m in derive.tasks.TASK_MODULES]


def test_task_names_come_from_the_registry_in_the_documented_order():
    assert derive.tasks.TASK_NAMES == tuple(derive.tasks.REGISTRY) == (
        "derivative", "chain-rule", "backprop", "shared-parameter", "network",
        "decision-boundary")


def test_a_task_name_belongs_to_one_module(monkeypatch):
    monkeypatch.setattr(task_spec, "DECLARED", dict(task_spec.DECLARED))

    def run(ctx):
        raise AssertionError("never run")

    with pytest.raises(ValueError, match="declared twice"):
        task_spec.task("derivative")(run)  # this test module is not derive.tasks.derivative
    probe = ModuleType("probe_tasks")
    run.__module__ = probe.__name__
    task_spec.task("probe-task", summary="a probe")(run)
    assert [s.name for s in task_spec.declared_in(probe)] == ["probe-task"]
    assert "probe-task" not in derive.tasks.REGISTRY  # only the listed modules are registered


def test_verification_never_imports_the_printers():
    """verify/ decides verdicts; wording them is the printers' job (derive.render)."""
    verify = PACKAGE / "verify"
    for path in sorted(verify.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        names += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [n for n in names if n.startswith("derive.render")], path.name
