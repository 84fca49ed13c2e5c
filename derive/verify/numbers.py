"""The claim :class:`~derive.verify.claims.Numbers`: a variant's worked numbers are right.

Checked at :data:`DPS` digits with mpmath, independently of how they were computed (SymPy's exact
evaluation of the substituted expressions):

* each forward value against the graph evaluated node by node from the leaf values;
* each gradient against the part's symbolic answer evaluated exactly at the point (SymPy,
  every quantity replaced by its value), and against the central finite difference
  ``(E(w + h) - E(w - h)) / 2h`` of the loss with step ``h = 10**-STEP``;
* each δ against the central finite difference of the loss in its node (the node's value moved
  by ±h, every node after it recomputed);
* each printed rounding within half a unit in its last digit of the exact value.

A mismatch raises :class:`~derive.errors.VerificationFailure`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import mpmath
import sympy as sp

from derive.errors import VerificationFailure
from derive.maths.functions import to_elementary
from derive.verify.claims import Numbers
from derive.verify.verdict import NUMBERS, Verdict

DPS = 80
STEP = 30  # the finite-difference step is 10**-STEP
AGREE = 40  # digits two values must agree to (relative to max(1, |value|))


def _mpf(v: sp.Expr):
    return mpmath.mpf(sp.N(v, DPS + 10))


def _close(a, b) -> bool:
    return abs(a - b) <= mpmath.mpf(10) ** -AGREE * max(1, abs(a), abs(b))


def check_numbers(claim: Numbers) -> Verdict:
    """The verdict of ``claim``; raises VerificationFailure at the first wrong number."""
    bp = claim.bp
    g = bp.graph
    live = [n for n in g.order if n == bp.loss or n in g.ancestors(bp.loss)]
    fns = {n: sp.lambdify([g.sym(p) for p in g.parents[n]], to_elementary(g.exprs[n]),
                          modules="mpmath") for n in live}

    def run(leaves: Mapping[str, object], moved: tuple[str, object] | None = None):
        env = dict(leaves)
        for n in live:
            env[n] = fns[n](*[env[p] for p in g.parents[n]])
            if moved is not None and moved[0] == n:
                env[n] += moved[1]
        return env

    with mpmath.workdps(DPS + 10):
        leaves = {n: mpmath.mpf(int(v.p)) / int(v.q) for n, v in claim.at.items()}
        env = run(leaves)
        for n, v in claim.values.items():
            if not _close(_mpf(v), env[n]):
                raise VerificationFailure(f"the value of {n} is {sp.N(v, 20)}, but the graph "
                                          f"gives {mpmath.nstr(env[n], 20)}")
        h = mpmath.mpf(10) ** -STEP

        def difference(name: str):
            if name in leaves:
                up = run({**leaves, name: leaves[name] + h})[bp.loss]
                down = run({**leaves, name: leaves[name] - h})[bp.loss]
            else:
                up, down = run(leaves, (name, h))[bp.loss], run(leaves, (name, -h))[bp.loss]
            return (up - down) / (2 * h)

        exact: dict[sp.Symbol, sp.Expr] = {g.sym(n): v for n, v in claim.at.items() if n in g}
        exact.update({g.sym(n): v for n, v in claim.values.items()})
        exact.update({d.symbol: claim.deltas[d.node] for d in bp.deltas if d.node in claim.deltas})
        for w, v in claim.gradients.items():
            value = _mpf(v)
            answer = claim.answers.get(w)
            if answer is not None:
                at_point = answer.xreplace(exact)
                if at_point.free_symbols or not _close(_mpf(at_point), value):
                    raise VerificationFailure(
                        f"d{bp.loss}/d{w} = {sp.N(v, 20)} is not the symbolic answer "
                        f"{sp.sstr(answer)} at the point ({sp.N(at_point, 20)})")
            fd = difference(w)
            if not _close(fd, value):
                raise VerificationFailure(f"d{bp.loss}/d{w} = {sp.N(v, 20)}, but central finite "
                                          f"differences give {mpmath.nstr(fd, 20)}")
        for node, v in claim.deltas.items():
            fd = difference(node)
            if not _close(fd, _mpf(v)):
                raise VerificationFailure(f"the δ of {node} is {sp.N(v, 20)}, but central finite "
                                          f"differences give {mpmath.nstr(fd, 20)}")
        for what, v, text in claim.shown:
            x, printed = _mpf(v), _printed(text)
            unit = mpmath.mpf(10) ** (mpmath.floor(mpmath.log10(abs(x))) - claim.digits + 1) \
                if x != 0 else mpmath.mpf(0)
            if abs(printed - x) > unit / 2 * (1 + mpmath.mpf(10) ** -10):
                raise VerificationFailure(f"{what}: {text} is not {sp.N(v, 20)} rounded to "
                                          f"{claim.digits} significant digits")
    return Verdict(True, "numeric", f"{DPS} digits", kind=NUMBERS,
                   what=", ".join(claim.gradients),
                   facts={"values": len(claim.values), "deltas": len(claim.deltas),
                          "gradients": len(claim.gradients), "dps": DPS, "step": STEP,
                          "digits": claim.digits})


_SCIENTIFIC = re.compile(r"^(-?[0-9.]+) \\cdot 10\^\{(-?[0-9]+)\}$")


def _printed(text: str):
    """A printed rounding (``0.4621``, ``1.234 \\cdot 10^{-7}``) as an mpmath number."""
    m = _SCIENTIFIC.match(text)
    if m:
        return mpmath.mpf(m.group(1)) * mpmath.mpf(10) ** int(m.group(2))
    return mpmath.mpf(text)
