"""Expression-level differentiation, one named rule at a time.

:func:`differentiate` builds a tree of :class:`Step` (rule, expression, variable, result,
substeps, the intermediate a chain rule introduces), the way SymPy's ``manualintegrate`` builds
integration rules. Nothing here formats text: :func:`derivation` turns the tree into display
lines (:class:`~derive.steps.Line`), expanding one level of rules per line, and every line carries
the concrete equality that verification checks against ``sympy.diff``. Rule annotations are words
(``"chain rule"``) and notes (:class:`~derive.steps.Note`: ``Note("derivative:tanh")`` for
tanh' = 1 - tanh², printed by :mod:`derive.render.prose`); a line with several reasons holds
them as :class:`~derive.steps.Rules`.

Conventions: ``log`` is the natural logarithm; ``relu'(0) = 0`` (``H(0) = 0``); ``|u|' = sign(u)``;
``max(f, g)' = H(f - g) f' + (1 - H(f - g)) g'`` (the weights add up to 1, so a tie on a whole
interval, where f' = g', gets that derivative). Intermediates are named ``u_1, u_2, ...``
(another letter when the sheet uses those names).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import sympy as sp

from derive.maths import trees
from derive.maths.display import Dot, TermOrder
from derive.maths.functions import CATALOGUE, VARIADIC, leaky_relu, sigmoid, symbol
from derive.steps import Annotation, Inline, Line, Note, reasons, rules


@dataclass(frozen=True)
class Step:
    """One rule application: ``d(expr)/d(var) = result``."""

    rule: str  # "constant", "variable", "sum", "constant multiple", "product", "quotient",
    # "power", "exponential", "chain", "elementary", "max", "logarithmic", "partials" (a
    # function of several arguments that contain the variable: softmax), "sympy.diff"
    expr: sp.Expr
    var: sp.Symbol
    result: sp.Expr
    substeps: tuple[Step, ...] = ()
    intermediate: tuple[sp.Symbol, sp.Expr] | None = None  # (u_k, inner) for "chain"
    formula: Inline = ""  # the formula used, e.g. Note("derivative:tanh") (tanh' = 1 - tanh^2)


# --- the table of elementary derivatives -------------------------------------------------------
# function class -> (derivative of f at u (and its other arguments), the rule as a note: kind
# "derivative:<function>"), read from the function catalogue
ELEMENTARY: dict[type, tuple[Callable[..., sp.Expr], Note]] = {
    f.cls: (f.derivative, Note(f.rule_kind)) for f in CATALOGUE if f.derivative is not None
}


# a function of any number of arguments (softmax) -> (its partial by an argument, the rule note)
PARTIALS: dict[type, tuple[Callable[..., sp.Expr], Note]] = {
    f.cls: (f.partials[0], Note(f.rule_kind)) for f in CATALOGUE
    if f.nargs == VARIADIC and f.partials
}

LEAKY_FORMULA = ELEMENTARY[leaky_relu][1]  # its slope is an argument
FALLBACK_FORMULA = "by sympy.diff (no rule in the table)"
POWER_RULE, EXPONENTIAL_RULE = Note("power-rule"), Note("exponential-rule")
LOGARITHMIC_RULE = Note("logarithmic-rule")


class Namer:
    """Hands out intermediate names u_1, u_2, ... never clashing with the sheet's names."""

    def __init__(self, reserved: Iterable[str] = ()):
        reserved = set(reserved)
        for letter in "uvgqp":
            if not any(n == letter or n.startswith(letter + "_") or _is_indexed(n, letter)
                       for n in reserved):
                break
        self.letter = letter
        self.counter = itertools.count(1)
        self.reserved = reserved

    def fresh(self) -> sp.Symbol:
        while True:
            name = f"{self.letter}_{next(self.counter)}"
            if name not in self.reserved:
                return symbol(name)


def _is_indexed(name: str, letter: str) -> bool:
    return name.startswith(letter) and name[len(letter):].isdigit()


# --- building the step tree --------------------------------------------------------------------
def differentiate(expr: sp.Expr, var: sp.Symbol, namer: Namer | None = None) -> Step:
    """The step tree of d(expr)/d(var)."""
    namer = namer or Namer(s.name for s in expr.free_symbols)
    return _diff(sp.sympify(expr), var, namer)


def _diff(expr: sp.Expr, var: sp.Symbol, namer: Namer) -> Step:
    if not expr.has(var):
        return Step("constant", expr, var, sp.S.Zero)
    if expr == var:
        return Step("variable", expr, var, sp.S.One, formula=Note("variable-rule", (var,)))
    coefficient = _linear_coefficient(expr, var)
    if coefficient is not None:
        return Step("linear", expr, var, coefficient, formula=Note("linear-in", (var,)))
    if isinstance(expr, sp.Add):
        subs = tuple(_diff(a, var, namer) for a in _ordered(expr.args))
        return Step("sum", expr, var, sp.Add(*(s.result for s in subs)), subs)
    if isinstance(expr, sp.Mul):
        return _diff_mul(expr, var, namer)
    if isinstance(expr, sp.Pow):
        return _diff_pow(expr, var, namer)
    if isinstance(expr, (sp.Max, sp.Min)) and len(expr.args) == 2:
        f, g = expr.args
        sf, sg = _diff(f, var, namer), _diff(g, var, namer)
        hf, hg = _max_weights(expr, f, g)
        return Step("max", expr, var, hf * sf.result + hg * sg.result, (sf, sg))
    if type(expr) in ELEMENTARY and not any(a.has(var) for a in expr.args[1:]):
        f, formula = ELEMENTARY[type(expr)]
        return _chain_or_leaf(expr, var, namer, f, formula)
    if type(expr) in PARTIALS and expr.args[1:].count(var) == 1 \
            and not any(a.has(var) for a in expr.args if a != var):  # softmax(k, z) by one z_j
        partial, formula = PARTIALS[type(expr)]
        j = sp.Integer(expr.args.index(var))
        return Step("elementary", expr, var, partial(expr.args[0], j, *expr.args[1:]),
                    formula=formula)
    if type(expr) in PARTIALS and not expr.args[0].has(var):
        return _diff_partials(expr, var, namer)
    return Step("sympy.diff", expr, var, sp.diff(expr, var), formula=FALLBACK_FORMULA)


def _diff_partials(expr: sp.Expr, var: sp.Symbol, namer: Namer) -> Step:
    """f(k, a_1, ..., a_n) of arguments that depend on ``var`` (softmax of composite scores):
    the chain rule through each argument, sum_j ∂f/∂a_j · a_j' over the a_j that contain var,
    each ∂f/∂a_j by the function's partial (``softmax_k (δ_kj - softmax_j)``)."""
    partial, formula = PARTIALS[type(expr)]
    k, args = expr.args[0], expr.args[1:]
    terms, subs = [], []
    for j, a in enumerate(args, start=1):
        if a.has(var):
            inner = _diff(a, var, namer)
            terms.append(partial(k, sp.Integer(j), *args) * inner.result)
            subs.append(inner)
    return Step("partials", expr, var, sp.Add(*terms), tuple(subs), formula=formula)


def _linear_coefficient(expr: sp.Expr, var: sp.Symbol) -> sp.Expr | None:
    """a, when expr = a*var + b with a, b free of var and expr a sum or product (else None)."""
    if not isinstance(expr, (sp.Add, sp.Mul)):
        return None
    a = sp.diff(expr, var)
    if a.has(var) or expr.has(sp.Derivative):
        return None
    b = sp.expand(expr - a * var)
    if b.has(var):
        return None
    return a


def _ordered(args):
    return sorted(args, key=sp.default_sort_key)


def _chain_or_leaf(expr, var, namer, fprime: Callable[[sp.Expr], sp.Expr], formula) -> Step:
    """f(inner, *rest): the elementary rule when inner is var, else the chain rule via
    u_k = inner (``rest``, a leaky ReLU's slope, is free of var)."""
    inner, rest = expr.args[0], expr.args[1:]
    if inner == var:
        return Step("elementary", expr, var, fprime(var, *rest), formula=formula)
    u = namer.fresh()
    outer = Step("elementary", expr.func(u, *rest), u, fprime(u, *rest), formula=formula)
    inner_step = _diff(inner, var, namer)
    result = fprime(inner, *rest) * inner_step.result
    return Step("chain", expr, var, result, (outer, inner_step), intermediate=(u, inner))


def _diff_mul(expr: sp.Mul, var, namer) -> Step:
    const = [a for a in expr.args if not a.has(var)]
    dep = [a for a in expr.args if a.has(var)]
    if const:
        c = sp.Mul(*const)
        rest = sp.Mul(*dep)
        sub = _diff(rest, var, namer)
        return Step("constant multiple", expr, var, c * sub.result, (sub,))
    den = [a for a in dep if isinstance(a, sp.Pow) and a.exp.is_number and a.exp < 0]
    num = [a for a in dep if a not in den]
    if den and num:
        n, d = sp.Mul(*num), sp.Mul(*[1 / a for a in den])
        sn, sd = _diff(n, var, namer), _diff(d, var, namer)
        result = (sn.result * d - n * sd.result) / d**2
        return Step("quotient", expr, var, result, (sn, sd))
    subs = tuple(_diff(a, var, namer) for a in dep)
    terms = [
        sp.Mul(subs[i].result, *[f for j, f in enumerate(dep) if j != i]) for i in range(len(dep))
    ]
    return Step("product", expr, var, sp.Add(*terms), subs)


def _diff_pow(expr: sp.Pow, var, namer) -> Step:
    base, exp = expr.args
    if not exp.has(var):
        derivative = exp * base ** (exp - 1)
        if base == var:
            return Step("power", expr, var, derivative, formula=POWER_RULE)
        u = namer.fresh()
        outer = Step("power", u**exp, u, exp * u ** (exp - 1), formula=POWER_RULE)
        inner = _diff(base, var, namer)
        return Step("chain", expr, var, derivative * inner.result, (outer, inner), (u, base))
    if not base.has(var):
        derivative = expr * sp.log(base)
        if exp == var:
            return Step("exponential", expr, var, derivative, formula=EXPONENTIAL_RULE)
        u = namer.fresh()
        outer = Step(
            "exponential", base**u, u, base**u * sp.log(base), formula=EXPONENTIAL_RULE
        )
        inner = _diff(exp, var, namer)
        return Step("chain", expr, var, derivative * inner.result, (outer, inner), (u, exp))
    rewritten = sp.exp(exp * sp.log(base), evaluate=False)
    sub = _diff(rewritten, var, namer)
    return Step(
        "logarithmic", expr, var, sub.result, (sub,), formula=LOGARITHMIC_RULE
    )


# --- named rewrites (simplification a teacher would show) --------------------------------------
@dataclass(frozen=True)
class Rewrite:
    name: Note  # the annotation, e.g. Note("rewrite:tanh") (tanh = sinh/cosh)
    apply: Callable[[sp.Expr], sp.Expr]


def _mul_pairs(expr: sp.Expr, make: Callable[[sp.Mul], sp.Expr | None]) -> sp.Expr:
    return expr.replace(lambda e: isinstance(e, sp.Mul) and make(e) is not None, make)


def _reciprocals(m: sp.Mul) -> dict[sp.Expr, sp.Expr]:
    """Denominator base -> the factor ``base**-1`` in ``m``."""
    return {f.base: f for f in m.args if isinstance(f, sp.Pow) and f.exp == -1}


def _tanh_from_ratio(m: sp.Mul):
    recips = _reciprocals(m)
    for f in m.args:
        if isinstance(f, sp.sinh) and sp.cosh(f.args[0]) in recips:
            rest = [g for g in m.args if g not in (f, recips[sp.cosh(f.args[0])])]
            return sp.Mul(*rest) * sp.tanh(f.args[0])
    return None


def _sigmoid_from_exp(m: sp.Mul):
    recips = _reciprocals(m)
    for f in m.args:
        if isinstance(f, sp.exp) and 1 + f in recips:
            rest = [g for g in m.args if g not in (f, recips[1 + f])]
            return sp.Mul(*rest) * sigmoid(f.args[0])
    return None


def _sigmoid_from_reciprocal(e: sp.Expr) -> sp.Expr:
    w = sp.Wild("w")
    return e.replace(
        lambda x: isinstance(x, sp.Pow) and x.exp == -1 and x.base.match(1 + sp.exp(w)),
        lambda x: sigmoid(-x.base.match(1 + sp.exp(w))[w]),
    )


def _exp_log_to_power(e: sp.Expr) -> sp.Expr:
    def as_power(x):
        arg = x.args[0]
        logs = [f for f in sp.Mul.make_args(arg) if isinstance(f, sp.log)]
        if len(logs) == 1:
            return logs[0].args[0] ** (arg / logs[0])
        return None

    return e.replace(lambda x: isinstance(x, sp.exp) and as_power(x) is not None, as_power)


REWRITES = (
    Rewrite(Note("rewrite:tanh"), lambda e: _mul_pairs(e, _tanh_from_ratio)),
    Rewrite(Note("rewrite:sigmoid-exp"), lambda e: _mul_pairs(e, _sigmoid_from_exp)),
    Rewrite(Note("rewrite:sigmoid-reciprocal"), _sigmoid_from_reciprocal),
    Rewrite(Note("rewrite:power"), _exp_log_to_power),
)


def named_rewrites(expr: sp.Expr) -> list[tuple[Rewrite, sp.Expr]]:
    """Apply the named rewrites that change ``expr``; returns (rewrite, new expression) pairs."""
    out = []
    for rw in REWRITES:
        new = rw.apply(expr)
        if new != expr:
            out.append((rw, new))
            expr = new
    return out


SIMPLIFY_MAX_OPS = 120
TIDY_COMPARE_NODES = 400  # tree nodes: larger lines are not printed to compare with the line before


def simplest_form(expr: sp.Expr) -> tuple[sp.Expr, str] | None:
    """A strictly shorter form a teacher would write, with its name, or None.

    Tries multiplying out and collecting (``-t(1 - σ) - (t - 1)σ = σ - t``) and pulling out
    common factors; keeps the first that has fewer operations than ``expr``. Skipped for large
    expressions; the multiplied-out candidates are dropped when multiplying out would more than
    double the size (``(1 + u)^2`` inside a larger formula), which :func:`expand_within` sees
    coming before it builds anything large: expanding such a formula took seconds, and
    ``factor_terms`` of the result more, for a form no teacher would write.
    """
    size = sp.count_ops(expr)
    if size > SIMPLIFY_MAX_OPS:
        return None
    candidates = [(factor_out(expr), "factor out common factors")]
    limit = max(2 * size, SIMPLIFY_MAX_OPS)
    expanded = expand_within(expr, limit)
    if expanded is not None and sp.count_ops(expanded) <= limit:
        candidates.insert(0, (expanded, "multiply out and collect"))
        candidates.insert(1, (factor_out(expanded), "multiply out, collect, factor out"))
    best = min(candidates, key=lambda c: sp.count_ops(c[0]))
    if sp.count_ops(best[0]) < size and best[0] != expr:
        return best
    return None


LONG_NUMBER_DIGITS = 3


def long_number(number: sp.Basic) -> bool:
    """Whether ``number`` is a fraction with a numerator or denominator of more than
    :data:`LONG_NUMBER_DIGITS` digits: a decimal the sheet writes (``0.044715 = 8943/200000``)
    or a product of such decimals, not a fraction a teacher would pull out of a sum."""
    return isinstance(number, sp.Rational) and number.q != 1 and (
        len(str(abs(number.p))) > LONG_NUMBER_DIGITS or len(str(number.q)) > LONG_NUMBER_DIGITS)


def factor_out(expr: sp.Expr) -> sp.Expr:
    """``expr`` with its common factors pulled out (``factor_terms``), keeping long fractions
    (:func:`long_number`) where they stand: they are held as opaque symbols while factoring, so
    only symbolic factors and short numbers are pulled out (``(0.5 + 0.5 tanh u) + 0.044715 z``
    keeps its decimals, where ``factor_terms`` alone gives ``(250000 + 250000 tanh u + 89430
    z)/500000``). A long fraction common to every term is still pulled out, as itself."""
    longs = [a for a in expr.atoms(sp.Rational) if long_number(a)]
    if not longs:
        return sp.factor_terms(expr)
    sizes = sorted({abs(n) for n in longs}, key=sp.default_sort_key)
    held = {n: sp.Dummy(f"c{i}", positive=True) for i, n in enumerate(sizes)}
    masked = expr.xreplace({n: sp.sign(n) * held[abs(n)] for n in longs})
    return sp.factor_terms(masked).xreplace({d: n for n, d in held.items()})


def expand_within(expr: sp.Expr, max_ops: int) -> sp.Expr | None:
    """``expr`` multiplied out (``expand`` without splitting powers: ``a^(x^2 + 1)`` stays), or
    None as soon as a part would have more than about ``max_ops`` operations.

    Works bottom-up, one node at a time (the arguments already multiplied out) and predicts each
    node's number of terms before multiplying it out, so the work is bounded by the limit, not by
    the size of the expansion: a deterministic budget, the same on every machine.
    """
    nodes_limit = 4 * max_ops + 16  # tree nodes, a generous multiple of the operations

    def combine(node: sp.Basic, args: list) -> sp.Basic:
        new = node if all(a is b for a, b in zip(args, node.args, strict=True)) \
            else node.func(*args)
        if _predicted_terms(new) > nodes_limit:
            raise _TooLarge
        if new.is_Mul or new.is_Pow or new.is_Add:
            new = sp.expand(new, deep=False, power_exp=False)
            if trees.size(new) > nodes_limit:
                raise _TooLarge
        return new

    try:
        return trees.bottom_up(expr, {}, lambda leaf: leaf, combine)
    except _TooLarge:
        return None


class _TooLarge(Exception):
    """A part of the expansion would pass the budget."""


def _predicted_terms(e: sp.Basic) -> int:
    """Terms of ``e`` multiplied out at the top level (its arguments already are)."""
    def terms(f: sp.Basic) -> int:
        return len(f.args) if f.is_Add else 1

    if e.is_Pow and e.exp.is_Integer and e.base.is_Add:
        k, n = terms(e.base), abs(int(e.exp))
        return sp.binomial(k + n - 1, n) if n <= 64 else 10**9
    if e.is_Mul:
        total = 1
        for f in e.args:
            base = f.base if f.is_Pow and f.exp.is_Integer else f
            power = abs(int(f.exp)) if f.is_Pow and f.exp.is_Integer else 1
            total *= terms(base) ** min(power, 64)
            if total > 10**9:
                break
        return total
    return 1


# --- display lines ------------------------------------------------------------------------------
RULE_TEXT = {
    "constant": "constant rule",
    "variable": "",
    "linear": "linearity",
    "sum": "sum rule",
    "constant multiple": "constant factor rule",
    "product": "product rule",
    "quotient": "quotient rule",
    "chain": "chain rule",
    "partials": "chain rule",
    "max": "max rule",
}


@dataclass
class Derivation:
    """The displayed derivation of d(expr)/d(var) and its verified answer."""

    expr: sp.Expr
    var: sp.Symbol
    root: Step
    lines: list[Line]
    answer: sp.Expr
    intermediates: list[tuple[sp.Symbol, sp.Expr]] = field(default_factory=list)

    @property
    def rules(self) -> list[Inline]:
        """The reasons of every line, in order, without repeats."""
        return list(dict.fromkeys(r for ln in self.lines for r in reasons(ln.rule)))


def derivation(
    expr: sp.Expr,
    var: sp.Symbol,
    *,
    lhs: sp.Basic | None = None,
    reserved: Iterable[str] = (),
    order: TermOrder | None = None,
    detail: str = "full",
    chain_line: bool = True,
) -> Derivation:
    """Step-by-step d(expr)/d(var): one line per level of rules, then named simplifications.

    ``detail="full"``: the intermediates defined on lines of their own, one line per level of
    rules, the intermediates substituted back, then every tidying step. ``"standard"`` (what a
    TA writes): no definition lines (the caller states the intermediates in a sentence, from
    ``intermediates``), the first level of rules (the chain rule) on one line, every further
    level and the substitution on the next (all on one line when the first level is not the
    chain rule, or without ``chain_line``: then no line shows an intermediate), and a plain
    "multiply out" only when no named simplification follows (that one's line shows the
    result).

    Every line's ``check`` compares the line (pending derivatives taken by ``sympy.diff``,
    intermediates substituted back) with ``sympy.diff(expr, var)``.
    """
    standard = detail == "standard"
    reserved = set(reserved) | {s.name for s in expr.free_symbols}
    if order is not None:
        expr = order.orient_functions(expr)
    root = differentiate(expr, var, Namer(reserved))
    truth = sp.diff(expr, var)
    lhs = lhs if lhs is not None else sp.Derivative(expr, var, evaluate=False)

    intermediates = _intermediates(root)
    back = _back_substitution(intermediates)

    pending: dict[sp.Symbol, Step] = {}
    counter = itertools.count()

    def hold(step: Step) -> sp.Symbol:
        p = sp.Dummy(f"P{next(counter)}")
        pending[p] = step
        return p

    def display(state: sp.Expr) -> sp.Expr:
        return state.xreplace(
            {p: sp.Derivative(s.expr, s.var, evaluate=False) for p, s in pending.items()}
        )

    def check_value(state: sp.Expr) -> sp.Expr:
        value = state.xreplace({p: sp.diff(s.expr, s.var) for p, s in pending.items()})
        return _doit(back(value))

    shown = order or TermOrder()

    lines: list[Line] = []
    if not standard:
        for u, inner in intermediates:
            lines.append(Line(u, inner, "intermediate", None, "definition", ":="))

    state: sp.Expr = hold(root)
    first = True
    substitute = Note("substitute", tuple(u for u, _ in intermediates))
    substituted = False
    while pending:
        used: list[Inline] = []
        while pending:  # one level of rules; at "standard", every level after the first
            current = dict(pending)
            pending.clear()
            expansion = {p: _expand(s, hold, used, standard) for p, s in current.items()}
            state = state.xreplace(expansion)
            if not standard or (chain_line and first and "chain rule" in used):
                break  # at "standard", the chain rule has a line of its own
        rule = rules(*dict.fromkeys(r for r in used if r))
        if standard and not pending and intermediates:
            state = back(state)  # the last levels and the substitution on one line
            rule = rules(rule, substitute) if not first else rule  # no line showed a u_k
            substituted = True
        check = (check_value(state), truth)
        lines.append(Line(lhs if first else None, display(state), rule, check))
        first = False

    if intermediates and not substituted:
        state = back(state)
        lines.append(Line(None, state, substitute, (_doit(state), truth)))

    def tidy(new: sp.Expr, rule: Annotation) -> sp.Expr:
        """A tidying line, unless it is shown exactly as the line before (SymPy's 2y - 2t and
        factor_terms' 2(y - t) are both shown 2(y - t)): a reader would see a step that does
        nothing."""
        prev = lines[-1].rhs
        if not (trees.size_at_most(new, TIDY_COMPARE_NODES)
                and trees.size_at_most(prev, TIDY_COMPARE_NODES)
                and shown.same_display(new, prev)):  # comparing large formulas costs too much
            lines.append(Line(None, new, rule, (new, truth)))
        return new

    value = _doit(state).doit()  # doit re-evaluates: one canonical form for the rewrites
    steps: list[tuple[sp.Expr, Annotation]] = []
    if value != state:
        steps.append((value, "multiply out"))
    for rw, new in named_rewrites(value):
        steps.append((new, rw.name))
        value = new
    shorter = simplest_form(value)
    if shorter is not None:
        steps.append(shorter)
        value = shorter[0]
    cancelled = cancelled_factors(lines[-1].rhs) if standard and steps \
        and steps[0][1] == "multiply out" else ()
    if cancelled:  # the cancellation is a step of its own: σ(z) and 1 - σ(z) cancel
        steps[0] = (steps[0][0], Note("cancel", cancelled))
    elif standard and len(steps) > 1 and steps[0][1] == "multiply out":
        steps = steps[1:]  # the named simplification's line shows the product multiplied out
    elif standard and steps and steps[0][1] == "multiply out":
        steps[0] = (steps[0][0], tidy_label(lines[-1].rhs, steps[0][0]))
    for new, rule in steps:
        tidy(new, rule)
    return Derivation(expr, var, root, lines, value, intermediates)


def cancelled_factors(shown: sp.Expr) -> tuple[sp.Expr, ...]:
    """The factors that cancel in the displayed products of ``shown`` (a product, or a sum of
    products, shown factor by factor): each base that is both a factor and a denominator of
    one product (``1/σ(z) · (1 - σ(z)) σ(z)``: σ(z)), in order of appearance."""
    def flat(e: sp.Expr) -> list[sp.Expr]:
        if isinstance(e, Dot | sp.Mul):
            return [g for f in e.args for g in flat(f)]
        return [e]

    out: list[sp.Expr] = []
    products = [t for t in sp.Add.make_args(shown) if not isinstance(t, sp.Add)]
    for product in products:
        factors = flat(product)
        numerators = {f.base if f.is_Pow and f.exp.is_positive else f for f in factors
                      if not (f.is_Pow and f.exp.is_negative)}
        for f in factors:
            if f.is_Pow and f.exp == -1 and f.base in numerators and f.base not in out:
                out.append(f.base)
    return tuple(out)


SIGNS_CANCEL = "the signs cancel"
ONES_DROPPED = "drop the factors 1"


def tidy_label(shown: sp.Expr, new: sp.Expr) -> Annotation:
    """What a "multiply out" step from the displayed product ``shown`` to ``new`` did, named
    exactly: "the signs cancel" (−1 · σ(−v) · (−1) = σ(−v)), "drop the factors 1", or
    "multiply out" when something is multiplied out."""
    def factors(e: sp.Expr) -> list[sp.Expr]:
        return [g for f in e.args for g in factors(f)] if isinstance(e, Dot) else [e]

    if isinstance(shown, Dot):
        flat = factors(shown)
        numbers = [f for f in flat if f.is_Number]
        rest = sp.Mul(*(f for f in flat if not f.is_Number))
        if numbers and all(abs(f) == 1 for f in numbers) and sp.Mul(*numbers) == 1 \
                and rest == new:
            return SIGNS_CANCEL if any(f == -1 for f in numbers) else ONES_DROPPED
    return "multiply out"


def _doit(e: sp.Expr) -> sp.Expr:
    return e.replace(lambda x: isinstance(x, Dot), lambda x: sp.Mul(*x.args))


def _intermediates(step: Step) -> list[tuple[sp.Symbol, sp.Expr]]:
    out = [step.intermediate] if step.intermediate else []
    for s in step.substeps:
        out.extend(_intermediates(s))
    return out


def _back_substitution(intermediates):
    mapping = dict(intermediates)

    def back(e: sp.Expr) -> sp.Expr:
        for _ in range(len(mapping) + 1):
            if not any(u in mapping for u in e.free_symbols):
                break
            e = e.xreplace(mapping)
        return e

    return back


def _expand(step: Step, hold: Callable[[Step], sp.Symbol], used: list[Inline],
            exact_labels: bool = False) -> sp.Expr:
    """One level of ``step``: its result in terms of held (pending) substeps. With
    ``exact_labels`` (standard detail), a min is named "min rule", not "max rule"."""
    r = step.rule
    if r in ("constant", "variable", "linear", "power", "exponential", "elementary", "sympy.diff"):
        used.append(step.formula or RULE_TEXT.get(r, ""))
        return step.result
    if exact_labels and r == "max" and isinstance(step.expr, sp.Min):
        used.append("min rule")
    else:
        used.append(RULE_TEXT.get(r, step.formula))
    subs = step.substeps
    if r == "sum":
        return sp.Add(*(hold(s) for s in subs), evaluate=False)
    if r == "constant multiple":
        c = step.expr / subs[0].expr
        return Dot(c, hold(subs[0]))
    if r == "product":
        factors = [s.expr for s in subs]
        terms = []
        for i, s in enumerate(subs):
            others = [f for j, f in enumerate(factors) if j != i]
            terms.append(Dot(*others[:i], hold(s), *others[i:]))
        return sp.Add(*terms, evaluate=False)
    if r == "quotient":
        n, d = subs[0].expr, subs[1].expr
        return (Dot(hold(subs[0]), d) - Dot(n, hold(subs[1]))) / d**2
    if r == "chain":
        return Dot(*_flatten_chain(step, hold))
    if r == "max":
        f, g = step.substeps
        hf, hg = _max_weights(step.expr, f.expr, g.expr)
        return sp.Add(Dot(hf, hold(f)), Dot(hg, hold(g)), evaluate=False)
    if r == "logarithmic":
        return hold(subs[0])
    if r == "partials":  # the chain rule through each argument that contains the variable
        used.append(step.formula)
        partial = PARTIALS[type(step.expr)][0]
        k, args = step.expr.args[0], step.expr.args[1:]
        out = iter(subs)
        terms = [Dot(partial(k, sp.Integer(j), *args), hold(next(out)))
                 for j, a in enumerate(args, start=1) if a.has(step.var)]
        return sp.Add(*terms, evaluate=False) if len(terms) > 1 else terms[0]
    raise AssertionError(f"unknown rule {r}")  # pragma: no cover


def _max_weights(expr: sp.Expr, f: sp.Expr, g: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """The factors of f' and g' in ``max(f, g)'`` (``min``): ``H(f - g)`` and ``1 - H(f - g)``
    (``H(g - f)``, ``1 - H(g - f)`` for min), with ``H(0) = 0``.

    They add up to 1 everywhere, so where f = g on a whole interval (where f' = g') the result is
    that common derivative: ``max(b, leaky_relu(b, 0.01))' = 1`` for b > 0. The symmetric
    ``H(f - g) f' + H(g - f) g'`` would give 0 there."""
    h = sp.Heaviside((g - f) if isinstance(expr, sp.Min) else (f - g), 0)
    return h, 1 - h


def _flatten_chain(step: Step, hold) -> list[sp.Expr]:
    outer, inner = step.substeps
    first = hold(outer)  # held first, so that its rule is named first
    rest = _flatten_chain(inner, hold) if inner.rule == "chain" else [hold(inner)]
    return [first, *rest]


# --- one local derivative, for backprop -----------------------------------------------------------
@dataclass(frozen=True)
class Local:
    """d(expr)/d(var) with the rules that give it (for one edge of a computation graph)."""

    result: sp.Expr
    rules: tuple[Inline, ...]  # the reasons, in order, without repeats
    lines: tuple[Line, ...]
    intermediates: tuple[tuple[sp.Symbol, sp.Expr], ...] = ()  # (u_k, inner), as derivation's


def local_derivative(
    expr: sp.Expr,
    var: sp.Symbol,
    reserved: Iterable[str] = (),
    order: TermOrder | None = None,
    detail: str = "full",
    chain_line: bool = True,
) -> Local:
    """d(expr)/d(var), simplified by the named rewrites, with the rules that give it (and the
    lines of its derivation at ``detail``, see :func:`derivation`)."""
    d = derivation(expr, var, reserved=reserved, order=order, detail=detail,
                   chain_line=chain_line)
    used = [r for r in d.rules if r != "intermediate"
            and not (isinstance(r, Note) and r.kind == "substitute")]
    fallback = [RULE_TEXT.get(d.root.rule, d.root.rule)]
    return Local(d.answer, reasons(rules(*(used or fallback))), tuple(d.lines),
                 tuple(d.intermediates))
