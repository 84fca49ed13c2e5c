"""Structure rules of the package (issue 13): the mathematics and the tasks never print.

Every module under ``derive/maths/`` and ``derive/tasks/`` is read with :mod:`ast` (imports inside
functions included) and must not

* import the printers or the file writers (``derive.render``, ``derive.io``);
* call a function named ``latex``;
* hold a string constant with a ``$`` in it (math markup built by hand), except a regular
  expression: the first argument of ``re.compile``/``match``/``fullmatch``/``search``/``sub``.

Rule notes and sentences are data (:class:`derive.steps.Math`, ``Note``, ``Prose``, ``Rules``),
printed by :mod:`derive.render.prose`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import derive

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
