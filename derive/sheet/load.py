"""Reading a sheet: TOML -> :class:`~derive.sheet.model.Sheet`, every problem reported as
``file:line: message``.

The format (documented in the README):

.. code-block:: toml

    [sheet]
    id = "sheet02"                 # file-name safe: [a-z0-9][a-z0-9_-]*
    title = "Exercise Sheet 2"
    course = "..."                 # optional
    date = "..."                   # optional
    notation = { relu = "rho" }    # optional, for the whole sheet
    detail = "standard"            # optional: "standard" (what a TA writes) or "full"

    [[exercise]]
    title = "..."
    text = '''statement, $math$ and *emphasis*'''
    model = ["z3 = x1*w13 + x2*w23", "a3 = tanh(z3)", "E = log(cosh(y - t))"]
    notation = { relu = "rho" }    # optional, overrides the sheet's
    facts = ["t1 + t2 + t3 = 1"]   # optional: equalities the derivations may use

    [[exercise.part]]
    label = "a"                    # optional: a, b, c, ... by position
    points = 5
    text = '''...'''
    hint = '''...'''               # optional
    task = "derivative"            # one of derive.tasks.TASK_NAMES
    of = "E"                       # the task's own parameters
    wrt = "y"
    tolerance = 1e-3               # optional: relative tolerance of a numeric answer (Moodle)
    detail = "full"                # optional, overrides the sheet's

    [exercise.variants]            # optional: per-student values (derive.sheet.variants)
    x1 = { int = [-2, 2] }
    constraints = ["x1 != 0"]

``tomllib`` gives no positions, so :func:`locate` scans the text once for the line of every table
header, key and array element.
"""

from __future__ import annotations

import math
import os
import re
import stat
import tomllib
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import sympy as sp

from derive.errors import InputError, is_control
from derive.maths.display import Names, settle_numbers
from derive.render.markup import check_markup
from derive.render.notation import NOTATION_CHOICES
from derive.sheet.model import DETAIL_LEVELS, Assignment, Exercise, Part, Sheet, sources, strings
from derive.sheet.modelcheck import check_exercise, huge_numbers, long_integer_line
from derive.sheet.parse import ascii_formula, parse_assignment, parse_expr, written_forms
from derive.sheet.variants import read_variants
from derive.tasks import REGISTRY, TASK_NAMES

MAX_SHEET_BYTES = 1_000_000
MAX_MODEL_LINES = 200
MAX_TOML_NESTING = 50  # brackets and braces
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
LABEL_RE = re.compile(r"^[a-z0-9]{1,8}$")

SHEET_KEYS = {"id": str, "title": str, "course": str, "date": str, "notation": dict,
              "detail": str}
EXERCISE_KEYS = {"title": str, "text": str, "model": list, "notation": dict, "part": list,
                 "variants": dict, "facts": list}
PART_KEYS = {"label": str, "points": (int, float, list), "text": str, "hint": str, "task": str,
             "tolerance": (int, float), "detail": str}
MAX_DATA_POINTS = 200


# --- locating keys ------------------------------------------------------------------------------
_HEADER_KEY = re.compile(r'[A-Za-z0-9_\-]+|"[^"\n]*"|\'[^\'\n]*\'')
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+|\"[^\"]*\")\s*=")


def locate(text: str) -> dict[tuple, int]:
    """Line (1-based) of each header, key and array element, keyed by its TOML path.

    Paths: ``("sheet", "id")``, ``("exercise", 0)``, ``("exercise", 0, "model", 2)``,
    ``("exercise", 0, "part", 1)``, ``("exercise", 0, "part", 1, "wrt")``.
    """
    where: dict[tuple, int] = {}
    table: tuple = ()
    counts: dict[tuple, int] = {}
    in_ml: str | None = None
    array_path: tuple | None = None
    array_items = 0
    depth = 0
    for no, line in enumerate(text.splitlines(), start=1):
        if in_ml:
            if in_ml in line:
                in_ml = None
            continue
        if array_path is not None:
            for _ in re.finditer(r"(?<!\\)([\"'])(?:(?!\1).)*\1", line):
                where[(*array_path, array_items)] = no
                array_items += 1
            depth += line.count("[") - line.count("]")
            if depth <= 0:
                array_path = None
            continue
        header = _header(line)
        if header is not None:
            double, name = header
            if double:
                parent = _parent_path(name[:-1], counts)
                key = (*parent, name[-1])
                counts[key] = counts.get(key, -1) + 1
                table = (*key, counts[key])
            else:
                table = _parent_path(name, counts)
            where[table] = no
            continue
        k = _KEY.match(line)
        if k:
            key = k.group(1).strip('"')
            path = (*table, key)
            where[path] = no
            rest = line[k.end():].strip()
            for delim in ('"""', "'''"):
                if rest.startswith(delim) and rest.count(delim) == 1:
                    in_ml = delim
            if rest.startswith("[") and not rest.startswith("[["):
                depth = rest.count("[") - rest.count("]")
                array_items = 0
                for _ in re.finditer(r"(?<!\\)([\"'])(?:(?!\1).)*\1", rest):
                    where[(*path, array_items)] = no
                    array_items += 1
                if depth > 0:
                    array_path = path
    return where


def _header(line: str) -> tuple[bool, tuple[str, ...]] | None:
    """``(is_array_of_tables, dotted name)`` for a table header line, else None.

    A scan, not a backtracking regular expression: a long header line must cost linear time.
    """
    s = line.strip()
    if not s.startswith("["):
        return None
    double = s.startswith("[[")
    pos, name = (2 if double else 1), []
    while True:
        while pos < len(s) and s[pos] in " \t":
            pos += 1
        m = _HEADER_KEY.match(s, pos)
        if not m:
            return None
        name.append(m.group(0).strip("\"'"))
        pos = m.end()
        while pos < len(s) and s[pos] in " \t":
            pos += 1
        if s.startswith(".", pos):
            pos += 1
            continue
        close = "]]" if double else "]"
        if not s.startswith(close, pos):
            return None
        rest = s[pos + len(close):].strip()
        return (double, tuple(name)) if not rest or rest.startswith("#") else None


def _too_deep(value: Any, depth: int = 0) -> bool:
    """True when lists/tables nest more than MAX_TOML_NESTING levels (checked without recursion
    limits being reached: the depth is bounded by the check itself)."""
    if depth > MAX_TOML_NESTING:
        return True
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return any(_too_deep(v, depth + 1) for v in items if isinstance(v, dict | list))


def _deepest_line(text: str) -> int | None:
    """The line where brackets first nest more than MAX_TOML_NESTING deep (strings ignored)."""
    depth = 0
    quote = None
    for no, line in enumerate(text.splitlines(), start=1):
        for ch in line:
            if quote:
                if ch == quote:
                    quote = None
            elif ch in "\"'":
                quote = ch
            elif ch == "#":
                break
            elif ch in "[{":
                depth += 1
                if depth > MAX_TOML_NESTING:
                    return no
            elif ch in "]}":
                depth -= 1
        if quote == '"':
            quote = None  # basic strings end at the line (multi-line ones rarely nest brackets)
    return None


def _parent_path(names: tuple, counts: dict[tuple, int]) -> tuple:
    path: tuple = ()
    for n in names:
        path = (*path, n)
        if path in counts:
            path = (*path, counts[path])
    return path


# --- loading ------------------------------------------------------------------------------------
def read_text(path: Path, display: str) -> str:
    """The sheet's text. Only a regular file is read (not a link, folder, FIFO or device: opened
    with O_NOFOLLOW|O_NONBLOCK and checked with fstat), and never more than MAX_SHEET_BYTES + 1."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) \
        | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise InputError(f"no such sheet: {display}") from None
    except OSError as e:
        if os.path.islink(path):
            raise InputError("is a symbolic link; give the sheet file itself", file=display
                             ) from None
        raise InputError(f"cannot read {display}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise InputError("is a folder, not a sheet file", file=display)
        if not stat.S_ISREG(st.st_mode):
            raise InputError("is not a regular file (a device, FIFO or socket); give a .toml file",
                             file=display)
        if st.st_size > MAX_SHEET_BYTES:
            raise InputError(f"sheet is too large ({st.st_size} bytes, at most "
                             f"{MAX_SHEET_BYTES})", file=display)
        chunks, size = [], 0
        while size <= MAX_SHEET_BYTES:
            chunk = os.read(fd, MAX_SHEET_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
    except OSError as e:
        raise InputError(f"cannot read {display}: {e.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_SHEET_BYTES:
        raise InputError(f"sheet is too large ({len(data)} bytes, at most {MAX_SHEET_BYTES})",
                         file=display)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise InputError(f"not UTF-8 text (byte 0x{data[e.start]:02x})", file=display,
                         line=line) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise InputError("binary data (NUL byte) in sheet", file=display, line=line)
    if not text.strip():
        raise InputError("empty sheet: expected a [sheet] table", file=display, line=1)
    return text


def load_sheet(path: str | Path, display: str | None = None) -> Sheet:
    """Read and validate a sheet; raises InputError located at file:line."""
    path = Path(path)
    display = display or str(path)
    text = read_text(path, display)
    return parse_sheet(text, display)


_TOML_HINTS = {
    "Cannot overwrite a value": "a key or table is defined twice (cannot overwrite a value)",
    "Illegal character '\\n'": "a string is not closed before the end of the line",
    "Invalid value": "invalid value (a value is missing, or a string has no quotes)",
}


def parse_sheet(text: str, display: str) -> Sheet:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = re.search(r"\(at line (\d+), column \d+\)", msg)
        line = int(m.group(1)) if m else None
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", msg)
        msg = _TOML_HINTS.get(msg, msg)
        raise InputError(f"invalid TOML: {msg}", file=display, line=line) from None
    except ValueError as e:  # an integer past Python's 4300-digit limit for int(str)
        huge = "integer string conversion" in str(e)
        raise InputError("invalid TOML: " + ("integer with more than 100 digits" if huge else
                         " ".join(str(e).split())[:100]), file=display,
                         line=long_integer_line(text) if huge else None) from None
    except RecursionError:
        data = None
    if data is None or _too_deep(data):
        raise InputError(f"invalid TOML: arrays or tables nested more than {MAX_TOML_NESTING} "
                         "levels deep", file=display, line=_deepest_line(text)) from None
    where = locate(text)
    loader = _Loader(display, where)
    if huge := huge_numbers(data):  # before anything prints or converts one
        raise loader.err(f"invalid TOML: {huge[1]}", huge[0])
    return loader.sheet(data)


class _Loader:
    def __init__(self, file: str, where: dict[tuple, int]):
        self.file = file
        self.where = where
        self.detail = "standard"  # the sheet's detail level, the default of its parts

    def err(self, message: str, path: tuple) -> InputError:
        line = None
        while path and line is None:
            line = self.where.get(path)
            path = path[:-1]
        return InputError(message, file=self.file, line=line)

    def keys(self, table: dict, allowed: dict, path: tuple, what: str, extra=()) -> None:
        for key, value in table.items():
            if key not in allowed and key not in extra:
                names = ", ".join(sorted([*allowed, *extra]))
                raise self.err(f"unknown key {key!r} in {what} (allowed: {names})", (*path, key))
            want_types = allowed.get(key, object)
            as_tuple = want_types if isinstance(want_types, tuple) else (want_types,)
            wrong_bool = isinstance(value, bool) and bool not in as_tuple
            if key in allowed and (not isinstance(value, want_types) or wrong_bool):
                want = _type_name(want_types)
                raise self.err(f"{what} key {key!r} must be {want}, not "
                               f"{_type_name(type(value))}", (*path, key))

    def text(self, value: str, path: tuple, heading: bool = False) -> str:
        """A text field (title, statement, hint, class name): markup whose math is in the allowed
        subset and whose characters pdflatex can typeset; a ``heading`` is one line."""
        try:
            check_markup(value, heading=heading)
        except InputError as e:
            raise self.err(e.message, path) from None
        return value

    def refuse_control_characters(self, value: Any, path: tuple = ()) -> None:
        """No string anywhere in the sheet (keys included) holds a control character other than
        a newline or a tab: they would reach SVG (where XML forbids them), LaTeX and terminals."""
        if isinstance(value, dict):
            items = list(value.items())
            for key, _ in items:
                self.refuse_control_characters(key, path)
            for key, item in items:
                self.refuse_control_characters(item, (*path, key))
        elif isinstance(value, list):
            for k, item in enumerate(value):
                self.refuse_control_characters(item, (*path, k))
        elif isinstance(value, str):
            bad = next((c for c in value if is_control(c)), None)
            if bad is not None:
                raise self.err(f"control character U+{ord(bad):04X} in a string (only newlines "
                               "and tabs are allowed)", path)

    def sheet(self, data: dict) -> Sheet:
        self.refuse_control_characters(data)
        for key in data:
            if key not in ("sheet", "exercise"):
                raise self.err(f"unknown table {key!r} (expected [sheet] and [[exercise]])",
                               (key,))
        head = data.get("sheet")
        if not isinstance(head, dict):
            raise InputError("missing [sheet] table", file=self.file, line=1)
        self.keys(head, SHEET_KEYS, ("sheet",), "[sheet]")
        for key in ("id", "title"):
            if key not in head:
                raise self.err(f"[sheet] needs {key!r}", ("sheet",))
        sid = head["id"]
        if not ID_RE.match(sid):
            raise self.err(f"sheet id {sid!r} must match [a-z0-9][a-z0-9_-]* (it names the output "
                           "folder)", ("sheet", "id"))
        notation = self.notation(head.get("notation", {}), ("sheet", "notation"))
        self.detail = self.detail_level(head, ("sheet",), "standard")
        exercises = data.get("exercise", [])
        if not isinstance(exercises, list) or not exercises:
            raise InputError("a sheet needs at least one [[exercise]]", file=self.file,
                             line=self.where.get(("sheet",)))
        read = [self.exercise(i, ex, notation) for i, ex in enumerate(exercises)]
        # the sheet's habit of writing constants first or last, for sums it does not write
        settled = settle_numbers([ex.names.written for ex in read])
        return Sheet(
            id=sid,
            title=self.text(head["title"], ("sheet", "title"), heading=True),
            course=self.text(head.get("course", ""), ("sheet", "course"), heading=True),
            date=self.text(head.get("date", ""), ("sheet", "date"), heading=True),
            file=self.file,
            exercises=tuple(replace(ex, names=Names(ex.names, w))
                            for ex, w in zip(read, settled, strict=True)),
        )

    def notation(self, value: dict, path: tuple) -> dict[str, str]:
        for key, choice in value.items():
            if key not in NOTATION_CHOICES:
                raise self.err(f"unknown notation {key!r} (known: "
                               f"{', '.join(sorted(NOTATION_CHOICES))})", path)
            if choice not in NOTATION_CHOICES[key]:
                raise self.err(f"notation {key} = {choice!r} is not one of "
                               f"{', '.join(sorted(NOTATION_CHOICES[key]))}", path)
        return dict(value)

    def detail_level(self, table: dict, path: tuple, default: str) -> str:
        """The table's ``detail`` (one of :data:`~derive.sheet.model.DETAIL_LEVELS`), else
        ``default``."""
        value = table.get("detail", default)
        if value not in DETAIL_LEVELS:
            raise self.err(f"detail = {value!r} is not one of {', '.join(DETAIL_LEVELS)}",
                           (*path, "detail"))
        return value

    def fact(self, src: Any, path: tuple) -> sp.Eq:
        """One entry of an exercise's ``facts``: an equality such as ``"t1 + t2 + t3 = 1"``."""
        line = self.where.get(path, self.where.get(path[:-1]))
        if not isinstance(src, str) or src.count("=") != 1:
            raise InputError("facts entries must be equalities such as \"t1 + t2 + t3 = 1\"",
                             file=self.file, line=line)
        sides = []
        for side in src.split("="):
            try:
                sides.append(parse_expr(side.strip()))
            except InputError as e:
                raise e.at(self.file, line) from None
        fact = sp.Eq(*sides, evaluate=False)
        if not fact.free_symbols or sides[0] == sides[1]:
            raise InputError(f"fact {src!r} says nothing", file=self.file, line=line)
        return fact

    def exercise(self, i: int, ex: Any, notation: dict[str, str]) -> Exercise:
        path = ("exercise", i)
        if not isinstance(ex, dict):
            raise self.err("[[exercise]] must be a table", path)
        self.keys(ex, EXERCISE_KEYS, path, "[[exercise]]")
        if "title" not in ex:
            raise self.err("[[exercise]] needs a 'title'", path)
        model_src = ex.get("model", [])
        if len(model_src) > MAX_MODEL_LINES:
            raise self.err(f"model has {len(model_src)} lines (at most {MAX_MODEL_LINES})",
                           (*path, "model"))
        model = []
        seen: dict[str, int | None] = {}
        for j, src in enumerate(model_src):
            mpath = (*path, "model", j)
            line = self.where.get(mpath, self.where.get((*path, "model")))
            if not isinstance(src, str):
                raise self.err("model entries must be strings such as \"a3 = tanh(z3)\"", mpath)
            try:
                name, expr = parse_assignment(src)  # bounded in length, depth and size
            except InputError as e:
                raise e.at(self.file, line) from None
            if name in seen:
                raise InputError(f"{name} is defined twice (first on line {seen[name]})",
                                 file=self.file, line=line)
            seen[name] = line
            model.append(Assignment(name, expr, src, line))
        parts_src = ex.get("part", [])
        if not parts_src:
            raise self.err("[[exercise]] needs at least one [[exercise.part]]", path)
        local = {**notation, **self.notation(ex.get("notation", {}), (*path, "notation"))}
        parts = tuple(self.part(i, j, p) for j, p in enumerate(parts_src))
        labels = [p.label for p in parts]
        for j, lab in enumerate(labels):
            if lab in labels[:j]:
                raise self.err(f"part label {lab!r} is used twice", (*path, "part", j, "label"))
        facts = tuple(self.fact(src, (*path, "facts", k))
                      for k, src in enumerate(ex.get("facts", [])))
        texts = sources(model, parts)
        names = _names_in_order(texts)
        check_exercise(model, parts, local, names, self.file)  # in order, real, printed 1:1
        variants = None
        if "variants" in ex:  # the parameters drawn per variant (derive build --variants)
            vpath = (*path, "variants")
            variants = read_variants(ex["variants"], model, parts,
                                     lambda msg, sub: self.err(f"variants: {msg}", (*vpath, *sub)),
                                     lambda sub: self.where.get((*vpath, *sub),
                                                                self.where.get(vpath)))
        return Exercise(
            number=i + 1,
            title=self.text(ex["title"], (*path, "title"), heading=True),
            text=self.text(ex.get("text", ""), (*path, "text")),
            model=tuple(model),
            notation=local,
            parts=parts,
            line=self.where.get(path),
            names=Names(names, written_forms([*texts, *ex.get("facts", [])])),
            variants=variants,
            facts=facts,
        )

    def part(self, i: int, j: int, p: Any) -> Part:
        path = ("exercise", i, "part", j)
        if not isinstance(p, dict):
            raise self.err("[[exercise.part]] must be a table", path)
        task = p.get("task")
        if task is None:
            raise self.err("part needs a 'task' (one of " + ", ".join(TASK_NAMES) + ")", path)
        if not isinstance(task, str) or task not in TASK_NAMES:
            raise self.err(f"unknown task {task!r} (one of {', '.join(TASK_NAMES)})",
                           (*path, "task"))
        spec = REGISTRY[task]
        params = {k: v for k, v in p.items() if k not in PART_KEYS}
        self.keys(p, {**PART_KEYS, **spec.required, **spec.optional}, path,
                  f"part with task {task!r}")
        for key in spec.required:
            if key not in p:
                raise self.err(f"task {task!r} needs parameter {key!r}", path)
        for key, what in spec.text.items():  # sheet text in a parameter: checked as a title
            for value in strings(p.get(key)):
                try:
                    check_markup(value, heading=True)
                except InputError as e:
                    raise self.err(f"{what}: {e.message}", (*path, key)) from None
        label = p.get("label", _default_label(j))
        if not LABEL_RE.match(label):
            raise self.err(f"part label {label!r} must be 1-8 lowercase letters or digits",
                           (*path, "label"))
        tolerance = p.get("tolerance")
        if tolerance is not None and not (math.isfinite(tolerance) and 0 < tolerance < 1):
            raise self.err("tolerance (relative, of a numeric answer) must be a number between 0 "
                           "and 1, such as 1e-3", (*path, "tolerance"))
        points = p.get("points")
        if isinstance(points, list):
            raise self.err("points is the part's marks (a number); give data points as "
                           "data = [[x1, x2], ...]", (*path, "points"))
        if "data" in params:  # a task's data points (decision-boundary declares them)
            params["data"] = self.data_points(params["data"], (*path, "data"))
        if points is not None and not (math.isfinite(points) and 0 <= points <= 1000):
            raise self.err("points must be a number between 0 and 1000", (*path, "points"))
        return Part(
            label=label,
            points=points,
            text=self.text(p.get("text", ""), (*path, "text")),
            hint=self.text(p.get("hint", ""), (*path, "hint")),
            task=task,
            params=params,
            param_lines={k: self.where.get((*path, k), self.where.get(path)) for k in params},
            line=self.where.get(path),
            tolerance=float(tolerance) if tolerance is not None else None,
            detail=self.detail_level(p, path, self.detail),
        )


    def data_points(self, value: list, path: tuple) -> tuple[tuple[Fraction, ...], ...]:
        """``data = [[0, 0], [1, 1]]`` on a decision-boundary part: the exercise's data points
        (exact, from the digits as written), marked in its figure."""
        if not value or len(value) > MAX_DATA_POINTS or not all(
                isinstance(q, list) and len(q) == 2 and all(
                    isinstance(c, int | float) and not isinstance(c, bool) and math.isfinite(c)
                    and abs(c) <= 10**6 for c in q) for q in value):
            raise self.err(f"data must be a list of 1 to {MAX_DATA_POINTS} data points "
                           "[x1, x2] of numbers (at most 10^6 in absolute value)", path)
        return tuple(tuple(Fraction(str(c)) for c in q) for q in value)


def _default_label(j: int) -> str:
    return "abcdefghijklmnopqrstuvwxyz"[j] if j < 26 else f"p{j + 1}"


def _type_name(t) -> str:
    if isinstance(t, tuple):
        return " or ".join(_type_name(x) for x in t)
    return {str: "a string", int: "an integer", float: "a number", list: "a list",
            dict: "a table", bool: "true/false"}.get(t, t.__name__)


_NAME_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _names_in_order(sources: list[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for src in sources:
        for m in _NAME_TOKEN.finditer(ascii_formula(src)):
            seen.setdefault(m.group(0), None)
    return tuple(seen)


def bundled_sheet_path() -> Path:
    """The bundled default sheet (shipped inside the package)."""
    return Path(__file__).resolve().parents[1] / "sheets" / "sheet02.toml"
