"""Bad input: the corpus in tests/bad_sheets/, hostile expressions and hostile text.

Every corpus file ``NAME.toml`` has a sibling ``NAME.expected`` holding the one line that
``derive build NAME.toml --out DIR`` must print on stderr (``{file}`` stands for the path given).
The run must exit with status 2, print nothing else (no traceback), and change nothing on disk: a
previous build's output folder and a stranger's files next to it are snapshotted before and after.
Large inputs (a 10 MB string, 100,000 nested parentheses, 10 MB of binary) are generated here.

Regenerate an ``.expected`` file only after reading the new message: it is the user's whole view
of what went wrong.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import random
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import ROOT, need_tool
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive.errors import InputError
from derive.sheet.parse import parse_assignment, parse_expr

CORPUS = Path(__file__).parent / "bad_sheets"
FILES = sorted(CORPUS.glob("*.toml"))

GOOD_HEAD = '[sheet]\nid = "bad"\ntitle = "Bad input"\n'
GOOD_TAIL = ('\n[[exercise]]\ntitle = "One"\nmodel = ["E = log(cosh(y - t))"]\n\n'
             '[[exercise.part]]\npoints = 5\ntask = "derivative"\nof = "E"\nwrt = "y"\n')


def _generated() -> dict[str, tuple[bytes, str]]:
    """Inputs too large to commit: name -> (bytes, expected line)."""
    ten_mb = 10 * 1024 * 1024
    big_title = GOOD_HEAD.replace('"Bad input"', '"' + "A" * ten_mb + '"') + GOOD_TAIL
    parens = GOOD_HEAD + GOOD_TAIL.replace(
        '"E = log(cosh(y - t))"', '"E = ' + "(" * 100_000 + "y" + ")" * 100_000 + '"')
    near_limit = GOOD_HEAD.replace('"Bad input"', '"' + "B" * 900_000 + '"') + GOOD_TAIL
    noise = random.Random(6).randbytes(ten_mb)
    cases = {
        "string_10mb": (big_title.encode(), f"{{file}}: sheet is too large ({len(big_title)} "
                        "bytes, at most 1000000)"),
        "nested_parens_100000": (parens.encode(), "{file}:7: expression is too long: 200005 "
                                 "characters (at most 10000)"),
        "string_900kb_title": (near_limit.encode(), "{file}:3: text is too long (900000 "
                               "characters, at most 20000)"),
        "binary_10mb": (noise, f"{{file}}: sheet is too large ({ten_mb} bytes, at most 1000000)"),
    }
    assert sorted(cases) == sorted(GENERATED)
    return cases


def _tree(root: Path) -> dict[str, tuple]:
    out = {}
    for path in sorted(root.rglob("*")):
        st_ = path.lstat()
        data = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        out[path.relative_to(root).as_posix()] = (st_.st_mode, st_.st_mtime_ns, data)
    return out


def _prepare(root: Path) -> Path:
    """A working folder with a previous build of sheet id "bad" (manifest included), a stranger's
    file next to it, and a folder where a path-traversing id would land."""
    out = root / "a" / "b" / "out"
    prev = out / "bad"
    (prev / "figures").mkdir(parents=True)
    files = {"solutions.tex": "old tex\n", "solutions.md": "old md\n",
             "solutions.json": "{}\n", "figures/ex1-a.svg": "<svg/>\n"}
    for rel, text in files.items():
        (prev / rel).write_text(text)
    (prev / ".derive-manifest.json").write_text(json.dumps({"generator": "derive",
                                                            "files": sorted(files)}))
    (prev / "notes.txt").write_text("a stranger's file\n")
    (root / "a" / "x").mkdir()
    return out


def _run_one(sheet: Path, root: Path) -> dict:
    out = _prepare(root)
    before = _tree(root)
    time.sleep(0.01)  # so that a rewrite with equal bytes would still change an mtime
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    started = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-m", "derive", "build", str(sheet), "--out",
                               str(out)], capture_output=True, text=True, timeout=300, env=env,
                              cwd=root)
    except subprocess.TimeoutExpired:
        return {"timeout": True}
    return {"returncode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr,
            "seconds": time.monotonic() - started, "changed": before != _tree(root),
            "timeout": False}


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, tuple[Path, str, dict]]:
    """Run every case once, a few at a time (each is a separate `derive build` process)."""
    base = tmp_path_factory.mktemp("corpus")
    cases: dict[str, tuple[Path, str]] = {}
    for f in FILES:
        cases[f.stem] = (f, f.with_suffix(".expected").read_text(encoding="utf-8").rstrip("\n"))
    gen = base / "generated"
    gen.mkdir()
    for name, (data, expected) in _generated().items():
        path = gen / f"{name}.toml"
        path.write_bytes(data)
        cases[name] = (path, expected)
    roots = {}
    for name in cases:
        roots[name] = base / "runs" / name
        roots[name].mkdir(parents=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = {name: pool.submit(_run_one, path, roots[name])
                   for name, (path, _) in cases.items()}
        return {name: (cases[name][0], cases[name][1], fut.result())
                for name, fut in futures.items()}


def test_corpus_is_complete():
    names = {f.stem for f in FILES}
    assert len(names) >= 45
    assert {f.stem for f in CORPUS.glob("*.expected")} == names
    for f in CORPUS.glob("*.expected"):
        text = f.read_text(encoding="utf-8")
        assert text.count("\n") == 1 and text.startswith("{file}"), f.name


GENERATED = ["string_10mb", "nested_parens_100000", "string_900kb_title", "binary_10mb"]


@pytest.mark.slow  # about 100 `derive build` processes: a minute of CPU (CI runs -m slow)
@pytest.mark.parametrize("name", [f.stem for f in FILES] + GENERATED)
def test_bad_sheet_gives_one_line_exit_2_and_writes_nothing(results, name):
    path, expected, r = results[name]
    assert not r["timeout"], f"{name}: derive build did not finish within 300 s"
    assert r["stderr"] == expected.replace("{file}", str(path)) + "\n", r["stderr"][-2000:]
    assert r["returncode"] == 2
    assert r["stdout"] == ""
    assert "Traceback" not in r["stderr"]
    assert not r["changed"], f"{name}: a file was written or modified"
    assert r["seconds"] < 120


# --- expressions never run code or read files -----------------------------------------------------
HOSTILE = [
    "__import__('os').system('touch SENTINEL')",
    "__import__('subprocess').run(['touch', 'SENTINEL'])",
    "open('SENTINEL', 'w').write('x')",
    "open('/etc/passwd').read()",
    "exec(\"open('SENTINEL','w')\")",
    "eval('1')",
    "compile('1', 'f', 'eval')",
    "getattr(x, '__class__')",
    "x.__class__.__mro__[1].__subclasses__()",
    "().__class__.__bases__[0].__subclasses__()[0]",
    "[c for c in ().__class__.__base__.__subclasses__()]",
    "lambda: __import__('os')",
    "(lambda f: f(f))(lambda f: f(f))",
    "globals()",
    "locals()['x']",
    "__builtins__",
    "__import__",
    "x if __import__('os') else y",
    "Symbol('x')",
    "sympify('x')",
    "Function('f')(x)",
    "S('x')",
    "x; import os",
    "import os",
    "f'{x}'",
    "b'x'",
    "x[__import__('os')]",
    "Sum(x, (__import__('os'), 1, 2))",
    "exp(x).func",
    "x.evalf()",
    "N(x)",
    "Lambda(x, x)",
    "2**10**10",
    "9**9**9**9",
    "10**1000000",
    "(" * 100_000 + "x" + ")" * 100_000,
    "x" + "+x" * 100_000,
    "-" * 100_000 + "x",
    "exp(exp(exp(exp(exp(1000)))))",
    "factorial(100000)",
    "x\x00",
    "x\u202e",
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_expression_is_an_input_error(text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    with pytest.raises(InputError) as info:
        parse_expr(text)
    assert "\n" not in str(info.value)
    with pytest.raises(InputError):
        parse_assignment("y = " + text)
    assert time.monotonic() - started < 10
    assert list(tmp_path.iterdir()) == []


AUDIT_SCRIPT = r'''
import json, sys
from derive.sheet.parse import parse_assignment, parse_expr
from derive.errors import InputError
cases = json.loads(sys.stdin.read())
parse_expr("exp(x) + sigmoid(w*x + b) + Sum(w[i]*x[i, k], (i, 1, d))")  # warm every import
for warm in ("x.y", "\u00ff", "x" * 200 + ".y", "(", "y = "):  # error paths (codecs, ...)
    try:
        parse_expr(warm)
    except InputError:
        pass
events = []
WATCH = ("exec", "compile", "open", "os.", "subprocess.", "import", "ctypes.", "socket.",
         "shutil.", "code.", "builtins.input", "pty.", "sys._getframe", "object.__getattr__")
def hook(event, args):
    if event == "compile" and args[1] == "<unknown>":
        return  # ast.parse: source -> syntax tree, nothing runs
    if event == "open" and args[0] == "<unknown>":
        return  # linecache looking up the source line of a SyntaxWarning from ast.parse
    if event.startswith(WATCH):
        events.append((event, repr(args)[:200]))
sys.addaudithook(hook)
for text in cases:
    for parse in (parse_expr, parse_assignment):
        try:
            parse(text if parse is parse_expr else "y = " + text)
        except InputError:
            pass
print(json.dumps(events))
'''


def test_parsing_hostile_text_runs_no_code_and_opens_no_file(tmp_path):
    """Under a Python audit hook: parsing every hostile string triggers no exec, no file open,
    no process, no import (``ast.parse`` compiles to a syntax tree only, and is allowed)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", AUDIT_SCRIPT], input=json.dumps(HOSTILE),
                          capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = json.loads(proc.stdout)
    assert events == []
    assert list(tmp_path.iterdir()) == []


_PYTHONISH = st.sampled_from(
    ["x", "y", "w1", "(", ")", "[", "]", ",", ".", "+", "-", "*", "/", "**", "=", "==", "<",
     "lambda", ":", "'", '"', "__import__", "__class__", "os", "system", "exp", "log", "Sum",
     "relu", "max", "0", "1", "2.5", "1e400", "10**", "j", "#", ";", "\\", "{", "}", "@", "%",
     "if", "else", "for", "in", "not", "and", "await", "yield", "...", " ", "\t", "\n"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=60), st.lists(_PYTHONISH, max_size=25).map("".join)))
def test_any_text_parses_or_is_an_input_error(text):
    """Whatever the text, the parser returns a SymPy expression or raises InputError (one line),
    never anything else."""
    for parse in (parse_expr, parse_assignment):
        try:
            parse(text)
        except InputError as e:
            assert "\n" not in str(e)


# --- hostile text in titles and statements is printed literally -----------------------------------
HOSTILE_TEXT = [
    r"\input{/etc/passwd}",
    r"\immediate\write18{touch SENTINEL}",
    r"\catcode`\^^@=11 \def\x{boom}",
    r"^^5cinput{/etc/passwd}",
    r"\openout\x=SENTINEL.tex \write\x{y}",
    r"\usepackage{shellesc}\ShellEscape{touch SENTINEL}",
    "% a comment sign, # & ~ _ { } and a \\ backslash",
    r"\end{document}",
    "<script>alert(1)</script> [link](javascript:alert(1)) | pipe",
]


def _hostile_sheet() -> str:
    title = HOSTILE_TEXT[0] + " " + HOSTILE_TEXT[1]
    text = "\n\n".join(HOSTILE_TEXT)
    return textwrap.dedent(f'''\
        [sheet]
        id = "hostile"
        title = {json.dumps(title)}
        course = {json.dumps(HOSTILE_TEXT[2])}
        date = {json.dumps(HOSTILE_TEXT[3])}

        [[exercise]]
        title = {json.dumps(HOSTILE_TEXT[4])}
        text = {json.dumps(text)}
        model = ["E = log(cosh(y - t))"]

        [[exercise.part]]
        points = 5
        text = {json.dumps(HOSTILE_TEXT[5] + " " + HOSTILE_TEXT[6])}
        hint = {json.dumps(HOSTILE_TEXT[7] + " " + HOSTILE_TEXT[8])}
        task = "derivative"
        of = "E"
        wrt = "y"
        ''')


@pytest.fixture(scope="module")
def hostile_build(tmp_path_factory) -> Path:
    from conftest import run_cli

    root = tmp_path_factory.mktemp("hostile")
    (root / "hostile.toml").write_text(_hostile_sheet())
    proc = run_cli("build", "hostile.toml", "--out", "out", cwd=root)
    assert proc.returncode == 0, proc.stderr
    return root


def test_hostile_text_is_escaped_in_latex_and_markdown(hostile_build):
    folder = hostile_build / "out" / "hostile"
    tex = (folder / "solutions.tex").read_text()
    body = tex[tex.index(r"\begin{document}"):]
    for bad in (r"\input{", r"\write18", r"\catcode", r"\openout", r"\usepackage{shellesc}",
                r"\ShellEscape", "^^5c", r"\end{document}" + " "):
        assert bad not in body.replace(r"\end{document}" + "\n", ""), bad
    md = (folder / "solutions.md").read_text()
    assert "<script>" not in md
    assert not re.search(r"(?<!\\)\]\(javascript:", md)  # brackets escaped: no link
    data = json.loads((folder / "solutions.json").read_text())
    assert data["sheet"]["title"] == HOSTILE_TEXT[0] + " " + HOSTILE_TEXT[1]


@pytest.mark.tex
def test_hostile_text_compiles_as_literal_text(hostile_build, tmp_path):
    need_tool("pdflatex", "DERIVE_REQUIRE_TEX")
    folder = hostile_build / "out" / "hostile"
    work = tmp_path / "tex"
    shutil.copytree(folder, work)
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                           "-no-shell-escape", "solutions.tex"], cwd=work, capture_output=True,
                          text=True, timeout=300)
    log = (work / "solutions.log").read_text(errors="replace")
    assert proc.returncode == 0, log[-3000:]
    assert "/etc/passwd" not in re.sub(r"\s+", "", log).replace("input{/etc/passwd}", "")
    assert not list(work.glob("SENTINEL*")) and not list(tmp_path.rglob("SENTINEL*"))
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "solutions.pdf", "-"], cwd=work, capture_output=True,
                              text=True, timeout=120).stdout
        flat = re.sub(r"\s+", "", text)
        assert "root:x:0:0" not in text
        for literal in (r"\input{/etc/passwd}", r"\immediate\write18{touchSENTINEL}",
                        "<script>alert(1)</script>"):
            assert re.sub(r"\s+", "", literal) in flat, literal


# --- bounded time ---------------------------------------------------------------------------------
def _wide_network(units: int) -> str:
    rng = random.Random(units)
    terms = " + ".join(f"{rng.choice([-1, 1])}*relu({rng.randint(-5, 5)}*x1 + "
                       f"{rng.randint(-5, 5)}*x2 + {rng.randint(-5, 5)})" for _ in range(units))
    return textwrap.dedent(f'''\
        [sheet]
        id = "wide"
        title = "Wide"

        [[exercise]]
        title = "A network with {units} ReLU units"
        model = ["y = {terms}"]

        [[exercise.part]]
        task = "decision-boundary"
        of = "y"
        ''')


def test_pathological_sheet_ends_with_a_clear_error_in_bounded_time(tmp_path):
    """A sheet whose solution would take minutes stops at the CPU budget (DERIVE_TIME_LIMIT)
    with one line and exit 2, and writes nothing."""
    (tmp_path / "wide.toml").write_text(_wide_network(150))
    env = dict(os.environ, DERIVE_TIME_LIMIT="4")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "derive", "build", "wide.toml", "--out", "out"],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert time.monotonic() - started < 60
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "gave up" in proc.stderr
    assert "4 s of CPU time" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_time_limit_must_be_a_number(tmp_path):
    env = dict(os.environ, DERIVE_TIME_LIMIT="soon")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-m", "derive", "list"], capture_output=True,
                          text=True, timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == ("derive: error: DERIVE_TIME_LIMIT must be a number of seconds, "
                           "not 'soon'\n")


@pytest.mark.parametrize("line", [
    "[ a ." + " " * 200_000 + "b ]",
    "[[ exercise" + " " * 200_000 + "]]",
    "a" + " " * 200_000 + "= 1",
    "a = [" + "'x', " * 40_000 + "]",
])
def test_locating_keys_is_linear_on_long_lines(line):
    from derive.sheet.load import locate

    started = time.monotonic()
    locate(line + "\n")
    assert time.monotonic() - started < 2


@pytest.mark.slow
def test_deep_chain_of_assignments_never_gives_a_traceback(tmp_path):
    """190 assignments in a chain: substituting them builds an expression deeper than SymPy's
    recursion allows. Either derive copes (numeric checks) or it says so in one line."""
    lines = ["a0 = tanh(x*w)"] + [f"a{i} = tanh(a{i - 1})" for i in range(1, 190)]
    model = ",\n".join(json.dumps(line) for line in [*lines, "E = (a189 - t)**2"])
    (tmp_path / "chain.toml").write_text(
        f'[sheet]\nid = "chain"\ntitle = "Chain"\n\n[[exercise]]\ntitle = "One"\n'
        f'model = [\n{model}\n]\n\n[[exercise.part]]\ntask = "backprop"\nwrt = "w"\n')
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-m", "derive", "build", "chain.toml", "--out", "out"],
                          capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert "Traceback" not in proc.stderr
    if proc.returncode != 0:
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr[-2000:]
        assert not (tmp_path / "out").exists()
