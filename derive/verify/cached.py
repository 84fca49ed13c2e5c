"""Verdicts reused from the cache (:mod:`derive.io.cache`), keyed by exactly what was checked.

:func:`verdicts` stands for one check of the verify step (a derivation line's claim, or one of a
solution's claims): with no active store it runs the check; with one, it looks the verdicts up
under the key :func:`key` computes and runs the check only on a miss, storing what it found. A
check that fails raises as it always does, and nothing is stored for it.

The key is a digest of the claim itself, as data: every SymPy object by its type and SymPy's own
structural content (``_hashable_content``: the names and assumptions of symbols, the exact value
of numbers, the arguments of everything else), every dataclass by its type and all its fields,
containers by their items in order (sets sorted), plus :func:`derive.io.cache.code_digest` (the
versions of derive, its libraries and Python, and a hash of every source file of the derive
package), so a change to any code invalidates every entry. The verdict of a check is a function
of these, so a hit is the verdict the check would give. A claim holding anything else (a
closure, an object of an unknown kind) has no key and is always checked.

What is stored is only the verdicts (JSON: flags, strings, and the facts' numbers, strings and
tuples), each ``ok``; a stored value of any other shape is a miss.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from derive.io import cache as store
from derive.verify.verdict import Verdict

SPACE = "verdicts"


def key(space: str, subject: Any) -> str | None:
    """The cache key of checking ``subject`` (a line's claim: ``space`` ``"line"``; a solution's
    claim: ``"claim"``), or None when it holds something that has no digest."""
    h = hashlib.sha256(store.code_digest())
    h.update(space.encode() + b"\0")
    try:
        h.update(store.digest(subject))
    except store.Unkeyed:
        return None
    return h.hexdigest()


# --- verdicts as JSON ---------------------------------------------------------------------------
def _fact(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float) and value == value and abs(value) != float("inf"):
        return value
    if type(value) in (tuple, list):
        return {type(value).__name__: [_fact(v) for v in value]}
    raise TypeError(f"a fact of type {type(value).__qualname__}")


def _unfact(data: Any) -> Any:
    if data is None or isinstance(data, (bool, int, str, float)):
        return data
    if isinstance(data, dict) and len(data) == 1:
        (kind, items), = data.items()
        if kind in ("tuple", "list") and isinstance(items, list):
            seq = [_unfact(v) for v in items]
            return tuple(seq) if kind == "tuple" else seq
    raise ValueError("not a fact")


def encode(verdicts: list[Verdict]) -> list | None:
    """``verdicts`` as JSON data; None when one is not ``ok`` (a failed check is never stored)
    or holds a fact that is not a number, a string, a flag or a tuple or list of them."""
    if not all(v.ok for v in verdicts):
        return None
    try:
        return [[v.method, v.detail, v.kind, v.what,
                 [[str(k), _fact(x)] for k, x in v.facts.items()]] for v in verdicts]
    except TypeError:
        return None


def decode(data: Any) -> list[Verdict] | None:
    """The verdicts :func:`encode` wrote; None for anything else."""
    if not isinstance(data, list):
        return None
    out = []
    try:
        for item in data:
            method, detail, kind, what, facts = item
            if not all(isinstance(s, str) for s in (method, detail, kind, what)):
                return None
            pairs = {}
            for name, value in facts:
                if not isinstance(name, str):
                    return None
                pairs[name] = _unfact(value)
            out.append(Verdict(True, method, detail, kind=kind, what=what, facts=pairs))
    except (TypeError, ValueError, RecursionError):
        return None
    return out


def verdicts(space: str, subject: Any, check: Callable[[], list[Verdict]],
             shape: Callable[[list[Verdict]], bool] = lambda vs: True) -> list[Verdict]:
    """The verdicts of ``check()`` on ``subject``: from the active store when it holds them (and
    they have the ``shape`` the check gives), else by running the check (and storing them)."""
    st = store.active()
    k = key(space, subject) if st is not None else None
    if st is None or k is None:
        return check()
    found = decode(st.get(SPACE, k))
    if found is not None and shape(found):
        return found
    out = check()
    data = encode(out)
    if data is not None:
        st.put(SPACE, k, data)
    return out
