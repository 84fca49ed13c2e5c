"""Drawing the variant parameters of a sheet, deterministically from a seed.

Each (sheet, exercise, variant) has its own generator, ``random.Random`` seeded with the first 16
bytes of the SHA-256 of ``derive-variants|<seed>|<sheet id>|<exercise>|<variant>`` (never
Python's salted ``hash``), so the same seed draws the same values on every machine and in every
run. A draw is rejected and drawn again when it is degenerate (:class:`~derive.variants.screen.
Screen`) or repeats the values an earlier variant of the exercise drew; each rejection's reason is
counted and kept with the variant (:class:`~derive.sheet.model.Drawn`). An exercise whose draws
are all rejected :data:`MAX_DRAWS` times in a row is an error at its ``[exercise.variants]``
line.

:func:`variant_sheets` gives the sheets of ``derive build --variants N``: the sheet with id
``<id>-v01``, ... whose exercises with variants carry their values and state them after their
statement.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import dataclass, replace

import sympy as sp

from derive.errors import InputError
from derive.render.markup import check_markup
from derive.render.view import Printer
from derive.sheet.model import Drawn, Exercise, Sheet, VariantParam
from derive.sheet.variants import decimal_text, draws_weights
from derive.steps import Solution
from derive.variants.screen import Screen, numeric_model

MAX_DRAWS = 1000  # draws per variant before the constraints count as unsatisfiable
MAX_VARIANTS = 999
DUPLICATE = "duplicate of an earlier variant"


def generator(seed: int, sheet_id: str, exercise: int, variant: int) -> random.Random:
    """The generator of one variant of one exercise (see the module's documentation)."""
    key = f"derive-variants|{seed}|{sheet_id}|{exercise}|{variant}".encode()
    return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:16], "big"))


def draw_value(p: VariantParam, rng: random.Random) -> sp.Rational:
    """One value of ``p``, exact."""
    if p.kind == "choices":
        return p.choices[rng.randrange(len(p.choices))]
    scale = 10 ** p.places
    k = rng.randint(int(p.low * scale), int(p.high * scale))
    return sp.Rational(k, scale)


@dataclass
class Outcome:
    """One accepted draw: the values, the rejections before it, and its screened numbers."""

    drawn: Drawn
    gradients: dict[tuple[str, str], object]
    rejected_draws: int  # how many draws were rejected before it (each with its reasons)


def draw_exercise(sheet: Sheet, ex: Exercise, count: int, seed: int,
                  screen: Screen | None = None, tally: Counter | None = None) -> list[Outcome]:
    """``count`` accepted draws of ``ex`` (variants 1..count); ``tally`` (if given) counts every
    rejection reason over all of them."""
    assert ex.variants is not None
    screen = screen or Screen(ex)
    seen: set[tuple] = set()
    out = []
    for k in range(1, count + 1):
        rng = generator(seed, sheet.id, ex.number, k)
        rejected: Counter = Counter()
        for tries in range(MAX_DRAWS):
            values = {p.name: draw_value(p, rng) for p in ex.variants.params}
            key = tuple(values.values())
            reasons, _, grads = screen.evaluate(values)
            if key in seen:
                reasons.append(DUPLICATE)
            if not reasons:
                seen.add(key)
                out.append(Outcome(Drawn(values, dict(sorted(rejected.items()))), grads, tries))
                break
            rejected.update(reasons)
            if tally is not None:
                tally.update(reasons)
        else:
            common = ", ".join(f"{r} ({n})" for r, n in rejected.most_common(3))
            raise InputError(f"variants: exercise {ex.number}: no draw for variant {k} met the "
                             f"constraints in {MAX_DRAWS} draws (rejected: {common})",
                             file=sheet.file, line=ex.variants.line)
    return out


def variant_id(sheet: Sheet, k: int, count: int) -> str:
    """``sheet02-v01``: the id of variant ``k`` of ``count`` (two digits at least)."""
    return f"{sheet.id}-v{k:0{max(2, len(str(count)))}d}"


def variant_sheets(sheet: Sheet, count: int, seed: int) -> list[Sheet]:
    """The ``count`` variants of ``sheet`` drawn with ``seed``; a sheet without
    ``[exercise.variants]`` is an error."""
    if not 1 <= count <= MAX_VARIANTS:
        raise InputError(f"--variants must be between 1 and {MAX_VARIANTS}")
    varied = [ex for ex in sheet.exercises if ex.variants is not None]
    if not varied:
        raise InputError("declares no variant parameters (add an [exercise.variants] table)",
                         file=sheet.file)
    draws = {ex.number: draw_exercise(sheet, ex, count, seed) for ex in varied}
    sheets = []
    for k in range(count):
        exercises = tuple(with_values(ex, draws[ex.number][k].drawn)
                          if ex.number in draws else ex for ex in sheet.exercises)
        vid = variant_id(sheet, k + 1, count)
        title = f"{sheet.title} (variant {vid[len(sheet.id) + 1:]})"
        sheets.append(replace(sheet, id=vid, title=title, exercises=exercises,
                              variant_of=sheet.id))
    return sheets


def with_values(ex: Exercise, drawn: Drawn) -> Exercise:
    """``ex`` with ``drawn``: its statement ends with the values, each in the exercise's
    notation (``$w_{13} = 0.4$``); an exercise that draws its network's weights
    (:func:`~derive.sheet.variants.draws_weights`) has them in its model too."""
    text = ex.text.rstrip("\n") + "\n\n" + values_sentence(ex, drawn) + "\n"
    check_markup(text)
    model = numeric_model(ex.model, drawn.values) if draws_weights(ex.parts) else ex.model
    return replace(ex, text=text, drawn=drawn, model=model)


def with_drawn(solution: Solution, ex: Exercise) -> Solution:
    """A part's solution in a variant whose model holds the drawn values: its data records
    them and the rejected draws (``variant``), as a backprop part's worked numbers do."""
    assert ex.drawn is not None
    return replace(solution, data={**solution.data, "variant": {
        "values": {n: decimal_text(v) for n, v in ex.drawn.values.items()},
        "rejected": dict(ex.drawn.rejected)}})


def values_sentence(ex: Exercise, drawn: Drawn) -> str:
    """``Use the values $x_1 = 1$, $w_{13} = -0.4$ and $t = 0.5$.`` (sheet markup)."""
    assert ex.variants is not None
    p = Printer.for_exercise(ex)
    places = {q.name: q.places for q in ex.variants.params}
    syms = {s.name: s for a in ex.model for s in a.expr.free_symbols}
    items = [f"${p.tex(syms[n])} = {decimal_text(v, places[n])}$" for n, v in drawn.values.items()]
    listed = items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
    return f"Use the values {listed}."
