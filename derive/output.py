"""Writing outputs safely.

Everything is rendered in memory first, so bad input never writes anything. Each file is then
written to a temporary file beside its target and renamed over it (atomic on POSIX). The build
owns only the files listed in its manifest (``.derive-manifest.json`` in the sheet's folder): it
deletes a file only if an earlier build wrote it and the new build no longer produces it, and it
never touches other files.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

MANIFEST = ".derive-manifest.json"


def read_manifest(folder: Path) -> list[str]:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        return [f for f in data.get("files", []) if isinstance(f, str) and _safe_rel(f)]
    except (OSError, ValueError, AttributeError):
        return []


def _safe_rel(rel: str) -> bool:
    p = Path(rel)
    return not p.is_absolute() and ".." not in p.parts


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_outputs(folder: Path, files: dict[str, str]) -> list[Path]:
    """Write ``files`` (relative path -> text) under ``folder``; returns the paths written."""
    old = set(read_manifest(folder))
    written = []
    for rel in sorted(files):
        if not _safe_rel(rel):
            raise ValueError(f"refusing to write outside the output folder: {rel}")
        target = folder / rel
        if target.exists() and target.read_text(encoding="utf-8", errors="replace") == files[rel]:
            continue
        atomic_write(target, files[rel])
        written.append(target)
    manifest = {"generator": "derive", "files": sorted(files)}
    atomic_write(folder / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    for rel in sorted(old - set(files)):
        stale = folder / rel
        if stale.is_file():
            stale.unlink()
    return written


def compare_outputs(folder: Path, files: dict[str, str]) -> dict[str, tuple[str | None, str]]:
    """Files whose content on disk differs: rel -> (on disk or None, expected)."""
    drift = {}
    for rel, text in sorted(files.items()):
        path = folder / rel
        try:
            current = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            current = None
        if current != text:
            drift[rel] = (current, text)
    return drift
