"""Variant parameters: their declaration in a sheet, deterministic drawing and the rejection of
degenerate draws (derive/sheet/variants.py, derive/variants/)."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest
import sympy as sp
from conftest import ROOT

from derive.errors import InputError
from derive.sheet.load import parse_sheet
from derive.sheet.variants import decimal_text, parse_constraint
from derive.variants.draw import MAX_DRAWS, draw_exercise, generator, variant_sheets
from derive.variants.screen import Screen

HEAD = '[sheet]\nid = "vs"\ntitle = "Variants"\n\n[[exercise]]\ntitle = "One"\n'
SMALL_MODEL = 'model = ["z = w*x", "a = tanh(z)", "E = (a - t)**2"]\n'
PART = '\n[[exercise.part]]\npoints = 5\ntask = "backprop"\nwrt = "w"\n'


def sheet_text(variants: str, model: str = SMALL_MODEL, part: str = PART) -> str:
    return HEAD + model + "\n[exercise.variants]\n" + variants + part


GOOD = 'x = { int = [-2, 2] }\nw = { decimal = [-1, 1] }\nt = { choices = [0, 0.5, 1] }\n'


def load(text: str):
    return parse_sheet(text, "v.toml")


def error(text: str) -> str:
    with pytest.raises(InputError) as e:
        load(text)
    return str(e.value)


def test_declaration_reads_every_kind():
    ex = load(sheet_text(GOOD + 'constraints = ["w != 0", "abs(z) < 2"]\ndigits = 5\n')
              ).exercises[0]
    v = ex.variants
    assert [(p.name, p.kind) for p in v.params] == [("x", "int"), ("w", "decimal"),
                                                      ("t", "choices")]
    assert v.params[1].low == -1 and v.params[1].places == 1
    assert v.params[2].choices == (0, sp.Rational(1, 2), 1)
    assert [c.op for c in v.constraints] == ["!=", "<"]
    assert v.digits == 5
    assert v.params[0].line == 10  # the line of its key


@pytest.mark.parametrize("variants, message, line", [
    (GOOD.replace("x = { int = [-2, 2] }", "x = { int = [2, -2] }"), "is empty", 10),
    (GOOD.replace("int = [-2, 2]", "int = [-2.5, 2]"), "int bounds must be integers", 10),
    (GOOD.replace("decimal = [-1, 1]", "decimal = [-1.05, 1]"), "at most 1 decimal", 11),
    (GOOD.replace("choices = [0, 0.5, 1]", "choices = []"), "choices must be a list", 12),
    (GOOD.replace("choices = [0, 0.5, 1]", "range = [0, 1]"), "expected one of", 12),
    (GOOD + "q = { int = [0, 1] }\n", "q is not a name the model reads", 13),
    (GOOD + "z = { int = [0, 1] }\n", "z is computed by the model", 13),
    (GOOD.replace("t = { choices = [0, 0.5, 1] }\n", ""), "no values for t", 9),
    (GOOD + 'constraints = ["w"]\n', "expected one comparison", 13),
    (GOOD + 'constraints = ["w < 1 < 2"]\n', "only one comparison", 13),
    (GOOD + 'constraints = ["__import__(1) < 2"]\n', "constraint", 13),
    (GOOD + 'constraints = ["q != 0"]\n', "q is not a name of the model", 13),
    (GOOD + "digits = 40\n", "digits must be an integer from 2 to 15", 13),
])
def test_bad_declarations_are_one_line_errors_at_their_line(variants, message, line):
    text = error(sheet_text(variants))
    assert text.startswith(f"v.toml:{line}: variants: "), text
    assert message in text and "\n" not in text


def test_variants_need_a_numeric_part_and_no_at_table():
    text = error(sheet_text(GOOD, part='\n[[exercise.part]]\ntask = "derivative"\nof = "E"\n'
                            'wrt = "w"\n'))
    assert "variants need a part whose task computes numbers" in text
    text = error(sheet_text(GOOD, part=PART + "at = { x = 1, w = 1, t = 0 }\n"))
    assert "has its own 'at' values" in text


def test_bad_tolerance():
    text = error(sheet_text(GOOD, part=PART + "tolerance = 2\n"))
    assert text.startswith("v.toml:") and "tolerance" in text


def test_constraints_go_through_the_parser_never_eval():
    c = parse_constraint("abs(z3) < 2")
    assert c.op == "<" and c.lhs == sp.Abs(sp.Symbol("z3", real=True)) and c.rhs == 2
    c = parse_constraint("max(a, b) >= (1 + 2)")
    assert c.op == ">=" and c.rhs == 3
    with pytest.raises(InputError):
        parse_constraint("().__class__ != 0")


def test_decimal_text():
    assert decimal_text(sp.Rational(-3, 10), 1) == "-0.3"
    assert decimal_text(sp.Integer(-1), 1) == "-1"  # a drawn integer reads as one
    assert decimal_text(sp.Integer(-1), 1, fixed=True) == "-1.0"  # a table's column
    assert decimal_text(sp.Integer(2), 0) == "2"
    assert decimal_text(sp.Rational(1, 4)) == "0.25"
    assert decimal_text(sp.Rational(1, 3)) == "1/3"


def test_generator_is_stable_and_not_salted():
    """The same numbers in a fresh interpreter (another PYTHONHASHSEED): no hash() of a str."""
    here = [generator(7, "sheet02", 3, 1).random() for _ in range(3)]
    code = ("from derive.variants.draw import generator; "
            "print([generator(7, 'sheet02', 3, 1).random() for _ in range(3)])")
    for salt in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                             text=True, env={"PYTHONHASHSEED": salt, "PYTHONPATH": str(ROOT)},
                             check=True).stdout
        assert out.strip() == repr(here)
    assert generator(7, "sheet02", 3, 1).random() != generator(8, "sheet02", 3, 1).random()
    assert generator(7, "sheet02", 3, 1).random() != generator(7, "sheet02", 3, 2).random()


def test_draws_are_deterministic_within_ranges_and_distinct():
    sheet = load(sheet_text(GOOD))
    a = [v.exercises[0].drawn.values for v in variant_sheets(sheet, 5, 11)]
    b = [v.exercises[0].drawn.values for v in variant_sheets(sheet, 5, 11)]
    assert a == b
    assert len({tuple(d.values()) for d in a}) == 5
    for d in a:
        assert d["x"].is_Integer and -2 <= d["x"] <= 2
        assert (d["w"] * 10).is_Integer and -1 <= d["w"] <= 1
        assert d["t"] in (0, sp.Rational(1, 2), 1)
    c = [v.exercises[0].drawn.values for v in variant_sheets(sheet, 5, 12)]
    assert a != c


def test_variant_sheets_have_stable_ids_and_state_their_values():
    sheet = load(sheet_text(GOOD))
    vs = variant_sheets(sheet, 3, 1)
    assert [v.id for v in vs] == ["vs-v01", "vs-v02", "vs-v03"]
    assert all(v.variant_of == "vs" for v in vs)
    ex = vs[0].exercises[0]
    for name, value in ex.drawn.values.items():
        assert f"= {decimal_text(value, 1 if name == 'w' else 0)}$" in ex.text


def reasons(text: str, values: dict) -> list[str]:
    ex = load(text).exercises[0]
    return Screen(ex).evaluate({k: sp.nsimplify(v) for k, v in values.items()})[0]


def test_rejection_reasons():
    assert reasons(sheet_text(GOOD), {"x": 1, "w": 0.5, "t": 0}) == []
    assert "zero gradient dE/dw" in reasons(sheet_text(GOOD), {"x": 0, "w": 0.5, "t": 0})
    assert "saturated tanh(z) (|z| > 4)" in reasons(sheet_text(GOOD.replace("int = [-2, 2]",
                                                                           "int = [-9, 9]")),
                                                    {"x": 5, "w": 1, "t": 0})
    relu = 'model = ["z = w*x", "a = relu(z)", "E = (a - t)**2"]\n'
    assert "a point on a kink: relu(z) at a" in reasons(sheet_text(GOOD, model=relu),
                                                        {"x": 0, "w": 0.5, "t": 0})
    leaky = 'model = ["z = w*x", "a = leaky_relu(z, 0.1)", "E = (a - t)**2"]\n'
    assert any(r.startswith("a point on a kink: leaky_relu(z")
               for r in reasons(sheet_text(GOOD, model=leaky), {"x": 0, "w": 0.5, "t": 0}))
    sig = 'model = ["z = w*x", "a = sigmoid(z)", "E = (a - t)**2"]\n'
    assert "saturated sigmoid(z) (|z| > 4)" in reasons(
        sheet_text(GOOD.replace("int = [-2, 2]", "int = [-9, 9]"), model=sig),
        {"x": -9, "w": 1, "t": 0})
    cons = sheet_text(GOOD + 'constraints = ["abs(z) < 0.3"]\n')
    assert reasons(cons, {"x": 1, "w": 0.5, "t": 0}) == ["constraint abs(z) < 0.3"]


def test_degenerate_draws_are_redrawn_and_counted():
    sheet = load(sheet_text(GOOD.replace("int = [-2, 2]", "int = [-1, 1]")))
    tally: Counter = Counter()
    out = draw_exercise(sheet, sheet.exercises[0], 20, 3, tally=tally)
    assert all(o.drawn.values["x"] != 0 for o in out)  # x = 0: zero gradient, rejected
    assert tally["zero gradient dE/dw"] > 0
    assert sum(sum(o.drawn.rejected.values()) for o in out) == sum(tally.values())


def test_unsatisfiable_constraints_are_a_one_line_error():
    sheet = load(sheet_text(GOOD + 'constraints = ["x > 5"]\n'))
    with pytest.raises(InputError) as e:
        variant_sheets(sheet, 2, 1)
    text = str(e.value)
    assert text.startswith("v.toml:9: variants: exercise 1: no draw for variant 1")
    assert f"in {MAX_DRAWS} draws" in text and "constraint x > 5" in text


def test_too_few_distinct_values_is_an_error():
    sheet = load(sheet_text("x = { choices = [1] }\nw = { choices = [0.5] }\n"
                            "t = { int = [0, 0] }\n"))
    with pytest.raises(InputError) as e:
        variant_sheets(sheet, 2, 1)
    assert "duplicate of an earlier variant" in str(e.value)


def test_a_sheet_without_variants_is_refused():
    text = HEAD + SMALL_MODEL + PART
    with pytest.raises(InputError) as e:
        variant_sheets(load(text), 2, 1)
    assert "declares no variant parameters" in str(e.value)
