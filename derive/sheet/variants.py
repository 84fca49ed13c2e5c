"""Reading an exercise's ``[exercise.variants]`` table: the parameters that vary per student,
their constraints and the precision of the worked numbers.

.. code-block:: toml

    [exercise.variants]
    x1 = { int = [-2, 2] }              # an integer in [-2, 2]
    w13 = { decimal = [-1, 1] }         # a number with one decimal in [-1, 1]
    w14 = { decimal = [-1, 1], places = 2 }
    t = { choices = [0, 0.5, 1] }       # one of a list
    constraints = ["w13 != 0", "abs(z3) < 2"]
    digits = 4                          # significant digits of numbers that are not rational

Every leaf of the model (input, target, parameter) gets a value, so every leaf must be declared;
``constraints`` may name any quantity of the model (leaves and nodes). A constraint is split at
its one comparison operator and each side is parsed by :func:`derive.sheet.parse.parse_expr`
(nothing is evaluated). The numbers go to the exercise's ``backprop`` parts, which must not
have an ``at`` table of their own.

An exercise with a ``decision-boundary`` part draws its network's weights and biases instead:
the inputs of its regions (the axes of the plane) are not drawn, every other leaf is, and a
variant's model has the drawn numbers in place of the weights (the network and the regions of
each variant are its own). Its constraints may name the drawn values and what they alone
compute; it has no ``backprop`` part (that needs drawn inputs). Every problem is a
:class:`~derive.errors.InputError` at the line of the key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any

import mpmath
import sympy as sp

from derive.errors import InputError
from derive.maths.graph import build_graph
from derive.maths.network import build_network
from derive.sheet.model import Assignment, Constraint, Part, VariantParam, Variants
from derive.sheet.parse import parse_expr

RESERVED = ("constraints", "digits")
KINDS = ("int", "decimal", "choices")
OPERATORS = ("!=", "==", "<=", ">=", "<", ">")
MAX_MAGNITUDE = 1000
MAX_CHOICES = 100
MAX_CONSTRAINTS = 50
DEFAULT_DIGITS = 4
NUMERIC_TASKS = ("backprop",)  # the tasks a variant's numbers go to
# the tasks whose network a variant's drawn weights go to: the variant's model has the numbers
REGION_TASKS = ("decision-boundary",)

Err = Callable[[str, tuple], InputError]  # (message, path below the variants table)


def exact(value: int | float) -> sp.Rational:
    """A TOML number as the exact rational it is written as (``0.1`` is 1/10)."""
    if isinstance(value, int):
        return sp.Integer(value)
    f = Fraction(repr(value))
    return sp.Rational(f.numerator, f.denominator)


def read_variants(table: Any, model: Sequence[Assignment], parts: Sequence[Part],
                  err: Err, line: Callable[[tuple], int | None]) -> Variants:
    """The :class:`Variants` of an exercise; ``err(message, path)`` locates an error at a key
    below the table (``("x1",)``, ``("constraints", 0)``), ``line(path)`` gives that key's line."""
    if not isinstance(table, dict):
        raise err("variants must be a table ([exercise.variants])", ())
    graph = build_graph(model)
    leaves = set(graph.leaves)
    numeric = [p for p in parts if p.task in NUMERIC_TASKS]
    regions = [p for p in parts if p.task in REGION_TASKS]
    if not numeric and not regions:
        raise err("variants need a part whose task computes numbers (" + ", ".join(NUMERIC_TASKS)
                  + ") or decision regions (" + ", ".join(REGION_TASKS)
                  + "): the drawn values go to it", ())
    if numeric and regions:
        raise err(f"part ({regions[0].label}) draws decision regions, so the variants draw the "
                  f"network's weights and leave its inputs free, but part ({numeric[0].label}) "
                  "computes numbers at drawn inputs: put them in separate exercises", ())
    free = plane_inputs(model, regions, err)
    for p in parts:
        if p.task in NUMERIC_TASKS and "at" in p.params:
            raise err(f"part ({p.label}) has its own 'at' values; in an exercise with variants "
                      "the values are drawn (remove 'at')", ())
    params = []
    for name, spec in table.items():
        if name in RESERVED:
            continue
        if name in graph.exprs:
            raise err(f"{name} is computed by the model; only its inputs, targets and "
                      "parameters can vary (constrain it with 'constraints')", (name,))
        if name not in leaves:
            raise err(f"{name} is not a name the model reads (names: "
                      f"{', '.join(graph.leaves)})", (name,))
        if name in free:
            raise err(f"{name} is an input of the decision regions (an axis of the plane); only "
                      "the network's weights and biases can vary", (name,))
        params.append(_param(name, spec, err, line((name,))))
    missing = [n for n in graph.leaves if n not in table and n not in free]
    if missing:
        what = ("weight and bias of the network" if regions else
                "input, target and parameter of the model")
        raise err(f"no values for {', '.join(missing)} (every {what} needs one: int, decimal or "
                  "choices)", ())
    digits = table.get("digits", DEFAULT_DIGITS)
    if isinstance(digits, bool) or not isinstance(digits, int) or not 2 <= digits <= 15:
        raise err("digits must be an integer from 2 to 15", ("digits",))
    raw = table.get("constraints", [])
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
        raise err('constraints must be a list of strings such as "w13 != 0"', ("constraints",))
    if len(raw) > MAX_CONSTRAINTS:
        raise err(f"at most {MAX_CONSTRAINTS} constraints", ("constraints",))
    names = set(graph.names)
    if free:  # only what the drawn values compute, without the plane's inputs
        names = {p.name for p in params}
        for n in graph.order:
            if all(q in names for q in graph.parents[n]):
                names.add(n)
    constraints = []
    for k, src in enumerate(raw):
        try:
            c = parse_constraint(src, line(("constraints", k)))
        except InputError as e:
            raise err(f"constraint {src!r}: {e.message}", ("constraints", k)) from None
        used = c.lhs.free_symbols | c.rhs.free_symbols
        unknown = sorted(s.name for s in used if s.name not in names)
        if unknown and regions:
            raise err(f"constraint {src!r}: {', '.join(unknown)} is not a drawn weight or bias "
                      "nor computed from them alone (the inputs of the decision regions are not "
                      "drawn)", ("constraints", k))
        if unknown:
            raise err(f"constraint {src!r}: {', '.join(unknown)} is not a name of the model",
                      ("constraints", k))
        constraints.append(c)
    return Variants(tuple(params), tuple(constraints), digits, line(()))


def plane_inputs(model: Sequence[Assignment], regions: Sequence[Part], err: Err) -> set[str]:
    """The inputs of the decision-boundary parts ``regions`` (the axes of their planes): their
    ``inputs``, else the inputs the network of ``of`` reads (:func:`derive.maths.network.
    build_network`'s rule). Such a part must name its network in the model (``of``): the drawn
    weights are put in the model."""
    out: set[str] = set()
    for p in regions:
        if "expr" in p.params:
            raise err(f"part ({p.label}) gives its network as 'expr'; with variants, write the "
                      "network in the model and name it with 'of' (the drawn weights go into "
                      "the model)", ())
        inputs = p.params.get("inputs")
        if inputs is None and isinstance(p.params.get("of"), str):
            try:
                inputs = build_network([(a.name, a.expr) for a in model], p.params["of"],
                                       include_loss=False).inputs
            except InputError:  # not a network: the part's own task says why
                inputs = ()
        out.update(x for x in inputs or () if isinstance(x, str))
    return out


def draws_weights(parts: Sequence[Part]) -> bool:
    """Whether an exercise with these parts draws its network's weights (it has a part of
    :data:`REGION_TASKS`): a variant then has the drawn values in its model."""
    return any(p.task in REGION_TASKS for p in parts)


def _param(name: str, spec: Any, err: Err, line: int | None) -> VariantParam:
    if not isinstance(spec, dict) or len([k for k in spec if k in KINDS]) != 1:
        raise err(f"{name}: expected one of {{ int = [low, high] }}, {{ decimal = [low, high] }} "
                  "or { choices = [...] }", (name,))
    unknown = [k for k in spec if k not in (*KINDS, "places")]
    if unknown:
        raise err(f"{name}: unknown key {unknown[0]!r} (allowed: int, decimal, places, choices)",
                  (name,))
    kind = next(k for k in spec if k in KINDS)
    value = spec[kind]
    if "places" in spec and kind != "decimal":
        raise err(f"{name}: 'places' goes with decimal", (name,))
    if kind == "choices":
        if not isinstance(value, list) or not value or len(value) > MAX_CHOICES \
                or not all(_number(v) for v in value):
            raise err(f"{name}: choices must be a list of 1 to {MAX_CHOICES} numbers", (name,))
        return VariantParam(name, kind, None, None, 0, tuple(exact(v) for v in value), line)
    if not (isinstance(value, list) and len(value) == 2 and all(_number(v) for v in value)):
        raise err(f"{name}: {kind} must be [low, high]", (name,))
    if kind == "int" and not all(isinstance(v, int) for v in value):
        raise err(f"{name}: int bounds must be integers", (name,))
    places = spec.get("places", 1 if kind == "decimal" else 0)
    if kind == "decimal" and (isinstance(places, bool) or not isinstance(places, int)
                              or not 1 <= places <= 3):
        raise err(f"{name}: places must be 1, 2 or 3", (name,))
    low, high = exact(value[0]), exact(value[1])
    if low > high:
        raise err(f"{name}: the range [{value[0]}, {value[1]}] is empty (low > high)", (name,))
    scale = 10 ** places
    if (low * scale).q != 1 or (high * scale).q != 1:
        raise err(f"{name}: the bounds must have at most {places} decimal places", (name,))
    return VariantParam(name, kind, low, high, places, (), line)


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and abs(v) <= MAX_MAGNITUDE \
        and v == v


def parse_constraint(text: str, line: int | None = None) -> Constraint:
    """``"abs(z3) < 2"`` as a :class:`Constraint`: split at its one comparison operator outside
    brackets, each side parsed by :func:`~derive.sheet.parse.parse_expr`."""
    depth, found = 0, []
    k = 0
    while k < len(text):
        ch = text[k]
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif depth == 0:
            op = next((o for o in OPERATORS if text.startswith(o, k)), None)
            if op is not None:
                found.append((k, op))
                k += len(op)
                continue
        k += 1
    if len(found) != 1:
        raise InputError("expected one comparison (!=, ==, <, <=, >, >=) such as 'w13 != 0'"
                         if not found else "only one comparison per constraint")
    at, op = found[0]
    lhs, rhs = text[:at].strip(), text[at + len(op):].strip()
    if not lhs or not rhs:
        raise InputError(f"'{op}' needs an expression on each side")
    return Constraint(text, parse_expr(lhs), op, parse_expr(rhs), line)


def values_text(values: Mapping[str, sp.Rational], places: Mapping[str, int]) -> dict[str, str]:
    """Each drawn value as a reader writes it: ``-0.3``, ``2``, ``0.25`` (``places`` decimals for
    a decimal parameter, the shortest exact decimal or fraction otherwise)."""
    return {n: decimal_text(v, places.get(n, 0)) for n, v in values.items()}


def decimal_text(v: sp.Rational, places: int = 0, fixed: bool = False) -> str:
    """``v`` as a decimal when it has a finite decimal expansion (``1/4`` -> ``0.25``), else as
    ``p/q``: with at least ``places`` decimals, except that an integer prints as one (``-1``)
    unless ``fixed`` (``-1.0``, for a column of a table)."""
    q = int(v.q)
    twos = fives = 0
    while q % 2 == 0:
        q //= 2
        twos += 1
    while q % 5 == 0:
        q //= 5
        fives += 1
    if q != 1:
        return f"{v.p}/{v.q}"
    n = max(twos, fives, places if v.q != 1 or fixed else 0)
    if n == 0:
        return str(int(v))
    scaled = int(v * 10 ** n)
    sign = "-" if scaled < 0 else ""
    digits = str(abs(scaled)).rjust(n + 1, "0")
    return f"{sign}{digits[:-n]}.{digits[-n:]}"


PLATFORM_DIGITS = 15  # significant digits of a number a learning platform gets


def number_text(v: sp.Expr) -> str:
    """``v`` as a plain decimal: exact when it has a short decimal expansion, else to
    :data:`PLATFORM_DIGITS` significant digits."""
    if v.is_Rational:
        text = decimal_text(v)
        if "/" not in text and len(text) <= PLATFORM_DIGITS + 2:
            return text
    with mpmath.workdps(PLATFORM_DIGITS + 10):
        return mpmath.nstr(mpmath.mpf(sp.N(v, PLATFORM_DIGITS + 10)), PLATFORM_DIGITS,
                           min_fixed=-30, max_fixed=30)
