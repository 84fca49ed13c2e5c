"""Task ``backprop``: the backward computations for ∂E/∂w, as a TA writes them (3b, 4b).

Parameters (TOML, in the part):

* ``wrt``: a name, a list of names, or ``"all"`` (every parameter of the graph, see
  :mod:`derive.maths.graph` for how parameters are inferred or declared). A name may also be an
  intermediate node (``wrt = "z3"`` gives δ_3).
* ``loss`` (optional): the node to differentiate; default the last assignment of the model.
* ``at`` (optional table): a value for every input and parameter the loss reads; the solution
  then ends with the forward values, the δ's and the gradients at that point (see ``data``).
* ``inputs``, ``targets``, ``parameters`` (optional lists): declare the leaves explicitly, all
  or some. A declared kind is exactly its list; a kind left out is inferred from the other
  leaves (inputs and targets by their names, parameters as every leaf left over), see
  :mod:`derive.maths.graph`. Errors in them are reported at the part's parameter line.

The solution: a sentence on the convention (δ_j = ∂E/∂z_j) and on which nodes need a δ; the
step-by-step derivation of every local derivative that needs the chain rule; the δ's in reverse
topological order, each once (definition, chain rule in Leibniz form, then the exercise's
symbols); then for each target ∂E/∂w = δ_j · ∂z_j/∂w, and the closed form in forward quantities
(when it is small enough to print). ``data``: ``loss``, ``wrt``, ``deltas`` (node -> δ, in the
order computed), ``delta_symbols`` (node -> symbol name), ``folded`` (activation ->
pre-activation), ``skipped`` (nodes needing no δ), ``answer_form`` (target -> "closed", in
forward quantities, or "recurrence", in δ's, when the closed form would be too large to print),
``checks`` ("symbolic", "numeric" or "symbolic+numeric": how the gradients were compared with
sympy.diff); with ``at``, also ``values``, ``deltas_at`` and ``gradients`` (exact rationals where
possible, else 20 significant digits).

:func:`explain_graph` is the same for a computation list given at the terminal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

import sympy as sp

from derive.errors import InputError
from derive.maths import trees
from derive.maths.backprop import (
    BackwardPass,
    Closed,
    Edge,
    backward,
    closed_forms,
    factor_terms,
    monomials,
    select,
    substituted,
    truth,
)
from derive.maths.display import Dot, TermOrder
from derive.maths.functions import BY_NAME
from derive.maths.graph import Graph, build_graph
from derive.sheet.model import Assignment
from derive.sheet.modelcheck import check_model
from derive.sheet.parse import parse_assignment
from derive.steps import (
    Align,
    Annotation,
    Inline,
    Line,
    Math,
    Note,
    Prose,
    Solution,
    Table,
    Text,
    joined,
    prose,
    rules,
)
from derive.tasks.spec import Context, task
from derive.verify.claims import Answer, AtRandomPoints, Gradients

D = sp.Derivative
LIST = (str, list)
SIMPLIFY_CANCEL = 200  # tree nodes: larger answers are not tried for cancelled fractions
SHOWN_PRODUCT = 30  # tree nodes: longer closed forms are shown collected, not factor by factor


@task(
    "backprop",
    required={"wrt": LIST},
    optional={"loss": str, "inputs": list, "targets": list, "parameters": list, "at": dict},
    summary="backward pass: one δ per node on a path from the targets to the loss",
)
def run(ctx: Context) -> Solution:
    graph = graph_for(ctx)
    loss, wrt = select(graph, ctx.params.get("loss"), ctx.params["wrt"], ctx.error)
    order = TermOrder(ctx.names)
    solution, bp = _solve(graph, loss, wrt, order, ctx.notation, ctx.detail,
                          lambda e, v: ctx.cite(e, v, ctx.notation, order), ctx.facts)
    if "at" in ctx.params:  # numbers for the inputs and parameters: a numeric backward pass too
        _at(solution, bp, _at_values(ctx), order, ctx.notation)
    return solution


def _at_values(ctx: Context) -> dict[str, sp.Expr]:
    """The part's ``at`` table as SymPy numbers: TOML numbers, or numbers already parsed (the
    table ``derive explain`` builds); never a string (nothing is parsed here)."""
    values = {}
    for name, value in ctx.params["at"].items():
        if isinstance(value, sp.Basic) and value.is_number:
            values[name] = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            values[name] = sp.Float(value) if isinstance(value, float) else sp.Integer(value)
        else:
            raise ctx.error(f"at: the value of {name} must be a number", "at")
    return values


def graph_for(ctx: Context) -> Graph:
    """The exercise's computation graph, with leaves declared by the part if it says so."""
    declared = {k: ctx.params[k] for k in ("inputs", "targets", "parameters") if k in ctx.params}
    return build_graph(ctx.model, file=ctx.file, declared=declared, param_error=ctx.error)


# --- the solution ------------------------------------------------------------------------------
class SheetMath:
    """Formulas for sentences and rule notes, in the sheet's notation and term order; with the
    part's detail level and how it cites earlier results (``cite(expr, var)`` -> (value, note)
    or None, :meth:`derive.tasks.spec.Context.cite`)."""

    def __init__(self, order: TermOrder, notation: Mapping[str, str] | None,
                 detail: str = "full", cite: Callable | None = None, facts=()):
        self.order, self.notation = order, dict(notation or {})
        self.standard = detail == "standard"
        self.cite = cite or (lambda e, v: None)
        self.facts: tuple[sp.Eq, ...] = tuple(facts)  # the exercise's declared facts
        self.under: dict[str, dict] = {}  # target -> the facts' solutions its answer used
        self.facts_used: dict[str, list[sp.Eq]] = {}

    def math(self, e: sp.Basic) -> Math:
        return Math(e, self.notation, self.order)

    def names(self, syms: Sequence[sp.Basic]) -> Prose:
        """``a``, ``a and b``, ``a, b and c``, each a formula."""
        return joined([self.math(s) for s in syms], ", ", " and ")


def solve(graph: Graph, loss: str, wrt: Sequence[str], order: TermOrder,
          notation: Mapping[str, str] | None = None, detail: str = "full") -> Solution:
    """Backward pass, lines, checks and data for ``wrt``."""
    return _solve(graph, loss, wrt, order, notation, detail)[0]


def _solve(graph: Graph, loss: str, wrt: Sequence[str], order: TermOrder,
           notation: Mapping[str, str] | None, detail: str = "full",
           cite: Callable | None = None, facts=()) -> tuple[Solution, BackwardPass]:
    """The solution at ``detail``: at "full", the chain-rule local derivatives step by step
    first, each δ as definition, chain rule and value, each gradient as chain rule and local
    derivative; at "standard", each δ and the first step of each gradient on one line (the
    local derivatives' rules beside it, a derivative an earlier part derived cited), and every
    tanh(z) written as the node that holds it (1 - a^2)."""
    bp = backward(graph, loss, wrt, order)
    closed = closed_forms(bp)
    sheet = SheetMath(order, notation, detail, cite, facts)
    blocks: list = [Text(_intro(bp, sheet))]
    derived = _chain_rule_locals(bp) if not sheet.standard else []
    if derived:
        blocks.append(Text("Local derivatives that need the chain rule, step by step:"))
        blocks.extend(Align(tuple(loc.lines)) for _, loc in derived)
    notes = {id(loc): prose(sheet.math(lhs), " above") for lhs, loc in derived}
    if bp.deltas:
        blocks.append(Text("Backward pass, one δ per node in reverse topological order:"))
        blocks.append(Align(tuple(ln for d in bp.deltas for ln in _delta_lines(bp, d, closed,
                                                                                notes, sheet))))
    answers: dict[str, sp.Expr] = {}
    forms: dict[str, str] = {}
    checks: list[Answer | AtRandomPoints] = []
    numeric: list[str] = []  # targets whose substituted loss is too large for sympy.diff
    targets = sheet.names([graph.sym(w) for w in bp.wrt])
    blocks.append(Text(prose(f"Then the gradient{'s' if len(bp.wrt) > 1 else ''} with respect to ",
                             targets, ", from the δ's of the nodes that read "
                             f"{'them' if len(bp.wrt) > 1 else 'it'}:")))
    for gr in bp.gradients:
        lines, answer, form = _gradient_lines(bp, gr, closed, notes, sheet)
        blocks.append(Align(tuple(lines)))
        answers[gr.wrt], forms[gr.wrt] = answer, form
        t = truth(bp, gr.wrt)
        s = substituted(bp, answer, gr.wrt) if form == "closed" else None
        if t is None or s is None:
            numeric.append(gr.wrt)
        else:
            under = sheet.under.get(gr.wrt, {})  # an answer that used a declared fact
            given = "".join(f" given {sp.sstr(f.lhs)} = {sp.sstr(f.rhs)}"
                            for f in sheet.facts_used.get(gr.wrt, []))
            checks.append(Answer(f"d{loss}/d{gr.wrt} = sympy.diff of the substituted loss"
                                 + given, s.subs(under), t.subs(under)))
    if numeric:
        checks.append(AtRandomPoints(bp, tuple(numeric)))
    kind = "numeric" if len(numeric) == len(bp.wrt) else "symbolic+numeric" if numeric else \
        "symbolic"
    answer = next(iter(answers.values())) if len(answers) == 1 else sp.Tuple(*answers.values())
    solution = Solution(
        blocks=blocks,
        answer=answer,
        answers=answers,
        data={
            "loss": loss,
            "wrt": list(bp.wrt),
            "deltas": {d.node: _Named(graph, sheet.standard)(d.result) for d in bp.deltas},
            "delta_symbols": {d.node: d.symbol.name for d in bp.deltas},
            "folded": dict(bp.folded),
            "skipped": list(bp.skipped),
            "answer_form": forms,
            "checks": kind,
        },
        claims=[Gradients("gradients", tuple(checks))],
    )
    return solution, bp


def _intro(bp: BackwardPass, sheet: SheetMath) -> Prose:
    g = bp.graph
    E = g.sym(bp.loss)
    targets = sheet.names([g.sym(w) for w in bp.wrt])
    if bp.folded:
        note = Note("delta-convention-folded", (E, *convention_letters(g, bp.loss)))
    else:
        note = Note("delta-convention", (E,))
    parts: list[Inline] = [note, " "]
    owners = [g.sym(d.node) for d in bp.deltas]
    if owners:
        parts += ["Only the nodes on a path from ", targets, " to ", sheet.math(E), " need a δ, "
                  "each computed once and reused: ", sheet.names(owners)]
        if bp.folded:
            acts = [g.sym(a) for a in bp.folded]
            parts += ([" (the activation ", sheet.names(acts), " is folded into its δ)"]
                      if len(acts) == 1 else
                      [" (the activations ", sheet.names(acts), " are folded into their δ's)"])
        parts.append(".")
    if bp.skipped:
        verb = "does" if len(bp.skipped) == 1 else "do"
        parts += [" ", sheet.names([g.sym(n) for n in bp.skipped]), f" {verb} not depend on ",
                  targets, " and need no δ."]
    return prose(*parts)


# the step engine's tidying names: not rules of a δ's line (its next line shows the tidying)
TIDYING = ("multiply out", "factor out common factors", "multiply out and collect",
           "multiply out, collect, factor out", "the signs cancel", "drop the factors 1")
# catalogue units whose value a node's name replaces at every detail
NAMED_UNITS = ("sigmoid", "softmax")
LETTERS = {"a": ("a", "h", "o"), "f": ("f", "g", "phi"), "z": ("z", "s", "u")}


def convention_letters(g: Graph, loss: str) -> tuple[str, str, str]:
    """The letters of the δ convention's activation a_j, function f and pre-activation z_j,
    each the first of its candidates that the exercise does not use otherwise: not the name of
    the loss or of a leaf (an input ``a``, a loss ``f``), nor a leaf's letter with an index
    (inputs ``a1``, ``a2``)."""
    taken = {loss} | set(g.leaves)
    stems = {m.group(1) for n in g.leaves if (m := re.match(r"^([A-Za-z]+)_?\d+$", n))}
    chosen: list[str] = []
    for key in ("a", "f", "z"):
        chosen.append(next((c for c in LETTERS[key] if c not in taken and c not in stems
                            and c not in chosen), LETTERS[key][0]))
    return chosen[0], chosen[1], chosen[2]


class _Named:
    """σ(z) written as the activation's own name a, for every node ``a = sigmoid(z)`` (with
    ``tanh``, at standard detail: also tanh(z) for every node ``a = tanh(z)``, so that
    1 - tanh²(z) reads 1 - a², and both for any argument, not only a node: the hidden state
    h_3 = tanh(u x_3 + r h_2) of a recurrent network).

    A TA writes the logistic unit's derivative as a(1 − a) (Mazur's out(1 − out)), not
    σ(z)(1 − σ(z)) next to a y that already names σ(z_3); tanh keeps 1 − tanh²(z), as on the
    seed sheet. Only displays and answers are rewritten; checks compare both sides with
    every such name written as σ(z) again (:meth:`unnamed`).
    """

    def __init__(self, g: Graph, tanh: bool = False):
        self.graph = g
        kinds = tuple(BY_NAME[n].cls for n in (NAMED_UNITS + (("tanh",) if tanh else ())))
        self.to = {e: g.sym(a) for a, e in g.exprs.items()
                   if isinstance(e, kinds) and (tanh or (isinstance(e.args[0], sp.Symbol)
                                                        and g.is_node(e.args[0].name)))}
        self.back = {v: k for k, v in self.to.items()}
        self.said = {k: sp.Eq(v, k, evaluate=False) for k, v in self.to.items()}
        if tanh:  # a ratio node p = e^z / S: e^z written p S, so that e^z/S reads p
            for a, e in g.exprs.items():
                factor = _one_function_factor(g, e)
                if factor is not None and factor not in self.to:
                    self.to[factor] = g.sym(a) * factor / e
                    self.back[g.sym(a)] = e
                    self.said[factor] = sp.Eq(g.sym(a), e, evaluate=False)

    def __call__(self, e: sp.Expr) -> sp.Expr:
        return e.xreplace(self.to) if self.to else e

    def unnamed(self, *sides: sp.Expr) -> tuple[sp.Expr, ...]:
        """A check with every such name written as σ(z) again, on both sides (repeatedly, when
        one name's value reads another: h_3 = tanh(u x_3 + r h_2))."""
        out = []
        for e in sides:
            for _ in range(len(self.back) + 1):
                new = e.xreplace(self.back)
                if new == e:
                    break
                e = new
            out.append(e)
        return tuple(out)

    def note(self, before: sp.Expr, sheet: SheetMath) -> Prose | str:
        """``a = σ(z)`` for each name the rewrite of ``before`` used, "" when none."""
        used = [self.said[k] for k in self.to if before.has(k)]
        return joined([sheet.math(eq) for eq in used]) if used else ""


def _one_function_factor(g: Graph, e: sp.Expr) -> sp.Expr | None:
    """F, when ``e`` is a product F · (nodes' powers) with F a function call of the leaves
    (p = exp(z)/S: exp(z)); else None."""
    if not isinstance(e, sp.Mul):
        return None
    calls = [f for f in e.args if isinstance(f, sp.Function)]
    rest = [f for f in e.args if f not in calls]
    if len(calls) != 1 or not all(
            (f.is_Symbol and g.is_node(f.name)) or (f.is_Pow and f.base.is_Symbol
                                                   and g.is_node(f.base.name)) for f in rest):
        return None
    return calls[0]


def _plain(e: sp.Expr) -> sp.Expr:
    """A display expression as a plain one: explicit products multiplied."""
    return e.replace(lambda x: isinstance(x, Dot), lambda x: sp.Mul(*x.args))


def _chain_rule_locals(bp: BackwardPass) -> list[tuple[sp.Expr, object]]:
    """Local derivatives whose derivation needs the chain rule: shown step by step first."""
    out = []
    g = bp.graph
    for d in bp.deltas:
        edges = list(d.edges)
        for e in edges:
            if any(ln.relation == ":=" for ln in e.local.lines):
                out.append((D(g.sym(e.consumer), g.sym(d.source), evaluate=False), e.local))
        loc = d.activation_local
        if loc is not None and any(ln.relation == ":=" for ln in loc.lines):
            out.append((D(g.sym(d.activation), g.sym(d.node), evaluate=False), loc))
    return out


def _rules(locals_, notes) -> list[Inline]:
    """The reasons of the local derivatives (or the note that points to their derivation), in
    order, without repeats."""
    out: list[Inline] = []
    for loc in locals_:
        for r in [notes[id(loc)]] if id(loc) in notes else loc.rules:
            if r and r not in out and r != "multiply out":
                out.append(r)
    return out


def _sum(terms: list[sp.Expr]) -> sp.Expr:
    return terms[0] if len(terms) == 1 else sp.Add(*terms, evaluate=False)


def _leibniz(g: Graph, e: Edge, var: str, loss: str) -> sp.Expr:
    """∂k/∂var · δ_k shown; for the loss the explicit expression ∂/∂var(...)."""
    if e.consumer == loss:
        return D(g.exprs[loss], g.sym(var), evaluate=False)
    return Dot(D(g.sym(e.consumer), g.sym(var), evaluate=False), e.upstream)


def _by_sympy(g: Graph, edges: Sequence[Edge], var: str) -> sp.Expr:
    return sp.Add(*(sp.diff(g.exprs[e.consumer], g.sym(var)) * e.upstream for e in edges))


def _shown(e: Edge, standard: bool = False) -> sp.Expr:
    """∂k/∂n · δ_k as shown; at standard detail a factor ∂k/∂n = 1 is left out."""
    if standard and e.local.result == 1:
        return e.upstream
    return e.local.result if e.upstream == 1 else Dot(e.local.result, e.upstream)


def _delta_lines(bp: BackwardPass, d, closed: Mapping[str, Closed], notes, sheet: SheetMath
                 ) -> list[Line]:
    g = bp.graph
    z, E, value = g.sym(d.node), g.sym(bp.loss), d.value
    by_sympy = _by_sympy(g, d.edges, d.source)
    chain = _sum([_leibniz(g, e, d.source, bp.loss) for e in d.edges])
    shown = _sum([_shown(e, sheet.standard) for e in d.edges])
    locals_ = [e.local for e in d.edges]
    if d.activation:
        a = g.sym(d.activation)
        chain = Dot(D(a, z, evaluate=False), chain)
        shown = Dot(d.activation_local.result, shown)
        by_sympy = sp.diff(g.exprs[d.activation], z) * by_sympy
        locals_.insert(0, d.activation_local)
    only_loss = len(d.edges) == 1 and d.edges[0].consumer == bp.loss and not d.activation
    lines = [Line(d.symbol, D(E, z, evaluate=False), Note("delta-definition"), None,
                  "definition", ":=")]
    if not only_loss:
        lines.append(Line(None, chain, "chain rule", (by_sympy, value)))
    check = (value, by_sympy)
    if d.node in closed:
        s, t = substituted(bp, closed[d.node].value, d.node), truth(bp, d.node)
        if s is not None and t is not None:
            check = (s, t)
    named = _Named(g, sheet.standard)
    reasons_ = _rules(locals_, notes)
    if sheet.standard:  # one line: δ = its value, the chain rule and the local rules beside it
        lines = []
        reasons_ = list(d.activation_local.rules) if d.activation_local is not None else []
        for e in d.edges:
            cited = _cited(g, e, d.source, bp.loss, sheet)
            reasons_ += [cited] if cited is not None else _exact_rules(g, e)
        reasons_ = ([] if only_loss else ["chain rule"]) + [r for r in reasons_
                                                             if r not in TIDYING]
    rule = rules(*dict.fromkeys(reasons_), named.note(shown, sheet))
    lines.append(Line(d.symbol if sheet.standard else None, named(shown), rule, check))
    if d.simplified is not None:
        a, f_z = g.sym(d.activation), g.exprs[d.activation]
        back = {a: f_z}
        cancelled = _cancellation(d, g) if sheet.standard else None
        if cancelled is not None:  # the cancellation students must learn, as its own step
            terms, prefactor, bases = cancelled
            lines.append(Line(None, terms, Note("multiply-in-cancel", (
                sheet.math(prefactor), *(sheet.math(b) for b in bases))),
                (value.xreplace(back), _plain(terms).xreplace(back))))
            lines.append(Line(None, d.simplified, "multiply out and collect",
                              (_plain(terms).xreplace(back), d.simplified.xreplace(back))))
        else:
            lines.append(Line(None, d.simplified,
                              rules(Math(sp.Eq(a, f_z, evaluate=False)), "simplify"),
                              (value.xreplace(back), d.simplified.xreplace(back))))
    return lines


def _cancellation(d, g: Graph) -> tuple[sp.Expr, sp.Expr, tuple[sp.Expr, ...]] | None:
    """δ = f'(z) · Σ_i s_i with f'(z) written in the activation's name (a(1 − a)) multiplied into
    each term s_i, where it cancels a denominator: −t(1 − y) − (t − 1) y from
    y(1 − y) · (−(t/y + (t − 1)/(1 − y))). Returns (the terms, f'(z), the cancelled factors), or
    None when nothing cancels."""
    a, f_z = g.sym(d.activation), g.exprs[d.activation]
    prefactor = d.activation_local.result.xreplace({f_z: a})
    inner = sp.Add(*(e.value for e in d.edges)).xreplace({f_z: a})
    coefficient, rest = inner.as_coeff_Mul()
    terms = [coefficient * t for t in sp.Add.make_args(rest)]
    if len(terms) < 2:
        return None
    factors = {b for f in sp.Mul.make_args(prefactor)
               for b in [f.base if f.is_Pow and f.exp.is_positive else f] if not b.is_Number}
    bases = []
    for t in terms:
        for f in sp.Mul.make_args(t):
            if f.is_Pow and f.exp.is_negative and f.base in factors and f.base not in bases:
                bases.append(f.base)
    if not bases:
        return None
    products = [prefactor * t for t in terms]
    return sp.Add(*products, evaluate=False), prefactor, tuple(bases)


def _exact_rules(g: Graph, e: Edge) -> list[Inline]:
    """The rules of edge ``e``'s local derivative, ∂k/∂n = 1 named with the node k that reads
    n (∂y/∂a_4 = 1, where the step engine saw only the term a_4 of y)."""
    return [Note("unit-derivative", (g.sym(e.consumer), r.args[0]))
            if isinstance(r, Note) and r.kind == "variable-rule" else r for r in e.local.rules]


def _cited(g: Graph, e: Edge, var: str, loss: str, sheet: SheetMath) -> Note | None:
    """The note citing an earlier part for the local derivative of edge ``e`` (the loss read
    directly), when that part derived exactly this value; else None."""
    if e.consumer != loss or isinstance(g.exprs[loss], sp.Add):
        return None
    found = sheet.cite(g.exprs[loss], g.sym(var))
    return found[1] if found is not None and found[0] == e.local.result else None


def _gradient_lines(bp: BackwardPass, gr, closed: Mapping[str, Closed], notes, sheet: SheetMath
                    ) -> tuple[list[Line], sp.Expr, str]:
    g = bp.graph
    w, E = g.sym(gr.wrt), g.sym(bp.loss)
    lhs = D(E, w, evaluate=False)
    c = closed.get("d/" + gr.wrt)
    s = substituted(bp, c.value, gr.wrt) if c is not None else None
    t = truth(bp, gr.wrt)
    exact = (s, t) if s is not None and t is not None else None
    if gr.delta is not None:
        lines = [Line(lhs, gr.delta.symbol, prose("definition of ", sheet.math(gr.delta.symbol)),
                      exact or (gr.value, gr.value))]
    elif not gr.edges:
        return ([Line(lhs, sp.S.Zero, prose(sheet.math(E), " does not depend on ", sheet.math(w)),
                      exact or (sp.S.Zero, sp.S.Zero))], sp.S.Zero, "closed")
    else:
        chain = _sum([_leibniz(g, e, gr.wrt, bp.loss) if e.consumer == bp.loss else
                      Dot(e.upstream, D(g.sym(e.consumer), w, evaluate=False))
                      for e in gr.edges])
        by_sympy = _by_sympy(g, gr.edges, gr.wrt)
        shown = _sum([e.local.result if e.upstream == 1 else Dot(e.upstream, e.local.result)
                      for e in gr.edges])
        lines = [Line(lhs, chain, "chain rule", (by_sympy, gr.value)),
                 Line(None, shown, rules(*_rules([e.local for e in gr.edges], notes)),
                      exact or (gr.value, by_sympy))]
        if sheet.standard:  # the chain rule and the local derivatives on one line
            exact = [r for e in gr.edges for r in _exact_rules(g, e) if r != "multiply out"]
            named = _Named(g, True)
            lines = [Line(lhs, named(shown), rules("chain rule", *dict.fromkeys(exact),
                                                   named.note(shown, sheet)), lines[1].check)]
    if c is None:
        return lines, gr.value, "recurrence"
    used = _used_deltas(bp, gr.value)
    substituted_value = gr.value.xreplace({d.symbol: closed[d.node].value for d in bp.deltas
                                           if d.node in closed})
    mono = {m: e for m, e in monomials(g).items()  # never the target: dE/dh1 is about h1
            if m in c.value.free_symbols and m != w}
    named = _Named(g, sheet.standard)
    answer = named(factor_terms(g, c.value.xreplace(mono)))
    names = named.note(c.value, sheet)  # σ(z) written as its node's name, said once
    why: list[Annotation] = [prose("substitute ", sheet.names(used))] if used else []
    if used and trees.size(c.shown) <= SHOWN_PRODUCT:  # short enough to show factor by factor
        shown = named(c.shown)
        lines.append(Line(None, shown, rules(why.pop(), names),
                          named.unnamed(_plain(shown), substituted_value)))
        names = ""
    if answer != named(c.value) or mono or why or names:
        why.append(rules(*[sheet.math(sp.Eq(m, e, evaluate=False)) for m, e in mono.items()])
                   if mono else "collect common factors" if answer != named(c.value) else "")
        lines.append(Line(None, answer, rules(*why, names),
                          named.unnamed(answer, substituted_value.xreplace(mono))))
    cancelled = _cancelled(answer) if sheet.standard else None
    if cancelled is not None:  # y(1 - y)(t/y + (t - 1)/(1 - y)) -> y - t
        value, prefactor, bases = cancelled
        lines.append(Line(None, value, Note("multiply-in-cancel", (
            sheet.math(prefactor), *(sheet.math(b) for b in bases))),
            named.unnamed(value, answer)))
        answer = value
    for fact in sheet.facts if sheet.standard else ():
        used = _by_fact(answer, fact)
        if used is not None:  # p1 (t1 + t2 + t3) - t1 = p1 - t1, the targets being one-hot
            value, (sym, val) = used
            lines.append(Line(None, value, sheet.math(fact),
                              tuple(e.subs(sym, val) for e in named.unnamed(value, answer))))
            answer = value
            sheet.under[gr.wrt] = {**sheet.under.get(gr.wrt, {}), sym: val}
            sheet.facts_used.setdefault(gr.wrt, []).append(fact)
    return lines, answer, "closed"


def _by_fact(answer: sp.Expr, fact: sp.Eq) -> tuple[sp.Expr, tuple[sp.Symbol, sp.Expr]] | None:
    """``answer`` made shorter by the declared ``fact`` (solved for one of its symbols that the
    answer holds, which the result then no longer holds), with that solution; else None."""
    for sym in sorted(fact.free_symbols & answer.free_symbols, key=lambda x: x.name,
                      reverse=True):
        solved = sp.solve(fact, sym)
        if len(solved) != 1:
            continue
        value = answer.subs(sym, solved[0])
        best = min((sp.expand(value), sp.factor(value)), key=trees.size)
        if not best.has(sym) and trees.size(best) < trees.size(answer):
            return best, (sym, solved[0])
    return None


def _cancelled(answer: sp.Expr) -> tuple[sp.Expr, sp.Expr, tuple[sp.Expr, ...]] | None:
    """``answer`` with each sum of fractions in it multiplied by the factors that cancel its
    denominators, and cancelled: y(1 − y)(t/y + (t − 1)/(1 − y)) -> y − t (the sigmoid's
    derivative against the cross-entropy's), with the factors multiplied in and the
    denominators they cancel (of the first such sum); None when nothing cancels."""
    if not isinstance(answer, sp.Mul) or trees.size(answer) > SIMPLIFY_CANCEL:
        return None
    coeff, factors = answer.as_coeff_mul()
    factors = list(factors)
    used: list[tuple[sp.Expr, tuple[sp.Expr, ...]]] = []
    for S in list(factors):
        if not isinstance(S, sp.Add) or S not in factors:
            continue
        dens = {f.base for term in S.args for f in sp.Mul.make_args(term)
                if f.is_Pow and f.exp.is_negative}
        partners = [f for f in factors if f is not S and (f in dens or (
            f.is_Pow and f.exp.is_positive and f.base in dens))]
        if not partners:
            continue
        new = sp.factor(sp.cancel(S * sp.Mul(*partners)))
        if trees.size(new) >= trees.size(S) + sum(trees.size(f) for f in partners):
            continue
        if coeff.is_negative and isinstance(new, sp.Add):  # −(t − y) as (y − t)
            new, coeff = -new, -coeff
        factors = [f for f in factors if f is not S and f not in partners] + [new]
        # the cancelled denominators in the order their partners stand (never a set's order,
        # which follows Python's salted hash)
        used.append((sp.Mul(*partners), tuple(dict.fromkeys(
            f if f in dens else f.base for f in partners))))
    if not used:
        return None
    return coeff * sp.Mul(*factors), used[0][0], used[0][1]


def _used_deltas(bp: BackwardPass, value: sp.Expr) -> list[sp.Symbol]:
    """The δ symbols ``value`` needs, directly or through other δ's, in the order computed."""
    by_symbol = bp.delta_symbols
    need: set[sp.Symbol] = set()
    stack = [s for s in value.free_symbols if s in by_symbol]
    while stack:
        s = stack.pop()
        if s not in need:
            need.add(s)
            stack.extend(u for u in by_symbol[s].value.free_symbols if u in by_symbol)
    return [d.symbol for d in bp.deltas if d.symbol in need]


# --- at the terminal -----------------------------------------------------------------------------
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def explain_graph(
    assignments: Sequence[str],
    wrt: Sequence[str] | str,
    loss: str | None = None,
    at: Mapping[str, sp.Expr] | None = None,
    notation: Mapping[str, str] | None = None,
) -> Solution:
    """``derive explain "q = x + y" "f = q*z" --wrt x,y,z [--loss f] [--at x=-2,y=5,z=-4]``.

    Errors are :class:`InputError` without a file (printed as ``derive: error: ...``). With
    ``at``, ``data`` also holds the forward ``values``, the numeric ``deltas_at`` and the
    ``gradients`` (exact where the numbers allow, else 20 significant digits), and the solution
    ends with tables of both, like micrograd's ``backward()`` with every step shown.
    """
    model = []
    for i, src in enumerate(assignments, 1):
        try:
            name, expr = parse_assignment(src)
        except InputError as e:
            raise InputError(f"assignment {i} ({src!r}): {e.message}") from None
        model.append(Assignment(name, expr, src, None))

    def fail(message: str, key: str) -> InputError:
        flag = {"wrt": "--wrt", "loss": "--loss"}.get(key, "")
        return InputError(f"{flag}: {message}" if flag else message)

    graph = build_graph(model)  # a name assigned twice is refused here
    check_model(model)  # in order, no self-reference, every node real: as for a sheet
    chosen, targets = select(graph, loss, list(wrt) if not isinstance(wrt, str) else wrt, fail)
    names = tuple(dict.fromkeys(m.group(0) for s in assignments for m in _NAME.finditer(s)))
    order = TermOrder(names)
    solution, bp = _solve(graph, chosen, targets, order, notation)
    if at is not None:
        _at(solution, bp, at, order, notation)
    return solution


def _at(solution: Solution, bp: BackwardPass, at, order, notation) -> None:
    graph, loss = bp.graph, bp.loss
    needed = [n for n in graph.leaves if n in graph.ancestors(loss)]
    for name in at:
        if graph.is_node(name):
            raise InputError(f"--at: {name} is computed by the list; give values for inputs "
                             "and parameters only")
        if name not in graph:
            raise InputError(f"--at: {name} is not a name in the computation list")
    missing = [n for n in needed if n not in at]
    if missing:
        raise InputError(f"--at: no value for {', '.join(missing)}")
    env: dict[sp.Symbol, sp.Expr] = {graph.sym(n): sp.nsimplify(v) for n, v in at.items()}
    for n in graph.order:
        if n == loss or n in graph.ancestors(loss):
            env[graph.sym(n)] = _number(graph.exprs[n].xreplace(env), n)
    for d in bp.deltas:
        env[d.symbol] = _number(d.value.xreplace(env), d.symbol.name)
    grads = {gr.wrt: _number(gr.value.xreplace(env), gr.wrt) for gr in bp.gradients}
    values = {n: env[graph.sym(n)] for n in (*needed, *graph.order) if graph.sym(n) in env}
    solution.data["values"] = {n: _rounded(v) for n, v in values.items()}
    solution.data["deltas_at"] = {d.node: _rounded(env[d.symbol]) for d in bp.deltas}
    solution.data["gradients"] = {w: _rounded(v) for w, v in grads.items()}
    sheet = SheetMath(order, notation)
    E = graph.sym(loss)
    solution.blocks.append(Table(
        ("quantity", "value"),
        tuple((sheet.math(graph.sym(n)), _number_note(v)) for n, v in values.items())
        + tuple((sheet.math(d.symbol), _number_note(env[d.symbol])) for d in bp.deltas),
        caption="Forward values and δ's at the given point"))
    solution.blocks.append(Table(
        ("gradient", "value"),
        tuple((sheet.math(D(E, graph.sym(w), evaluate=False)), _number_note(v))
              for w, v in grads.items()),
        caption="Gradients at the given point"))


def _number(e: sp.Expr, name: str) -> sp.Expr:
    if e.is_Rational:
        return e
    v = sp.N(e, 30)
    if not (v.is_number and v.is_real and v.is_finite):
        raise InputError(f"--at: {name} is not a finite real number at this point ({v})")
    return v


def _rounded(v: sp.Expr) -> sp.Expr:
    """A value as it is shown: exact when rational, else to 20 significant digits."""
    return v if v.is_Rational else sp.N(v, 20)


def _number_note(v: sp.Expr) -> Note:
    return Note("number", (_rounded(v),))
