"""Task ``shared-parameter``: parameters tied to one shared parameter (4c, 4d).

Parameters (TOML, in the part):

* ``shared``: the shared parameter's name (``"v"``); it must not be used by the model directly.
* ``ties``: assignments of tied parameters of the model, ``["w13 = log(1 + exp(v))", ...]``.
* ``form`` (optional): ``"rule"`` states the multivariate chain rule
  ``∂E/∂v = Σ_w ∂E/∂w · ∂w/∂v`` (4c); ``"analytic"`` (default) also substitutes ∂E/∂w and the tie
  derivatives and simplifies (4d).
* ``loss``, ``inputs``, ``targets``, ``parameters`` (optional): as for ``backprop``.

∂E/∂w are taken from an earlier part of the exercise that computed them for the same loss (4b);
when there is none, the backward pass is done here first. Tie derivatives come from the
expression engine; ``log(1 + e^u)`` is first named softplus(u), so that the rule reads
softplus' = σ. Verification: the tie, as an extra node ``w = tie(v)`` ahead of the model, makes a
graph whose loss is differentiated by ``sympy.diff`` (symbolic when small, else numeric in forward
mode). ``data``: ``shared``, ``ties``, ``tie_derivatives``, ``from_part`` (tied name -> part label
or null), ``loss``, ``form``, ``checks``.
"""

from __future__ import annotations

import re

import sympy as sp

from derive.errors import InputError
from derive.maths.backprop import backward, select, sheet_form, truth
from derive.maths.calculus import local_derivative
from derive.maths.display import Dot, TermOrder
from derive.maths.functions import sigmoid, softplus
from derive.maths.graph import Graph, build_graph
from derive.sheet.model import Assignment
from derive.sheet.parse import parse_assignment
from derive.steps import Align, Line, Math, Note, Solution, Text, joined, prose, rules
from derive.tasks.backprop import SheetMath, solve
from derive.tasks.spec import Context, task
from derive.verify.claims import Answer, AtRandomPoints, Gradients

D = sp.Derivative
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
LIMIT = 400
SOFTPLUS_RULE = Note("softplus-name")  # log(1 + e^u) = softplus(u)
SIGMOID_EXP = Note("rewrite:sigmoid-exp")  # σ(v) = e^v/(1 + e^v)


@task(
    "shared-parameter",
    required={"shared": str, "ties": list},
    optional={"form": str, "loss": str, "inputs": list, "targets": list, "parameters": list},
    summary="multivariate chain rule for parameters tied to a shared parameter",
)
def run(ctx: Context) -> Solution:
    form = ctx.params.get("form", "analytic")
    if form not in ("rule", "analytic"):
        raise ctx.error(f"form must be \"rule\" or \"analytic\", not {form!r}", "form")
    declared = {k: ctx.params[k] for k in ("inputs", "targets", "parameters") if k in ctx.params}
    graph = build_graph(ctx.model, file=ctx.file, declared=declared, param_error=ctx.error)
    shared, ties = _ties(ctx, graph)

    def fail(message: str, key: str) -> InputError:
        return ctx.error(message, "ties" if key == "wrt" else key)

    loss, tied = select(graph, ctx.params.get("loss"), list(ties), fail)
    order, sheet = TermOrder(ctx.names), SheetMath(TermOrder(ctx.names), ctx.notation)
    v, E = shared, graph.sym(loss)
    ext = _tied_graph(ctx, graph, ties, declared)
    bp = backward(ext, loss, [shared.name], order)

    ws = [graph.sym(w) for w in tied]
    tie_eqs = joined([sheet.math(sp.Eq(graph.sym(w), ties[w], evaluate=False)) for w in tied])
    blocks: list = [Text(prose(sheet.math(v), " enters ", sheet.math(E), " only through ",
                               sheet.names(ws), " (", tie_eqs, ")."))]
    t_v = truth(bp, shared.name, LIMIT)
    full = graph.expand(E, set(graph.order), LIMIT)  # every node substituted: a function of
    symbolic = t_v is not None and full is not None  # the leaves, so the ties can go in
    t_ws = {w: sheet_form(sp.diff(full, graph.sym(w))) for w in tied} if symbolic else {}
    tie_map = {graph.sym(w): ties[w] for w in tied}
    rule_rhs = sp.Add(*(D(E, graph.sym(w), evaluate=False) * D(graph.sym(w), v, evaluate=False)
                        for w in tied))
    if symbolic:
        by_diff = sp.Add(*(t_ws[w].xreplace(tie_map) * sp.diff(ties[w], v) for w in tied))
        chain_check = (by_diff, t_v)
    else:
        by_diff = None
        deltas = {d.node: d.symbol for d in bp.deltas}
        chain_check = (bp.gradients[0].value,
                       sp.Add(*(sp.diff(ties[w], v) * deltas[w] for w in tied)))
    first = Line(D(E, v, evaluate=False), _sum([Dot(D(E, graph.sym(w), evaluate=False),
                                                    D(graph.sym(w), v, evaluate=False))
                                                for w in tied]),
                 "multivariate chain rule", chain_check)
    checks: list[Answer | AtRandomPoints] = []
    inherited = []  # the checks of a backward pass done here first
    data = {"shared": shared.name, "ties": {w: ties[w] for w in tied},
            "loss": loss, "form": form}
    if form == "rule":
        blocks.append(Text("By the multivariate chain rule:"))
        blocks.append(Align((first,)))
        answer = rule_rhs
        if symbolic:
            checks.append(Answer("chain rule with sympy.diff of the substituted loss", by_diff,
                                 t_v))
    else:
        grads, sources, inner = _gradients(ctx, graph, loss, tied, order)
        if inner is not None:
            blocks = [Text(prose("First the backward pass for ", sheet.names(ws), ":")),
                      *inner.blocks, *blocks]
            inherited = [c for g in inner.claims for c in g.checks]
        tie_derivs = {}
        blocks.append(Text("The derivatives of the ties:"))
        for w in tied:
            lines, result = _tie_lines(graph.sym(w), ties[w], v, order, ctx.detail)
            blocks.append(Align(tuple(lines)))
            tie_derivs[w] = result
        value = sp.Add(*(grads[w] * tie_derivs[w] for w in tied))
        shown = _sum([Dot(grads[w], tie_derivs[w]) for w in tied])
        answer = sp.factor_terms(value)
        s = ext.expand(value, ext.descendants(shared.name), LIMIT) if symbolic else None
        where = {sources[w] for w in tied}
        origin = ("from part " + ", ".join(f"({x})" for x in sorted(x for x in where if x))
                  if where != {None} else "from the backward pass above")
        lines = [first, Line(None, shown, rules(prose(Note("gradient-symbol"), " ", origin),
                                                  "ties above"),
                             (s, t_v) if s is not None else (value, value))]
        if answer != value:
            lines.append(Line(None, answer, "collect common factors", (answer, value)))
        blocks.append(Text("By the multivariate chain rule, with these and the gradients "
                           f"{origin}:"))
        blocks.append(Align(tuple(lines)))
        if s is not None:
            checks.append(Answer(f"d{loss}/d{shared.name} = sympy.diff of the substituted loss",
                                 ext.expand(answer, ext.descendants(shared.name), LIMIT), t_v))
        else:
            symbolic = False
        data["tie_derivatives"] = {w: tie_derivs[w] for w in tied}
        data["from_part"] = {w: sources[w] for w in tied}
    if not symbolic:
        checks.append(AtRandomPoints(bp))
    data["checks"] = "symbolic" if symbolic else "numeric"
    return Solution(blocks=blocks, answer=answer, answers={shared.name: answer}, data=data,
                    claims=[*inherited, Gradients(f"∂{loss}/∂{shared.name}", tuple(checks),
                                                  tied=True)])


def _sum(terms):
    return terms[0] if len(terms) == 1 else sp.Add(*terms, evaluate=False)


def _ties(ctx: Context, graph: Graph) -> tuple[sp.Symbol, dict[str, sp.Expr]]:
    name = ctx.params["shared"]
    if not NAME.match(name):
        raise ctx.error(f"shared must be a name such as \"v\", not {name!r}", "shared")
    if name in graph:
        raise ctx.error(f"{name} is used by the model itself; the shared parameter may enter "
                        "only through the ties", "shared")
    raw = ctx.params["ties"]
    if not raw or not all(isinstance(t, str) for t in raw):
        raise ctx.error("ties must be a list of assignments such as "
                        "\"w13 = log(1 + exp(v))\"", "ties")
    ties: dict[str, sp.Expr] = {}
    shared = None
    tied_names = {t.split("=")[0].strip() for t in raw}
    for text in raw:
        try:
            w, expr = parse_assignment(text)
        except InputError as e:
            raise ctx.error(f"tie {text!r}: {e.message}", "ties") from None
        if w in ties:
            raise ctx.error(f"{w} is tied twice", "ties")
        if w not in graph or graph.is_node(w):
            what = "computed by the model" if w in graph else "not used by the model"
            raise ctx.error(f"tie {text!r}: {w} is {what}; only parameters (leaves) can be "
                            "tied", "ties")
        found = {s.name: s for s in expr.free_symbols}
        if name not in found:
            raise ctx.error(f"tie {text!r} does not depend on {name}", "ties")
        shared = found[name]
        clash = [s for s in found if graph.is_node(s) or s in tied_names]
        if clash:
            raise ctx.error(f"tie {text!r} uses {', '.join(clash)}; a tie must be a function of "
                            f"{name} (and constants)", "ties")
        ties[w] = expr
    return shared, ties


def _tied_graph(ctx: Context, graph: Graph, ties: dict[str, sp.Expr], declared) -> Graph:
    """The model with each tie ``w = f(v)`` as a node in front of it."""
    line = ctx.param_lines.get("ties", ctx.line)
    extra = [Assignment(w, e, f"{w} = {e}", line) for w, e in ties.items()]
    shared = next(iter(ties.values())).free_symbols
    decl = {k: [n for n in v if n not in ties] for k, v in declared.items()}
    if "parameters" in decl:
        decl["parameters"] += [s.name for s in shared if s.name not in sum(decl.values(), [])]
    return build_graph([*extra, *ctx.model], file=ctx.file, declared=decl or None,
                       param_error=ctx.error)


def _gradients(ctx: Context, graph: Graph, loss: str, tied, order):
    """∂E/∂w for the tied w: from an earlier part when it has them, else a backward pass."""
    grads: dict[str, sp.Expr] = {}
    sources: dict[str, str | None] = {}
    for label, sol in ctx.earlier.items():
        if sol.data.get("loss") != loss:
            continue
        for w in tied:
            form = sol.data.get("answer_form", {}).get(w, "closed")
            if w in sol.answers and form == "closed":
                grads[w], sources[w] = sol.answers[w], label
    missing = [w for w in tied if w not in grads]
    inner = None
    if missing:
        inner = solve(graph, loss, missing, order, ctx.notation)
        for w in missing:
            grads[w], sources[w] = inner.answers[w], None
    return grads, sources, inner


def _softplus_form(expr: sp.Expr) -> sp.Expr:
    """``log(1 + e^u)`` -> ``softplus(u)``."""

    def match(e):
        if isinstance(e, sp.log) and isinstance(e.args[0], sp.Add):
            rest = e.args[0] - 1
            if isinstance(rest, sp.exp):
                return softplus(rest.args[0])
        return None

    return expr.replace(lambda e: match(e) is not None, match)


def _tie_lines(w: sp.Symbol, tie: sp.Expr, v: sp.Symbol, order: TermOrder, detail: str = "full"
               ) -> tuple[list[Line], sp.Expr]:
    """∂w/∂v, step by step: the tie, softplus named, then the expression engine's lines. At
    ``standard`` detail: every rule on the first line, the tidying, and a sigmoid written out
    as e^u/(1 + e^u) too."""
    truth_ = sp.diff(tie, v)
    rewritten = _softplus_form(tie)
    if detail == "standard":
        return _tie_lines_standard(w, tie, rewritten, v, order, truth_)
    local = local_derivative(rewritten, v, reserved=[w.name, v.name], order=order)
    head = [ln for ln in local.lines if ln.relation == ":="]
    rest = [ln for ln in local.lines if ln.relation != ":="]
    lines = [*head, Line(D(w, v, evaluate=False), D(tie, v, evaluate=False),
                         prose(Math(w), " tied to ", Math(v)), (truth_, truth_))]
    if rewritten != tie:
        lines.append(Line(None, D(rewritten, v, evaluate=False), SOFTPLUS_RULE,
                          (sp.diff(rewritten, v), truth_)))
    for i, ln in enumerate(rest):
        lines.append(Line(None, ln.rhs, ln.rule, ln.check, relation=ln.relation)
                     if i == 0 else ln)
    return lines, local.result


def _tie_lines_standard(w: sp.Symbol, tie: sp.Expr, rewritten: sp.Expr, v: sp.Symbol,
                        order: TermOrder, truth_: sp.Expr) -> tuple[list[Line], sp.Expr]:
    local = local_derivative(rewritten, v, reserved=[w.name, v.name], order=order,
                             detail="standard", chain_line=False)
    lines = list(local.lines)
    first = lines[0]
    named = rules(SOFTPLUS_RULE, first.rule) if rewritten != tie else first.rule
    lines[0] = Line(D(w, v, evaluate=False), first.rhs, named, first.check)
    exponential = local.result.replace(lambda e: isinstance(e, sigmoid),
                                       lambda e: sp.exp(e.args[0]) / (1 + sp.exp(e.args[0])))
    if exponential != local.result:
        lines.append(Line(None, exponential, SIGMOID_EXP, (exponential, truth_)))
    return lines, local.result
