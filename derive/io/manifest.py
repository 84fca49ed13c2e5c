"""The manifest ``OUT/<id>/.derive-manifest.json``: its format, the hashes, parsing it.

Ownership: the manifest lists the files a build wrote with the sha256 of each. A listed file is
derive's only while its content still has that hash (and its name has the shape of an output,
:data:`OUTPUT_NAME`); anything else (a file that was edited, a file the manifest names but derive
never wrote) is the user's. A manifest of an older derive without per-file hashes is trusted only
when its whole-build ``digest`` matches the files on disk. A manifest on disk is untrusted input:
every field is validated.
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from derive.io.safefs import as_bytes, file_sha, is_real_dir, lstat_under, read_bytes

MANIFEST = ".derive-manifest.json"
GENERATOR = "derive"
MAX_MANIFEST_BYTES = 4_000_000
_HEX = re.compile(r"^[0-9a-f]{64}$")
# The shapes of the files derive writes. A manifest entry of any other shape (notes.txt, .ssh/x,
# ../x) is never taken as derive's, whatever the manifest says. Plain text is the text format's
# two names only: a user's own notes.txt is common, and is never derive's.
OUTPUT_NAME = re.compile(r"^(?:(?:(?:figures|parts)/)?[A-Za-z0-9][A-Za-z0-9_.-]*"
                         r"\.(?:tex|md|json|svg|pdf|sty)|(?:exercises|solutions)\.txt"
                         r"|questions\.xml)$")


def sha256(data: bytes | str) -> str:
    return hashlib.sha256(as_bytes(data)).hexdigest()


# --- the manifest ------------------------------------------------------------------------------
@dataclass
class Manifest:
    """A parsed ``.derive-manifest.json`` (untrusted: every field is validated)."""

    state: str = "missing"  # "ok", "missing", "link", "invalid"
    raw: bytes | None = None
    files: list[str] = field(default_factory=list)
    hashes: dict[str, str] | None = None  # None: an older derive's manifest without hashes
    digest: str | None = None
    formats: tuple[str, ...] | None = None  # as recorded (checked against a registry by callers)
    pdfs: dict[str, dict] = field(default_factory=dict)  # pdf -> {"source", "source_sha256"}


def load_manifest(folder: Path) -> Manifest:
    st = lstat_under(folder, MANIFEST) if is_real_dir(folder) else None
    if st is None:
        return Manifest()
    if stat.S_ISLNK(st.st_mode):
        return Manifest(state="link")
    raw = read_bytes(folder, MANIFEST, MAX_MANIFEST_BYTES)
    if raw is None or len(raw) > MAX_MANIFEST_BYTES:
        return Manifest(state="invalid", raw=raw)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return Manifest(state="invalid", raw=raw)
    if not isinstance(data, dict):
        return Manifest(state="invalid", raw=raw)
    m = Manifest(state="ok", raw=raw)
    files = data.get("files", [])
    m.files = [f for f in files if isinstance(f, str) and safe_rel(f)] if isinstance(
        files, list) else []
    if "sha256" in data:
        hashes = data["sha256"] if isinstance(data["sha256"], dict) else {}
        m.hashes = {k: v for k, v in hashes.items() if isinstance(k, str) and safe_rel(k)
                    and k in m.files and isinstance(v, str) and _HEX.match(v)}
    m.digest = data.get("digest") if isinstance(data.get("digest"), str) else None
    formats = data.get("formats")
    if isinstance(formats, list) and formats and all(isinstance(f, str) for f in formats):
        m.formats = tuple(formats)
    pdfs = data.get("pdf")
    if isinstance(pdfs, dict):
        for name, info in pdfs.items():
            if isinstance(name, str) and name in m.files and isinstance(info, dict) \
                    and isinstance(info.get("source"), str) and safe_rel(info["source"]) \
                    and isinstance(info.get("source_sha256"), str) \
                    and _HEX.match(info["source_sha256"]):
                m.pdfs[name] = {"source": info["source"], "source_sha256": info["source_sha256"]}
    return m


def read_manifest(folder: Path) -> list[str]:
    """The files an earlier build says it wrote into ``folder`` (empty when there is none)."""
    return list(load_manifest(Path(folder)).files)


def recorded_formats(folder: Path, known) -> tuple[str, ...] | None:
    """The formats the last build of ``folder`` wrote, as its manifest records them; None when
    it records none or one that is not in ``known`` (the format registry)."""
    formats = load_manifest(Path(folder)).formats
    return formats if formats is not None and all(f in known for f in formats) else None


def owned_files(folder: Path, m: Manifest | None = None) -> dict[str, str]:
    """The files in ``folder`` that are provably derive's: rel -> sha256.

    A file counts only when its manifest lists it and its content on disk has the recorded hash
    (a regular file, reached without links). An older manifest without hashes is trusted as a
    whole when its ``digest`` matches the files on disk, and not at all otherwise."""
    m = load_manifest(folder) if m is None else m
    if m.state != "ok":
        return {}
    if m.hashes is not None:
        return {rel: h for rel, h in m.hashes.items()
                if OUTPUT_NAME.match(rel) and file_sha(folder, rel) == h}
    if m.digest is None or not m.files or not all(OUTPUT_NAME.match(f) for f in m.files):
        return {}
    contents = {rel: read_bytes(folder, rel) for rel in m.files}
    if any(v is None for v in contents.values()) or digest(contents) != m.digest:
        return {}
    return {rel: sha256(data) for rel, data in contents.items()}


def safe_rel(rel: str) -> bool:
    p = Path(rel)
    return bool(rel) and len(rel) < 4096 and not p.is_absolute() and ".." not in p.parts \
        and rel != MANIFEST and "\\" not in rel and "\x00" not in rel and p.as_posix() == rel \
        and "." not in p.parts and not rel.endswith("/")


def digest(files: dict[str, bytes | str]) -> str:
    """A content digest of a build's outputs (it identifies the build in the manifest)."""
    h = hashlib.sha256()
    for rel in sorted(files):
        data = as_bytes(files[rel])
        h.update(f"{rel}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def manifest_text(files: dict[str, bytes | str], formats=None,
                  pdfs: dict[str, str] | None = None) -> str:
    """The manifest of a build: the digest, the formats, every file with its sha256, and for each
    PDF the ``.tex`` it was compiled from with that file's sha256 (so staleness is checkable).

    ``formats`` are recorded as given: the caller passes them in its registry's order, each once."""
    body: dict = {"generator": GENERATOR, "digest": digest(files)}
    if formats is not None:
        body["formats"] = list(formats)
    body["files"] = sorted(files)
    body["sha256"] = {rel: sha256(files[rel]) for rel in sorted(files)}
    if pdfs:
        body["pdf"] = {pdf: {"source": src, "source_sha256": sha256(files[src])}
                       for pdf, src in sorted(pdfs.items())}
    return json.dumps(body, indent=2) + "\n"
