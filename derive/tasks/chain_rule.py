"""Task ``chain-rule``: the gradient of a loss averaged over a dataset (2b, 2c).

The error is ``E = (1/N) Σ_{k=1}^N E_k`` with ``E_k = ℓ(y_k, t_k)``, where ``ℓ`` is the exercise's
per-sample loss (``log cosh(y - t)``) and ``y_k`` the network's prediction for data point k.

Parameters (TOML, in the part):

* ``loss`` (optional): the per-sample loss, an expression in ``output`` and ``target``
  (``"log(cosh(y - t))"``) or the name of a model assignment; default the model's last one.
* ``output`` / ``target`` (optional, default ``"y"`` / ``"t"``): their names in the loss.
* ``network`` (optional): the prediction for data point k, e.g.
  ``"Sum(w[i]*x[i, k], (i, 1, d))"`` (``x[i, k]`` prints as x_i^{(k)}). Without it (2b), ∂y_k/∂w
  stays symbolic; with it (2c), ∂y_k/∂w is worked out and substituted.
* ``wrt`` (optional, default ``"w"``): the parameter, a name or an indexed one (``"w[i]"``).
* ``samples`` / ``index`` (optional, default ``"N"`` / ``"k"``): the dataset size and index.

Index sums cannot be checked by ``sympy.diff`` in general, so every line claims its equality on
concrete instances (checked by :mod:`derive.verify.instances`): the sums are expanded for N = 3
(and d = 3, i = 2) with ``y_k`` an undefined function of the parameters (2b) or the given network
(2c), and compared with ``sympy.diff`` of the expanded E; the answer is claimed the same way for
several sizes (N ∈ {1, 2, 3, 4}, d ∈ {1, 2, 3}, every i). ``data``: ``per_sample_derivative``
(∂E_k/∂y_k), ``instances``, ``checks`` ("instantiated").
"""

from __future__ import annotations

import re
from collections.abc import Callable

import sympy as sp

from derive.errors import InputError
from derive.maths import trees
from derive.maths.calculus import local_derivative, simplest_form
from derive.maths.display import Dot, TermOrder
from derive.maths.functions import index, indexed_base, symbol
from derive.sheet.parse import parse_expr
from derive.steps import (
    Align,
    Annotation,
    Derived,
    Inline,
    Line,
    Math,
    Note,
    Prose,
    Solution,
    Text,
    prose,
    rules,
)
from derive.tasks.derivative import where
from derive.tasks.spec import Context, task
from derive.verify.claims import IndexSums, Instances, instantiated

D = sp.Derivative
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@task(
    "chain-rule",
    optional={"loss": str, "output": str, "target": str, "network": str, "wrt": str,
              "samples": str, "index": str},
    summary="gradient of an error averaged over a dataset, by the chain rule",
)
def run(ctx: Context) -> Solution:
    p = _Problem(ctx)
    order = TermOrder(ctx.names)

    def m(e: sp.Basic) -> Math:  # a formula in the exercise's notation and term order
        return Math(e, ctx.notation, order)

    k, N, w = p.k, p.N, p.wrt
    Ek, yk, tk, E = p.Eb[k], p.yb[k], p.tb[k], p.E
    ell_k = p.ell.xreplace({p.y: yk, p.t: tk})
    standard = ctx.detail == "standard"
    cited = ctx.cite(ell_k, yk, ctx.notation, order)
    local = local_derivative(ell_k, yk, reserved=ctx.names, order=order, detail=ctx.detail)
    r_k = local.result if cited is None else cited[0]
    sums = IndexSums(p.E, p.Eb, p.yb, p.tb, p.ell, p.y, p.t, p.k, p.N, p.wrt, p.network)

    blocks: list = [Text(prose(
        "The error is ", m(sp.Eq(E, Dot(1 / N, sp.Sum(Ek, (k, 1, N))), evaluate=False)), " with ",
        m(sp.Eq(Ek, ell_k, evaluate=False)), "; the parameters enter ", m(Ek), " only through "
        "the prediction ", m(yk), ". First the derivative of one term:"))]
    # dE_k/dy_k, step by step (the expression engine's lines, on the k-th data point), or
    # cited from the earlier part that derived it
    if cited is not None:
        blocks.append(Align((Line(D(Ek, yk, evaluate=False), r_k, cited[1],
                                  (r_k, sp.diff(ell_k, yk))),)))
    else:
        first = Line(D(Ek, yk, evaluate=False), D(ell_k, yk, evaluate=False),
                     prose("definition of ", m(Ek)), (r_k, r_k))
        if standard and local.intermediates:
            blocks.append(Text(where(local.intermediates, ctx.notation, order)))
        blocks.append(Align(tuple(_continue(first, local.lines))))

    answers_rhs: sp.Expr
    if p.network is None:  # 2b: dy_k/dw stays symbolic
        dyk = D(yk, w, evaluate=False)
        per = [
            Line(D(Ek, w, evaluate=False), Dot(D(Ek, yk, evaluate=False), dyk), "chain rule"),
            Line(None, Dot(r_k, dyk), prose(m(D(Ek, yk, evaluate=False)), " above")),
        ]
        blocks.append(Text("For one data point:"))
        blocks.append(Align(tuple(instantiated(sums, per))))
        total = [
            Line(D(E, w, evaluate=False),
                 sp.Sum(Dot(D(E, Ek, evaluate=False), D(Ek, w, evaluate=False)), (k, 1, N)),
                 prose("chain rule over the ", m(N), " terms of ", m(E))),
            Line(None, Dot(1 / N, sp.Sum(D(Ek, w, evaluate=False), (k, 1, N))),
                 m(sp.Eq(D(E, Ek, evaluate=False), 1 / N, evaluate=False))),
            Line(None, Dot(1 / N, sp.Sum(Dot(r_k, dyk), (k, 1, N))),
                 prose(m(D(Ek, w, evaluate=False)), " above")),
        ]
        if standard:  # both substitutions on one line
            total = [total[0], Line(None, total[2].rhs, rules(total[1].rule, total[2].rule))]
        answers_rhs = sp.Sum(r_k * dyk, (k, 1, N)) / N
    else:  # 2c: dy_k/dw worked out from the network
        steps = _network_derivative(p, yk, m)
        dyk = steps[-1][0]
        per = [Line(D(yk, w, evaluate=False), D(p.network, w, evaluate=False),
                    m(sp.Eq(yk, p.network)))]
        per += [Line(None, rhs, rule) for rhs, rule in steps]
        if standard:  # the derivative of the prediction on one line
            per = [Line(per[0].lhs, per[-1].rhs, rules(*(ln.rule for ln in per)))]
        blocks.append(Text(prose("The derivative of the prediction ", m(yk), _range_note(p, m),
                                 ":")))
        blocks.append(Align(tuple(instantiated(sums, per))))
        total = [
            Line(D(E, w, evaluate=False),
                 sp.Sum(Dot(D(E, Ek, evaluate=False), D(Ek, yk, evaluate=False),
                            D(yk, w, evaluate=False)), (k, 1, N)),
                 prose("chain rule over the ", m(N), " terms of ", m(E))),
            Line(None, Dot(1 / N, sp.Sum(Dot(r_k, dyk), (k, 1, N))),
                 rules(m(sp.Eq(D(E, Ek, evaluate=False), 1 / N, evaluate=False)),
                       "both factors above")),
        ]
        term = r_k * dyk
        shorter = _shorter(term)
        if shorter is not None:
            term, how = shorter
            total.append(Line(None, Dot(1 / N, sp.Sum(term, (k, 1, N))), how))
        answers_rhs = sp.Sum(term, (k, 1, N)) / N
    direct = _direct_term(p)
    if direct != 0:  # the loss also reads the parameter itself (weight decay c/2 w^2)
        per, total, answers_rhs = _with_direct_term(p, m, per, total, r_k, dyk, direct)
        blocks[-1] = Align(tuple(instantiated(sums, per)))
    blocks.append(Text(prose("Summing over the data set, with ",
                             m(sp.Eq(D(E, Ek, evaluate=False), 1 / N, evaluate=False)), ":")))
    blocks.append(Align(tuple(instantiated(sums, total))))
    return Solution(
        blocks=blocks,
        answer=answers_rhs,
        answers={str(w): answers_rhs},  # the parameter's name, w or w[i]
        data={"per_sample_derivative": r_k,
              "instances": [dict(zip(sums.keys, c, strict=False)) for c in sums.sizes],
              "checks": "instantiated"},
        claims=[Instances(sums, answers_rhs)],
        derived=[Derived(ell_k, yk, r_k)],
    )


def _direct_term(p: _Problem) -> sp.Expr:
    """∂ℓ/∂w with the output and the target held: the derivative of the terms of the loss that
    read the parameter itself (c/2 w^2 -> c w; Σ_j w_j^2 -> 2 w_i), 0 when there are none."""
    w = p.wrt
    reads = any(a.base == w.base for a in p.ell.atoms(sp.Indexed)) if isinstance(
        w, sp.Indexed) else p.ell.has(w)
    if not reads:
        return sp.S.Zero
    ell = _rename_dummy(p.ell, w.indices[0]) if isinstance(w, sp.Indexed) else p.ell
    return _in_range(sp.diff(ell, w).doit(), p)


def _with_direct_term(p: _Problem, m, per, total, r_k, dyk, direct):
    """The per-sample and total lines when the loss also depends on the parameter directly:
    ∂E_k/∂w = ∂E_k/∂y_k · ∂y_k/∂w + ∂ℓ/∂w, and the N equal terms of the sum add up."""
    k, N, w, E, Ek, yk = p.k, p.N, p.wrt, p.E, p.Eb[p.k], p.yb[p.k]
    also = prose(m(Ek), " also depends on ", m(w), " directly")
    if p.network is None:
        dy = D(yk, w, evaluate=False)
        per = [Line(D(Ek, w, evaluate=False),
                    sp.Add(Dot(D(Ek, yk, evaluate=False), dy), direct, evaluate=False),
                    rules("chain rule", also)),
               Line(None, sp.Add(Dot(r_k, dy), direct, evaluate=False),
                    prose(m(D(Ek, yk, evaluate=False)), " above"))]
    first = Line(D(E, w, evaluate=False),
                 sp.Sum(Dot(D(E, Ek, evaluate=False), D(Ek, w, evaluate=False)), (k, 1, N)),
                 prose("chain rule over the ", m(N), " terms of ", m(E)))
    total = [first,
             Line(None, Dot(1 / N, sp.Sum(sp.Add(Dot(r_k, dyk), direct, evaluate=False),
                                          (k, 1, N))),
                  rules(m(sp.Eq(D(E, Ek, evaluate=False), 1 / N, evaluate=False)),
                        prose(m(D(Ek, w, evaluate=False)), " above" if p.network is None
                              else " by the chain rule, with both factors above", "; ", also))),
             Line(None, sp.Add(Dot(1 / N, sp.Sum(Dot(r_k, dyk), (k, 1, N))), direct,
                               evaluate=False),
                  prose("the ", m(N), " equal terms ", m(direct / N), " add up to ", m(direct)))]
    return per, total, sp.Sum(r_k * dyk, (k, 1, N)) / N + direct


def _continue(first: Line, lines) -> list[Line]:
    """``first`` followed by the engine's lines as its continuation (definitions up front)."""
    defs = [ln for ln in lines if ln.relation == ":="]
    rest = [ln for ln in lines if ln.relation != ":="]
    if rest:
        rest[0] = Line(None, rest[0].rhs, rest[0].rule, rest[0].check)
    return [*defs, first, *rest]


class _Problem:
    """The task's quantities, parsed and with indices as integer symbols."""

    def __init__(self, ctx: Context):
        par = ctx.params

        def name(key: str, default: str) -> str:
            value = par.get(key, default)
            if not NAME.match(value):
                raise ctx.error(f"{key} must be a name, not {value!r}", key)
            return value

        out, tgt = name("output", "y"), name("target", "t")
        self.k = index(name("index", "k"))
        self.N = sp.Symbol(name("samples", "N"), integer=True, positive=True)
        loss = par.get("loss")
        loss_name = "E"
        if loss is None or (NAME.match(loss) and ctx.assignment(loss) is not None):
            a = ctx.assignment(loss) if loss else (ctx.model[-1] if ctx.model else None)
            if a is None:
                raise ctx.error("give the per-sample loss: loss = \"log(cosh(y - t))\"", "loss")
            ell, loss_name = a.expr, a.name
        else:
            ell = _parse(ctx, parse_expr, loss, "loss")
        ell = _canonical(ell, self.k)  # a regulariser's sum over the weights: integer indices
        found = {s.name: s for s in ell.free_symbols}
        if out not in found:
            raise ctx.error(f"the loss {sp.sstr(ell)} does not contain the output {out}",
                            "output" if "output" in par else "loss")
        self.y, self.t = found[out], found.get(tgt, symbol(tgt))
        self.ell = ell
        self.E = symbol(loss_name)
        self.Eb, self.yb, self.tb = (indexed_base(n) for n in (loss_name, out, tgt))
        wrt = _canonical(_parse(ctx, parse_expr, par.get("wrt", "w"), "wrt"), self.k)
        if not (isinstance(wrt, sp.Symbol) or (isinstance(wrt, sp.Indexed)
                                                and len(wrt.indices) == 1)):
            raise ctx.error("wrt must be a name (\"w\") or an indexed name (\"w[i]\")", "wrt")
        self.wrt = wrt
        self.network = None
        if "network" in par:
            net = _canonical(_parse(ctx, parse_expr, par["network"], "network"), self.k)
            if isinstance(wrt, sp.Indexed):
                net = _rename_dummy(net, wrt.indices[0])
                uses = any(a.base == wrt.base for a in net.atoms(sp.Indexed))
            else:
                uses = net.has(wrt)
            if not uses:
                raise ctx.error(f"the network does not depend on {sp.sstr(wrt)}", "network")
            if not net.has(self.k):
                raise ctx.error(f"the network must depend on the data point index "
                                f"{self.k} (e.g. x[i, {self.k}])", "network")
            self.network = net


def _parse(ctx: Context, parse_expr: Callable, text, key: str) -> sp.Expr:
    if not isinstance(text, str):
        raise ctx.error(f"{key} must be a string", key)
    try:
        return parse_expr(text)
    except InputError as e:
        raise ctx.error(f"{key}: {e.message}", key) from None


def _canonical(expr: sp.Expr, k: sp.Symbol) -> sp.Expr:
    """Indices (of Indexed objects and Sum dummies) as integer symbols, bounds as positive
    integers, so that they match the task's own ``k``."""
    idx: set[str] = {k.name}
    bounds: set[str] = set()
    for a in expr.atoms(sp.Indexed):
        idx |= {s.name for i in a.indices for s in i.free_symbols}
    for s in expr.atoms(sp.Sum):
        for var, lo, hi in s.limits:
            idx.add(var.name)
            bounds |= {b.name for b in (lo, hi) if isinstance(b, sp.Symbol)}
    reps = {}
    for sym in expr.atoms(sp.Symbol):
        if sym.name in idx:
            reps[sym] = index(sym.name)
        elif sym.name in bounds:
            reps[sym] = sp.Symbol(sym.name, integer=True, positive=True)
    return expr.xreplace(reps)


def _rename_dummy(net: sp.Expr, i: sp.Symbol) -> sp.Expr:
    """Σ_i w_i x_i -> Σ_j w_j x_j when differentiating by w_i (the free i must not be bound)."""
    used = {s.name for s in net.atoms(sp.Symbol)} | {i.name}

    def rename(s: sp.Sum) -> sp.Sum:
        if all(v != i for v, *_ in s.limits):
            return s
        fresh = next(index(c) for c in "jlmnpqrs" if c not in used)
        return s.xreplace({i: fresh})

    return net.replace(lambda e: isinstance(e, sp.Sum), rename)


def _network_derivative(p: _Problem, yk: sp.Expr, m: Callable[[sp.Basic], Math]
                        ) -> list[tuple[sp.Expr, Annotation]]:
    """∂y_k/∂w from the network: (expression, reason) for each displayed step.

    The differentiated index is in its range by assumption (1 <= j <= d, stated on the sheet), so
    Σ_i δ_ij x_i = x_j: SymPy's Piecewise((x_j, (j >= 1) & (j <= d)), (0, True)) is resolved to
    its first branch. When the result contains the network itself (σ' = σ(1 - σ),
    tanh' = 1 - tanh²), it is written with the prediction y_k.
    """
    w = p.wrt
    raw = sp.diff(p.network, w)
    value = _in_range(raw.doit(), p)
    used: list[Inline] = list(_outer_rule(p))
    if raw.has(sp.KroneckerDelta):
        used.append(prose("only the term with index ", Math(w.indices[0]), " depends on ",
                          Math(w)))
    if not used and isinstance(w, sp.Symbol):  # a scalar parameter: the step engine's rules
        used = [r for r in local_derivative(p.network, w).rules if r != "multiply out"]
    steps = [(value, rules(*used) or "by sympy.diff")]
    named = value.xreplace({p.network: yk})
    if named != value:
        steps.append((named, m(sp.Eq(yk, p.network, evaluate=False))))
    return steps


def _index_range(p: _Problem) -> tuple[sp.Expr, sp.Expr] | None:
    """(lo, hi) of the sum over the index of an indexed ``wrt``, or None."""
    w = p.wrt
    if not isinstance(w, sp.Indexed) or p.network is None:
        return None
    for s in p.network.atoms(sp.Sum):
        if any(isinstance(a, sp.Indexed) and a.base == w.base for a in s.function.atoms(
                sp.Indexed)) and len(s.limits) == 1:
            return s.limits[0][1], s.limits[0][2]
    return None


def _range_note(p: _Problem, m: Callable[[sp.Basic], Math]) -> Prose | str:
    """``, for 1 ≤ j ≤ d (the range of the index j)`` when ``wrt`` is indexed, else ""."""
    bounds = _index_range(p)
    if bounds is None:
        return ""
    j = p.wrt.indices[0]
    return prose(", for ", Note("index-range", (m(bounds[0]), m(j), m(bounds[1]))),
                 " (the range of the index ", m(j), ")")


def _in_range(value: sp.Expr, p: _Problem) -> sp.Expr:
    """``value`` with every Piecewise over the range of the differentiated index resolved: the
    first branch whose condition holds for lo <= j <= hi (the index is in range by assumption).
    A Piecewise whose conditions say anything else is left alone."""
    bounds = _index_range(p)
    if bounds is None:
        return value
    lo, hi = bounds
    j = p.wrt.indices[0]
    facts = {sp.Ge(j, lo), sp.Le(j, hi), sp.Le(lo, j), sp.Ge(hi, j)}

    def holds(cond) -> bool | None:
        if cond is sp.true:
            return True
        parts = cond.args if isinstance(cond, sp.And) else (cond,)
        if all(c in facts or c is sp.true for c in parts):
            return True
        return None

    def resolve(pw: sp.Piecewise) -> sp.Expr:
        for expr, cond in pw.args:
            verdict = holds(cond)
            if verdict:
                return expr
            return pw  # undecided: keep it
        return pw

    return value.replace(lambda e: isinstance(e, sp.Piecewise), resolve)


def _outer_rule(p: _Problem) -> tuple[Inline, ...]:
    """The rules of the outer function when the network is f(Σ ...) (chain rule), else none."""
    sums = [s for s in p.network.atoms(sp.Sum) if s.has(_base(p.wrt))]
    if len(sums) != 1 or p.network == sums[0]:
        return ()
    u = sp.Dummy("u", real=True)
    outer = p.network.xreplace({sums[0]: u})
    if outer.has(_base(p.wrt)) or sp.diff(outer, u, 2) == 0:
        return ()  # linear in the sum (Σ w_i x_i + b): no chain rule to name
    keep = [r for r in local_derivative(outer, u).rules
            if r not in ("multiply out", "chain rule", "linearity")
            and not (isinstance(r, Note) and r.kind == "linear-in")]
    return ("chain rule", *keep)


def _base(w: sp.Expr) -> sp.Basic:
    return w.base if isinstance(w, sp.Indexed) else w


SHORTER_MAX_OPS = 120


def _shorter(term: sp.Expr) -> tuple[sp.Expr, str] | None:
    """A strictly shorter summand (−(t/p + (t−1)/(1−p))·p(1−p)·x_j = (p − t)·x_j), or None."""
    size = sp.count_ops(term)
    if size > SHORTER_MAX_OPS:
        return None
    candidates = []
    found = simplest_form(term)
    if found is not None:
        candidates.append(found)
    if trees.factorable(term):
        try:
            candidates.append((sp.factor(sp.cancel(term)), "cancel and factor"))
        except sp.PolynomialError:
            pass
    best = min(candidates, key=lambda c: (sp.count_ops(c[0]), len(c[1])), default=None)
    if best is None or sp.count_ops(best[0]) >= size or best[0] == term:
        return None
    return best
