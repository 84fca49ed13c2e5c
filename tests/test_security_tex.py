"""Security of sheet text: math against the allowlist, Markdown, SVG, terminals, what compiles.

Classes (issue 12, parts 1, 3 and 7):

* math in any text field uses only the allowed commands and environments
  (:mod:`derive.render.mathcheck`), each span self-contained; everything else is refused with one
  line
  ``file:line: ...`` naming the offending command, exit 2, nothing written;
* whatever the checker accepts compiles with pdflatex (``-no-shell-escape``) and renders in
  MathJax: every command of the table, and random token soups (a differential test);
* a math span in Markdown never becomes a link, an image, code or HTML;
* control characters are refused at load time in every text field (so every SVG is well-formed
  XML), and no character of a sheet reaches the terminal as an escape sequence;
* what a lecturer may legitimately write (Greek in a title, ``%`` in a sentence) compiles, and
  what cannot compile (Cyrillic, a blank line in a display) is refused at load time.

TeX and node tests skip without the tools and fail instead under DERIVE_REQUIRE_TEX=1 /
DERIVE_REQUIRE_NODE=1 (as in CI).
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import xml.dom.minidom
from pathlib import Path

import pytest
from conftest import ROOT, need_tool

from derive.cli import main
from derive.errors import InputError
from derive.render.markup import check_markup, to_md, to_tex
from derive.render.mathcheck import (
    COMMANDS,
    ENVIRONMENTS,
    MathError,
    allowed_table,
    check_math,
    samples,
)

MATHJAX = ROOT / "tests" / "mathjax"
STY = ROOT / "templates"

HEAD = '[sheet]\nid = "sec"\ntitle = "Security"\n\n[[exercise]]\ntitle = "One"\n'
TAIL = ('model = ["E = log(cosh(y - t))"]\n\n[[exercise.part]]\npoints = 1\n'
        'task = "derivative"\nof = "E"\nwrt = "y"\n')


def sheet_with_text(text: str) -> str:
    """A sheet whose exercise text (line 7) is ``text`` (a TOML literal string)."""
    assert "'''" not in text
    return HEAD + f"text = '''{text}'''\n" + TAIL


def build(tmp_path: Path, sheet: str, capsys, *extra: str) -> tuple[int, str, str]:
    path = tmp_path / "s.toml"
    path.write_text(sheet, encoding="utf-8")
    out = tmp_path / "out"
    code = main(["build", str(path), "--out", str(out), *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def refused(tmp_path, capsys, sheet: str, line: int, fragment: str) -> str:
    """Assert that ``sheet`` is refused with exactly one line ``s.toml:LINE: ...FRAGMENT...``,
    exit 2, and nothing written."""
    code, out, err = build(tmp_path, sheet, capsys)
    assert code == 2, (out, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{tmp_path / 's.toml'}:{line}: "), lines[0]
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()
    return lines[0]


# --- 1. math: an allowlist ------------------------------------------------------------------------
HOSTILE_MATH = {
    # reading files into the PDF
    "input": (r"\input{/etc/passwd}", r"\input"),
    "usename": (r"\UseName{input}{/etc/passwd}", r"\UseName"),
    "inputifexists": (r"\InputIfFileExists{/etc/passwd}{}{}", r"\InputIfFileExists"),
    "expl3_on": (r"\ExplSyntaxOn \file_input:n {/etc/passwd}", r"\ExplSyntaxOn"),
    "expl3_use_c": (r"\use:c{input}{/etc/passwd}", r"\use"),
    "csname": (r"\csname input\endcsname{/etc/passwd}", r"\csname"),
    "pdffiledump": (r"\pdffiledump length 100 {/etc/passwd}", r"\pdffiledump"),
    "pdfobj_file": (r"\pdfobj file {/etc/passwd}", r"\pdfobj"),
    "verbatiminput": (r"\verbatiminput{/etc/passwd}", r"\verbatiminput"),
    "lowercase_trick": (r"\lowercase{\INPUT}", r"\lowercase"),
    # writing files, running commands
    "write18": (r"\immediate\write18{touch pwned}", r"\immediate"),
    "openout": (r"\openout5=conftest.py", r"\openout"),
    "filecontents": (r"\begin{filecontents}{derive.sty}x\end{filecontents}", "filecontents"),
    "directlua": (r"\directlua{os.execute('id')}", r"\directlua"),
    # PDF actions
    "pdfcatalog": (r"\pdfcatalog{/OpenAction << /S /JavaScript /JS (app.alert(1)) >>}",
                   r"\pdfcatalog"),
    "pdfannot": (r"\pdfannot{/Subtype /Link /A << /S /Launch /F (calc) >>}", r"\pdfannot"),
    "special": (r"\special{pdf: dest}", r"\special"),
    # catcodes, definitions, expansion tricks
    "catcode": (r"\catcode`\^^@=11", r"\catcode"),
    "caret_escape": (r"x^^5cinput", "^^"),
    "def": (r"\def\x{\input}", r"\def"),
    "let": (r"\let\frac\input", r"\let"),
    "newcommand": (r"\newcommand{\x}{y}", r"\newcommand"),
    "expandafter": (r"\expandafter\x", r"\expandafter"),
    "makeatletter": (r"\makeatletter", r"\makeatletter"),
    "at_command": (r"\@input{x}", r"\@"),
    "string": (r"\string\input", r"\string"),
    # conditionals and hiding
    "iffalse": (r"\iffalse", r"\iffalse"),
    "fi": (r"\fi", r"\fi"),
    "ifx": (r"\ifx a b \else c \fi", r"\ifx"),
    "comment": (r"a % \end{document}", "%"),
    "hash": (r"#1", "#"),
    "par": (r"a \par b", r"\par"),
    "end_document": (r"\end{document}", r"\end without"),
    "begin_document": (r"\begin{document}", "'document'"),
    # structure
    "open_brace": (r"{x", "a { is not closed"),
    "close_brace": (r"x}", "a } closes nothing"),
    "left_only": (r"\left( x", r"\left without"),
    "right_only": (r"x \right)", r"\right without"),
    "begin_only": (r"\begin{pmatrix} a", r"\begin{pmatrix} without"),
    "ampersand": (r"a & b", "& is only allowed"),
    "newline_outside": (r"a \\ b", "only allowed inside an alignment"),
    "missing_argument": (r"\frac{a}", r"\frac needs 2"),
    "double_superscript": (r"x^a^b", "double superscript"),
    "bare_caret": (r"x^", "needs an argument"),
    "text_with_command": (r"\text{\input{x}}", "plain text only"),
    "text_with_script": (r"\text{a_b}", "plain text only"),
    "array_spec_code": (r"\begin{array}{>{\input x}c}a\end{array}", "column specification"),
    "unknown_macro": (r"\lt", r"\lt"),
    "backtick": ("a`b", "`"),
    "at_sign": ("a@b.c", "@"),
    "unicode": ("α", r"\alpha"),
    "control_symbol": (r"\'e", r"\'"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_MATH))
def test_hostile_math_is_refused_naming_what(name):
    math, fragment = HOSTILE_MATH[name]
    with pytest.raises(MathError) as info:
        check_math(math)
    assert fragment in info.value.message, info.value.message


@pytest.mark.parametrize("name", ["input", "usename", "expl3_on", "pdfcatalog", "iffalse",
                                  "comment", "open_brace", "catcode"])
def test_hostile_math_in_a_sheet_is_one_line_exit_2_nothing_written(name, tmp_path, capsys):
    math, fragment = HOSTILE_MATH[name]
    refused(tmp_path, capsys, sheet_with_text(f"Compute ${math}$."), 7, fragment)


@pytest.mark.parametrize("field,line", [("title", 3), ("course", 4), ("date", 4)])
def test_math_is_checked_in_every_sheet_field(field, line, tmp_path, capsys):
    head = '[sheet]\nid = "sec"\ntitle = "Security"\n'
    if field == "title":
        head = head.replace('"Security"', r"'''$\input{/etc/passwd}$'''")
    else:
        head += f"{field} = '''$\\input{{/etc/passwd}}$'''\n"
    sheet = head + '\n[[exercise]]\ntitle = "One"\n' + TAIL
    refused(tmp_path, capsys, sheet, line, r"\input")


def test_math_in_hints_and_class_names_is_checked(tmp_path, capsys):
    hinted = sheet_with_text("fine").replace(
        "of = \"E\"", "hint = '''$\\ExplSyntaxOn$'''\nof = \"E\"")
    refused(tmp_path, capsys, hinted, 13, r"\ExplSyntaxOn")
    regions = ('[sheet]\nid = "sec"\ntitle = "S"\n\n[[exercise]]\ntitle = "R"\n'
               'model = ["y = relu(x1) - relu(x2)"]\n\n[[exercise.part]]\n'
               'task = "decision-boundary"\nof = "y"\n'
               "classes = ['$\\iffalse$', 'b']\n")
    refused(tmp_path, capsys, regions, 12, r"\iffalse")


def test_a_conditional_cannot_span_two_parts(tmp_path, capsys):
    """$\\iffalse$ in one part and $\\fi$ in the next would hide a verified solution: each half
    is refused on its own."""
    second = ('wrt = "y"\n\n[[exercise.part]]\ntext = \'\'\'{}\'\'\'\ntask = "derivative"\n'
              'of = "E"\nwrt = "t"\n')
    opening = sheet_with_text(r"Part one $\iffalse$").replace('wrt = "y"\n', second.format("b"))
    refused(tmp_path, capsys, opening, 7, r"\iffalse")
    closing = sheet_with_text("Part one").replace('wrt = "y"\n', second.format(r"$\fi$ fake"))
    refused(tmp_path, capsys, closing, 17, r"\fi")


def test_an_environment_cannot_span_two_spans():
    with pytest.raises(InputError):
        check_markup(r"$\begin{cases} a$ text $b \end{cases}$")
    with pytest.raises(InputError):
        check_markup(r"$\left( a$ and $b \right)$")


GOOD_MATH = [
    r"\sum_{i=1}^{n} w_{ij} x_i", r"\frac12", "f'(x)", "x'^2", r"\left\{ x \right\}",
    r"\operatorname{softmax}(z)_i", r"\mathbb{R}^{d}", r"{x^a}^b", r"\sqrt[n]{x}",
    r"\delta_j = \frac{\partial E}{\partial z_j}", r"\log \cosh(y - t)",
    r"\sigma(z) = \frac{1}{1 + e^{-z}}", r"x \in [-1, 1]", r"\text{class } 1", r"a \not= b",
    r"\begin{array}{cc} a & b \\ \hline c & d \end{array}", r"50\%", r"\{1, 2\}",
]


@pytest.mark.parametrize("math", GOOD_MATH)
def test_math_a_lecturer_writes_is_accepted(math):
    assert check_math(math) == math


def test_the_readme_lists_the_allowed_set_from_the_checker_table():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert allowed_table() in readme, "regenerate with: python -m derive.render.mathcheck"
    for name in COMMANDS:
        assert f"`\\{name}`" in readme
    for env in ENVIRONMENTS:
        assert f"`{env}`" in readme


# --- what the checker accepts compiles and renders ------------------------------------------------
def _random_spans(count: int, seed: int) -> list[str]:
    """Random token soups over the allowed vocabulary and the characters that break TeX."""
    rng = random.Random(seed)
    vocab = [*(f"\\{c} " for c in COMMANDS), "{", "}", "^", "_", "&", r"\\", "x", "1", "(",
             ")", "[", "]", "'", "|", "<", "=", "+", " ", r"\begin{pmatrix}", r"\end{pmatrix}",
             r"\begin{cases}", r"\end{cases}", r"\begin{array}{cc}", r"\end{array}", r"\,",
             r"\{", r"\}", r"\text{a b}", "{x}", "{y}"]
    accepted = []
    tries = 0
    while len(accepted) < count and tries < 400_000:
        tries += 1
        span = "".join(rng.choice(vocab) for _ in range(rng.randint(1, 9))).strip()
        try:
            check_math(span)
        except MathError:
            continue
        if span and span not in accepted:
            accepted.append(span)
    return accepted


FUZZ = _random_spans(400, seed=12)


def _compile(tmp_path: Path, spans: list[str]) -> tuple[subprocess.CompletedProcess, str]:
    body = "\n\n".join(f"{k}: ${s}$ and\n\\[\n{s}\n\\]" for k, s in enumerate(spans))
    doc = ("\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{lmodern}\n"
           "\\usepackage{derive}\n\\begin{document}\n" + body + "\n\\end{document}\n")
    work = tmp_path / "tex"
    work.mkdir()
    (work / "t.tex").write_text(doc, encoding="utf-8")
    shutil.copy(STY / "derive.sty", work / "derive.sty")
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                           "-no-shell-escape", "t.tex"], cwd=work, capture_output=True,
                          text=True, errors="replace", timeout=300)
    log = (work / "t.log").read_text(errors="replace") if (work / "t.log").exists() else ""
    return proc, log


@pytest.mark.tex
@pytest.mark.parametrize("which", ["table", "fuzz"])
def test_accepted_math_compiles_with_pdflatex(which, tmp_path):
    need_tool("pdflatex", "DERIVE_REQUIRE_TEX")
    spans = samples() if which == "table" else FUZZ
    assert len(spans) >= (200 if which == "table" else 300)
    proc, log = _compile(tmp_path, spans)
    assert proc.returncode == 0, log[-2500:]
    assert "Undefined control sequence" not in log


def _mathjax(tmp_path: Path, spans: list[str]) -> dict:
    need_tool("node", "DERIVE_REQUIRE_NODE")
    if not (MATHJAX / "node_modules" / "mathjax-full").is_dir():
        message = "tests/mathjax/node_modules is missing: run `npm ci` in tests/mathjax"
        if __import__("os").environ.get("DERIVE_REQUIRE_NODE") == "1":
            pytest.fail(message)
        pytest.skip(message)
    md = tmp_path / "m.md"
    md.write_text("\n\n".join(to_md(f"${s}$ and $${s}$$") for s in spans), encoding="utf-8")
    proc = subprocess.run(["node", str(MATHJAX / "check.mjs"), str(md)], capture_output=True,
                          text=True, timeout=300)
    return json.loads(proc.stdout)


@pytest.mark.node
@pytest.mark.parametrize("which", ["table", "fuzz"])
def test_accepted_math_renders_in_mathjax(which, tmp_path):
    spans = samples() if which == "table" else FUZZ
    report = _mathjax(tmp_path, spans)
    assert report["spans"] == 2 * len(spans)
    assert report["errors"] == []


# --- 3. Markdown: math never becomes a link, an image, code or HTML -------------------------------
MD_HOSTILE = [
    r"[x](javascript:alert(1))", r"![x](http://evil/x.png)", r"[a][b]", r"[r]: http://evil",
    r"a < b > c", r"\text{see http://evil.example or evil.com}", r"www.evil.com", r"x_1 * y_2 * z",
    r"\begin{aligned} a &amp= b \\ &lt c \end{aligned}", r"(x)[y](z)",
]


@pytest.mark.parametrize("math", MD_HOSTILE)
def test_markdown_math_cannot_become_a_link_image_or_html(math):
    md = to_md(f"Text ${math}$ and $${math}$$ end")
    assert not re.search(r"\]\s*[(\[:]", md)
    assert "<" not in md and ">" not in md
    assert "//" not in md and "`" not in md and not re.search(r"\.[A-Za-z]", md)
    assert not re.search(r"&[A-Za-z#]", md)


@pytest.mark.node
def test_markdown_math_survives_a_math_unaware_parser(tmp_path):
    spans = [m for m in MD_HOSTILE]
    report = _mathjax(tmp_path, spans)
    assert report["errors"] == []  # includes: unchanged by markdown-it (no link/emphasis/tag)
    md = tmp_path / "m.md"
    script = ("import MarkdownIt from 'markdown-it'; import {readFileSync} from 'node:fs';"
              "console.log(new MarkdownIt({html: true, linkify: true}).render("
              "readFileSync(process.argv[1], 'utf8')));")
    html = subprocess.run(["node", "--input-type=module", "-e", script, str(md)],
                          cwd=MATHJAX, capture_output=True, text=True, timeout=120).stdout
    assert html.strip()
    for tag in ("<a ", "<img", "<code", "<script", "<em>", "<strong>"):
        assert tag not in html, tag


# --- control characters, SVG, terminal ------------------------------------------------------------
@pytest.mark.parametrize("field,value,line", [
    ("title", "A\\u001b[31mred", 3), ("title", "bell\\u0007", 3), ("course", "C1 \\u009b2J", 4),
    ("date", "rtl \\u202e", 4), ("title", "nul? \\u0000", 3),
])
def test_control_characters_are_refused_in_sheet_fields(field, value, line, tmp_path, capsys):
    head = '[sheet]\nid = "sec"\ntitle = "Security"\n'
    if field == "title":
        head = head.replace('"Security"', f'"{value}"')
    else:
        head += f'{field} = "{value}"\n'
    sheet = head + '\n[[exercise]]\ntitle = "One"\n' + TAIL
    msg = refused(tmp_path, capsys, sheet, line, "control character U+")
    assert "\x1b" not in msg and "\x9b" not in msg


@pytest.mark.parametrize("where", ["text", "hint", "key", "model"])
def test_control_characters_are_refused_everywhere_else(where, tmp_path, capsys):
    if where == "text":
        sheet = HEAD + 'text = "a\\u001bb"\n' + TAIL
        line = 7
    elif where == "hint":
        sheet = HEAD + TAIL + 'hint = "x\\u0008"\n'
        line = 14
    elif where == "key":
        sheet = HEAD + TAIL + '"bad\\u001bkey" = 1\n'
        line = 14
    else:
        sheet = HEAD + TAIL.replace('"E = log(cosh(y - t))"', '"E = y\\u001b"')
        line = 7
    code, out, err = build(tmp_path, sheet, capsys)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "\x1b" not in err and "\x08" not in err
    assert f"s.toml:{line}" in err or where == "key", err


def test_error_lines_are_terminal_safe_and_capped(tmp_path, capsys):
    name = tmp_path / ("evil\x1b]0;title\x07" + "n" * 200 + ".toml")
    name.write_text(HEAD + "text = '$\\input{x}$'\n" + TAIL)
    code = main(["build", str(name), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "\x1b" not in err and "\x07" not in err
    assert len(err.splitlines()) == 1 and len(err.strip()) <= 320, len(err)
    code = main(["list", str(name)])
    err = capsys.readouterr().err
    assert code == 2 and "\x1b" not in err


def test_every_svg_is_well_formed_xml_for_hostile_text(tmp_path, capsys):
    sheet = ('[sheet]\nid = "sec"\ntitle = "<svg onload=alert(1)> & \\"quotes\\" ]]>"\n\n'
             '[[exercise]]\ntitle = "R <b>"\nmodel = ["y = relu(x1) - relu(x2)"]\n\n'
             '[[exercise.part]]\ntask = "decision-boundary"\nof = "y"\n'
             'classes = ["<script>x</script> & co", "]]> \\"a\\" \'b\'"]\n')
    code, out, err = build(tmp_path, sheet, capsys)
    assert code == 0, err
    svgs = list((tmp_path / "out" / "sec" / "figures").glob("*.svg"))
    assert svgs
    for svg in svgs:
        text = svg.read_text(encoding="utf-8")
        xml.dom.minidom.parseString(text)  # raises on malformed XML
        assert "<script" not in text


# --- 7. what a lecturer may legitimately write ----------------------------------------------------
def test_greek_and_percent_in_text_escape_and_cyrillic_is_refused(tmp_path, capsys):
    tex = to_tex("Übung 3: Ψ-Netze, 50% Punkte, Σ über δ")
    assert r"\%" in tex and r"\ensuremath{\Psi}" in tex and "Übung" in tex
    cyrillic = HEAD.replace('"Security"', '"Упражнение 2"') + "\n" + TAIL
    refused(tmp_path, capsys, cyrillic, 3, "CYRILLIC")
    emoji = sheet_with_text("Nice 🙂")
    refused(tmp_path, capsys, emoji, 7, "U+1F642")


def test_blank_line_in_a_display_is_refused(tmp_path, capsys):
    refused(tmp_path, capsys, sheet_with_text("$$\na = b\n\n+ c\n$$"), 7, "blank line")


@pytest.mark.tex
def test_lecturer_text_compiles_and_hostile_pdf_has_no_actions(tmp_path, capsys):
    """Greek, accents, %, &, #, ~ and a long display compile; the PDF carries no JavaScript,
    launch action or embedded file, and reads no file."""
    need_tool("pdflatex", "DERIVE_REQUIRE_TEX")
    text = ("Übung für Σ-Netze: 50% of points & #1 ~ ok; quotes “x” – done…\n\n"
            r"$$\begin{aligned} E &= \frac{1}{N}\sum_{k=1}^{N} \log\cosh(y_k - t_k) \\"
            "\n" r" &= \mathbb{E}[x] \end{aligned}$$" "\n"
            r"Also $\text{/etc/passwd}$ and \input{/etc/passwd} as text.")
    sheet = sheet_with_text(text).replace('"Security"', '"Blatt 2: Λ, Ω und Straße"')
    code, out, err = build(tmp_path, sheet, capsys, "--pdf")
    assert code == 0, err
    pdf = tmp_path / "out" / "sec" / "solutions.pdf"
    assert pdf.is_file()
    data = pdf.read_bytes()
    for marker in (b"/JavaScript", b"/JS", b"/Launch", b"/EmbeddedFile", b"/OpenAction",
                   b"/URI"):
        assert marker not in data, marker
    if shutil.which("pdftotext"):
        plain = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                               timeout=120).stdout
        assert "root:x:0:0" not in plain
        assert "/etc/passwd" in plain  # printed literally, never read


@pytest.mark.parametrize("title,fragment", [
    ("Sheet $$x^2$$ two", "not $$...$$"), ("Sheet\n\nnew paragraph", "blank line"),
])
def test_a_title_is_one_line(title, fragment, tmp_path, capsys):
    sheet = HEAD.replace('title = "One"', f"title = '''{title}'''") + TAIL
    refused(tmp_path, capsys, sheet, 6, fragment)


def test_a_closed_pipe_is_no_traceback(tmp_path):
    """`derive list | head -1`: the reader leaves early; derive exits quietly. (The listing is
    larger than a pipe's buffer, so derive is still writing when the reader leaves.)"""
    import subprocess as sp
    import sys

    exercise = ('[[exercise]]\ntitle = "A rather long exercise title, to fill the pipe quickly"\n'
                'model = ["E = y*y"]\n[[exercise.part]]\ntask = "derivative"\nof = "E"\n'
                'wrt = "y"\n')
    sheets = []
    for k in range(8):
        sheets.append(tmp_path / f"long{k}.toml")
        sheets[-1].write_text(f'[sheet]\nid = "long{k}"\ntitle = "Long"\n' + exercise * 150)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    proc = sp.Popen([sys.executable, "-m", "derive", "list", *map(str, sheets)],
                    stdout=sp.PIPE, stderr=sp.PIPE, env=env)
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
