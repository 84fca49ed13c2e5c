"""The math a sheet may write: an allowlist of commands and environments, and a checker.

Math in sheet text (``$...$`` and ``$$...$$`` in titles, statements, hints, class names) is passed
to LaTeX, MathJax and KaTeX as written, so it is checked against :data:`COMMANDS` and
:data:`ENVIRONMENTS`: the common subset that pdflatex (with amsmath and amssymb), MathJax (base
and ams) and KaTeX all render. Anything else is refused with the offending command; nothing is
removed or rewritten. The checker is a small parser, not a pattern list:

* every token is a known command, an allowed character or a brace; ``%``, ``#``, `````, ``$``,
  ``^^`` escapes and non-ASCII characters are refused (``α`` gets the hint ``\\alpha``);
* braces balance, ``\\left``/``\\right`` pair, environments nest, all inside the one span;
* a command's arguments are present (``\\frac{a}{b}``, ``\\frac12``; not ``\\frac{a}``), and
  ``^``/``_`` have an argument and are not doubled (``x^a^b`` does not compile);
* ``&`` and ``\\\\`` appear only inside an alignment environment, with no more columns than it
  has; ``\\text{...}`` holds plain text;
* a blank line (a paragraph break) is refused: it ends a display in LaTeX.

So a span either renders as written or is refused at load time with ``file:line``; nothing opened
in one span can be closed in another (``\\iffalse`` ... ``\\fi`` is no command at all here).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from derive.errors import InputError
from derive.render.notation import UNICODE_MATH


@dataclass(frozen=True)
class Command:
    """One allowed command: how many arguments it takes and an example (for the README and the
    render tests)."""

    group: str
    args: int = 0  # mandatory arguments
    kind: str = "symbol"  # symbol, math (args in math mode), text (args in text mode),
    #                       delim (\left etc.: a delimiter follows), bigop (may take \limits),
    #                       delimiter (may follow \left), optional (\sqrt[n]{x})
    sample: str = ""


def _symbols(group: str, names: str, kind: str = "symbol") -> dict[str, Command]:
    return {n: Command(group, 0, kind) for n in names.split()}


COMMANDS: dict[str, Command] = {
    **_symbols("Greek letters",
               "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa "
               "lambda mu nu xi pi varpi rho varrho sigma varsigma tau upsilon phi varphi chi "
               "psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega"),
    **_symbols("binary operators",
               "pm mp times div cdot ast star circ bullet oplus ominus otimes odot cup cap "
               "setminus wedge vee"),
    **_symbols("relations",
               "le leq ge geq ne neq ll gg approx equiv sim simeq cong propto in notin ni "
               "subset subseteq supset supseteq mid parallel perp prec succ preceq succeq "
               "leqslant geqslant"),
    **_symbols("arrows",
               "to rightarrow leftarrow leftrightarrow Rightarrow Leftarrow Leftrightarrow "
               "longrightarrow longleftarrow Longrightarrow mapsto implies iff uparrow "
               "downarrow"),
    **_symbols("big operators", "sum prod int iint oint bigcup bigcap coprod", "bigop"),
    **_symbols("functions",
               "log ln exp sin cos tan sec csc cot sinh cosh tanh arcsin arccos arctan max min "
               "sup inf lim liminf limsup arg det dim ker deg gcd Pr", "bigop"),
    **_symbols("symbols",
               "infty partial nabla forall exists emptyset varnothing ell hbar prime top bot "
               "angle triangle neg aleph Re Im colon dagger"),
    **_symbols("dots", "ldots cdots vdots ddots dots"),
    **_symbols("delimiters",
               "langle rangle lfloor rfloor lceil rceil lvert rvert lVert rVert vert Vert "
               "lbrace rbrace lbrack rbrack backslash", "delimiter"),
    **_symbols("spacing", "quad qquad"),
    **_symbols("styles", "displaystyle textstyle scriptstyle"),
    "limits": Command("big operators", 0, "limits", r"\sum\limits_{i=1}^{n} x_i"),
    "nolimits": Command("big operators", 0, "limits", r"\int\nolimits_0^1 f"),
    "not": Command("relations", 0, "not", r"a \not= b"),
    "left": Command("delimiters", 0, "delim", r"\left( \frac{a}{b} \right)"),
    "right": Command("delimiters", 0, "delim", r"\left[ x \right]"),
    **{n: Command("delimiters", 0, "delim", rf"\{n}( x \{n})" if n.endswith("l") else "")
       for n in "big Big bigg Bigg".split()},
    **{n: Command("delimiters", 0, "delim", "") for n in "bigl bigr Bigl Bigr".split()},
    "frac": Command("fractions and roots", 2, "math", r"\frac{a}{b}"),
    "dfrac": Command("fractions and roots", 2, "math", r"\dfrac{a}{b}"),
    "tfrac": Command("fractions and roots", 2, "math", r"\tfrac{1}{2}"),
    "binom": Command("fractions and roots", 2, "math", r"\binom{n}{k}"),
    "sqrt": Command("fractions and roots", 1, "optional", r"\sqrt[3]{x} + \sqrt{y}"),
    **{n: Command("accents", 1, "math", rf"\{n}{{x}}")
       for n in "hat bar tilde vec dot ddot overline underline widehat widetilde".split()},
    "overset": Command("accents", 2, "math", r"\overset{!}{=}"),
    "underset": Command("accents", 2, "math", r"\underset{x}{\arg\max}"),
    "stackrel": Command("accents", 2, "math", r"\stackrel{\text{def}}{=}"),
    **{n: Command("fonts", 1, "math", rf"\{n}{{x}}")
       for n in "mathbf mathrm mathit mathsf mathtt mathcal mathbb mathfrak "
                "operatorname".split()},
    **{n: Command("text", 1, "text", rf"\{n}{{if }} x > 0")
       for n in "text textrm textbf textit".split()},
}

# control symbols: a backslash and one non-letter
CONTROL_SYMBOLS = {
    ",": "thin space", ";": "thick space", ":": "medium space", "!": "negative thin space",
    " ": "space", "{": "left brace", "}": "right brace", "|": "double bar", "%": "percent sign",
    "#": "hash sign", "&": "ampersand", "_": "underscore", "\\": "new row (in an environment)",
}

# environment -> maximum number of columns (None: as the array's column specification says)
ENVIRONMENTS: dict[str, int | None] = {
    "matrix": 10, "pmatrix": 10, "bmatrix": 10, "Bmatrix": 10, "vmatrix": 10, "Vmatrix": 10,
    "cases": 2, "aligned": 20, "gathered": 1, "array": None,
}
ENV_SAMPLES = {
    "matrix": r"\begin{matrix} a & b \\ c & d \end{matrix}",
    "pmatrix": r"\begin{pmatrix} a & b \\ c & d \end{pmatrix}",
    "bmatrix": r"\begin{bmatrix} 1 & 0 \\ 0 & 1 \end{bmatrix}",
    "Bmatrix": r"\begin{Bmatrix} x \\ y \end{Bmatrix}",
    "vmatrix": r"\begin{vmatrix} a & b \\ c & d \end{vmatrix}",
    "Vmatrix": r"\begin{Vmatrix} a & b \\ c & d \end{Vmatrix}",
    "cases": r"f(x) = \begin{cases} x & \text{if } x > 0 \\ 0 & \text{otherwise} \end{cases}",
    "aligned": r"\begin{aligned} a &= b + c \\ &= d \end{aligned}",
    "gathered": r"\begin{gathered} a = b \\ c = d \end{gathered}",
    "array": r"\begin{array}{l|cr} \hline a & b & c \\ \hline d & e & f \end{array}",
}

TEXT_CHARS = re.compile(r"[A-Za-z0-9 \t\n.,;:!?'()\[\]+\-=<>/*@\"|~]")
MATH_CHARS = re.compile(r"[A-Za-z0-9 \t\n.,;:!?'()\[\]+\-=<>/*\"|~]")
REFUSED_CHARS = {
    "%": "% (it starts a TeX comment; write \\% for a percent sign)",
    "#": "# (TeX's parameter character; write \\# for a hash sign)",
    "`": "` (write ' for a prime)",
    "$": "$ (math cannot contain math)",
    "@": "@ (a Markdown reader would make an e-mail link of it)",
}
DELIMITER_CHARS = set("()[]|/.<>")
# commands that may stand unbraced as an argument (x^\infty, \frac\pi2): single TeX tokens; a
# macro such as \sec or \ne expands to several and breaks x^\sec (write x^{\sec})
BARE_ARGUMENTS = frozenset("infty partial nabla ell prime pm mp times cdot ast star circ bullet "
                           "to in le ge leq geq approx equiv sim cup cap".split())


class MathError(InputError):
    """Math that is not in the allowed subset (an InputError: exit 2, one line)."""


@dataclass
class _Token:
    kind: str  # "cmd", "sym" (control symbol), "char", "open", "close", "sup", "sub", "amp",
    #            "space", "bad" (text: why it is refused; the parser raises when it gets there,
    #            so problems are reported in reading order)
    text: str
    pos: int


def _tokens(math: str) -> list[_Token]:
    out: list[_Token] = []
    i, n = 0, len(math)
    while i < n:
        c = math[i]
        if c == "\\":
            m = re.match(r"[A-Za-z]+", math[i + 1:])
            if m:
                out.append(_Token("cmd", m.group(0), i))
                i += 1 + m.end()
                continue
            if i + 1 >= n:
                out.append(_Token("bad", "math ends with a lone backslash", i))
                return out
            sym = math[i + 1]
            if sym not in CONTROL_SYMBOLS:
                out.append(_Token("bad", f"math may not use \\{_shown(sym)} (allowed after a "
                                  "backslash: letters, and , ; : ! space { } | % # & _ \\)", i))
                return out
            out.append(_Token("sym", sym, i))
            i += 2
            continue
        if c == "^" and math.startswith("^^", i):
            out.append(_Token("bad", "math may not use ^^ character escapes", i))
            return out
        if c in REFUSED_CHARS:
            out.append(_Token("bad", f"math may not contain {REFUSED_CHARS[c]}", i))
            return out
        if c == "{":
            out.append(_Token("open", c, i))
        elif c == "}":
            out.append(_Token("close", c, i))
        elif c == "^":
            out.append(_Token("sup", c, i))
        elif c == "_":
            out.append(_Token("sub", c, i))
        elif c == "&":
            out.append(_Token("amp", c, i))
        elif c in " \t\n":
            out.append(_Token("space", c, i))
        elif MATH_CHARS.match(c):
            out.append(_Token("char", c, i))
        else:
            hint = UNICODE_MATH.get(c)
            name = unicodedata.name(c, "unnamed character")
            out.append(_Token("bad", f"math may contain only ASCII characters, not {_shown(c)} "
                              f"(U+{ord(c):04X} {name})" + (f"; write {hint}" if hint else ""),
                              i))
            return out
        i += 1
    return out


def _shown(c: str) -> str:
    return c if c.isprintable() and not c.isspace() else f"U+{ord(c):04X}"


class _Parser:
    """Validates one math span; raises MathError at the first problem."""

    def __init__(self, math: str):
        self.math = math
        self.toks = _tokens(math)
        self.i = 0

    # --- token access ------------------------------------------------------------------------
    def peek(self, skip_space: bool = True) -> _Token | None:
        j = self.i
        while skip_space and j < len(self.toks) and self.toks[j].kind == "space":
            j += 1
        tok = self.toks[j] if j < len(self.toks) else None
        if tok is not None and tok.kind == "bad":
            raise MathError(tok.text)
        return tok

    def take(self) -> _Token:
        while self.toks[self.i].kind == "space":
            self.i += 1
        tok = self.toks[self.i]
        if tok.kind == "bad":
            raise MathError(tok.text)
        self.i += 1
        return tok

    # --- grammar ----------------------------------------------------------------------------
    def run(self) -> None:
        self.sequence(env=None, closer=None)
        if self.peek() is not None:
            tok = self.peek()
            raise MathError(f"unbalanced braces in math: unexpected {tok.text!r}")

    def sequence(self, env: tuple[str, int | None] | None, closer: str | None) -> None:
        """Items until ``closer`` ("}", "right", "end") or the end of the span."""
        sup = sub = False
        columns = 1
        while True:
            tok = self.peek()
            if tok is None:
                if closer == "}":
                    raise MathError("unbalanced braces in math: a { is not closed")
                if closer == "right":
                    raise MathError("\\left without a matching \\right in the same math span")
                if closer == "end":
                    raise MathError(f"\\begin{{{env[0]}}} without \\end{{{env[0]}}} in the "
                                    "same math span")
                return
            if tok.kind == "close":
                if closer != "}":
                    raise MathError("unbalanced braces in math: a } closes nothing")
                return
            if tok.kind == "cmd" and tok.text == "right":
                if closer != "right":
                    raise MathError("\\right without a matching \\left")
                return
            if tok.kind == "cmd" and tok.text == "end":
                if closer != "end":
                    raise MathError("\\end without a matching \\begin")
                return
            if tok.kind in ("sup", "sub"):
                self.take()
                if tok.kind == "sup":
                    if sup:
                        raise MathError("double superscript in math (write x^{ab} or {x^a}^b)")
                    sup = True
                else:
                    if sub:
                        raise MathError("double subscript in math (write x_{ab} or {x_a}_b)")
                    sub = True
                self.argument(f"{tok.text} needs an argument")
                continue
            if tok.kind == "char" and tok.text == "'":
                self.take()
                if sup:
                    raise MathError("a prime after a superscript is a double superscript "
                                    "(write x'^2, not x^2')")
                continue
            if tok.kind == "amp":
                self.take()
                if env is None:
                    raise MathError("& is only allowed inside an alignment environment "
                                    "(matrix, cases, aligned, array, ...)")
                columns += 1
                limit = env[1]
                if limit is not None and columns > limit:
                    raise MathError(f"too many & in one row of {env[0]} (at most {limit} "
                                    "columns)")
                sup = sub = False
                continue
            if tok.kind == "sym" and tok.text == "\\":
                self.take()
                if env is None:
                    raise MathError("\\\\ (a new row) is only allowed inside an alignment "
                                    "environment")
                nxt = self.peek()
                if nxt is not None and nxt.kind == "char" and nxt.text in "[*":
                    raise MathError(f"\\\\ followed by {nxt.text!r} is read as an option by "
                                    "LaTeX; write {" + nxt.text + "} instead")
                columns = 1
                sup = sub = False
                self.skip_hlines(env[0])
                continue
            # an atom: resets the script state
            self.atom()
            sup = sub = False

    def argument(self, missing: str, mode: str = "math") -> None:
        """One argument: a group, or a single character or symbol command."""
        tok = self.peek()
        if tok is None or tok.kind in ("close", "sup", "sub", "amp") or (
                tok.kind == "sym" and tok.text == "\\"):
            raise MathError(f"math: {missing}")
        if tok.kind == "open":
            self.take()
            if mode == "text":
                self.text_group()
            else:
                self.sequence(env=None, closer="}")
                self.take()  # the }
            return
        if tok.kind == "cmd":
            cmd = COMMANDS.get(tok.text)
            if cmd is None:
                self.unknown(tok)
            if not (cmd.group == "Greek letters" or tok.text in BARE_ARGUMENTS):
                raise MathError(f"math: {missing} (write {{\\{tok.text}}} in braces)")
        if tok.kind == "sym":
            raise MathError(f"math: {missing} (write {{\\{tok.text}}} in braces)")
        if mode == "text" and tok.kind != "char":
            raise MathError(f"math: {missing}")
        if tok.kind == "char" and tok.text == "'":
            raise MathError(f"math: {missing} (a prime is not an argument: write x' or "
                            "x^{\\prime})")
        self.take()

    def text_group(self) -> None:
        """The inside of ``\\text{...}`` up to its closing brace: plain text and braces."""
        depth = 0
        while True:
            if self.i >= len(self.toks):
                raise MathError("unbalanced braces in math: a { is not closed")
            tok = self.toks[self.i]
            self.i += 1
            if tok.kind == "bad":
                raise MathError(tok.text)
            if tok.kind == "open":
                depth += 1
            elif tok.kind == "close":
                if depth == 0:
                    return
                depth -= 1
            elif tok.kind in ("char", "space"):
                if not TEXT_CHARS.match(tok.text):
                    raise MathError(f"\\text may not contain {tok.text!r}")
            else:
                raise MathError(f"\\text{{...}} holds plain text only, not {tok.text!r}"
                                if tok.kind != "cmd" else
                                f"\\text{{...}} holds plain text only, not \\{tok.text}")

    def atom(self) -> None:
        tok = self.take()
        if tok.kind in ("char", "space"):
            return
        if tok.kind == "open":
            self.sequence(env=None, closer="}")
            self.take()
            return
        if tok.kind == "sym":
            return  # \, \; \{ ... (\\ is handled by the caller)
        name = tok.text
        if name == "begin":
            self.environment()
            return
        cmd = COMMANDS.get(name)
        if cmd is None:
            self.unknown(tok)
        if cmd.kind == "limits":
            raise MathError(f"\\{name} must follow a big operator such as \\sum")
        if cmd.kind == "bigop":
            nxt = self.peek()
            if nxt is not None and nxt.kind == "cmd" and nxt.text in ("limits", "nolimits"):
                self.take()
            return
        if cmd.kind == "delim":
            self.delimiter(name)
            if name == "left":
                self.sequence(env=None, closer="right")
                self.take()  # \right
                self.delimiter("right")
            return
        if cmd.kind == "not":
            if self.peek() is None or self.peek().kind not in ("char", "cmd"):
                raise MathError("\\not needs a relation after it (\\not= or \\not\\in)")
            return
        if cmd.kind == "optional":
            nxt = self.peek()
            if nxt is not None and nxt.kind == "char" and nxt.text == "[":
                self.take()
                self.bracket_group()
        for _ in range(cmd.args):
            self.argument(f"\\{name} needs {cmd.args} argument{'s' if cmd.args > 1 else ''}",
                          "text" if cmd.kind == "text" else "math")

    def bracket_group(self) -> None:
        """``[...]`` of ``\\sqrt[n]{x}``: math up to the ``]`` at brace depth 0."""
        start = self.i
        depth = 0
        while self.i < len(self.toks):
            tok = self.toks[self.i]
            if tok.kind == "open":
                depth += 1
            elif tok.kind == "close":
                depth -= 1
                if depth < 0:
                    break
            elif tok.kind == "char" and tok.text == "]" and depth == 0:
                inner = _Parser(self.math)
                inner.toks = self.toks[start:self.i]
                inner.run()
                self.i += 1
                return
            self.i += 1
        raise MathError("\\sqrt[ is not closed by ] in the same math span")

    def delimiter(self, after: str) -> None:
        tok = self.peek()
        if tok is not None and tok.kind == "char" and tok.text in DELIMITER_CHARS:
            self.take()
            return
        if tok is not None and tok.kind == "sym" and tok.text in "{}|":
            self.take()
            return
        if tok is not None and tok.kind == "cmd" and COMMANDS.get(tok.text, Command("")).kind \
                == "delimiter":
            self.take()
            return
        if tok is not None and tok.kind == "cmd" and tok.text in ("uparrow", "downarrow"):
            self.take()
            return
        raise MathError(f"\\{after} must be followed by a delimiter such as ( [ | . \\{{ "
                        "\\langle")

    def environment(self) -> None:
        name = self.env_name("begin")
        limit = ENVIRONMENTS[name]
        if name == "array":
            spec = self.env_spec()
            limit = sum(1 for c in spec if c in "lcr")
        self.skip_hlines(name)
        self.sequence(env=(name, limit), closer="end")
        self.take()  # \end
        end = self.env_name("end")
        if end != name:
            raise MathError(f"\\begin{{{name}}} is closed by \\end{{{end}}}")

    def skip_hlines(self, name: str) -> None:
        while self.peek() is not None and self.peek().kind == "cmd" and \
                self.peek().text == "hline":
            if name != "array":
                raise MathError("\\hline is only allowed in an array")
            self.take()

    def env_name(self, which: str) -> str:
        opener = self.peek()
        if opener is None or opener.kind != "open":
            raise MathError(f"\\{which} needs an environment name in braces")
        self.take()
        name = ""
        while self.i < len(self.toks) and self.toks[self.i].kind in ("char",):
            name += self.toks[self.i].text
            self.i += 1
        if self.i >= len(self.toks) or self.toks[self.i].kind != "close":
            raise MathError(f"\\{which}{{...}}: an environment name is letters only")
        self.i += 1
        if name not in ENVIRONMENTS:
            allowed = ", ".join(ENVIRONMENTS)
            raise MathError(f"math may not use the environment {name!r} (allowed: {allowed})")
        return name

    def env_spec(self) -> str:
        opener = self.peek()
        if opener is None or opener.kind != "open":
            raise MathError("\\begin{array} needs a column specification such as {cc}")
        self.take()
        spec = ""
        while self.i < len(self.toks) and self.toks[self.i].kind in ("char", "space"):
            spec += self.toks[self.i].text
            self.i += 1
        if self.i >= len(self.toks) or self.toks[self.i].kind != "close" or not \
                re.fullmatch(r"[ lcr|]*[lcr][ lcr|]*", spec):
            raise MathError("an array's column specification may only use l, c, r and |")
        self.i += 1
        return spec

    def unknown(self, tok: _Token):
        if tok.text in ("hline",):
            raise MathError("\\hline is only allowed at the start of a row of an array")
        raise MathError(f"math may not use \\{tok.text} (not in derive's allowed commands; "
                        "see the README, \"Math in sheets\")")


def check_math(math: str, display: bool = False) -> str:
    """Raise :class:`MathError` unless ``math`` is in the allowed subset; returns it unchanged."""
    if re.search(r"\n[ \t]*\n", math):
        raise MathError("a blank line inside math ends it in LaTeX; remove the blank line")
    _Parser(math).run()
    return math


def samples() -> list[str]:
    """One short example per allowed command and environment (the render tests use them)."""
    out = []
    seen_samples = set()
    for name, cmd in COMMANDS.items():
        sample = cmd.sample or (rf"\{name}" if cmd.args == 0 and cmd.kind not in
                                ("delim", "limits", "not") else "")
        if cmd.kind == "bigop" and not cmd.sample:
            sample = rf"\{name}_{{i}} x"
        if cmd.kind == "delimiter":
            sample = rf"\left\{name} x \right."
        if not sample:
            sample = {"bigl": r"\bigl( x \bigr)", "bigr": r"\bigl[ x \bigr]",
                      "Bigl": r"\Bigl( x \Bigr)", "Bigr": r"\Bigl\{ x \Bigr\}",
                      "big": r"\big( x \big)", "Big": r"\Big| x \Big|",
                      "bigg": r"\bigg( x \bigg)", "Bigg": r"\Bigg( x \Bigg)"}[name]
        if sample not in seen_samples:
            seen_samples.add(sample)
            out.append(sample)
    out += [r"a\,b\;c\:d\!e\ f", r"\{x\} \| y \% \# \& \_"]
    out += list(ENV_SAMPLES.values())
    for s in out:
        check_math(s)
    return out


def allowed_table() -> str:
    """The README's table of allowed math, generated from :data:`COMMANDS`."""
    groups: dict[str, list[str]] = {}
    for name, cmd in COMMANDS.items():
        groups.setdefault(cmd.group, []).append(f"`\\{name}`")
    lines = ["| group | commands |", "|---|---|"]
    for group, names in groups.items():
        lines.append(f"| {group} | {' '.join(names)} |")
    syms = " ".join(f"`\\{c}`" if c != " " else "`\\␣`" for c in CONTROL_SYMBOLS)
    lines.append(f"| control symbols | {syms} |")
    envs = " ".join(f"`{e}`" for e in ENVIRONMENTS)
    lines.append(f"| environments | {envs} (`&` and `\\\\` only inside these; `\\hline` in "
                 "`array`) |")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(allowed_table())
