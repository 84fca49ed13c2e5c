"""Everything that checks a result, and nothing else does.

Tasks record claims (:mod:`~derive.verify.claims`); the verify step
(:mod:`~derive.verify.solution`) checks each one: equalities (:mod:`~derive.verify.equality`, with
the fast evaluation of :mod:`~derive.verify.numeric` at the points of
:mod:`~derive.verify.points`), gradients at random points (:mod:`~derive.verify.gradients`), index
sums on instances (:mod:`~derive.verify.instances`), networks (:mod:`~derive.verify.network`) and
decision regions (:mod:`~derive.verify.regions`). Each check gives a
:class:`~derive.verify.verdict.Verdict`; :mod:`~derive.verify.summary` tallies a part's verdicts
once for the printers.
"""
