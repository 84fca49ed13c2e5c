"""Trust in the mathematics (issue 12, parts 5 and 6): what derive stamps verified is right over the
reals, a computation list means what it says, and the sheet prints every quantity one-to-one.

Each hostile sheet is built in-process (``derive.cli.main(["build", SHEET, "--out", DIR])``) and
must end with exit status 2, exactly one line ``<file>:<line>: <message>`` on stderr naming the
offending line, nothing on stdout and nothing written. The classes:

* complex-valued expressions, in model lines and in task parameters (and ``derive explain``);
* self-reference, use before definition, cycles;
* divisors and logarithm arguments that are 0 for every input, directly or through other nodes;
* integers past Python's 4300-digit limit, in formulas and in the TOML itself;
* two quantities that print alike (u1/u_1, a variable rho and ReLU as ρ, sigma and the sigmoid,
  delta3 and backprop's δ_3, ...);
* names SymPy also uses (I, N, S, O, Q, oo, nan, zoo, E): they round-trip through the JSON
  answers, and JSON answers parse back with derive's own parser to the same expression.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sympy as sp

from derive import cli
from derive.maths.functions import symbol
from derive.render.notation import sympy_str
from derive.sheet.parse import NotRealError, parse_expr
from derive.verify.equality import check_equal, numeric_equal

HEAD = '[sheet]\nid = "hostile"\ntitle = "Hostile"\n\n[[exercise]]\ntitle = "One"\n'
DERIVATIVE = 'task = "derivative"\nof = "E"\nwrt = "y"\n'
BACKPROP = 'task = "backprop"\nwrt = "all"\n'


def sheet(model: list[str], part: str = DERIVATIVE, exercise: str = "", head: str = HEAD) -> str:
    """A sheet whose model entries are on lines of their own, in order."""
    entries = "".join(f'    "{m}",\n' for m in model)
    return f"{head}{exercise}model = [\n{entries}]\n\n[[exercise.part]]\npoints = 5\n{part}"


def line_of(text: str, needle: str) -> int:
    """The line of ``text`` on which ``needle`` first occurs."""
    return next(no for no, line in enumerate(text.splitlines(), 1) if needle in line)


def refused(tmp_path: Path, capsys, text: str, needle: str, *words: str) -> str:
    """Build ``text``: exit 2, one stderr line at the line holding ``needle``, nothing written.
    Returns the message, which must contain each of ``words``."""
    path = tmp_path / "hostile.toml"
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    code = cli.main(["build", str(path), "--out", str(out)])
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert code == 2, captured
    assert len(lines) == 1, captured.err
    assert captured.out == ""
    match = re.fullmatch(rf"{re.escape(str(path))}:(\d+): (.+)", lines[0])
    assert match, lines[0]
    assert int(match.group(1)) == line_of(text, needle), (lines[0], needle)
    assert "Traceback" not in captured.err
    assert not out.exists() or not any(out.rglob("*")), "something was written"
    for word in words:
        assert word in match.group(2), (word, lines[0])
    return match.group(2)


def built(tmp_path: Path, capsys, text: str) -> dict:
    """Build ``text`` (it must succeed) and return solutions.json."""
    path = tmp_path / "fine.toml"
    path.write_text(text, encoding="utf-8")
    code = cli.main(["build", str(path), "--out", str(tmp_path / "out"), "--format", "json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads((tmp_path / "out" / "hostile" / "solutions.json").read_text())


# --- 5. complex values: model lines ---------------------------------------------------------------
@pytest.mark.parametrize("model, bad", [
    (["E = sqrt(-1 - y**2)"], "E = sqrt"),
    (["a = (-8)**(1/3)", "E = a*y"], "a = (-8)"),  # SymPy's principal cube root is complex
    (["E = (-1)**y"], "E = (-1)"),  # real only at integers: no random real point
    (["E = log(-exp(y))"], "E = log"),
    (["E = sqrt(y)*log(-y)"], "E = sqrt"),  # two conditions that never hold together
    (["E = sqrt(-1 - y**2)*sqrt(-2 - y**2)"], "E = sqrt"),  # real product of complex roots
])
def test_complex_model_lines_are_refused(tmp_path, capsys, model, bad):
    text = sheet(model)
    refused(tmp_path, capsys, text, bad, "not real-valued", "derive works over the reals")


def test_complex_through_other_nodes_is_refused_at_the_node(tmp_path, capsys):
    # each line alone is real somewhere (z could be negative); with z's values it is nowhere
    text = sheet(["z = 1 + y**2", "a = w*x", "E = sqrt(-z) + a"])
    refused(tmp_path, capsys, text, "E = sqrt(-z)", "not real-valued", "sqrt(-z)")


def test_inputs_never_real_together_are_refused(tmp_path, capsys):
    text = sheet(["a = sqrt(y)", "b = log(-y)", "E = a + b"])
    refused(tmp_path, capsys, text, "E = a + b", "not real-valued", "a and b")


# --- 5. complex values: task parameters and explain -----------------------------------------------
def test_complex_derivative_of_is_refused_at_its_line(tmp_path, capsys):
    part = 'task = "derivative"\nof = "sqrt(-1 - y**2)"\nwrt = "y"\n'
    refused(tmp_path, capsys, sheet(["E = y"], part), "of = ", "not real-valued")


def test_a_task_expression_is_checked_with_the_models_values(tmp_path, capsys):
    part = 'task = "derivative"\nof = "log(-E)"\nwrt = "y"\n'  # E = y**2 + 1 > 0
    refused(tmp_path, capsys, sheet(["E = y**2 + 1"], part), "of = ", "not real-valued")


def test_a_complex_tie_is_refused(tmp_path, capsys):
    model = ["z1 = w13*x1", "E = (tanh(z1) - t)**2"]
    parts = (BACKPROP + '\n[[exercise.part]]\npoints = 5\ntask = "shared-parameter"\n'
             'shared = "v"\nties = ["w13 = sqrt(-1 - v**2)"]\n')
    refused(tmp_path, capsys, sheet(model, parts), "ties = ", "not real-valued")


def test_explain_refuses_a_complex_expression(capsys):
    assert cli.main(["explain", "sqrt(-1 - x**2)", "--wrt", "x"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("derive: error:") and "not real-valued" in err[0]


def test_real_somewhere_is_accepted(tmp_path, capsys):
    """Real on part of the line only: log(y), log(1 - y) of a probability, sqrt(y - 3)."""
    text = sheet(["E = -(t*log(y) + (1 - t)*log(1 - y)) + sqrt(w - 3)"])
    doc = built(tmp_path, capsys, text)
    assert doc["exercises"][0]["parts"][0]["verified"] is True


def test_the_verifier_never_stamps_complex_values():
    """No fallback to complex comparisons, and no symbolic stamp on nowhere-real sides."""
    x = symbol("x")
    assert not numeric_equal(sp.log(-1 - x**2), sp.log(1 + x**2) + sp.I * sp.pi)
    assert not check_equal(sp.sqrt(-1 - x**2), sp.sqrt(-1 - x**2)).ok
    assert not check_equal((-1) ** x * 2, 2 * (-1) ** x).ok
    assert check_equal(sp.log(x) * 2, 2 * sp.log(x)).ok


# --- 5. order: self-reference, use before definition, cycles --------------------------------------
def test_self_reference_is_refused(tmp_path, capsys):
    text = sheet(["E = 2*E*(y - t)"])
    refused(tmp_path, capsys, text, "E = 2*E", "itself", "cycle")


def test_use_before_definition_is_refused(tmp_path, capsys):
    text = sheet(["a = b + 1", "b = 2*y", "E = a*y"])
    message = refused(tmp_path, capsys, text, "a = b + 1", "before its definition")
    assert f"line {line_of(text, 'b = 2*y')}" in message


def test_a_cycle_is_refused_at_its_first_line(tmp_path, capsys):
    text = sheet(["a = b + y", "b = 2*a", "E = a*y"])
    refused(tmp_path, capsys, text, "a = b + y", "cycle", "a -> b -> a")


def test_a_longer_cycle_through_later_lines(tmp_path, capsys):
    text = sheet(["h1 = tanh(h3)", "h2 = h1 + x", "h3 = h2*w", "E = (h3 - t)**2"], BACKPROP)
    refused(tmp_path, capsys, text, "h1 = tanh", "cycle", "h1 -> h3 -> h2 -> h1")


# --- 5. divisors and logarithm arguments that are 0 for every input -------------------------------
@pytest.mark.parametrize("model, bad, verb", [
    (["z = y - y", "E = 1/z"], "E = 1/z", "divides by z"),
    (["z = w - w", "E = y*log(z)"], "E = y*log", "logarithm of z"),
    (["z = 0*w", "E = y/z"], "E = y/z", "divides by z"),
    (["a = w*y", "b = y*w", "z = a - b", "E = t/z"], "E = t/z", "divides by z"),  # indirect
    (["a = (y + 1)**2", "z = a - y**2 - 2*y - 1", "E = w/z"], "E = w/z", "divides by z"),
    (["z = sin(w)**2 + cos(w)**2 - 1", "E = y/z"], "E = y/z", "divides by z"),
    (["s = sigmoid(w) + sigmoid(-w)", "E = y*log(s - 1)"], "E = y*log", "logarithm of s - 1"),
])
def test_identically_zero_divisors_and_log_arguments_are_refused(tmp_path, capsys, model, bad,
                                                                  verb):
    text = sheet(model)
    refused(tmp_path, capsys, text, bad, "undefined", verb, "0 for every input")


def test_a_zero_divisor_in_one_expression_is_refused_by_the_parser():
    with pytest.raises(NotRealError, match="0 for every input"):
        parse_expr("1/(tanh(x) - sinh(x)/cosh(x))")


def test_small_but_nonzero_divisors_are_accepted():
    parse_expr("1/(sigmoid(x) - 1) + 1/(x - y) + log(1 - sigmoid(x)) + 1/exp(-x**2)")


# --- 5. integers past Python's digit limit --------------------------------------------------------
def test_a_huge_integer_in_a_formula(tmp_path, capsys):
    text = sheet(["E = y**2 + 1" + "0" * 5000])
    refused(tmp_path, capsys, text, "E = y**2", "more than 100 digits")


@pytest.mark.parametrize("value", ["1" + "0" * 5000, "1" + "0" * 400, "0x" + "F" * 5000,
                                   "-1" + "_000" * 1500])
def test_a_huge_integer_in_the_toml(tmp_path, capsys, value):
    text = sheet(["E = y**2"], f"points = {value}\n" + DERIVATIVE).replace("points = 5\n", "")
    refused(tmp_path, capsys, text, "points = ", "more than 100 digits")


def test_a_huge_integer_in_a_notation_table(tmp_path, capsys):
    text = sheet(["E = relu(y)"], exercise=f"notation = {{ relu = 0x{'F' * 5000} }}\n")
    refused(tmp_path, capsys, text, "notation = ", "more than 100 digits")


# --- 6. printing is one-to-one --------------------------------------------------------------------
@pytest.mark.parametrize("model, part, exercise, words", [
    (["E = u1*y + u_1"], DERIVATIVE, "", ["'u1' and 'u_1'", "u_{1}"]),
    (["E = x12*y + x_12"], DERIVATIVE, "", ["'x12' and 'x_12'"]),
    (["E = relu(y)*rho"], DERIVATIVE, 'notation = { relu = "rho" }\n', ["'rho'", "ReLU"]),
    (["E = sigmoid(y)*sigma"], DERIVATIVE, "", ["'sigma'", "sigmoid"]),
    (["E = softplus(y)*sigma"], DERIVATIVE, "", ["'sigma'", "sigmoid"]),  # softplus' = sigmoid
    (["E = softplus(y)*zeta"], DERIVATIVE, 'notation = { softplus = "zeta" }\n', ["'zeta'"]),
    (["E = relu(y) + H"], DERIVATIVE, "", ["'H'", "step function"]),
    (["E = exp(y) + e"], DERIVATIVE, "", ["'e'", "Euler"]),
    (["E = relu(y)*ReLU"], DERIVATIVE, "", ["'ReLU'", "ReLU"]),
    (["E = abs(y)*sgn"], DERIVATIVE, "", ["'sgn'", "sign"]),
    (["z3 = w*x", "a3 = tanh(z3)", "E = (a3 - t)**2 + delta3"], BACKPROP, "", ["'delta3'", "δ"]),
    (["E = u1*v1*g1*q1*p1*y"], DERIVATIVE, "", ["intermediates"]),
])
def test_names_that_print_alike_are_refused(tmp_path, capsys, model, part, exercise, words):
    text = sheet(model, part, exercise)
    refused(tmp_path, capsys, text, model[-1], *words)


def test_a_name_and_an_indexed_quantity_that_print_alike(tmp_path, capsys):
    part = ('task = "chain-rule"\nnetwork = "Sum(w[i]*x[i, k], (i, 1, d)) + w_i"\n'
            'wrt = "w[i]"\n')
    refused(tmp_path, capsys, sheet(["E = (y - t)**2/2"], part), "network = ", "'w[i]'", "w_i")


def test_a_variable_sigma_without_a_sigmoid_is_fine(tmp_path, capsys):
    doc = built(tmp_path, capsys, sheet(["E = sigma*y**2"]))
    assert parse_expr(doc["exercises"][0]["parts"][0]["answer"]) == 2 * symbol("sigma") * \
        symbol("y")


# --- 6. SymPy's names and JSON answers ------------------------------------------------------------
@pytest.mark.parametrize("name", ["I", "N", "S", "O", "Q", "oo", "nan", "zoo", "E"])
def test_names_sympy_also_uses_round_trip_through_json(tmp_path, capsys, name):
    text = sheet([f"L = {name}*y**2 + exp(1)*y"],
                 'task = "derivative"\nof = "L"\nwrt = "y"\n')
    answer = built(tmp_path, capsys, text)["exercises"][0]["parts"][0]["answer"]
    truth = 2 * symbol(name) * symbol("y") + sp.E
    assert parse_expr(answer) == truth, answer
    assert "exp(1)" in answer  # Euler's number never prints as E


def test_pi_is_the_constant_not_a_name(tmp_path, capsys):
    refused(tmp_path, capsys, sheet(["pi = 3*y", "E = pi*y"]), "pi = 3*y", "constant pi")


def test_euler_e_never_prints_as_the_loss_name():
    x, e_name = symbol("x"), symbol("E")
    printed = sympy_str(sp.E * x + e_name)
    assert "exp(1)" in printed and parse_expr(printed) == sp.E * x + e_name


@pytest.mark.parametrize("text, wrt", [
    ("abs(x - t)*y", "x"),  # |u|' = sign(u)
    ("sqrt(abs(x) + 1)", "x"),
    ("Heaviside(x)*x", "x"),  # H' = DiracDelta
    ("leaky_relu(leaky_relu(x, 0.1), 0.2)", "x"),
    ("max(x, y, 2*x)*exp(1)", "x"),
])
def test_json_answers_parse_back_to_the_same_expression(text, wrt):
    from derive.tasks.derivative import solve

    expr = parse_expr(text)
    var = next(s for s in expr.free_symbols if s.name == wrt)
    answer = solve(expr, var, None, ()).answer
    back = parse_expr(sympy_str(answer))
    assert back == answer or check_equal(back, answer).ok, sympy_str(answer)
    assert not answer.has(sp.Piecewise) or back != answer  # leaky's switch is written with H


def test_every_json_answer_of_the_bundled_sheet_parses_back():
    """solutions.json answers (SymPy syntax) read back with derive's own parser: plain answers
    and each component of a gradient tuple; the shared-parameter "rule" form (a chain of
    Derivative objects) states the rule and is not an expression of the sheet's grammar."""
    from derive.pipeline import solve_sheet
    from derive.render.view import Printer
    from derive.sheet.load import bundled_sheet_path, load_sheet

    checked = 0
    for result in solve_sheet(load_sheet(bundled_sheet_path())):
        answer = result.solution.answer if result.solution else None
        if answer is None or (isinstance(answer, sp.Basic) and answer.has(sp.Derivative)):
            continue
        printer = Printer.for_exercise(result.exercise)
        for part in (answer if isinstance(answer, tuple | sp.Tuple) else [answer]):
            back = _same_names(parse_expr(printer.str(part)), part)
            assert back == part or check_equal(back, part).method == "symbolic", \
                printer.str(part)  # the printed form orients terms: 2(y - t), not 2y - 2t
            checked += 1
    assert checked >= 6


def _same_names(back: sp.Expr, original: sp.Expr) -> sp.Expr:
    """``back`` with each symbol replaced by the symbol of that name in ``original``: the chain
    rule's N is a positive integer, which the JSON text cannot say (the name is the same)."""
    by_name = {s.name: s for s in original.atoms(sp.Symbol)}
    return back.xreplace({s: by_name[s.name] for s in back.atoms(sp.Symbol)
                          if s.name in by_name and by_name[s.name] != s})


@pytest.mark.parametrize("exprs,fragment", [
    (["a = b + 1", "b = x*2"], "before its definition"),
    (["E = 2*E*y"], "E -> E"),
    (["z = x - x", "E = log(z)"], "0 for every input"),
    (["E = sqrt(-1 - x**2)"], "not real-valued"),
])
def test_explain_computation_lists_get_the_sheet_checks(exprs, fragment, capsys):
    from derive.cli import main

    code = main(["explain", *exprs, "--wrt", "x" if "x" in " ".join(exprs) else "y"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("derive: error: "), err
    assert fragment in err, err
