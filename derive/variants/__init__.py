"""Per-student variants of a sheet (``derive build --variants N --seed S``, ``derive stress``).

* :mod:`derive.variants.screen`: an exercise's model evaluated numerically at a draw, and why a
  draw is degenerate;
* :mod:`derive.variants.draw`: drawing the declared parameters deterministically from a seed,
  rejecting degenerate draws, and the variant sheets (each the sheet with its values);
* :mod:`derive.variants.numbers`: the worked numbers a variant's backprop part adds (forward and
  backward tables) and the claim that has them verified;
* :mod:`derive.variants.key`: the answer key of a set of variants, and ``derive stress``.

A variant is an ordinary :class:`~derive.sheet.model.Sheet` (id ``<sheet>-v01``, ...) whose
exercises carry their drawn values; it is solved, verified and rendered by the same pipeline as
any sheet.
"""
