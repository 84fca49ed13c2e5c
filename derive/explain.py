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

from derive.errors import InputError
from derive.maths.display import TermOrder
from derive.pipeline import verify_solution
from derive.render.markup import to_math
from derive.render.notation import SheetStrPrinter, latex, sympy_str
from derive.render.prose import json_data, markup
from derive.sheet.parse import parse_expr
from derive.steps import Align, Solution, Table, Text


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
        if fmt == "text":
            out.append(f"∂/∂{var} of {sympy_str(expr, order)}")
        out.append(_render_solution(sol, order, fmt))
    return "\n".join(out)


def _render_solution(sol: Solution, order: TermOrder, fmt: str) -> str:
    """A solution for the terminal: plain text, a LaTeX ``aligned`` block, or Markdown."""
    out: list[str] = []
    for block in sol.blocks:
        if isinstance(block, Text):
            out.append(_plain(markup(block.text)) if fmt == "text" else markup(block.text))
        elif isinstance(block, Align):
            out.append(_align(block.lines, order, fmt))
        elif isinstance(block, Table):
            if block.caption:
                out.append(_plain(markup(block.caption)) + ":")
            for row in block.rows:
                cells = [_term(c, order) if isinstance(c, sp.Basic) else _plain(markup(c))
                         for c in row]
                out.append("  " + "  ".join(f"{c:<14}" for c in cells).rstrip())
    if sol.answers:
        for name, value in sol.answers.items():
            out.append(f"answer ∂/∂{name}: {sympy_str(value, order)}")
    elif sol.answer is not None:
        out.append(f"answer: {sympy_str(sol.answer, order)}")
    out.append(f"verified: {sol.verified_by}")
    return "\n".join(out) + "\n"


def _align(lines, order, fmt) -> str:
    if fmt == "text":
        rows = []
        for ln in lines:
            lhs = _term(ln.lhs, order) if ln.lhs is not None else ""
            rule = _plain(markup(ln.rule))
            rows.append(f"  {lhs} {ln.relation} {_term(ln.rhs, order)}"
                        + (f"    [{rule}]" if rule else "") + f"    ({ln.verified_by})")
        return "\n".join(rows)
    rows = []
    for ln in lines:
        lhs = latex(ln.lhs, order=order) if ln.lhs is not None else ""
        rel = "=" if ln.relation == "=" else r"\mathrel{:=}"
        rule = f" && {to_math(markup(ln.rule))}" if ln.rule else ""
        rows.append(f"{lhs} &{rel} {latex(ln.rhs, order=order)}{rule}")
    body = "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"
    return f"$$\n{body}\n$$\n" if fmt == "md" else body + "\n"


_TEXT_MACROS = {
    r"\delta": "δ", r"\partial ": "∂", r"\partial": "∂", r"\sigma": "σ", r"\rho": "ρ",
    r"\sum": "Σ", r"\cdot": "·", r"\tanh": "tanh", r"\cosh": "cosh", r"\sinh": "sinh",
    r"\log": "log", r"\le": "≤", r"\ge": "≥", r"\in": "∈", r"\cup": "∪", r"\cap": "∩",
    r"\to": "→", r"\quad": " ", r"\,": " ", r"\left": "", r"\right": "",
    r"\operatorname": "", r"\mathrm": "", r"\text": "",
}


def _group(text: str, i: int) -> tuple[str, int] | None:
    """The argument of a macro at ``text[i:]`` (after spaces): the contents of a brace group,
    nested braces included, or one character; with the index after it. None at the end."""
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text):
        return None
    if text[i] != "{":
        return text[i], i + 1
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{" and text[j - 1 : j] != "\\":
            depth += 1
        elif text[j] == "}" and text[j - 1 : j] != "\\":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j], j + 1
    return None  # unbalanced: left as it is


def _compound(plain: str) -> bool:
    """Whether a piece of terminal text needs parentheses next to ``/`` or ``^``."""
    return bool(re.search(r"[\s+\-·*/=]", plain[1:])) and not (
        plain.startswith("(") and plain.endswith(")"))


def _unnest(text: str) -> str:
    r"""``\frac{A}{B}`` -> ``A/B`` (``(A)/(B)`` for sums), and ``_{A}``/``^{A}`` -> ``_A``/``^A``
    (``^(n-1)``), with nested braces: ``\frac{\partial E}{\partial w_{1}}`` -> ``∂E/∂w_1``."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith(r"\frac", i) and not text[i + 5 : i + 6].isalpha():
            num = _group(text, i + 5)
            den = _group(text, num[1]) if num else None
            if num and den:
                a, b = _plain(num[0]), _plain(den[0])
                a, b = (f"({x})" if _compound(x) else x for x in (a, b))
                out.append(f"{a}/{b}")
                i = den[1]
                continue
        if text[i] in "_^" and text[i + 1 : i + 2] == "{" and text[i - 1 : i] != "\\":
            arg = _group(text, i + 1)
            if arg:
                inner = _plain(arg[0])
                wrap = _compound(inner) if text[i] == "^" else " " in inner
                out.append(text[i] + (f"({inner})" if wrap else inner))
                i = arg[1]
                continue
        out.append(text[i])
        i += 1
    return "".join(out)


def _plain(text: str) -> str:
    """Sheet markup or a LaTeX fragment as terminal text (δ, ∂, a/b, no braces)."""
    text = _unnest(text)
    for macro, plain in sorted(_TEXT_MACROS.items(), key=lambda kv: -len(kv[0])):
        text = re.sub(re.escape(macro) + r"(?![A-Za-z])", plain, text)
    text = re.sub(r"\\[,;:] ?", " ", text).replace("\\!", "")  # LaTeX spacing
    text = re.sub(r"\\([A-Za-z]+)", r"\1", text)  # any other macro: its name
    text = text.replace("∂ ", "∂").replace(r"\{", "\0").replace(r"\}", "\1")
    text = text.replace("{", "").replace("}", "").replace("$", "").replace("*", "")
    return text.replace("\0", "{").replace("\1", "}").strip()


class _TerminalPrinter(SheetStrPrinter):
    """SymPy syntax, except Leibniz derivatives and deltas as a reader writes them."""

    def _print_Derivative(self, expr):
        var = " ".join(f"∂{self._print(v)}" for v, _ in expr.variable_count)
        f = self._print(expr.expr)
        return f"∂{f}/{var}" if expr.expr.is_Symbol else f"∂({f})/{var}"

    def _print_Dot(self, expr):
        return " · ".join(self.parenthesize(a, 50) for a in expr.args)

    def _print_Symbol(self, expr):
        name = super()._print_Symbol(expr)
        m = re.fullmatch(r"delta_?(\w+)", name)
        return f"δ_{m.group(1)}" if m else name


def _term(expr: sp.Basic, order: TermOrder) -> str:
    return _TerminalPrinter(order).doprint(order.orient(expr))


def _json(source, var, sol: Solution, order) -> dict:
    return {
        "expression": source,
        "wrt": var.name,
        "answer": sympy_str(sol.answer, order),
        "answer_latex": latex(sol.answer, order=order),
        "steps": [
            {
                "rule": markup(ln.rule),
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


def _parse_at(at: str) -> dict[str, sp.Expr]:
    values: dict[str, sp.Expr] = {}
    for item in filter(None, (p.strip() for p in at.split(","))):
        name, eq, value = item.partition("=")
        if not eq or not name.strip():
            raise InputError(f"--at: expected name=value, got {item!r}")
        try:
            number = parse_expr(value.strip())
        except InputError as e:
            raise _cli(e, f"--at {name.strip()}") from None
        if not number.is_number:
            raise InputError(f"--at: the value of {name.strip()} must be a number")
        values[name.strip()] = number
    return values


def _explain_graph(exprs, wrt, fmt, at, loss) -> str:
    from derive.tasks.backprop import explain_graph

    sol = explain_graph(exprs, _wrt_list(wrt), loss=loss,
                        at=_parse_at(at) if at is not None else None)
    sol = verify_solution(sol, "explain")
    order = TermOrder(_names(exprs))
    if fmt != "json":
        return _render_solution(sol, order, fmt)
    doc = {
        "assignments": list(exprs),
        "wrt": _wrt_list(wrt),
        "answers": {k: sympy_str(v, order) for k, v in sol.answers.items()},
        "steps": [{"rule": markup(ln.rule),
                   "lhs": sympy_str(ln.lhs, order) if ln.lhs is not None else None,
                   "rhs": sympy_str(ln.rhs, order), "relation": ln.relation,
                   "verified_by": ln.verified_by} for ln in sol.lines()],
        "verified": True,
        "verified_by": sol.verified_by,
    }
    if sol.answer is not None:
        doc["answer"] = sympy_str(sol.answer, order)
    doc.update({k: json_data(v, lambda e: sympy_str(e, order)) for k, v in sol.data.items()
                if k not in doc})
    return json.dumps(doc, indent=2, ensure_ascii=False)
