"""A safe parser for the formulas written on exercise sheets.

User text is never evaluated: it is parsed with ``ast.parse(text, mode="eval")`` and the syntax tree
is walked against an explicit whitelist that builds SymPy objects directly (evaluated construction,
so a result equals what SymPy produces for the same formula). Nothing is ever passed to ``eval``,
``sympify`` or ``sympy.parse_expr``.

Accepted grammar (one line of printable ASCII and Greek letters; spaces and tabs are allowed;
each Greek letter stands for its ASCII name, ``λ`` for ``lambda_``, ``α`` for ``alpha``, ``π``
for ``pi``: :data:`GREEK_LETTERS`)::

    expr    := expr ("+" | "-" | "*" | "/") expr | expr "**" expr | ("-" | "+") expr
             | "(" expr ")" | number | name | "pi" | call | name "[" index ("," index)* "]"
    number  := integer (at most 100 digits) | decimal such as 0.5 or 1e-3 (exact: 0.5 -> 1/2)
    name    := [A-Za-z][A-Za-z0-9_]*, not a function name and not "pi"  (a real symbol)
    index   := name | integer | affine combination such as i+1, 2*k - 1  (integer symbols)
    call    := f "(" expr ")"     for f in exp log ln sqrt sin cos tan sinh cosh tanh
                                  abs Heaviside sigmoid softplus relu erf
                                  (the one-argument names of derive.maths.functions.CATALOGUE)
             | "leaky_relu(" expr "," slope ")"        (slope a number with 0 <= a < 1, or a name)
             | "softmax(" k "," expr ("," expr)+ ")"  (the k-th probability, k an integer 1..n)
             | ("max" | "min") "(" expr ("," expr)+ ")"
             | "Heaviside(" expr ", 0)"                (SymPy's spelling of Heaviside(x))
             | "sign(" expr ")" | "DiracDelta(" expr ["," n] ")"   (as derivatives print them)
             | "Sum(" expr ", (" name "," expr "," expr "))"
             | "Sum(" expr "," name "," expr "," expr ")"

Notes: ``log`` and ``ln`` are the natural logarithm (``log(x, b)`` is rejected). ``pi`` is the
only named constant; ``e`` and ``E`` are ordinary symbols (``E`` is usually the loss), so Euler's
number is written ``exp(1)``. ``Heaviside(x)`` means ``Heaviside(x, 0)``; ``Max``, ``Min`` and
``Abs`` are accepted for ``max``, ``min`` and ``abs`` (SymPy's spellings, as in the JSON answers,
so an answer can be pasted into a sheet), and so are ``sign`` and ``DiracDelta``, which only
derivatives bring (|u|' = sign(u), H' = DiracDelta). Inside ``Sum`` the
summation index is an integer symbol (:func:`derive.maths.functions.index`), as are names in
subscripts.
``^`` is rejected (write ``**``).

Resource guards: the text length, the bracket nesting depth (checked before ``ast.parse``),
literal sizes, exponents (at most 1000 in absolute value), the size of every rational number that
arithmetic produces, numeric arguments of exp-like functions, the length of one product chain and
the number of ``max``/``min`` arguments (SymPy compares those pairwise, slowly) are all bounded.
Integer literals past Python's 4300-digit limit get the same message as any literal over 100
digits.

derive works over the reals: an expression with no real value at any real point derive tries
(``sqrt(-1 - x**2)``, ``(-8)**(1/3)``, ``(-1)**y``, ``1/(sin(x)**2 + cos(x)**2 - 1)``) raises
:class:`NotRealError` (see :mod:`derive.sheet.reals`; constants such as ``sqrt(-1)`` are refused
while they are built).

Everything else (attributes, calls of unknown functions, keywords, strings,
comparisons, lambdas, comprehensions, literals of containers, statements, ...) raises
:class:`~derive.errors.InputError` with a one-line message naming the column.
"""

from __future__ import annotations

import ast
import difflib
import keyword
import math
import operator
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import NoReturn

import sympy as sp

from derive.errors import InputError
from derive.maths.display import WrittenForms
from derive.maths.functions import CATALOGUE, index, indexed_base, leaky_relu, softmax, symbol
from derive.sheet.reals import real_problem

__all__ = ["FUNCTION_NAMES", "GREEK_LETTERS", "NAME_RE", "RESERVED_NAMES", "NotRealError",
           "ascii_formula", "is_valid_name", "parse_assignment", "parse_expr", "written_forms"]

NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
"""A sheet name (use ``fullmatch``); :func:`is_valid_name` also excludes reserved names."""

MAX_NESTING = 100  # brackets
MAX_DEPTH = 200  # syntax-tree levels below the top of a chain
MAX_LITERAL_DIGITS = 100
MAX_EXPONENT = 1000
MAX_NUMBER_BITS = 1100  # every rational produced (2**1000 still fits)
MAX_GROWTH_ARGUMENT = 1000  # |x| for numeric x in exp, sinh, cosh, softplus
MAX_PRODUCT_FACTORS = 200  # SymPy folds products in quadratic time
MAX_TREE_NODES = 2_000  # SymPy tree nodes of one parsed expression
MAX_TREE_DEPTH = 100  # SymPy tree levels of one parsed expression
MAX_MINMAX_ARGUMENTS = 8  # SymPy compares max/min arguments pairwise, slowly
MAX_MINMAX_TOTAL = 32  # max/min arguments in one expression

# the catalogue's functions by the names a sheet calls them (leaky_relu takes a slope too)
_CATALOGUED = {name: f for f in CATALOGUE for name in f.parse}
_ONE_ARGUMENT: dict[str, Callable[[sp.Expr], sp.Expr]] = {
    name: f.make for name, f in _CATALOGUED.items() if f.nargs == 1
}
_GROWTH = frozenset(name for name, f in _CATALOGUED.items() if f.growth)
# SymPy's spellings, as JSON answers write them: Max, Min, Abs for max, min, abs, and two
# functions that only derivatives bring (|u|' = sign(u), Heaviside' = DiracDelta)
ALIASES = {"Max": "max", "Min": "min", "Abs": "abs", "sign": "sign", "DiracDelta": "DiracDelta"}
FUNCTION_NAMES = frozenset(_CATALOGUED) | {"max", "min", "Sum"} | set(ALIASES)
RESERVED_NAMES = FUNCTION_NAMES | {"pi"} | frozenset(keyword.kwlist)

_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**",
              ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.BitXor: "^",
              ast.BitAnd: "&", ast.BitOr: "|", ast.LShift: "<<", ast.RShift: ">>"}
_FORBIDDEN = {
    ast.Attribute: "attribute access is not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed", ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "generator expressions are not allowed",
    ast.JoinedStr: "f-strings are not allowed", ast.FormattedValue: "f-strings are not allowed",
    ast.Compare: "comparisons are not allowed",
    ast.BoolOp: "'and' / 'or' are not allowed",
    ast.IfExp: "conditional expressions (x if c else y) are not allowed",
    ast.NamedExpr: "':=' is not allowed",
    ast.Starred: "starred expressions are not allowed",
    ast.Dict: "dict literals are not allowed", ast.Set: "set literals are not allowed",
    ast.List: "list literals are not allowed", ast.Tuple: "tuples are not allowed here",
    ast.Slice: "slices are not allowed",
    ast.Await: "'await' is not allowed", ast.Yield: "'yield' is not allowed",
    ast.YieldFrom: "'yield' is not allowed",
}
_BAD_ATOMS = (sp.zoo, sp.nan, sp.oo, -sp.oo)
# Greek letters a sheet may write in a formula, and the ASCII names they stand for: λ is
# ``lambda_`` (``lambda`` is a Python keyword), π the constant pi, the rest their names (α is
# ``alpha``); Greek capitals that look like Latin ones, omicron and final sigma are refused
GREEK_LETTERS = dict(zip(
    "αβγδεζηθικλμνξπρστυφχψωΓΔΘΛΞΠΣΥΦΨΩ",
    ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda_ mu nu xi pi rho sigma tau "
     "upsilon phi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi "
     "Omega").split(), strict=True))
_ASSIGN_EQ = re.compile(r"(?<![=!<>])=(?!=)")
_PLAIN_DECIMAL = re.compile(r"\d*\.\d+|\d+\.\d*")  # 0.5, .5, 2.: not 1e-3
_LONG_LITERAL = re.compile(r"(?<![\w.])\d[\d_]{" + str(MAX_LITERAL_DIGITS) + ",}")


class NotRealError(InputError):
    """An expression with no real value for any real value of its variables (derive works over
    the reals): ``sqrt(-1 - x**2)``, ``(-8)**(1/3)``, ``(-1)**y``, or undefined everywhere:
    ``1/(sin(x)**2 + cos(x)**2 - 1)``."""


def is_valid_name(name: str) -> bool:
    """True when ``name`` may name a sheet quantity (``[A-Za-z][A-Za-z0-9_]*``, not reserved)."""
    return _name_problem(name) is None


def parse_expr(text: str, *, max_length: int = 10_000) -> sp.Expr:
    """Parse one expression into SymPy; raise :class:`InputError` (no file/line) when it is bad."""
    return _parse_expr(text, max_length, None)


def _parse_expr(text: str, max_length: int, record: _Record | None) -> sp.Expr:
    _prescan(text, max_length)
    text = ascii_formula(text.strip())  # Python would call leading blanks an indentation error
    tree = _ast_parse(text, "eval")
    assert isinstance(tree, ast.Expression)
    return check_real(check_size(_Converter(text, record).run(tree.body), text), text)


def written_forms(texts: Iterable[str]) -> WrittenForms:
    """How ``texts`` write their sums, products and decimals (see
    :class:`~derive.maths.display.WrittenForms`; the first text to write a sum or a decimal
    decides its form). Each text is a formula, an assignment ``name = formula`` or an equality
    ``lhs = rhs``; a text that is none of these (a class name, a task's keyword) is skipped."""
    record = _Record()
    for text in texts:
        if not isinstance(text, str):
            continue
        for side in _ASSIGN_EQ.split(text):
            try:
                _parse_expr(side, 10_000, record)
            except InputError:
                continue
    return WrittenForms(dict(record.sums), dict(record.products), dict(record.decimals),
                        dict(record.factored))


class _Record:
    """The written forms met while parsing: sums and products (by the set of their terms or
    factors other than numbers) in written order, and decimals by value."""

    def __init__(self):
        self.sums: dict[frozenset, tuple[sp.Basic, ...]] = {}
        self.products: dict[frozenset, tuple[sp.Basic, ...]] = {}
        self.decimals: dict[sp.Rational, str] = {}
        self.factored: dict[frozenset, tuple[sp.Rational, sp.Add]] = {}

    def terms(self, e: sp.Basic) -> tuple[sp.Basic, ...]:
        """The terms of ``e`` as written (its SymPy order when not recorded)."""
        if not e.is_Add:
            return (e,)
        return self.sums.get(frozenset(e.args), e.args)

    def factors(self, e: sp.Basic) -> tuple[sp.Basic, ...]:
        """The factors of ``e`` as written, numbers included where SymPy keeps them."""
        if not e.is_Mul:
            return (e,)
        numbers = tuple(a for a in e.args if a.is_Number)
        return numbers + self.products.get(frozenset(a for a in e.args if not a.is_Number),
                                           tuple(a for a in e.args if not a.is_Number))

    def sum(self, result: sp.Basic, written: Iterable[sp.Basic]) -> None:
        """Record the sum ``result`` built from the terms ``written`` (sums among them
        flattened into their written terms), when each term of ``result`` is one of them."""
        if not result.is_Add:
            return
        flat = [t for w in written for t in self.terms(w)]
        self._note(self.sums, result.args, flat)

    def scaled(self, result: sp.Basic, factor: sp.Basic, other: sp.Basic) -> None:
        """Record ``result = factor * other`` where SymPy distributed a number over a sum (and,
        for a positive factor, that the sheet writes it as that product)."""
        if result.is_Add and other.is_Add and factor.is_Number:
            self.sum(result, [factor * t for t in self.terms(other)])
            if factor.is_positive and factor != 1:
                self.factored.setdefault(frozenset(result.args), (factor, other))

    def product(self, result: sp.Basic, written: Iterable[sp.Basic]) -> None:
        """Record the product ``result`` built from the factors ``written`` (products among
        them flattened into their written factors)."""
        if not result.is_Mul:
            return
        flat = [f for w in written for f in self.factors(w)]
        self._note(self.products, [a for a in result.args if not a.is_Number], flat)

    @staticmethod
    def _note(table: dict, args: Sequence[sp.Basic], flat: Sequence[sp.Basic]) -> None:
        if len(args) < 2:
            return
        position: dict[sp.Basic, int] = {}
        for i, t in enumerate(flat):
            position.setdefault(t, i)
        if all(a in position for a in args):
            table.setdefault(frozenset(args), tuple(sorted(args, key=position.__getitem__)))


def parse_assignment(text: str, *, max_length: int = 10_000) -> tuple[str, sp.Expr]:
    """Parse ``"name = expr"`` and return the name and the right-hand side."""
    _prescan(text, max_length)
    text = ascii_formula(text.strip())
    tree = _ast_parse(text, "exec")
    assert isinstance(tree, ast.Module)
    where = _Converter(text)
    if not tree.body:
        raise InputError(f"{_quote(text)}: expected an assignment 'name = expression'")
    if len(tree.body) > 1:
        where.fail(tree.body[1], "only one assignment is allowed (no ';')")
    stmt = tree.body[0]
    if not isinstance(stmt, ast.Assign):
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Compare):
            where.fail(stmt, "expected 'name = expression' ('==' is a comparison, use '=')")
        if isinstance(stmt, ast.Expr):
            where.fail(stmt, "expected an assignment 'name = expression', found no '='")
        where.fail(stmt, f"expected 'name = expression', found {_statement_kind(stmt)}")
    if len(stmt.targets) > 1:
        where.fail(stmt.targets[1], "only one '=' is allowed (no chained assignment)")
    target = stmt.targets[0]
    if not isinstance(target, ast.Name):
        where.fail(target, "the left side of '=' must be a single plain name")
    problem = _name_problem(target.id)
    if problem:
        where.fail(target, f"cannot assign to {target.id!r}: {problem}")
    return target.id, check_real(check_size(where.run(stmt.value), text), text)


def check_real(expr: sp.Basic, text: str = "") -> sp.Basic:
    """Return ``expr``, or raise :class:`NotRealError` when it has no real, finite value at any
    real point derive tries (see :mod:`derive.sheet.reals`; every symbol is a free variable here,
    the sheet loader checks a model's names again with the values of their definitions)."""
    if not _may_leave_the_reals(expr):
        return expr
    problem = real_problem(expr)
    if problem:
        raise NotRealError(_located(text, None, f"this {problem}"))
    return expr


def _may_leave_the_reals(expr: sp.Basic) -> bool:
    """Whether ``expr`` has a logarithm, a root, a division or a power with a symbolic exponent:
    without those, every supported function of real numbers is a real number."""
    if expr.atoms(sp.log):
        return True
    return any(not (p.exp.is_Integer and p.exp >= 0) for p in expr.atoms(sp.Pow))


def check_size(expr: sp.Basic, text: str = "") -> sp.Basic:
    """Return ``expr``, or raise InputError when it has more than MAX_TREE_NODES nodes or more
    than MAX_TREE_DEPTH levels (counted without recursion)."""
    nodes = 0
    stack = [(expr, 1)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if depth > MAX_TREE_DEPTH:
            raise InputError(_located(text, None, f"expression is nested too deeply (more than "
                                                  f"{MAX_TREE_DEPTH} levels of operations)"))
        if nodes > MAX_TREE_NODES:
            raise InputError(_located(text, None, f"expression is too large (more than "
                                                  f"{MAX_TREE_NODES} operations and symbols)"))
        stack.extend((arg, depth + 1) for arg in node.args)
    return expr


def _name_problem(name: str) -> str | None:
    if name.startswith("__"):
        return "dunder names are not allowed"
    if not NAME_RE.fullmatch(name):
        return "names start with a letter and contain only letters, digits and '_'"
    if name in FUNCTION_NAMES:
        return f"{name!r} is a function name"
    if name == "pi":
        return "'pi' is the constant pi"
    if name in RESERVED_NAMES:
        return f"{name!r} is a reserved word"
    return None


def _quote(text: str, column: int | None = None) -> str:
    """``in "text"``, shortened around ``column`` when the text is long."""
    shown = text.encode("unicode_escape").decode("ascii")
    if len(shown) > 80:
        start = max(0, min((column or 1) - 30, len(shown) - 60))
        shown = ("..." if start else "") + shown[start : start + 60] + "..."
    return f'in "{shown}"'


def _located(text: str, column: int | None, message: str) -> str:
    where = f": column {column}" if column else ""
    return f"{_quote(text, column)}{where}: {message}"


def _prescan(text: str, max_length: int) -> None:
    """Reject oversized, non-printable or too deeply bracketed text before ``ast.parse``."""
    if not isinstance(text, str):
        raise InputError(f"expected an expression as text, got {type(text).__name__}")
    if len(text) > max_length:
        raise InputError(f"expression is too long: {len(text)} characters (at most {max_length})")
    depth = 0
    for column, char in enumerate(text, 1):
        if char == "#":
            raise InputError(_located(text, column, "comments ('#') are not allowed here"))
        if char == "\t" or " " <= char <= "~" or char in GREEK_LETTERS:
            if char in "([{":
                depth += 1
                if depth > MAX_NESTING:
                    raise InputError(_located(
                        text, column, f"brackets are nested more than {MAX_NESTING} levels deep"))
            elif char in ")]}":
                depth -= 1
            continue
        kind = "control character" if not char.isprintable() or ord(char) < 128 else "character"
        raise InputError(_located(
            text, column, f"{kind} U+{ord(char):04X} is not allowed (only printable ASCII and "
                          "Greek letters)"))
    if not text.strip():
        raise InputError("empty expression")


def ascii_formula(text: str) -> str:
    """The formula with each Greek letter written as its ASCII name (``λ w`` -> ``lambda_ w``,
    ``αx`` -> ``alphax``): the names a sheet can also type, and what error columns count."""
    return "".join(GREEK_LETTERS.get(c, c) for c in text)


def _statement_kind(stmt: ast.stmt) -> str:
    if isinstance(stmt, ast.Import | ast.ImportFrom):
        return "an import statement"
    if isinstance(stmt, ast.Assign | ast.AugAssign | ast.AnnAssign):
        return "an assignment"
    return f"a {type(stmt).__name__.lower()} statement"


def _ast_parse(text: str, mode: str) -> ast.AST:
    with warnings.catch_warnings():  # "invalid decimal literal" etc.: never printed
        warnings.simplefilter("ignore", SyntaxWarning)
        return _ast_parse_quietly(text, mode)


def _ast_parse_quietly(text: str, mode: str) -> ast.AST:
    try:
        return ast.parse(text, mode=mode)
    except (RecursionError, MemoryError):
        raise InputError(_located(
            text, None, "expression is nested too deeply or has too many terms")) from None
    except ValueError as exc:  # e.g. null bytes (the prescan rejects them first)
        raise InputError(_located(text, None, str(exc))) from None
    except SyntaxError as exc:
        syntax = exc
    if mode == "eval":  # a statement, or several?  Explain instead of "invalid syntax".
        try:
            body = ast.parse(text, mode="exec").body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            body = None
        if body == []:
            raise InputError("empty expression")
        if body:
            where = _Converter(text)
            if len(body) > 1:
                where.fail(body[1], "only one expression is allowed (no ';')")
            if not isinstance(body[0], ast.Expr):
                where.fail(body[0], f"not an expression: found {_statement_kind(body[0])}")
            where.run(body[0].value)  # names the construct, e.g. a starred expression
            where.fail(body[0], "not a single expression (a trailing ';' is not allowed)")
    else:
        eq = _ASSIGN_EQ.search(text)
        if eq and not is_valid_name(text[: eq.start()].strip()):
            left = text[: eq.start()].strip()
            raise InputError(
                _located(text, 1, f"the left side of '=' must be a name, not {left!r}"))
    message = " ".join(str(syntax.msg).split())
    if "integer string conversion" in message:  # past Python's 4300-digit limit
        long = _LONG_LITERAL.search(text)
        raise InputError(_located(text, long.start() + 1 if long else None,
                                  f"integer literal has more than {MAX_LITERAL_DIGITS} digits"))
    raise InputError(_located(text, syntax.offset, f"syntax error: {message}"))


class _Converter:
    """Walks a whitelisted syntax tree and builds the SymPy expression (noting the written forms
    of its sums, products and decimals in ``record``, when given)."""

    def __init__(self, text: str, record: _Record | None = None):
        self.text = text
        self.record = record
        self.bound: dict[str, sp.Symbol] = {}  # summation indices in scope
        self.depth = 0
        self.minmax_total = 0
        self._scanned: dict[sp.Basic, tuple[int, bool]] = {}

    def fail(self, node: ast.AST, message: str) -> NoReturn:
        raise InputError(_located(self.text, getattr(node, "col_offset", -1) + 1 or None, message))

    def forbid(self, node: ast.expr, otherwise: str = "") -> NoReturn:
        """Reject a construct outside the whitelist, naming it."""
        if isinstance(node, ast.Attribute):  # point at the dot, and name the attribute
            dot = self.text.rfind(".", 0, (node.end_col_offset or 0) - len(node.attr))
            raise InputError(_located(self.text, dot + 1 if dot >= 0 else None,
                                      f"attribute access ('.{node.attr}') is not allowed"))
        default = otherwise or f"{type(node).__name__} is not allowed"
        self.fail(node, _FORBIDDEN.get(type(node), default))

    def run(self, node: ast.expr) -> sp.Expr:
        try:
            return self.convert(node)
        except (RecursionError, MemoryError):
            raise InputError(_located(self.text, None, "expression is nested too deeply")) from None

    # -- dispatch ------------------------------------------------------------------------------
    def convert(self, node: ast.expr) -> sp.Expr:
        handler = {ast.Constant: self._constant, ast.Name: self._name, ast.BinOp: self._binop,
                   ast.UnaryOp: self._unary, ast.Call: self._call,
                   ast.Subscript: self._subscript}.get(type(node))
        if handler is None:
            self.forbid(node)
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                self.fail(node, "expression is nested too deeply")
            return handler(node)
        finally:
            self.depth -= 1

    def _constant(self, node: ast.Constant) -> sp.Expr:
        value = node.value
        if isinstance(value, bool) or value is None or value is Ellipsis:
            self.fail(node, f"{value!r} is not allowed (only numbers, names and pi)")
        if isinstance(value, str | bytes):
            self.fail(node, "strings are not allowed")
        if isinstance(value, complex):
            self.fail(node, "complex numbers are not allowed")
        if isinstance(value, int):
            if abs(value) >= 10**MAX_LITERAL_DIGITS:
                self.fail(node, f"integer literal has more than {MAX_LITERAL_DIGITS} digits")
            return sp.Integer(value)
        if isinstance(value, float):  # exact, from the digits as written
            source = (ast.get_source_segment(self.text, node) or "").replace("_", "")
            try:
                decimal = Decimal(source)
            except InvalidOperation:
                self.fail(node, f"cannot read the number {source!r}")
            digits, exponent = decimal.as_tuple().digits, decimal.as_tuple().exponent
            if len(digits) > MAX_LITERAL_DIGITS or not isinstance(exponent, int) \
                    or abs(exponent) > MAX_LITERAL_DIGITS:
                self.fail(node, f"number {source!r} is too large or too precise")
            fraction = Fraction(decimal)
            number = sp.Rational(fraction.numerator, fraction.denominator)
            if self.record is not None and number.q != 1 and _PLAIN_DECIMAL.fullmatch(source):
                self.record.decimals.setdefault(number, "0" + source if source[0] == "."
                                                else source)
            return number
        self.fail(node, f"{type(value).__name__} constants are not allowed")

    def _name(self, node: ast.Name) -> sp.Expr:
        name = node.id
        if name in self.bound:
            return self.bound[name]
        if name == "pi":
            return sp.pi
        if name in FUNCTION_NAMES:
            self.fail(node, f"{name!r} is a function; call it, as in {name}(x)")
        problem = _name_problem(name)
        if problem:
            self.fail(node, f"name {name!r} is not allowed: {problem}")
        return symbol(name)

    def _unary(self, node: ast.UnaryOp) -> sp.Expr:
        if isinstance(node.op, ast.Not):
            self.fail(node, "'not' is not allowed")
        if isinstance(node.op, ast.Invert):
            self.fail(node, "'~' is not allowed")
        operand = self.convert(node.operand)
        return self._negated(operand) if isinstance(node.op, ast.USub) else +operand

    def _negated(self, e: sp.Expr) -> sp.Expr:
        """``-e``; a sum keeps its written order (``-(1 + x)`` is ``-1 - x``)."""
        result = -e
        if self.record is not None:
            self.record.scaled(result, sp.S.NegativeOne, e)
        return result

    # -- arithmetic ----------------------------------------------------------------------------
    def _binop(self, node: ast.BinOp) -> sp.Expr:
        """Fold a left-leaning chain ``a op b op c ...`` without recursion; sums are built flat."""
        chain: list[ast.BinOp] = []
        left: ast.expr = node
        while isinstance(left, ast.BinOp):
            chain.append(left)
            left = left.left
        result = self.convert(left)
        terms: list[sp.Expr] = []
        factors = 0
        for op_node in reversed(chain):
            op_text = _OPERATORS.get(type(op_node.op), "?")
            if isinstance(op_node.op, ast.BitXor):
                self._fail_operator(
                    op_node, "'^' is not allowed; write powers with '**', as in x**2")
            if op_text not in ("+", "-", "*", "/", "**"):
                self._fail_operator(op_node, f"operator '{op_text}' is not allowed")
            right = self.convert(op_node.right)
            if op_text in ("+", "-"):  # Add(a, -b, c) == (a - b) + c
                terms = terms or [result]
                terms.append(right if op_text == "+" else self._negated(right))
                continue
            if terms:
                result, terms = self._add(op_node, terms), []
            factors += 1
            if factors > MAX_PRODUCT_FACTORS:
                self._fail_operator(
                    op_node, f"more than {MAX_PRODUCT_FACTORS} factors in one product")
            if op_text == "**":
                result = self._power(op_node, result, right)
            else:
                combine = operator.mul if op_text == "*" else operator.truediv
                left_factor = result
                result = self._build(op_node, combine, result, right)
                if self.record is not None:
                    self._note_product(result, left_factor, right, op_text == "/")
        return self._add(node, terms) if terms else result

    def _add(self, node: ast.AST, terms: list[sp.Expr]) -> sp.Expr:
        result = self._build(node, sp.Add, *terms)
        if self.record is not None:
            self.record.sum(result, terms)
        return result

    def _note_product(self, result: sp.Expr, left: sp.Expr, right: sp.Expr, divide: bool
                      ) -> None:
        """Record the written order of ``left * right`` (or ``left / right``)."""
        record = self.record
        assert record is not None
        if divide:
            if right.is_Number:
                record.scaled(result, 1 / right, left)
            inverses = [f ** -1 for f in record.factors(right)]
            if any(f.is_Mul for f in inverses):  # x/sqrt(2) is sqrt(2)*x/2: not as written
                return
            written = [left, *inverses]
        else:
            if left.is_Number or right.is_Number:
                number, other = (left, right) if left.is_Number else (right, left)
                record.scaled(result, number, other)
            written = [left, right]
        record.product(result, written)

    def _fail_operator(self, node: ast.BinOp, message: str) -> NoReturn:
        start = getattr(node.left, "end_col_offset", None) or 0
        found = self.text.find(_OPERATORS.get(type(node.op), "?"), start, node.right.col_offset)
        column = found + 1 if found >= 0 else node.col_offset + 1
        raise InputError(_located(self.text, column, message))

    def _power(self, node: ast.BinOp, base: sp.Expr, exponent: sp.Expr) -> sp.Expr:
        if exponent.is_number and not _magnitude_at_most(exponent, MAX_EXPONENT):
            shown = ast.get_source_segment(self.text, node.right) or str(exponent)
            self._fail_operator(
                node, f"exponent {shown} is too large (at most {MAX_EXPONENT} in absolute value)")
        if exponent.is_Rational:  # integer parts are evaluated: bound their size first
            coefficient = base if base.is_Rational else base.as_coeff_Mul()[0]
            size = max(math.log2(abs(coefficient.p) or 1), math.log2(coefficient.q))
            if size * abs(exponent.p) / exponent.q > MAX_NUMBER_BITS:
                self._fail_operator(node, "the result is too large a number")
        result = self._build(node, operator.pow, base, exponent)
        if self.record is not None and base.is_Mul and result.is_Mul:  # (x y)^2 = x^2 y^2
            self.record.product(result, [f ** exponent for f in self.record.factors(base)])
        if result.is_Pow and result.exp.is_Rational and abs(result.exp) > MAX_EXPONENT:
            self._fail_operator(node, f"the combined exponent {result.exp} is too large "
                                      f"(at most {MAX_EXPONENT} in absolute value)")
        return result

    def _scan(self, expr: sp.Basic) -> tuple[int, bool]:
        """Largest bit length of a rational in ``expr``, and whether it holds oo, zoo, nan or I."""
        if expr in self._scanned:
            return self._scanned[expr]
        if expr.is_Rational:
            found = (max(abs(expr.p).bit_length(), expr.q.bit_length()), False)
        elif expr in _BAD_ATOMS or expr is sp.I:
            found = (0, True)
        else:
            parts = [self._scan(arg) for arg in expr.args]
            found = (max((p[0] for p in parts), default=0), any(p[1] for p in parts))
        self._scanned[expr] = found
        return found

    def _build(self, node: ast.AST, build: Callable[..., sp.Expr], *args: object) -> sp.Expr:
        """``build(*args)``, refused when SymPy refuses it or the result is not finite and real."""
        try:
            expr = build(*args)
        except (ValueError, TypeError, ArithmeticError) as exc:
            detail = " ".join(str(exc).split())
            self.fail(node, f"cannot build this: {detail[:120]}")
        bits, bad = self._scan(expr)
        if bad:
            why = "is not a real number" if expr.has(sp.I) else "is infinite or undefined"
            self.fail(node, f"this {why} (division by zero, log(0), sqrt(-1), ...)")
        if bits > MAX_NUMBER_BITS:
            self.fail(node, "this produces too large a number")
        return expr

    # -- calls -----------------------------------------------------------------------------------
    def _call(self, node: ast.Call) -> sp.Expr:
        if not isinstance(node.func, ast.Name):
            self.forbid(node.func, "only named functions can be called, as in exp(x)")
        name = node.func.id
        if name not in FUNCTION_NAMES:
            self.fail(node.func, _unknown_function(name))
        if node.keywords:
            self.fail(node.keywords[0], f"keyword arguments are not allowed in {name}(...)")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                self.fail(arg, "starred arguments are not allowed")
        if name == "Sum":
            return self._sum(node)
        name = ALIASES.get(name, name)
        count = len(node.args)
        if name == "Heaviside" and count == 2:  # SymPy's spelling: the value at 0 is given
            if self.convert(node.args[1]) != 0:
                self.fail(node.args[1], "derive's Heaviside is 0 at 0 (relu'(0) = 0): write "
                                        "Heaviside(x) or Heaviside(x, 0)")
            count = 1
            node = ast.copy_location(ast.Call(func=node.func, args=node.args[:1],
                                              keywords=[]), node)
        if name in ("log", "ln") and count == 2:
            self.fail(node, f"{name} takes one argument (natural log only); "
                            "for base b write log(x)/log(b)")
        if name in _ONE_ARGUMENT and count != 1:
            self.fail(node, f"{name} takes exactly 1 argument, got {count}")
        if name == "leaky_relu" and count != 2:
            self.fail(node, f"leaky_relu takes 2 arguments (x, slope), got {count}")
        if name in ("max", "min") and count < 2:
            self.fail(node, f"{name} takes at least 2 arguments, got {count}")
        if name == "sign" and count != 1:
            self.fail(node, f"sign takes exactly 1 argument, got {count}")
        if name == "DiracDelta":
            return self._dirac(node)
        if name == "softmax":
            return self._softmax(node)
        args = [self.convert(arg) for arg in node.args]
        if name in _GROWTH and args[0].is_number \
                and not _magnitude_at_most(args[0], MAX_GROWTH_ARGUMENT):
            self.fail(node, f"numeric argument of {name} is too large "
                            f"(at most {MAX_GROWTH_ARGUMENT} in absolute value)")
        if name == "leaky_relu":
            slope = args[1]
            if not (slope.is_Rational and 0 <= slope < 1 or slope.is_Symbol):
                self.fail(node.args[1], "the leaky_relu slope must be a number a with 0 <= a < 1 "
                                        "or a name (a symbolic slope, taken to be in [0, 1))")
            return self._build(node, leaky_relu, *args)
        if name == "sign":
            return self._build(node, sp.sign, args[0])
        if name in ("max", "min"):
            kind = sp.Max if name == "max" else sp.Min
            count = sum(len(a.args) if isinstance(a, kind) else 1 for a in args)  # as flattened
            self.minmax_total += count
            if count > MAX_MINMAX_ARGUMENTS or self.minmax_total > MAX_MINMAX_TOTAL:
                self.fail(node, f"too many max/min arguments (at most {MAX_MINMAX_ARGUMENTS} in "
                                f"one call and {MAX_MINMAX_TOTAL} in one expression)")
            return self._build(node, kind, *args)
        return self._build(node, _ONE_ARGUMENT[name], args[0])

    def _softmax(self, node: ast.Call) -> sp.Expr:
        """``softmax(k, z1, ..., zn)``: the k-th probability of the scores (1 <= k <= n, n >= 2,
        at most MAX_MINMAX_ARGUMENTS scores)."""
        count = len(node.args) - 1
        if count < 2 or count > MAX_MINMAX_ARGUMENTS:
            self.fail(node, f"softmax(k, z1, ..., zn) takes an index k and 2 to "
                            f"{MAX_MINMAX_ARGUMENTS} scores, got {max(count, 0)}")
        first = node.args[0]
        if not (isinstance(first, ast.Constant) and type(first.value) is int
                and 1 <= first.value <= count):
            self.fail(first, f"the first argument of softmax is the index k of the output, an "
                             f"integer from 1 to {count} (the number of scores)")
        args = [self.convert(arg) for arg in node.args]
        return self._build(node, softmax, *args)

    def _dirac(self, node: ast.Call) -> sp.Expr:
        """``DiracDelta(x)`` or ``DiracDelta(x, n)``, its n-th derivative (0 <= n <= 10)."""
        if len(node.args) not in (1, 2):
            self.fail(node, f"DiracDelta takes 1 or 2 arguments, got {len(node.args)}")
        args = [self.convert(arg) for arg in node.args]
        if len(args) == 2 and not (args[1].is_Integer and 0 <= args[1] <= 10):
            self.fail(node.args[1], "the order of DiracDelta(x, n) must be an integer 0 <= n <= 10")
        return self._build(node, sp.DiracDelta, *args)

    def _sum(self, node: ast.Call) -> sp.Expr:
        args = node.args
        if len(args) == 2 and isinstance(args[1], ast.Tuple) and len(args[1].elts) == 3:
            var, low, high = args[1].elts
        elif len(args) == 4:
            var, low, high = args[1:]
        else:
            self.fail(node, "write Sum(body, (k, low, high)) or Sum(body, k, low, high)")
        if not isinstance(var, ast.Name):
            self.fail(var, "the summation index must be a plain name")
        problem = _name_problem(var.id)
        if problem:
            self.fail(var, f"summation index {var.id!r} is not allowed: {problem}")
        k = index(var.id)
        outer = self.bound.get(var.id)
        self.bound[var.id] = k
        try:
            body = self.convert(args[0])
        finally:
            if outer is None:
                del self.bound[var.id]
            else:
                self.bound[var.id] = outer
        limits = []
        for limit in (low, high):
            value = self.convert(limit)
            if value.is_number and not value.is_Integer:
                self.fail(limit, "summation limits must be integers or symbols")
            limits.append(value)
        result = self._build(node, sp.Sum, body, (k, *limits))
        if not result.free_symbols:
            self.fail(node, "a Sum without free symbols is a constant; write its value instead")
        return result

    # -- subscripts ------------------------------------------------------------------------------
    def _subscript(self, node: ast.Subscript) -> sp.Expr:
        base = node.value
        if isinstance(base, ast.Subscript):
            self.fail(node, "chained subscripts are not allowed; write x[i, k], not x[i][k]")
        if not isinstance(base, ast.Name):
            self.forbid(base, "only names can be indexed, as in x[i]")
        problem = _name_problem(base.id)
        if problem or base.id in self.bound:
            why = problem or "it is a summation index"
            self.fail(base, f"{base.id!r} cannot be indexed: {why}")
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if not items:
            self.fail(node, "empty subscript")
        indices = [self._index(item) for item in items]
        return indexed_base(base.id)[tuple(indices) if len(indices) > 1 else indices[0]]

    def _index(self, node: ast.expr) -> sp.Expr:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                self.fail(node, "expression is nested too deeply")
            if isinstance(node, ast.Name):
                problem = _name_problem(node.id)
                if problem:
                    self.fail(node, f"index {node.id!r} is not allowed: {problem}")
                return index(node.id)
            if isinstance(node, ast.Constant) and type(node.value) is int:
                return self._constant(node)
            if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
                value = self._index(node.operand)
                return -value if isinstance(node.op, ast.USub) else value
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult):
                left, right = self._index(node.left), self._index(node.right)
                if isinstance(node.op, ast.Add):
                    return left + right
                if isinstance(node.op, ast.Sub):
                    return left - right
                if left.is_Integer or right.is_Integer:
                    return left * right
            message = _FORBIDDEN.get(type(node), "")
            self.fail(node, (message + "; " if message else "") + "an index must be a name, an "
                            "integer or an affine combination such as i+1 or 2*k - 1")
        finally:
            self.depth -= 1


def _magnitude_at_most(value: sp.Expr, limit: int) -> bool:
    """``|value| <= limit`` for a numeric expression (exact for rationals, else 15 digits)."""
    if value.is_Rational:
        return bool(abs(value) <= limit)
    try:
        number = value.evalf(15)
    except Exception:  # noqa: BLE001 - a number SymPy cannot evaluate is not acceptable here
        return False
    return bool(number.is_extended_real and number.is_finite and abs(number) <= limit)


def _unknown_function(name: str) -> str:
    names = FUNCTION_NAMES - set(ALIASES)
    close = difflib.get_close_matches(name, sorted(names), n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    allowed = ", ".join(sorted(names, key=str.lower))
    return f"unknown function {name!r}{hint} (allowed: {allowed})"
