"""The solution model's rule annotations and lists (derive.steps), and how derive.render.prose
prints them and a solution's data; the note kinds of the calculus and backprop tasks."""

from __future__ import annotations

import sympy as sp

from derive.maths import calculus
from derive.maths.display import TermOrder
from derive.maths.functions import symbol
from derive.render.notation import sympy_str
from derive.render.prose import NOTES, json_data, markup, plain
from derive.steps import Math, Note, Rules, joined, prose, reasons, rules

x, y, t, E = (symbol(n) for n in "x y t E".split())


def test_rules_drops_empty_reasons_flattens_and_keeps_order():
    assert rules() == "" and rules("", "") == ""
    assert rules("chain rule") == "chain rule"
    note = Note("derivative:tanh")
    both = rules("chain rule", "", note)
    assert both == Rules(("chain rule", note))
    assert rules(both, "simplify") == Rules(("chain rule", note, "simplify"))
    assert rules("a", "a") == Rules(("a", "a"))  # repeats are the caller's to drop
    assert reasons(both) == ("chain rule", note)
    assert reasons("") == () and reasons(note) == (note,)


def test_rules_print_joined_by_semicolons():
    r = rules(Math(sp.Eq(y, sp.tanh(x), evaluate=False)), "simplify")
    assert markup(r) == r"$y = \tanh(x)$; simplify"
    assert plain(r) == "Eq(y, tanh(x)); simplify"


def test_joined_lists_read_as_text():
    a, b, c = Math(x), Math(y), Math(t)
    assert markup(joined([a])) == "$x$"
    assert markup(joined([a, b], ", ", " and ")) == "$x$ and $y$"
    assert markup(joined([a, b, c], ", ", " and ")) == "$x$, $y$ and $t$"
    assert markup(joined([a, b, c])) == "$x$, $y$, $t$"
    assert plain(prose("from ", joined([a, b], ", ", " and "), ":")) == "from x and y:"


def test_math_in_note_arguments_keeps_its_notation_and_order():
    order = TermOrder(["j", "d"])
    note = Note("index-range", (Math(sp.Integer(1)), Math(symbol("j"), {}, order),
                                Math(symbol("d"), {}, order)))
    assert markup(note) == r"$1 \le j \le d$"
    assert plain(note) == "1 <= j <= d"


def test_json_data_prints_sympy_values_with_the_writers_order_and_notes_as_markup():
    order = TermOrder(["y", "t"])
    data = {"rules": [Note("derivative:tanh"), "chain rule"], "deltas": {"z": y - t},
            "values": {"x": sp.Rational(-3, 2), "q": sp.N(sp.sqrt(2), 20)}, "loss": "E",
            "instances": [{"N": 3}], "checks": "symbolic"}
    out = json_data(data, lambda e: sympy_str(e, order))
    assert out == {"rules": [r"$\tanh' = 1 - \tanh^2$", "chain rule"], "deltas": {"z": "y - t"},
                   "values": {"x": "-3/2", "q": "1.4142135623730950488"}, "loss": "E",
                   "instances": [{"N": 3}], "checks": "symbolic"}


def test_every_note_the_step_engine_writes_has_both_forms():
    """Each rule note of the engine (one per function, the formula rules, the rewrites) prints as
    math in the sheet and as plain text without LaTeX."""
    notes = [n for _, n in calculus.ELEMENTARY.values()]
    notes += [calculus.LEAKY_FORMULA, calculus.POWER_RULE, calculus.EXPONENTIAL_RULE,
              calculus.LOGARITHMIC_RULE, *(rw.name for rw in calculus.REWRITES),
              Note("variable-rule", (x,)), Note("linear-in", (x,)), Note("substitute", (x, y)),
              Note("delta-definition"), Note("delta-convention", (E,)),
              Note("delta-convention-folded", (E,)), Note("gradient-symbol"),
              Note("softplus-name"), Note("number", (sp.Rational(1, 2),))]
    for note in notes:
        assert note.kind in NOTES, note
        assert "$" in markup(note), note
        text = plain(note)
        assert text and "$" not in text and "\\" not in text and "{" not in text, (note, text)


def test_plain_forms_read_like_sympy():
    assert plain(Note("derivative:tanh")) == "tanh' = 1 - tanh^2"
    assert plain(Note("derivative:sigmoid")) == "sigmoid' = sigmoid*(1 - sigmoid)"
    assert plain(Note("rewrite:tanh")) == "tanh = sinh/cosh"
    assert plain(Note("delta-definition")) == "definition of δ"
    assert plain(Note("delta-convention", (E,))).startswith("We write δ_n = ∂E/∂n for every")
    assert markup(Note("delta-convention", (E,))).startswith(
        r"We write $\delta_n = \partial E/\partial n$ for every node $n$;")
