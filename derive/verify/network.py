"""The claim :class:`~derive.verify.claims.Recomputes`: an extracted network recomputes the model.

The network's own evaluation, neuron by neuron (:meth:`derive.maths.network.Network.values`), is
compared with the model's expression by :func:`derive.verify.equality.check_equal`; a
piecewise-linear network with numeric weights is also compared exactly at 64 rational points.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

from derive.errors import VerificationFailure
from derive.maths.functions import symbol
from derive.maths.network import Network, expanded, rationalize
from derive.verify.equality import check_equal
from derive.verify.verdict import NETWORK, Verdict

EXACT = "exact at 64 rational points"


def check_network(net: Network, model: Sequence[tuple[str, sp.Expr]], of: str) -> Verdict:
    """Check that the network recomputes ``of`` and each loss. The verdict's ``what`` names
    them, its ``method`` says how (``"symbolic"``, ``"exact at 64 rational points; symbolic"``).
    Raises :class:`VerificationFailure` on a mismatch."""
    defs = {n: rationalize(e) for n, e in model}
    inputs = {symbol(x) for x in net.inputs}
    params = {n for n in defs if not (expanded(model, n, set()).free_symbols & inputs)}
    value = net.values()
    methods = set()
    names = list(dict.fromkeys([of, *(c.name for c in net.losses)]))
    for name in names:
        original = expanded(model, name, params)
        verdict = check_equal(value[name], original)
        if not verdict.ok:
            raise VerificationFailure(
                f"the extracted network does not recompute {name}: {verdict.detail}")
        methods.add(verdict.method)
        if net.piecewise_linear and value[name].free_symbols <= inputs:
            exact_points_agree(value[name], original, net.inputs)
            methods.add(EXACT)
    how = tuple(sorted(methods))
    return Verdict(True, "; ".join(how), kind=NETWORK, what=", ".join(names),
                   facts={"names": tuple(names), "methods": how})


def exact_points_agree(a: sp.Expr, b: sp.Expr, inputs: Sequence[str]) -> None:
    """Evaluate both expressions exactly at 64 rational points spread over [-20, 20]^n."""
    syms = [symbol(x) for x in inputs]
    for i in range(64):
        point = {s: sp.Rational((7 * i * (k + 3) + 11 * k) % 41 - 20, 1 + (i + k) % 4)
                 for k, s in enumerate(syms)}
        if sp.simplify(a.xreplace(point) - b.xreplace(point)) != 0:
            raise VerificationFailure(
                "the extracted network differs from the expression at "
                + ", ".join(f"{s} = {v}" for s, v in point.items()))
