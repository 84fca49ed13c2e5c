"""``derive check``'s comparison: what differs between a folder and what a build would write.

It only reads: nothing is written, moved or deleted, and no link is followed or read. An
interrupted build's leftovers are reported as drift (the next ``derive build`` finishes them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from derive.errors import InputError
from derive.io.manifest import MANIFEST, load_manifest, manifest_text, sha256
from derive.io.paths import Paths, refuse_links
from derive.io.safefs import as_bytes, file_sha, lstat_under, read_bytes, scan

MAX_DIFF_BYTES = 16_000_000  # check shows at most this much of a drifted file


# --- checking ----------------------------------------------------------------------------------
@dataclass
class Drift:
    """One difference between a folder and what a build would write there."""

    path: Path  # where, for the report
    reason: str  # "missing", "differs" or a sentence
    current: str | None = None  # for "differs": the text on disk
    expected: str | None = None  # for "differs": the text a build writes


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def compare_outputs(folder: Path, files: dict[str, bytes | str], formats=None
                    ) -> dict[str, Drift]:
    """Everything in ``folder`` that differs from what a build would write there: rel -> Drift.

    Reads only: nothing is written, moved or deleted, and no link is followed or read. Reported:
    each output that is missing, a link, not a regular file, or has other content; the manifest
    when it is missing or differs from the one the build would write (``formats``: the formats it
    records, in the order given; None takes them as the manifest on disk records them); every file
    derive did not write; a PDF
    that is stale (compiled from another ``.tex``) or changed; an interrupted build's leftovers
    (keys ``../.<id>.derive-…``). Links at the managed paths raise InputError.
    """
    try:
        return _compare(folder, files, formats)
    except RecursionError:
        raise InputError(f"the output folder is nested too deeply: {folder}") from None


def _compare(folder: Path, files: dict[str, bytes | str], formats=None) -> dict[str, Drift]:
    p = Paths(folder)
    folder = p.folder
    refuse_links(p, "compare")
    drift: dict[str, Drift] = {}
    for leftover in (p.txn, p.new, p.old):
        if os.path.lexists(leftover):
            drift[f"../{leftover.name}"] = Drift(
                leftover, "left by an interrupted build (run `derive build` to finish it)")
    for kept in p.kept():
        drift[f"../{kept.name}"] = Drift(kept, "holds files an earlier build could not put back "
                                               "(look at them, then delete the folder)")
    data = {rel: as_bytes(v) for rel, v in files.items()}
    m = load_manifest(folder)
    tree = scan(folder)
    expected, pdfs = dict(data), {}
    for pdf, info in sorted(m.pdfs.items()):
        src = info["source"]
        if src not in data:
            drift[pdf] = Drift(folder / pdf, f"was compiled from {src}, which the build does not "
                                             "write (run `derive build`)")
        elif info["source_sha256"] != sha256(data[src]):
            drift[pdf] = Drift(folder / pdf, f"is stale: compiled from another {src} than the one "
                                             "derived now (run `derive build --pdf`)")
        elif _kind_problem(tree, pdf) is not None:
            drift[pdf] = Drift(folder / pdf, _kind_problem(tree, pdf) or "missing")
        elif m.hashes is None or file_sha(folder, pdf) != m.hashes.get(pdf):
            drift[pdf] = Drift(folder / pdf, "changed since derive wrote it (run `derive build "
                                             "--pdf`)")
        else:
            current = read_bytes(folder, pdf)
            if current is not None and sha256(current) == m.hashes.get(pdf):
                expected[pdf], pdfs[pdf] = current, src
    for rel in sorted(data):
        why = _kind_problem(tree, rel)
        if why is not None:
            if why:
                drift[rel] = Drift(folder / rel, why)
            continue
        links = lstat_under(folder, rel)
        if links is not None and links.st_nlink > 1:  # maybe another file of the user's: not read
            drift[rel] = Drift(folder / rel, f"has {links.st_nlink} hard links (derive writes "
                                             "files with one; not read)")
            continue
        current = read_bytes(folder, rel, len(data[rel]))
        if current != data[rel]:
            if current is not None and len(current) > len(data[rel]):  # the rest, for the diff
                current = read_bytes(folder, rel, MAX_DIFF_BYTES)
            drift[rel] = Drift(folder / rel, "differs", _text(current or b""), _text(data[rel]))
    want = manifest_text(expected, formats if formats is not None else m.formats, pdfs)
    why = _kind_problem(tree, MANIFEST)
    if why is not None:
        if why:
            drift[MANIFEST] = Drift(folder / MANIFEST, why if why != "missing" else
                                    "missing (the folder was not written by `derive build`)")
    elif getattr(lstat_under(folder, MANIFEST), "st_nlink", 1) > 1:
        drift[MANIFEST] = Drift(folder / MANIFEST, "has hard links (derive writes files with "
                                                   "one; not read)")
    elif m.raw != want.encode("utf-8"):
        drift[MANIFEST] = Drift(folder / MANIFEST, "differs", _text(m.raw or b""), want)
    needed = {d.as_posix() for rel in [*expected, *data] for d in Path(rel).parents[:-1]}
    for rel, kind in tree.items():
        if rel in expected or rel == MANIFEST or rel in drift or (rel in needed and kind == "dir"):
            continue
        if any(a.as_posix() in drift for a in Path(rel).parents[:-1]):
            continue
        if rel in needed:
            what = "a symbolic link" if kind == "link" else "a file"
            drift[rel] = Drift(folder / rel, f"is {what} where derive writes a folder (not "
                                             "followed)")
            continue
        if kind == "dir":
            if not any(r.startswith(rel + "/") for r in tree):
                drift[rel] = Drift(folder / rel, "an empty folder derive did not write")
            continue
        what = {"link": "a symbolic link", "other": "a special file"}.get(kind, "a file")
        drift[rel] = Drift(folder / rel, f"{what} derive did not write (not part of the build)")
    return drift


def _kind_problem(tree: dict[str, str], rel: str) -> str | None:
    """None when ``rel`` is a regular file reached through real folders; "" when a folder on its
    way is already reported; else the reason it cannot be compared."""
    for parent in reversed(Path(rel).parents[:-1]):
        kind = tree.get(parent.as_posix())
        if kind is None:
            return "missing"
        if kind != "dir":
            return ""
    kind = tree.get(rel)
    if kind == "file":
        return None
    if kind is None:
        return "missing"
    if kind == "link":
        return "is a symbolic link (derive writes regular files; the link is not followed)"
    if kind == "dir":
        return "is a folder where derive writes a file"
    return "is not a regular file"
