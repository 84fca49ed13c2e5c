"""Checks on what an exercise means, before anything is derived: derive works over the reals, a
computation list is in order, and every name prints as itself.

**Order** (:func:`check_order`): an assignment may read only names assigned above it. A name read
on its own line is a self-reference (``E = 2*E*(y - t)``), a name assigned further down is a use
before definition (``a = b + 1`` above ``b = ...``), or, when that later definition reads the
first name back, a cycle. Each is an input error at the offending assignment's line.

**Real values** (:class:`Forward`, :func:`real_problem`, :func:`check_model`): the computation
list is evaluated forward, node by node, at random real points (the verifier's rationals,
:func:`derive.verify.points.real_points`; the fast mpmath evaluation,
:mod:`derive.verify.numeric`), each node
from the values of the nodes it reads, so that no node is ever substituted into another (models
can have thousands of weights). A point counts for a node when every subexpression of the node
is a real, finite number there (:class:`~derive.verify.numeric.RealEvaluator`). A node that is real
at
none of the points tried, while most of them decided it, is refused at its line: it is
complex-valued (``sqrt(-1 - x**2)``, ``(-8)**(1/3)``, ``(-1)**y``: principal values, as SymPy's),
or undefined (``1/z`` or ``log(z)`` where ``z`` is 0 for every input: ``z = x - x``, ``z = 0*w``,
``z = a - b`` with ``a`` and ``b`` equal). A divisor or logarithm argument counts as 0 at a point
when its value, computed at 30 and at 50 significant digits, shrinks with the precision, or when
it cancels to rounding at both (an identity such as ``sin(x)**2 + cos(x)**2 - 1``). Points are
drawn scale by scale (values in [-2, 2], then up to 1000 times further out), each random point
also with every value made positive and with every value in (0, 1); the search stops as soon as
every node has a real point (after the first point for almost every sheet), and after a bounded
amount of work on a hostile one. The parser runs the same check on every expression on its own
(:func:`real_problem`, every symbol free), so expressions of tasks (``of = "sqrt(-1 - x**2)"``)
and of ``derive explain`` are refused too; the sheet loader checks task expressions again with
the model's values (:func:`check_exercise`). A real value that exists only on a region the
points never reach (``log(x - 10**5)``) is refused too, and the message says how many points
were tried: the verifier could not check such a line either.

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
from dataclasses import dataclass, field
from typing import Any

import mpmath
import sympy as sp

from derive.errors import InputError
from derive.maths.functions import CATALOGUE, symbol
from derive.verify import numeric
from derive.verify.equality import Timeout, time_limit
from derive.verify.points import outside_indexed, real_points

LOW_DIGITS = 30  # the forward pass, and the first of the two precisions of the zero test
HIGH_DIGITS = 50
ZERO_SHRINK = mpmath.mpf(10) ** -10  # a value 0 up to rounding shrinks by ~20 orders from 30 to 50
WORK_LIMIT = 100_000  # tree nodes evaluated before the search for real points stops, after...
MIN_POINTS = 24  # ...at least this many points: a hostile sheet ends within seconds
MAX_TIMEOUTS = 3  # values that need huge precision (cos(exp(exp(x)))): the search stops
NODE_SECONDS = 1.0  # one node at one point (a value such as cos(exp(exp(30))) needs huge precision)

__all__ = ["Forward", "check_exercise", "check_model", "check_order", "check_printing",
           "huge_numbers", "long_integer_line", "real_problem"]


# --- order ---------------------------------------------------------------------------------------
def check_order(model: Sequence[Any], file: str | None = None) -> None:
    """Refuse a self-reference, a use before definition or a cycle (``model``: assignments with
    ``name``, ``expr``, ``source`` and ``line``), at the line of the assignment that reads."""
    position = {a.name: i for i, a in enumerate(model)}
    reads = {a.name: _reads(a.expr, position) for a in model}
    for i, a in enumerate(model):
        if a.name in reads[a.name]:
            rhs = _short(a.source.split("=", 1)[1], 60)
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
@dataclass
class _Tally:
    """What the points said about one expression."""

    real: int = 0
    bad: int = 0
    unknown: int = 0
    reasons: list[tuple] = field(default_factory=list)  # one per bad point


@dataclass(frozen=True)
class Item:
    """One expression of a forward pass: ``name`` is the model name it defines (None for an
    expression of a task), ``reads`` the indices of the items whose values it uses."""

    name: str | None
    expr: sp.Expr
    reads: tuple[int, ...]


class Forward:
    """Evaluate expressions forward at random real points, each from the values of the earlier
    ones it reads (see the module docstring); :meth:`run` returns one :class:`_Tally` each."""

    def __init__(self, items: Sequence[Item], seed: int = 0):
        self.items = list(items)
        self.seed = seed
        symbols = {symbol(it.name) for it in self.items if it.name is not None}
        leaves: set[sp.Basic] = set()
        for it in self.items:
            leaves |= _leaves(it.expr)
        self.leaves = sorted(leaves - symbols, key=sp.default_sort_key)
        self.integers = frozenset(s for it in self.items for total in it.expr.atoms(sp.Sum)
                                  for limit in total.limits for bound in limit[1:]
                                  for s in bound.free_symbols)  # d in Sum(..., (i, 1, d))
        self.points_tried = 0
        self.timeouts = 0

    def run(self) -> list[_Tally]:
        tallies = [_Tally() for _ in self.items]
        sizes = [_size(it.expr) for it in self.items]
        work = 0
        for point in self._points():
            open_ = [i for i, t in enumerate(tallies) if not t.real]
            if not open_ or (work > WORK_LIMIT and self.points_tried >= MIN_POINTS) \
                    or self.timeouts >= MAX_TIMEOUTS:
                break
            self.points_tried += 1
            work += sum(sizes[: max(open_) + 1])
            self._at(point, tallies, max(open_))
        return tallies

    def _points(self) -> Iterator[dict]:
        return real_points(self.leaves, self.seed, integers=self.integers)

    def _at(self, point: dict, tallies: list[_Tally], last: int) -> None:
        with mpmath.workdps(LOW_DIGITS):
            low = numeric.RealEvaluator(numeric.point(point))
        with mpmath.workdps(HIGH_DIGITS):
            high = numeric.RealEvaluator(numeric.point(point))
        status: list[str] = []
        for i, it in enumerate(self.items[: last + 1]):
            tally = tallies[i]
            before = [status[j] for j in it.reads]
            if "bad" in before:
                status.append("bad")
                tally.bad += 1
                tally.reasons.append(("inputs", tuple(j for j in it.reads
                                                      if status[j] != "real")))
                continue
            if "unknown" in before:
                status.append("unknown")
                tally.unknown += 1
                continue
            outcome = _evaluate(it.expr, low, high)
            status.append(outcome[0])
            if outcome[0] == "real":
                tally.real += 1
                if it.name is not None:
                    name = symbol(it.name)
                    low.memo[name], high.memo[name] = outcome[1:]
                    for ev, value in zip((low, high), outcome[1:], strict=True):
                        if value == 0 or it.expr in ev.cancelled:  # z = a - b, a and b equal
                            ev.cancelled.add(name)
            elif outcome[0] == "bad":
                tally.bad += 1
                tally.reasons.append(outcome[1:])
            else:
                tally.unknown += 1
                self.timeouts += outcome[1:] == ("timeout",)


def _size(expr: sp.Basic) -> int:
    return sum(1 for _ in sp.preorder_traversal(expr))


def _leaves(expr: sp.Basic) -> set[sp.Basic]:
    """Symbols (summation indices included) and indexed quantities: the values of a point."""
    return expr.atoms(sp.Indexed) | {s for s in outside_indexed(expr)
                                      if not isinstance(s, sp.Dummy)}


def _evaluate(expr: sp.Expr, low: numeric.RealEvaluator, high: numeric.RealEvaluator) -> tuple:
    """``("real", low value, high value)``, ``("bad", reason...)`` or ``("unknown",)``.

    The value at HIGH_DIGITS decides; the one at LOW_DIGITS is the comparison that tells a
    divisor or logarithm argument that is 0 up to rounding (it shrinks with the precision, or it
    cancelled at both) from a small one."""
    results = []
    for ev, digits in ((low, LOW_DIGITS), (high, HIGH_DIGITS)):
        start = len(ev.watched)
        try:
            with time_limit(NODE_SECONDS), mpmath.workdps(digits):
                results.append(ev(expr))
        except Timeout:
            return ("unknown", "timeout")
        except numeric.NotReal as e:
            if ev is low and e.kind == "complex" and _clearly_complex(e.node, low):
                return ("bad", *_reason(e, low))  # no rounding involved: no second precision
            results.append(e)
        except (numeric.Unsure, ValueError, TypeError, ArithmeticError, RecursionError,
                MemoryError):
            results.append(None)
    a, b = results
    if b is None:
        return ("unknown",)
    for kind, divisor in high.watched[start:]:
        x, y = low.known(divisor), high.known(divisor)
        if y is None:
            continue
        if y == 0 or (divisor in high.cancelled and (x is None or divisor in low.cancelled)) \
                or (x is not None and x != 0 and abs(y) <= abs(x) * ZERO_SHRINK):
            return ("bad", "zero", kind, divisor)
    if isinstance(b, numeric.NotReal):
        return ("bad", *_reason(b, high))
    return ("real", b if a is None or isinstance(a, numeric.NotReal) else a, b)


def _clearly_complex(node: sp.Basic, ev: numeric.RealEvaluator) -> bool:
    """Whether ``node`` (complex at this point) has real arguments that are far from 0: a root or
    logarithm of a clearly negative number, not of one that is 0 up to rounding."""
    return not any(a in ev.cancelled or ev.known(a) is None for a in node.args)


def _reason(e: numeric.NotReal, ev: numeric.RealEvaluator) -> tuple:
    node = e.node
    if e.kind == "undefined":
        if node.is_Pow and node.exp.is_extended_negative:
            return ("zero", "divides by", node.base)
        if isinstance(node, sp.log) and ev.known(node.args[0]) == 0:
            return ("zero", "takes the logarithm of", node.args[0])
    return (e.kind, node)


def _verdict(tally: _Tally) -> tuple | None:
    """The reason to refuse an expression, or None: no point was real, and the points that
    decided anything (at least as many as could not) all found it complex or undefined."""
    if tally.real or not tally.bad or tally.bad < tally.unknown:
        return None
    counts: dict[tuple, int] = {}
    for r in tally.reasons:
        counts[r] = counts.get(r, 0) + 1
    best = max(tally.reasons, key=lambda r: (r[0] == "zero" and counts[r] == tally.bad,
                                             counts[r]))
    if best[0] == "zero" and counts[best] < tally.bad:  # 0 at some points only: not "always 0"
        best = ("undefined", None)
    if best[0] == "inputs":  # the names never real together, over every point
        best = ("inputs", tuple(sorted({j for r in tally.reasons if r[0] == "inputs"
                                        for j in r[1]})))  # item indices, in model order
    return best


def _describe(reason: tuple, whole: sp.Expr, tried: int, lines: Mapping[str, Any]) -> str:
    """The message for a refused expression (``whole``), without its location: what matters
    first, since an error line is cut at 200 characters."""
    points = "1 point" if tried == 1 else f"{tried} random points"
    if reason[0] == "zero":
        _, verb, divisor = reason
        which = _show(divisor)
        defined = lines.get(which)
        where = ""
        if defined:
            where = f" ({which} = {_short(defined[0], 40)}" + (
                f", line {defined[1]})" if defined[1] is not None else ")")
        return f"is undefined: it {verb} {which}, which is 0 for every input{where}"
    if reason[0] == "inputs":
        names = [n for n in reason[1] if n]
        never = "is never real" if len(names) == 1 else "are never real at the same point"
        return (f"is not real-valued (derive works over the reals): {_and(names)} {never} "
                f"({points} tried)")
    kind, node = reason
    what = "it" if node is None or node == whole else _show(node)
    if kind == "complex":
        return (f"is not real-valued (derive works over the reals): {what} is complex at every "
                f"point tried ({points})")
    return f"is undefined: {what} is infinite or undefined at every point tried ({points})"


def _show(expr: sp.Basic) -> str:
    return _short(sp.sstr(expr), 60)


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _and(words: Sequence[str]) -> str:
    words = list(words)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def real_problem(expr: sp.Expr) -> str | None:
    """Why ``expr`` alone (every symbol a free real variable) has no real value, or None."""
    forward = Forward([Item(None, expr, ())])
    reason = _verdict(forward.run()[0])
    return None if reason is None else _describe(reason, expr, forward.points_tried, {})


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
    if not items:
        return
    forward = Forward(items)
    tallies = forward.run()
    lines = {a.name: (a.source.split("=", 1)[1].strip(), a.line) for a in model}
    for i, tally in enumerate(tallies):
        reason = _verdict(tally)
        if reason is None:
            continue
        if i < len(model):
            a = model[i]
            what, line = f"{a.name} = {_short(lines[a.name][0], 60)}", a.line
        else:
            _, what, line = extra[i - len(model)]
        if reason[0] == "inputs":
            reason = ("inputs", tuple(items[j].name for j in reason[1]))
        message = _describe(reason, items[i].expr, forward.points_tried, lines)
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
                extra.append((expr, f'{key} = "{_short(text, 60)}"', line))
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
    from derive.sheet.parse import NotRealError, parse_assignment, parse_expr

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
                raise InputError(f"{key}: {_short(text, 60)} defines {name} in terms of itself "
                                 f"(a cycle: {name} -> {name})", file=file, line=line)
            yield key, text, expr, line


def _per_sample(part: Any, model: Sequence[Any]) -> list[sp.Indexed]:
    """The per-sample quantities the chain-rule task prints, E_k, y_k and t_k (as ``E[k]``)."""
    from derive.maths.functions import index, indexed_base
    from derive.sheet.parse import is_valid_name

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
    from derive.render.notation import SheetPrinter, name_latex

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
        from derive.maths.calculus import Namer

        namer = Namer(names)
        taken = [n for n in names if n == namer.letter or n.startswith(namer.letter + "_")
                 or (n.startswith(namer.letter) and n[len(namer.letter):].isdigit())]
        if taken:
            return (f"{_and(sorted(taken)[:3])} would print like derive's intermediates "
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
