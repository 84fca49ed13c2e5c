"""Line breaking for displayed derivations: estimate how wide a formula prints, split long ones.

TeX does not break displayed math, so a long right-hand side would run into the margin. Before
rendering, each derivation line is measured with :func:`width` (an estimate of the width of math
LaTeX in ems of the body font, from Computer Modern's metrics, display style) and, when it does not
fit the budget, :func:`break_expr` splits it at its top-level ``+``/``-`` or between factors
(explicit ``\\cdot`` products and ordinary products alike). A single piece that is still too long
is opened up one level further (a long parenthesised sum becomes ``\\bigl( ... \\bigr)`` across
lines). Continuation lines start with the operator, as in ``&\\quad {}+ w_{36} \\delta_{6}``.

The estimate only has to be good to about 10 %: budgets leave that much slack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

from derive.render.notation import SheetPrinter, flat_parens

# --- width estimate ------------------------------------------------------------------------------
_TOKEN = re.compile(r"\\[A-Za-z]+\*?|\\.|[{}^_&]|\s+|.", re.DOTALL)
THIN, MED, THICK = 1 / 6, 2 / 9, 5 / 18  # TeX's math spaces, in em
SCALE = (1.0, 1.0, 0.76, 0.58)  # display, text, script, scriptscript
BIN = {"+": 0.78, "-": 0.78, r"\cdot": 0.28, r"\times": 0.78, r"\pm": 0.78, r"\mp": 0.78}
REL = {"=": 0.78, "<": 0.78, ">": 0.78, r"\le": 0.78, r"\ge": 0.78, r"\leq": 0.78,
       r"\geq": 0.78, r"\neq": 0.78, r"\in": 0.67, r"\coloneqq": 1.1, r"\approx": 0.78,
       r"\to": 1.0, r"\Rightarrow": 1.0, r"\mapsto": 1.0, ":": 0.28, r"\lt": 0.78, r"\gt": 0.78}
SPACES = {r"\quad": 1.0, r"\qquad": 2.0, r"\,": THIN, r"\:": MED, r"\>": MED, r"\;": THICK,
          r"\!": -THIN, r"\ ": 1 / 3, "~": 1 / 3, r"\enspace": 0.5}
FUNCTIONS = {"sin", "cos", "tan", "cot", "sec", "csc", "sinh", "cosh", "tanh", "coth", "log",
             "ln", "exp", "max", "min", "arcsin", "arccos", "arctan", "det", "lim", "sup", "inf"}
LARGE_OPS = {r"\sum": 1.44, r"\prod": 1.28, r"\int": 0.56}
NARROW = {"(": 0.39, ")": 0.39, "[": 0.28, "]": 0.28, ",": 0.28, ";": 0.28, ".": 0.28,
          "'": 0.28, "|": 0.28, "/": 0.5, "!": 0.28, r"\{": 0.5, r"\}": 0.5, r"\|": 0.5}
DELIMS = {"(": 0.39, ")": 0.39, "[": 0.28, "]": 0.28, "|": 0.28, ".": 0.12, r"\{": 0.5,
          r"\}": 0.5, r"\|": 0.5}
SIZED = {r"\bigl": 0.45, r"\bigr": 0.45, r"\Bigl": 0.6, r"\Bigr": 0.6, r"\big": 0.45,
         r"\Big": 0.6, r"\biggl": 0.7, r"\biggr": 0.7}
TEXT_CHAR, TEXT_SPACE = 0.44, 0.33  # average roman text character, interword space
# math italic letters (cmmi, in em)
ITALIC = dict(zip("abcdefghijklmnopqrstuvwxyz", (
    0.53, 0.43, 0.43, 0.52, 0.47, 0.49, 0.48, 0.58, 0.35, 0.41, 0.52, 0.30, 0.88, 0.60, 0.49,
    0.50, 0.45, 0.45, 0.47, 0.36, 0.57, 0.49, 0.72, 0.57, 0.49, 0.47), strict=True))


def _tokens(tex: str) -> list[str]:
    """Tokens; runs of white space become one ``" "`` (it counts in text, not in math)."""
    return [" " if t.isspace() else t for t in _TOKEN.findall(tex)]


@dataclass
class _Atom:
    width: float
    kind: str  # "ord", "bin", "rel", "op", "open", "close", "punct", "space"


class _Measure:
    """A tiny recursive reader of math LaTeX that sums glyph widths and TeX's spacing."""

    def __init__(self, tokens: list[str]):
        self.toks = tokens
        self.i = 0

    def _next(self) -> str | None:
        if self.i >= len(self.toks):
            return None
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def _arg(self) -> list[str]:
        """The next argument: a brace group's tokens, or a single token."""
        tok = self._next()
        if tok != "{":
            return [tok] if tok is not None else []
        depth, out = 1, []
        while (tok := self._next()) is not None:
            depth += {"{": 1, "}": -1}.get(tok, 0)
            if depth == 0:
                break
            out.append(tok)
        return out

    def _tall_ahead(self) -> bool:
        """Whether the group opened by the ``\\left`` just read holds a fraction or a sum."""
        depth = 1
        for tok in self.toks[self.i :]:
            depth += {r"\left": 1, r"\right": -1}.get(tok, 0)
            if depth == 0:
                return False
            if tok in (r"\frac", r"\sum", r"\prod", r"\int", r"\dfrac"):
                return True
        return False

    def run(self, level: int) -> float:
        atoms: list[_Atom] = []
        while (tok := self._next()) is not None:
            if tok == " ":
                continue
            atom = self._atom(tok, level)
            if atom is None:
                continue
            if atoms and atom.kind == "script":
                atoms[-1].width += atom.width
                continue
            atoms.append(atom)
        return _spaced(atoms, level)

    def _sub(self, tokens: list[str], level: int) -> float:
        return _Measure(tokens).run(level)

    def _atom(self, tok: str, level: int) -> _Atom | None:  # noqa: C901 - a flat dispatch table
        s = SCALE[level]
        script = 2 if level < 2 else 3
        if tok in ("^", "_"):
            w = self._sub(self._arg(), script)
            # a sub- and superscript pair stacks: count the wider one
            following = self.toks[self.i] if self.i < len(self.toks) else None
            if following in ("^", "_") and following != tok:
                self.i += 1
                w = max(w, self._sub(self._arg(), script))
            return _Atom(w, "script")
        if tok == "{":
            self.i -= 1
            return _Atom(self._sub(self._arg(), level), "ord")
        if tok in ("}", "&"):
            return None
        if tok in BIN:
            return _Atom(BIN[tok] * s, "bin")
        if tok in REL:
            return _Atom(REL[tok] * s, "rel")
        if tok in SPACES:
            return _Atom(SPACES[tok] * s, "space")
        if tok in ("(", "["):
            return _Atom(NARROW[tok] * s, "open")
        if tok in (")", "]"):
            return _Atom(NARROW[tok] * s, "close")
        if tok in (",", ";"):
            return _Atom(NARROW[tok] * s, "punct")
        if tok in NARROW:
            return _Atom(NARROW[tok] * s, "ord")
        if tok in (r"\left", r"\right"):
            d = self._next() or "."
            grow = 1.9 if tok == r"\left" and self._tall_ahead() else 1.15
            return _Atom(DELIMS.get(d, 0.4) * s * grow, "open" if tok == r"\left" else "close")
        if tok in SIZED:
            d = self._next() or "."
            return _Atom(SIZED[tok] * s, "open" if tok.endswith("l") else "close")
        if tok in (r"\frac", r"\dfrac", r"\tfrac"):
            inner = {r"\dfrac": 1, r"\tfrac": 2}.get(tok, min(level + 1, 3))
            num, den = self._sub(self._arg(), inner), self._sub(self._arg(), inner)
            return _Atom(max(num, den) + 0.24 * s, "ord")
        if tok in LARGE_OPS:
            w = LARGE_OPS[tok] * (1.0 if level == 0 else 0.75) * s
            limits = []
            while self.i < len(self.toks) and self.toks[self.i] in ("^", "_"):
                self.i += 1
                limits.append(self._sub(self._arg(), script))
            if level == 0:
                w = max([w, *limits])
            else:
                w += max(limits, default=0)
            return _Atom(w, "op")
        if tok in (r"\text", r"\textrm", r"\textit", r"\mbox", r"\textbf"):
            return _Atom(_text_width(self._arg()) * s, "ord")
        if tok in (r"\mathrm", r"\mathit", r"\mathbf", r"\operatorname", r"\mathbb",
                   r"\mathcal", r"\boldsymbol"):
            body = self._arg()
            factor = 0.62 if tok in (r"\mathbf", r"\mathbb", r"\boldsymbol") else 0.45
            w = sum(factor if len(t) == 1 else self._sub([t], level) / s for t in body) * s
            return _Atom(w, "op" if tok == r"\operatorname" else "ord")
        if tok in (r"\mathrel",):
            return _Atom(self._sub(self._arg(), level), "rel")
        if tok in (r"\displaystyle",):
            return None
        if tok.startswith("\\") and tok[1:] in FUNCTIONS:
            return _Atom(0.5 * len(tok[1:]) * s, "op")
        if tok in (r"\partial",):
            return _Atom(0.57 * s, "ord")
        if tok in (r"\dots", r"\ldots", r"\cdots"):
            return _Atom(1.17 * s, "ord")
        if tok in (r"\infty",):
            return _Atom(1.0 * s, "ord")
        if tok.startswith("\\") and len(tok) > 2:  # Greek letters and other symbols
            return _Atom((0.72 if tok[1].isupper() else 0.57) * s, "ord")
        if tok.isupper():
            return _Atom(0.76 * s, "ord")
        if tok.isdigit():
            return _Atom(0.5 * s, "ord")
        return _Atom(ITALIC.get(tok, 0.52) * s, "ord")


def _spaced(atoms: list[_Atom], level: int) -> float:
    """Glyph widths plus TeX's inter-atom spacing (none in script styles)."""
    total = 0.0
    prev = None
    for a in atoms:
        kind = a.kind
        if kind == "bin" and (prev is None or prev in ("bin", "rel", "op", "open", "punct")):
            kind = "ord"  # a unary minus
        total += a.width
        if level < 2 and prev is not None:
            if kind == "bin" or prev == "bin":
                total += MED
            elif kind == "rel" or prev == "rel":
                total += THICK
            elif prev == "op" and kind in ("ord", "op"):
                total += THIN
            elif prev == "punct":
                total += THIN
        prev = kind if kind != "space" else prev
    return total


def _text_width(tokens: list[str]) -> float:
    w = 0.0
    for t in tokens:
        if t in ("{", "}"):
            continue
        w += TEXT_SPACE if t == " " else TEXT_CHAR if not t.startswith("\\") else 0.5
    return w


def width(tex: str, level: int = 0) -> float:
    """Estimated width of math-mode ``tex`` in ems (``level`` 0 = display style)."""
    return _Measure(_tokens(tex)).run(level)


def text_width(tex: str) -> float:
    """Estimated width in ems of text-mode LaTeX with ``$...$`` math in it."""
    total = 0.0
    for k, chunk in enumerate(re.split(r"(?<!\\)\$", tex)):
        total += width(chunk, level=1) if k % 2 else _text_width(_tokens(chunk))
    return total


# --- breaking ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Piece:
    op: str  # operator printed before the piece on a continuation line: "+", "-", "\cdot", ""
    tex: str
    term: bool = False  # begins a top-level term of a sum: a line break is best before it
    depth: int = 0  # parentheses opened across rows around it: a row it begins is indented


def _pieces(expr: sp.Basic, printer: SheetPrinter, budget: float, top: bool = False
            ) -> list[Piece]:
    """Break points of ``expr``: top-level pieces; a piece that alone is wider than ``budget`` is
    opened up one level further (a parenthesised sum, or a product between its factors). With
    ``top``, the first piece of each term of a sum is marked (:attr:`Piece.term`)."""
    split = printer.split(expr)
    if not split:
        return [Piece("", printer.print_piece(expr))]
    out: list[Piece] = []
    for op, sub, parens in split:
        start = len(out)
        tex = printer.print_piece(sub)
        if parens and width(tex) + 1 > budget and isinstance(sub, sp.Add):
            inner = _pieces(sub, printer, budget - 1)
            inner[1:] = [Piece(p.op, p.tex, depth=p.depth + 1) for p in inner[1:]]
            texts = " ".join(p.tex for p in inner)
            # \left/\right cannot span rows: size the pair by hand, one step above its contents
            big = r"\Big" if re.search(r"\\(frac|sum)", texts) else r"\big" if "(" in texts else ""
            inner[0] = Piece(op, f"{big}l({inner[0].tex}" if big else f"({inner[0].tex}",
                             depth=inner[0].depth)
            last = inner[-1]
            inner[-1] = Piece(last.op, f"{last.tex}{big}r)" if big else f"{last.tex})",
                              depth=last.depth)
            out.extend(inner)
        elif not parens and width(tex) > budget and printer.split(sub):
            # a long term of a sum (a product of long factors): break it between its factors
            inner = _pieces(sub, printer, budget)
            out.extend([Piece(op, inner[0].tex, depth=inner[0].depth), *inner[1:]])
        else:
            out.append(Piece(op, flat_parens(rf"\left({tex}\right)") if parens else tex))
        if top and isinstance(expr, sp.Add):
            out[start] = Piece(out[start].op, out[start].tex, True, out[start].depth)
    return out


def _join(pieces: list[Piece]) -> str:
    text = ""
    for k, p in enumerate(pieces):
        if k == 0:
            text = (f"{p.op} " if p.op in ("-",) else "") + p.tex
        else:
            text += f" {p.op} {p.tex}" if p.op else f" {p.tex}"
    return text


def break_expr(expr: sp.Basic, printer: SheetPrinter, first: float, rest: float) -> list[str]:
    """``expr`` as one or more lines: the first at most ``first`` ems wide, the others ``rest``.

    Continuation lines begin with their operator (``{}+ ...``, ``{}\\cdot ...``) so that TeX
    spaces it as a binary operator. A line holds at least one piece even when that piece alone is
    too wide (it cannot be broken further). A term of a sum that does not fit on the current line
    starts a new one, rather than leaving its first factors at the end of the line before.
    """
    oriented = printer.term_order.orient(expr)
    whole = printer.print_piece(oriented)
    if width(whole) <= first or not printer.split(oriented):
        return [whole]
    groups: list[list[Piece]] = []
    for p in _pieces(oriented, printer, min(first, rest), top=True):
        if p.term or not groups:
            groups.append([])
        groups[-1].append(p)
    lines: list[list[Piece]] = [[]]

    def fits(pieces: list[Piece]) -> bool:
        return width(_line(lines[-1] + pieces, len(lines) > 1)) <= (
            first if len(lines) == 1 else rest)

    for group in groups:
        if lines[-1] and not fits(group):
            lines.append([])
        for p in group:
            if lines[-1] and not fits([p]):
                lines.append([p])
            else:
                lines[-1].append(p)
    return [_line(ln, k > 0) for k, ln in enumerate(lines)]


def _line(pieces: list[Piece], continued: bool) -> str:
    """The text of one row; a continuation row starts with its operator (``{}\\cdot`` for a
    product broken between factors), indented by a ``\\quad`` for each parenthesis that is open
    across rows around it (``\\quad {}+ w_{7} ...\\bigr)``)."""
    if not continued:
        return _join(pieces)
    head, *tail = pieces
    op = head.op or r"\cdot"
    return r"\quad " * head.depth + "{}" + op + " " + _join([Piece("", head.tex), *tail])
