"""``derive explain``: a verified derivation at the terminal.

One expression: the step-by-step derivative (like an online derivative calculator, but every line
is checked against ``sympy.diff``). Several assignments (``"q = x + y" "f = q*z"``): the backward
pass over that computation graph, each delta once; ``--at`` adds forward values and numeric
gradients.
"""

from __future__ import annotations

import json
import re

import sympy as sp

from derive.build import verify_solution
from derive.errors import InputError
from derive.latex import TermOrder, latex, sympy_str
from derive.markup import to_math
from derive.model import Align, Solution
from derive.parse import parse_expr


def _names(texts: list[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for t in texts:
        for m in re.finditer(r"[A-Za-z][A-Za-z0-9_]*", t):
            seen.setdefault(m.group(0), None)
    return tuple(seen)


def _cli(e: InputError, what: str) -> InputError:
    return InputError(f"{what}: {e.message}")


def _wrt_list(wrt: str) -> list[str]:
    names = [w.strip() for w in wrt.split(",") if w.strip()]
    if not names:
        raise InputError("--wrt needs at least one variable name")
    return names


def explain(exprs: list[str], wrt: str, *, fmt: str = "text", at: str | None = None,
            loss: str | None = None) -> str:
    """The text ``derive explain`` prints."""
    if len(exprs) > 1 or "=" in exprs[0].replace("==", ""):
        return _explain_graph(exprs, wrt, fmt, at, loss)
    if at is not None or loss is not None:
        raise InputError("--at and --loss apply to a computation list (assignments)")
    try:
        expr = parse_expr(exprs[0])
    except InputError as e:
        raise _cli(e, "expression") from None
    order = TermOrder(_names(exprs))
    results = []
    for name in _wrt_list(wrt):
        try:
            var = parse_expr(name)
        except InputError as e:
            raise _cli(e, "--wrt") from None
        if not isinstance(var, sp.Symbol):
            raise InputError(f"--wrt: {name!r} is not a variable name")
        from derive.tasks.derivative import solve

        sol = verify_solution(solve(expr, var, None, order.rank), "explain")
        results.append((var, sol))
    return _format(exprs[0], expr, results, order, fmt)


def _format(source, expr, results, order, fmt) -> str:
    if fmt == "json":
        docs = [_json(source, var, sol, order) for var, sol in results]
        return json.dumps(docs[0] if len(docs) == 1 else {"expression": source,
                          "derivatives": docs}, indent=2, ensure_ascii=False)
    out = []
    for var, sol in results:
        lines = sol.lines()
        if fmt == "text":
            out.append(f"d/d{var} of {sympy_str(expr, order)}")
            for ln in lines:
                lhs = sympy_str(ln.lhs, order) if ln.lhs is not None else ""
                rule = _plain(ln.rule)
                out.append(f"  {lhs:>{0}} {ln.relation} {sympy_str(ln.rhs, order)}"
                           + (f"    [{rule}]" if rule else "") + f"    ({ln.verified_by})")
            out.append(f"answer: {sympy_str(sol.answer, order)}")
            out.append(f"verified: {sol.verified_by}")
            out.append("")
        else:
            rows = []
            for ln in lines:
                lhs = latex(ln.lhs, order=order) if ln.lhs is not None else ""
                rel = "=" if ln.relation == "=" else r"\mathrel{:=}"
                rule = f" && {to_math(ln.rule)}" if ln.rule else ""
                rows.append(f"{lhs} &{rel} {latex(ln.rhs, order=order)}{rule}")
            body = "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"
            out.append(f"$$\n{body}\n$$\n" if fmt == "md" else body + "\n")
    return "\n".join(out)


def _plain(rule: str) -> str:
    return rule.replace("$", "")


def _json(source, var, sol: Solution, order) -> dict:
    return {
        "expression": source,
        "wrt": var.name,
        "answer": sympy_str(sol.answer, order),
        "answer_latex": latex(sol.answer, order=order),
        "steps": [
            {
                "rule": ln.rule,
                "lhs": sympy_str(ln.lhs, order) if ln.lhs is not None else None,
                "rhs": sympy_str(ln.rhs, order),
                "relation": ln.relation,
                "latex": latex(ln.rhs, order=order),
                "verified_by": ln.verified_by,
            }
            for b in sol.blocks if isinstance(b, Align) for ln in b.lines
        ],
        "verified": True,
        "verified_by": sol.verified_by,
    }


def _explain_graph(exprs, wrt, fmt, at, loss) -> str:
    try:
        from derive.backprop import explain_graph
    except ImportError:
        raise InputError("computation lists need the backprop engine, which is not installed "
                         "in this build") from None
    return explain_graph(exprs, _wrt_list(wrt), fmt=fmt, at=at, loss=loss)
