"""Sheet loading: the bundled sheet, and file:line errors for bad sheets."""

from __future__ import annotations

from fractions import Fraction

import pytest

from derive.errors import InputError
from derive.sheet.load import bundled_sheet_path, load_sheet, locate, parse_sheet
from derive.sheet.model import strings

GOOD = '''
[sheet]
id = "demo"
title = "Demo"

[[exercise]]
title = "One"
model = [
    "a = tanh(z)",
    "E = (a - t)**2",
]

[[exercise.part]]
points = 3
task = "derivative"
of = "E"
wrt = "a"
'''


def test_bundled_sheet_has_all_four_exercises():
    sheet = load_sheet(bundled_sheet_path())
    assert sheet.id == "sheet02"
    assert [len(ex.parts) for ex in sheet.exercises] == [2, 3, 2, 4]
    assert [ex.points for ex in sheet.exercises] == [20, 30, 20, 30]
    assert [p.label for p in sheet.exercises[3].parts] == ["a", "b", "c", "d"]


def test_locate_finds_keys_headers_and_array_items():
    where = locate(GOOD)
    assert where[("sheet", "id")] == 3
    assert where[("exercise", 0)] == 6
    assert where[("exercise", 0, "model", 0)] == 9
    assert where[("exercise", 0, "model", 1)] == 10
    assert where[("exercise", 0, "part", 0)] == 13
    assert where[("exercise", 0, "part", 0, "wrt")] == 17


def test_good_sheet_loads():
    sheet = parse_sheet(GOOD, "demo.toml")
    ex = sheet.exercises[0]
    assert [a.name for a in ex.model] == ["a", "E"]
    assert ex.parts[0].label == "a"
    assert ex.names[:3] == ("a", "tanh", "z")


@pytest.mark.parametrize(
    ("edit", "line", "fragment"),
    [
        (lambda s: s.replace('id = "demo"', 'id = "../../x"'), 3, "sheet id"),
        (lambda s: s.replace('title = "One"', 'title = "One"\ncolour = 1'), 8,
         "unknown key 'colour'"),
        (lambda s: s.replace('points = 3', 'points = "three"'), 14,
         "must be an integer or a number"),
        (lambda s: s.replace('task = "derivative"', 'task = "integral"'), 15, "unknown task"),
        (lambda s: s.replace('wrt = "a"\n', ''), 13, "needs parameter 'wrt'"),
        (lambda s: s.replace('"E = (a - t)**2"', '"a = (a - t)**2"'), 10, "defined twice"),
        (lambda s: s.replace('"a = tanh(z)"', '"a = tanh(z).real"'), 9, "attribute"),
        (lambda s: s.replace('[sheet]', '[sheet'), 2, "invalid TOML"),
    ],
)
def test_bad_sheets_report_file_and_line(edit, line, fragment):
    with pytest.raises(InputError) as info:
        parse_sheet(edit(GOOD), "bad.toml")
    err = info.value
    assert err.file == "bad.toml"
    assert err.line == line, str(err)
    assert fragment in err.message
    assert "\n" not in str(err)


def test_latex_injection_in_math_is_refused():
    bad = GOOD.replace('title = "One"', 'title = "One $\\\\input{/etc/passwd}$"')
    with pytest.raises(InputError, match="input"):
        parse_sheet(bad, "bad.toml")


def test_non_utf8_and_empty_files(tmp_path):
    f = tmp_path / "x.toml"
    f.write_bytes(b"[sheet]\nid = \"\xff\"\n")
    with pytest.raises(InputError, match="UTF-8") as info:
        load_sheet(f)
    assert info.value.line == 2
    f.write_text("")
    with pytest.raises(InputError, match="empty"):
        load_sheet(f)


REGIONS = '''[sheet]
id = "r"
title = "R"

[[exercise]]
title = "R"
model = ["y = relu(x1) - relu(x2)"]

[[exercise.part]]
task = "decision-boundary"
of = "y"
classes = CLASSES
'''


@pytest.mark.parametrize("classes", ["['$\\iffalse$', 'b']",
                                     "{ negative = 'a', positive = '$$y > 0$$' }"])
def test_class_names_are_checked_as_sheet_text_when_the_sheet_loads(classes):
    """A task's text parameters (decision-boundary's class names) are refused by the loader,
    at their line, before any task runs."""
    with pytest.raises(InputError) as e:
        parse_sheet(REGIONS.replace("CLASSES", classes), "r.toml")
    assert e.value.message.startswith("class name: ")
    assert e.value.line == 12


def test_good_class_names_load():
    sheet = parse_sheet(REGIONS.replace("CLASSES", "['$y < 0$ side', 'the rest']"), "r.toml")
    assert sheet.exercises[0].parts[0].params["classes"] == ["$y < 0$ side", "the rest"]


def test_an_exercise_writes_its_model_then_its_parameter_strings_in_order():
    """``Exercise.sources``: the text its names first appear in (its term order), nested tables
    and lists of parameters searched in order, numbers and booleans skipped."""
    sheet = parse_sheet(GOOD.replace('wrt = "a"', 'wrt = "a"\n\n[[exercise.part]]\n'
                                     'task = "network"\nof = "a"\ninputs = ["z", "t"]\n'
                                     'loss = true'), "demo.toml")
    ex = sheet.exercises[0]
    assert ex.sources == ["a = tanh(z)", "E = (a - t)**2", "E", "a", "a", "z", "t"]
    assert ex.names == ("a", "tanh", "z", "E", "t")
    assert strings({"x": [1, "u", {"k": ("v", True)}], "y": "w"}) == ["u", "v", "w"]


# --- data points of a decision-boundary part ------------------------------------------------------
DATA_POINTS_SHEET = """[sheet]
id = "pts"
title = "Points"

[[exercise]]
title = "XOR"
model = ["y = relu(x1 + x2) - 2*relu(x1 + x2 - 1) - 0.5"]

[[exercise.part]]
task = "{task}"
of = "y"
points = 5
data = {points}
"""


def test_data_points_of_a_decision_boundary_part_are_exact(tmp_path):
    path = tmp_path / "pts.toml"
    path.write_text(DATA_POINTS_SHEET.format(task="decision-boundary",
                                             points="[[0, 0], [1, 0.5]]"))
    (part,) = load_sheet(str(path)).exercises[0].parts
    assert part.params["data"] == ((0, 0), (1, Fraction(1, 2)))
    assert part.points == 5  # the marks stay


def test_a_list_of_points_is_not_taken_for_marks(tmp_path):
    path = tmp_path / "pts.toml"
    path.write_text(DATA_POINTS_SHEET.format(task="decision-boundary", points="[[0, 0]]")
                    .replace("points = 5\ndata =", "points ="))
    with pytest.raises(InputError, match=r"points is the part's marks \(a number\); give data "
                                         r"points as data = "):
        load_sheet(str(path))


@pytest.mark.parametrize("task, points, message", [
    ("network", "[[0, 0]]", "unknown key 'data' in part with task 'network'"),
    ("decision-boundary", "[[0, 0, 1]]", "list of 1 to 200 data points"),
    ("decision-boundary", "[]", "list of 1 to 200 data points"),
    ("decision-boundary", '[["a", 0]]', "list of 1 to 200 data points"),
])
def test_bad_data_points_are_refused(tmp_path, task, points, message):
    path = tmp_path / "pts.toml"
    path.write_text(DATA_POINTS_SHEET.format(task=task, points=points))
    with pytest.raises(InputError, match=message):
        load_sheet(str(path))
