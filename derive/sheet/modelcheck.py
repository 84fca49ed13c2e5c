"""Checks on what an exercise means, before anything is derived: derive works over the reals, a
computation list is in order, and every name prints as itself.

**Order** (:func:`check_order`): an assignment may read only names assigned above it. A name read
on its own line is a self-reference (``E = 2*E*(y - t)``), a name assigned further down is a use
before definition (``a = b + 1`` above ``b = ...``), or, when that later definition reads the
first name back, a cycle. Each is an input error at the offending assignment's line.

**Real values** (:func:`check_model`): every node of the computation list, and every expression
of a task, has a real value at some real point, evaluated forward with the values of the nodes it
reads (:mod:`derive.sheet.reals`; the parser checks each expression on its own with the same
evaluation, every symbol free). A node with none is refused at its line: complex-valued
(``sqrt(-1 - x**2)``) or undefined (``1/z`` where ``z`` is 0 for every input).

**Printing** (:func:`check_printing`): two different quantities never print alike on one sheet.
The LaTeX form of every name an exercise uses is compared with every other (``u1`` and ``u_1``
both print as u_1), with the indexed quantities it writes (``w_i`` and ``w[i]``), with the
function notations that can appear in its derivations (a variable ``rho`` and ReLU printed as ρ,
``sigma`` and the sigmoid σ, ``H`` and the step function in relu', ``e`` and Euler's number in
e^x, ``sgn`` and |u|' = sgn(u)), and with the symbols derive generates itself: δ's of the
backward pass (a sheet name ``delta3`` prints as the δ_3 of backpropagation) and the
intermediates u_1, u_2, ... of a derivation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import sympy as sp

from derive.errors import InputError, and_join, shorten
from derive.maths.calculus import Namer
from derive.maths.functions import CATALOGUE, index, indexed_base, symbol
from derive.render.notation import SheetPrinter, name_latex
from derive.sheet.parse import NotRealError, is_valid_name, parse_assignment, parse_expr
from derive.sheet.reals import Item, first_unreal

__all__ = ["check_exercise", "check_model", "check_order", "check_printing", "huge_numbers",
           "long_integer_line"]


# --- order ---------------------------------------------------------------------------------------
def check_order(model: Sequence[Any], file: str | None = None) -> None:
    """Refuse a self-reference, a use before definition or a cycle (``model``: assignments with
    ``name``, ``expr``, ``source`` and ``line``), at the line of the assignment that reads."""
    position = {a.name: i for i, a in enumerate(model)}
    reads = {a.name: _reads(a.expr, position) for a in model}
    for i, a in enumerate(model):
        if a.name in reads[a.name]:
            rhs = shorten(a.source.split("=", 1)[1], 60)
            raise InputError(f"{a.name} = {rhs} defines {a.name} in terms of itself (a cycle: "
                             f"{a.name} -> {a.name})",
                             file=file, line=a.line)
        later = [n for n in reads[a.name] if position[n] > i]
        if not later:
            continue
        first = min(later, key=position.__getitem__)
        back = _path(first, a.name, reads)
        if back is not None:
            cycle = " -> ".join([a.name, *back])
            raise InputError(f"cycle in the computation graph: {cycle} (each uses the next)",
                             file=file, line=a.line)
        where = model[position[first]].line
        defined = f" on line {where}" if where is not None else " further down"
        raise InputError(f"{first} is used in {a.name} before its definition{defined} (the "
                         f"computation list is in order: define {first} first)",
                         file=file, line=a.line)


def _reads(expr: sp.Basic, position: Mapping[str, int]) -> list[str]:
    names = {s.name for s in expr.free_symbols if isinstance(s, sp.Symbol)}
    return sorted((n for n in names if n in position), key=position.__getitem__)


def _path(start: str, goal: str, reads: Mapping[str, list[str]]) -> list[str] | None:
    """Names from ``start`` to ``goal`` along ``reads`` (both included), or None."""
    stack = [(start, [start])]
    seen: set[str] = set()
    while stack:
        name, path = stack.pop()
        if name == goal:
            return path
        if name in seen:
            continue
        seen.add(name)
        stack.extend((n, [*path, n]) for n in reversed(reads.get(name, ())))
    return None


# --- real values ---------------------------------------------------------------------------------
def check_model(model: Sequence[Any], file: str | None = None,
                extra: Sequence[tuple[sp.Expr, str, int | None]] = ()) -> None:
    """Refuse a model that is out of order (:func:`check_order`), or a node (or an ``extra``
    expression: ``(expr, how to name it, line)``, evaluated with the model's values) that has no
    real value, at its line."""
    check_order(model, file)
    position = {a.name: i for i, a in enumerate(model)}
    items = [Item(a.name, a.expr, tuple(position[n] for n in _reads(a.expr, position)))
             for a in model]
    items += [Item(None, e, tuple(position[n] for n in _reads(e, position))) for e, _, _ in extra]
    lines = {a.name: (a.source.split("=", 1)[1].strip(), a.line) for a in model}
    found = first_unreal(items, lines)
    if found is None:
        return
    i, message = found
    if i < len(model):
        a = model[i]
        what, line = f"{a.name} = {shorten(lines[a.name][0], 60)}", a.line
    else:
        _, what, line = extra[i - len(model)]
    raise InputError(f"{what} {message}", file=file, line=line)


# --- a whole exercise -----------------------------------------------------------------------------
NOT_EXPRESSIONS = frozenset({"classes", "form", "threshold", "window", "label", "text", "hint",
                             "task", "points"})


def check_exercise(model: Sequence[Any], parts: Sequence[Any], notation: Mapping[str, str],
                   names: Sequence[str], file: str | None = None) -> None:
    """Every check of this module on one exercise of a sheet (``parts``: objects with ``task``,
    ``params``, ``param_lines`` and ``line``), each problem an InputError at its line."""
    extra: list[tuple[sp.Expr, str, int | None]] = []
    printed: list[sp.Basic] = []
    for part in parts:
        for key, text, expr, line in _parameters(part, file):
            printed.append(expr)
            if not isinstance(expr, sp.Symbol | sp.Indexed):
                extra.append((expr, f'{key} = "{shorten(text, 60)}"', line))
    check_model(model, file, extra)
    printed += [a.expr for a in model] + [symbol(a.name) for a in model]
    printed += [q for part in parts if part.task == "chain-rule" for q in _per_sample(part, model)]
    problem = check_printing(printed, notation, [p.task for p in parts], names)
    if problem is not None:
        message, involved = problem
        raise InputError(message, file=file, line=_first_use(involved, model, parts))


def _parameters(part: Any, file: str | None) -> Iterator[tuple[str, str, sp.Expr, int | None]]:
    """``(key, text, expression, line)`` for every parameter string of ``part`` that parses as an
    expression (or as an assignment, such as a tie ``w13 = log(1 + exp(v))``: its right side). A
    string that does not parse is left to its task, unless it parses but has no real value."""
    for key, value in part.params.items():
        if key in NOT_EXPRESSIONS:
            continue
        line = part.param_lines.get(key, part.line)
        for text in value if isinstance(value, list) else [value]:
            if not isinstance(text, str) or not text.strip():
                continue
            try:
                if re.search(r"(?<![=!<>])=(?!=)", text):
                    name, expr = parse_assignment(text)
                else:
                    name, expr = None, parse_expr(text)
            except NotRealError as e:
                raise InputError(f"{key}: {e.message}", file=file, line=line) from None
            except InputError:
                continue
            if name is not None and symbol(name) in expr.free_symbols:
                raise InputError(f"{key}: {shorten(text, 60)} defines {name} in terms of itself "
                                 f"(a cycle: {name} -> {name})", file=file, line=line)
            yield key, text, expr, line


def _per_sample(part: Any, model: Sequence[Any]) -> list[sp.Indexed]:
    """The per-sample quantities the chain-rule task prints, E_k, y_k and t_k (as ``E[k]``)."""
    p = part.params
    loss = p.get("loss")
    loss = loss if isinstance(loss, str) and any(a.name == loss for a in model) else \
        (model[-1].name if model and loss is None else "E")
    names = [loss, p.get("output", "y"), p.get("target", "t")]
    k = p.get("index", "k")
    if not all(isinstance(n, str) and is_valid_name(n) for n in [*names, k]):
        return []  # the task reports it
    return [indexed_base(n)[index(k)] for n in names]


def _first_use(involved: Sequence[str], model: Sequence[Any], parts: Sequence[Any]) -> int | None:
    """The line where the last of ``involved`` (sheet names) is first used."""
    lines: list[int] = []
    for name in involved:
        token = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])")
        found = next((a.line for a in model if a.line is not None and token.search(a.source)),
                     None)
        if found is None:
            found = next((p.param_lines.get(k, p.line) for p in parts for k, v in p.params.items()
                          if any(isinstance(t, str) and token.search(t)
                                 for t in (v if isinstance(v, list) else [v]))), None)
        if found is not None:
            lines.append(found)
    return max(lines) if lines else next((p.line for p in parts), None)


# --- printing -------------------------------------------------------------------------------------
# Functions whose derivations may print another function (softplus' = sigmoid, the identity
# sigmoid(v) = e^v/(1 + e^v), relu' = H, |u|' = sgn(u), H' = delta).
_BRINGS = {
    **{f.cls: f.brings for f in CATALOGUE if f.brings},  # the function catalogue's
    sp.Max: ("Heaviside",), sp.Min: ("Heaviside",), sp.sign: ("sign", "DiracDelta"),
    sp.DiracDelta: ("DiracDelta",),
}
_FIXED = {"Heaviside": "H", "exp": "e", "sign": r"\operatorname{sgn}", "DiracDelta": r"\delta"}
_SPOKEN = {**{f.name: f.spoken for f in CATALOGUE if f.spoken},
           "sign": "the sign function (|u|' = sgn(u))", "DiracDelta": "Dirac's delta"}
DERIVING_TASKS = frozenset({"derivative", "backprop", "shared-parameter", "chain-rule"})
DELTA_TASKS = frozenset({"backprop", "shared-parameter"})


def _normal(tex: str) -> str:
    """LaTeX as it looks: ``\\operatorname{ReLU}`` and ``\\mathrm{ReLU}`` print alike."""
    return re.sub(r"\\operatorname\{", r"\\mathrm{", tex).replace(" ", "")


def check_printing(exprs: Iterable[sp.Basic], notation: Mapping[str, str],
                   tasks: Iterable[str] = (), names: Iterable[str] = ()
                   ) -> tuple[str, list[str]] | None:
    """``(message, the sheet names involved)`` when two quantities of one exercise print alike,
    or None.

    ``exprs``: every expression of the exercise (model right sides, task expressions) plus the
    model names as symbols; ``tasks``: the parts' task names; ``names``: every name the exercise
    mentions (derive's intermediate names avoid them, see :class:`derive.maths.calculus.Namer`)."""
    printer = SheetPrinter(dict(notation))
    tasks = set(tasks)
    shown: dict[str, tuple[str, str | None]] = {}  # printed form -> (what, sheet name)

    def claim(tex: str, what: str, name: str | None) -> tuple[str, list[str]] | None:
        other, other_name = shown.setdefault(_normal(tex), (what, name))
        if other == what:
            return None
        return (f"{other} and {what} both print as ${tex}$ on the sheet; rename "
                f"{'one of them' if other_name and name else 'it'}",
                [n for n in (other_name, name) if n])

    symbols: set[sp.Symbol] = set()
    indexed: set[sp.Indexed] = set()
    functions: set[str] = set()
    for e in exprs:
        symbols |= {s for s in e.atoms(sp.Symbol) if not s.is_integer}
        indexed |= e.atoms(sp.Indexed)
        for f, brought in _BRINGS.items():
            if e.atoms(f):
                functions.update(brought)
        if e.has(sp.E):  # exp(1) prints as e
            functions.add("exp")
    plain = sorted({s.name for s in symbols})  # an indexed w[i] brings its label w
    for name in plain:
        problem = claim(name_latex(name), f"'{name}'", name)
        if problem:
            return problem
    for ind in sorted(indexed, key=sp.default_sort_key):
        problem = claim(printer.doprint(ind), f"'{sp.sstr(ind)}'", ind.base.name)
        if problem:
            return problem
    for fn in sorted(functions):
        tex = printer.fn.get(fn, _FIXED.get(fn))
        if tex is None or tex == "max":
            continue
        problem = claim(tex, _SPOKEN.get(fn, fn), None)
        if problem:
            return problem
    if tasks & DELTA_TASKS:
        for name in plain:
            if re.match(r"\\delta(_|$)", name_latex(name)):
                return (f"'{name}' prints as ${name_latex(name)}$, like the δ's of the backward "
                        "pass (δ_j = ∂E/∂z_j); rename it", [name])
    if tasks & DERIVING_TASKS:
        namer = Namer(names)
        taken = [n for n in names if n == namer.letter or n.startswith(namer.letter + "_")
                 or (n.startswith(namer.letter) and n[len(namer.letter):].isdigit())]
        if taken:
            return (f"{and_join(sorted(taken)[:3])} would print like derive's intermediates "
                    f"{namer.letter}_1, {namer.letter}_2, ...: every letter derive can use for "
                    "them (u, v, g, q, p) has a subscripted sheet name; rename one",
                    sorted(taken)[:1])
    return None


# --- numbers in TOML ------------------------------------------------------------------------------
MAX_TOML_INTEGER_DIGITS = 100


def huge_numbers(data: Any, path: tuple = ()) -> tuple[tuple, str] | None:
    """``(TOML path, message)`` of the first integer with more than 100 digits in ``data``."""
    stack = [(path, data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            stack.extend(((*where, k), v) for k, v in reversed(list(value.items())))
        elif isinstance(value, list):
            stack.extend(((*where, i), v) for i, v in reversed(list(enumerate(value))))
        elif isinstance(value, int) and not isinstance(value, bool) \
                and abs(value).bit_length() > MAX_TOML_INTEGER_DIGITS * 3.33:
            return where, f"integer with more than {MAX_TOML_INTEGER_DIGITS} digits"
    return None


_LONG_INTEGER = re.compile(r"(?<![\w.])[+-]?\d[\d_]{4300,}")


def long_integer_line(text: str) -> int | None:
    """The line of the first integer literal past Python's 4300-digit limit (strings skipped)."""
    in_ml: str | None = None
    for no, line in enumerate(text.splitlines(), start=1):
        if in_ml:
            if in_ml not in line:
                continue
            line, in_ml = line.split(in_ml, 1)[1], None
        for delim in ('"""', "'''"):
            if line.count(delim) % 2:
                line, in_ml = line.split(delim, 1)[0], delim
        code = re.sub(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'', '""', line).split("#", 1)[0]
        if _LONG_INTEGER.search(code):
            return no
    return None
