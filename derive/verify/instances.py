"""Index sums checked on concrete instances: the claims :class:`~derive.verify.claims.Instantiated`
(a derivation line) and :class:`~derive.verify.claims.Instances` (the answer at every size).

Index sums cannot be checked by ``sympy.diff`` in general, so each claim is expanded at concrete
sizes (N = 3, d = 3, i = 2 for a line): the sums are written out term by term, ``y_k`` is an
undefined function of the parameter (no network given) or the network, and every displayed
derivative is ``sympy.diff`` of the expanded quantity. The two sides then form an ordinary
equality for :func:`derive.verify.equality.check_equal`.
"""

from __future__ import annotations

import sympy as sp

from derive.maths.backprop import sheet_form
from derive.maths.display import Dot
from derive.maths.functions import symbol
from derive.verify.claims import IndexSums, Instances, Instantiated

D = sp.Derivative
FROZEN_MAX_OPS = 400


def line_pair(claim: Instantiated) -> tuple[sp.Expr, sp.Expr]:
    """The equality a line's claim comes to at :attr:`~derive.verify.claims.IndexSums.line_size`:
    (right side, left side by ``sympy.diff``), or a stronger one (:func:`frozen`)."""
    at = _Instance(claim.sums)
    size = claim.sums.line_size
    return frozen(at.concrete(claim.rhs, size), at.concrete(claim.lhs, size))


def answer_pairs(claim: Instances) -> list[tuple[str, sp.Expr, sp.Expr]]:
    """(label, answer, ∂E/∂wrt by ``sympy.diff``) at every size of the plan, expanded."""
    sums = claim.sums
    at = _Instance(sums)
    lhs = D(sums.E, sums.wrt, evaluate=False)
    out = []
    for size in sums.sizes:
        label = ", ".join(f"{k}={v}" for k, v in zip(sums.keys, size, strict=False))
        out.append((f"d{sums.E}/d{sp.sstr(sums.wrt)} at {label}",
                    *frozen(at.concrete(claim.answer, size), at.concrete(lhs, size))))
    return out


class _Instance:
    """Expansion of the quantities of ``sums`` at concrete sizes."""

    def __init__(self, sums: IndexSums):
        self.p = sums
        self.d, self.i = sums.d, sums.i
        self.pred = sp.Function(f"{sums.yb.name}_pred")

    def _subs(self, n: int, d: int, i: int) -> dict:
        out = {self.p.N: n}
        if self.d is not None:
            out[self.d] = d
        if self.i is not None:
            out[self.i] = i
        return out

    def prediction(self, k: sp.Expr) -> sp.Expr:
        p = self.p
        if p.network is None:
            return self.pred(k, p.wrt)
        return p.network.xreplace({p.k: k})

    def concrete(self, expr: sp.Expr, size) -> sp.Expr:
        """``expr`` (display form) as a plain expression at the given sizes: sums expanded,
        every displayed derivative taken by ``sympy.diff`` of the expanded quantity."""
        p = self.p
        n, d, i = (list(size) + [1, 1])[:3]
        subs = self._subs(n, d, i)

        def ell(k):
            return p.ell.xreplace({p.y: self.prediction(k), p.t: p.tb[k]})

        def expanded(e: sp.Expr) -> sp.Expr:
            return unroll(e.xreplace(subs))

        def is_(x, base) -> bool:
            return isinstance(x, sp.Indexed) and x.base == base

        def deriv(e: sp.Derivative) -> sp.Expr:
            f, var = e.expr, e.variable_count[0][0]
            if f == p.E and is_(var, p.Eb):
                return sp.Integer(1) / n
            if f == p.E:
                body = sp.Sum(ell(p.k), (p.k, 1, p.N)) / p.N
            elif is_(f, p.Eb) and var == p.yb[f.indices[0]]:
                kk = f.indices[0]
                return expanded(sp.diff(p.ell, p.y).xreplace(
                    {p.y: self.prediction(kk), p.t: p.tb[kk]}))
            elif is_(f, p.Eb):
                body = ell(f.indices[0])
            else:
                body = f.replace(lambda x: is_(x, p.yb), lambda x: self.prediction(x.indices[0]))
            return sp.diff(expanded(body), var.xreplace(subs))

        e = expr.replace(lambda x: isinstance(x, sp.Derivative), deriv)
        e = e.replace(lambda x: isinstance(x, Dot), lambda x: sp.Mul(*x.args))
        e = e.replace(lambda x: is_(x, p.Eb), lambda x: ell(x.indices[0]))
        e = e.replace(lambda x: is_(x, p.yb), lambda x: self.prediction(x.indices[0]))
        return self._plain(expanded(e))

    def _plain(self, e: sp.Expr) -> sp.Expr:
        """Undefined predictions y_pred(k, w) and their derivatives as plain symbols."""
        reps = {}
        for der in e.atoms(sp.Derivative):
            reps[der] = symbol("d" + "_".join(sp.sstr(a) for a in der.expr.args) + "_")
        e = sheet_form(e.xreplace(reps))
        return e.replace(lambda x: isinstance(x, sp.core.function.AppliedUndef),
                         lambda x: symbol(x.func.__name__ + "_".join(sp.sstr(a)
                                                                     for a in x.args)))


def frozen(a: sp.Expr, b: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """The check ``a == b``, or a stronger one that verification proves at once.

    Every function application (σ(w_1 x_1 + w_2 x_2), tanh(...), ...) is replaced by a fresh
    symbol on both sides. When the two sides then agree as rational functions of those symbols,
    they agree for every value the applications take, in particular their actual values: the
    frozen pair is returned (it implies ``a == b``). Otherwise the original pair is returned
    unchanged, and verification does the work (``simplify``, or random points). Without this,
    SymPy needs seconds to see −t(1/σ(s))σ(s)(1 − σ(s)) ... = σ(s) − t once σ is written with exp.
    """
    apps = sorted(a.atoms(sp.Function) | b.atoms(sp.Function), key=sp.default_sort_key)
    if not apps or sp.count_ops(a) + sp.count_ops(b) > FROZEN_MAX_OPS:
        return a, b
    reps = {f: sp.Dummy(f"f{n}", real=True) for n, f in enumerate(apps)}
    fa, fb = a.xreplace(reps), b.xreplace(reps)
    if fa.has(sp.Derivative) or fb.has(sp.Derivative):
        return a, b
    try:
        same = sp.cancel(sp.expand(fa - fb)) == 0
    except (sp.PolynomialError, TypeError, ValueError, ZeroDivisionError):
        same = False
    return (fa, fb) if same else (a, b)


def unroll(e: sp.Expr) -> sp.Expr:
    """``e`` with every sum over concrete bounds written out term by term (innermost first).

    Much faster than ``Sum.doit``, which tries closed forms (partial fractions, ...) before it
    falls back to adding the terms; anything left (a symbolic bound) goes through ``doit``.
    """
    def terms(s: sp.Sum) -> sp.Expr:
        body = s.function
        for var, lo, hi in reversed(s.limits):
            if not (lo.is_Integer and hi.is_Integer and hi >= lo - 1):
                return s
            body = sp.Add(*(body.xreplace({var: sp.Integer(v)})
                            for v in range(int(lo), int(hi) + 1)))
        return body

    out = e.replace(lambda x: isinstance(x, sp.Sum), terms)
    return out.doit() if out.has(sp.Sum, sp.Derivative) else out
