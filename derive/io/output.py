"""Writing outputs safely: all or nothing, never a file derive did not write, never through a link.

Everything is rendered (and, with ``--pdf``, compiled) in memory first, so bad input never writes
anything. A sheet's folder ``OUT/<id>/`` is then replaced as a whole, in a transaction:

1. ``OUT/.<id>.derive-txn`` records ``staging`` (written atomically, like every state change);
2. the new tree is built in the staging folder ``OUT/.<id>.derive-new/``: the manifest first, the
   new files, and every file derive does not own, hard-linked (or copied) from the current folder
   so that it survives;
3. the transaction records ``ready`` (the commit point) with the digest of the new outputs;
4. the staging folder and ``OUT/<id>/`` are swapped atomically with Linux
   ``renameat2(RENAME_EXCHANGE)``; where that is unavailable, the current folder is renamed to
   ``OUT/.<id>.derive-old/`` and the staging folder into its place (two renames);
5. the previous tree is cleaned up: files its manifest lists *with the content it records* are
   deleted, anything else is kept (it is a hard link of a file now in ``OUT/<id>/``, or it is moved
   there, or it is kept in ``OUT/.<id>.derive-kept-<time>/``);
6. the transaction file is removed.

A multi-sheet build validates every folder, then stages every folder, then commits them: a problem
with any sheet's folder writes nothing. A build killed at any point leaves ``OUT/<id>/`` complete
and consistent: all old files before the swap, all new files after it (during the two-rename
fallback the folder is briefly absent). The next ``derive build`` finishes the transaction
(:func:`recover`). ``derive check`` never writes: it reports the leftovers as drift.

Ownership: the manifest ``OUT/<id>/.derive-manifest.json`` lists the files a build wrote with the
sha256 of each. A listed file is derive's only while its content still has that hash (and its name
has the shape of an output, :data:`OUTPUT_NAME`); anything else (a file that was edited, a file the
manifest names but derive never wrote) is the user's: it is never replaced or deleted. A manifest of
an older derive without per-file hashes is trusted only when its whole-build ``digest`` matches the
files on disk. A new output whose path holds a file that is not derive's is refused (unless the
contents are identical), never overwritten.

Links: derive never follows a symbolic link inside the tree it manages. ``OUT/<id>``, the staging,
old, transaction and kept paths must not be links (refused, exit 2); links inside ``OUT/<id>/`` are
the user's files: kept as links, never read or written through, and a link where derive has to
write is refused. ``OUT`` itself (the ``--out`` argument) may be a link.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from derive.errors import InputError

MANIFEST = ".derive-manifest.json"
GENERATOR = "derive"
MAX_MANIFEST_BYTES = 4_000_000
MAX_DIFF_BYTES = 16_000_000  # check shows at most this much of a drifted file
_HEX = re.compile(r"^[0-9a-f]{64}$")
# The shapes of the files derive writes. A manifest entry of any other shape (notes.txt, .ssh/x,
# ../x) is never taken as derive's, whatever the manifest says.
OUTPUT_NAME = re.compile(r"^(?:(?:figures|parts)/)?[A-Za-z0-9][A-Za-z0-9_.-]*"
                         r"\.(?:tex|md|json|svg|pdf|sty)$")
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


def _bytes(content: bytes | str) -> bytes:
    return content.encode("utf-8") if isinstance(content, str) else bytes(content)


def sha256(data: bytes | str) -> str:
    return hashlib.sha256(_bytes(data)).hexdigest()


# --- small atomic primitives -------------------------------------------------------------------
def atomic_write(path: Path, text: bytes | str) -> None:
    """Write to a temporary file beside ``path``, fsync it, rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(_bytes(text))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _write_new(path: Path, data: bytes | str) -> None:
    """Create a file in a private staging folder (never through a link), fsynced. The mode is the
    one ``open`` gives (0666 minus the umask) for every output, PDFs included."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, 0o666)
    with os.fdopen(fd, "wb") as fh:
        fh.write(_bytes(data))
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``).

    Returns False when the system or the file system cannot do it (the caller falls back);
    raises OSError for any other failure.
    """
    if os.environ.get("DERIVE_TEST_NO_EXCHANGE") == "1" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(a))


# --- reading without following links -----------------------------------------------------------
def _open_regular(root: Path, rel: str, *, root_may_be_link: bool = False) -> int | None:
    """A file descriptor for the regular file ``root/rel``, opened without following a link at
    ``root`` (unless ``root_may_be_link``: OUT itself) or at any component below it; None when it
    is absent, a link, or not a regular file."""
    parts = rel.split("/")
    nofollow = 0 if root_may_be_link else _O_NOFOLLOW
    try:
        dfd = os.open(root, os.O_RDONLY | _O_DIRECTORY | nofollow | _O_CLOEXEC)
    except OSError:
        return None
    try:
        for part in parts[:-1]:
            nfd = os.open(part, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC, dir_fd=dfd)
            os.close(dfd)
            dfd = nfd
        fd = os.open(parts[-1], os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC, dir_fd=dfd)
    except OSError:
        return None
    finally:
        os.close(dfd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def _read_bytes(root: Path, rel: str, limit: int | None = None, *,
                root_may_be_link: bool = False) -> bytes | None:
    """The bytes of the regular file ``root/rel`` (never through a link); at most ``limit + 1``
    bytes when a limit is given; None when it cannot be read as a regular file."""
    fd = _open_regular(root, rel, root_may_be_link=root_may_be_link)
    if fd is None:
        return None
    try:
        with os.fdopen(fd, "rb") as fh:
            return fh.read() if limit is None else fh.read(limit + 1)
    except OSError:
        return None


def _file_sha(root: Path, rel: str) -> str | None:
    fd = _open_regular(root, rel)
    if fd is None:
        return None
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 16), b""):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


def _lstat_under(root: Path, rel: Path | str) -> os.stat_result | None:
    """``lstat`` of ``root/rel`` when every folder between is a real folder, else None."""
    rel = Path(rel)
    try:
        for parent in reversed(rel.parents[:-1]):
            if not stat.S_ISDIR(os.lstat(root / parent).st_mode):
                return None
        return os.lstat(root / rel)
    except OSError:
        return None


def _scan(root: Path) -> dict[str, str]:
    """Every entry below the real folder ``root``: relative path -> ``file``, ``dir``, ``link``
    or ``other``. Links are listed, never followed."""
    found: dict[str, str] = {}

    def walk(path: Path, rel: str) -> None:
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError:
            return
        for e in entries:
            r = f"{rel}{e.name}"
            mode = e.stat(follow_symlinks=False).st_mode
            if stat.S_ISLNK(mode):
                found[r] = "link"
            elif stat.S_ISDIR(mode):
                found[r] = "dir"
                walk(Path(e.path), r + "/")
            elif stat.S_ISREG(mode):
                found[r] = "file"
            else:
                found[r] = "other"

    if _is_real_dir(root):
        walk(root, "")
    return found


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


# --- the manifest ------------------------------------------------------------------------------
@dataclass
class Manifest:
    """A parsed ``.derive-manifest.json`` (untrusted: every field is validated)."""

    state: str = "missing"  # "ok", "missing", "link", "invalid"
    raw: bytes | None = None
    files: list[str] = field(default_factory=list)
    hashes: dict[str, str] | None = None  # None: an older derive's manifest without hashes
    digest: str | None = None
    formats: tuple[str, ...] | None = None
    pdfs: dict[str, dict] = field(default_factory=dict)  # pdf -> {"source", "source_sha256"}


def _load_manifest(folder: Path) -> Manifest:
    st = _lstat_under(folder, MANIFEST) if _is_real_dir(folder) else None
    if st is None:
        return Manifest()
    if stat.S_ISLNK(st.st_mode):
        return Manifest(state="link")
    raw = _read_bytes(folder, MANIFEST, MAX_MANIFEST_BYTES)
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
    m.files = [f for f in files if isinstance(f, str) and _safe_rel(f)] if isinstance(
        files, list) else []
    if "sha256" in data:
        hashes = data["sha256"] if isinstance(data["sha256"], dict) else {}
        m.hashes = {k: v for k, v in hashes.items() if isinstance(k, str) and _safe_rel(k)
                    and k in m.files and isinstance(v, str) and _HEX.match(v)}
    m.digest = data.get("digest") if isinstance(data.get("digest"), str) else None
    formats = data.get("formats")
    if isinstance(formats, list) and formats and all(isinstance(f, str) for f in formats):
        from derive.render.view import FORMATS

        if all(f in FORMATS for f in formats):
            m.formats = tuple(formats)
    pdfs = data.get("pdf")
    if isinstance(pdfs, dict):
        for name, info in pdfs.items():
            if isinstance(name, str) and name in m.files and isinstance(info, dict) \
                    and isinstance(info.get("source"), str) and _safe_rel(info["source"]) \
                    and isinstance(info.get("source_sha256"), str) \
                    and _HEX.match(info["source_sha256"]):
                m.pdfs[name] = {"source": info["source"], "source_sha256": info["source_sha256"]}
    return m


def read_manifest(folder: Path) -> list[str]:
    """The files an earlier build says it wrote into ``folder`` (empty when there is none)."""
    return list(_load_manifest(Path(folder)).files)


def recorded_formats(folder: Path) -> tuple[str, ...] | None:
    """The formats the last build of ``folder`` wrote, as its manifest records them."""
    return _load_manifest(Path(folder)).formats


def _owned(folder: Path, m: Manifest | None = None) -> dict[str, str]:
    """The files in ``folder`` that are provably derive's: rel -> sha256.

    A file counts only when its manifest lists it and its content on disk has the recorded hash
    (a regular file, reached without links). An older manifest without hashes is trusted as a
    whole when its ``digest`` matches the files on disk, and not at all otherwise."""
    m = _load_manifest(folder) if m is None else m
    if m.state != "ok":
        return {}
    if m.hashes is not None:
        return {rel: h for rel, h in m.hashes.items()
                if OUTPUT_NAME.match(rel) and _file_sha(folder, rel) == h}
    if m.digest is None or not m.files or not all(OUTPUT_NAME.match(f) for f in m.files):
        return {}
    contents = {rel: _read_bytes(folder, rel) for rel in m.files}
    if any(v is None for v in contents.values()) or digest(contents) != m.digest:
        return {}
    return {rel: sha256(data) for rel, data in contents.items()}


def _safe_rel(rel: str) -> bool:
    p = Path(rel)
    return bool(rel) and len(rel) < 4096 and not p.is_absolute() and ".." not in p.parts \
        and rel != MANIFEST and "\\" not in rel and "\x00" not in rel and p.as_posix() == rel \
        and "." not in p.parts and not rel.endswith("/")


def digest(files: dict[str, bytes | str]) -> str:
    """A content digest of a build's outputs (it identifies the build in the manifest)."""
    h = hashlib.sha256()
    for rel in sorted(files):
        data = _bytes(files[rel])
        h.update(f"{rel}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def manifest_text(files: dict[str, bytes | str], formats=None,
                  pdfs: dict[str, str] | None = None) -> str:
    """The manifest of a build: the digest, the formats, every file with its sha256, and for each
    PDF the ``.tex`` it was compiled from with that file's sha256 (so staleness is checkable)."""
    body: dict = {"generator": GENERATOR, "digest": digest(files)}
    if formats is not None:
        from derive.render.view import FORMATS

        body["formats"] = [f for f in FORMATS if f in formats]
    body["files"] = sorted(files)
    body["sha256"] = {rel: sha256(files[rel]) for rel in sorted(files)}
    if pdfs:
        body["pdf"] = {pdf: {"source": src, "source_sha256": sha256(files[src])}
                       for pdf, src in sorted(pdfs.items())}
    return json.dumps(body, indent=2) + "\n"


# --- transaction bookkeeping -------------------------------------------------------------------
class _Paths:
    def __init__(self, folder: Path):
        self.folder = folder
        self.base = base = folder.parent
        self.new = base / f".{folder.name}.derive-new"
        self.old = base / f".{folder.name}.derive-old"
        self.txn = base / f".{folder.name}.derive-txn"
        self.kept_prefix = f".{folder.name}.derive-kept-"

    def kept(self) -> list[Path]:
        try:
            return sorted(self.base / n for n in os.listdir(self.base)
                          if n.startswith(self.kept_prefix))
        except OSError:
            return []


def _abs(folder: Path) -> Path:
    """``OUT/<id>`` as an absolute path. OUT may be a link; ``OUT/<id>`` is never followed."""
    return Path(os.path.abspath(folder))


def _refuse_links(p: _Paths, doing: str = "write") -> None:
    """InputError when a path derive manages is a symbolic link or of the wrong kind."""
    kinds = {p.folder: "folder", p.new: "folder", p.old: "folder", p.txn: "file"}
    for path, kind in kinds.items():
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            continue
        except OSError as e:
            raise InputError(f"cannot {doing} the outputs ({e.strerror or e}): {path}") from None
        if stat.S_ISLNK(mode):
            raise InputError(f"{path.name} is a symbolic link; derive never follows links in "
                             "the folders it manages (remove it; only --out may be a link): "
                             f"{path}")
        if (kind == "folder" and not stat.S_ISDIR(mode)) or (kind == "file"
                                                             and not stat.S_ISREG(mode)):
            raise InputError(f"{path.name} exists and is not a {kind}; move it away: {path}")
    for kept in p.kept():
        if os.path.islink(kept):
            raise InputError(f"{kept.name} is a symbolic link; derive never follows links in "
                             f"the folders it manages (remove it): {kept}")


def _read_txn(p: _Paths) -> dict | None:
    if not os.path.lexists(p.txn):
        return None
    raw = _read_bytes(p.base, p.txn.name, 65536, root_may_be_link=True)
    try:
        data = json.loads((raw or b"").decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return {"state": "staging"}  # a torn or unreadable record was never committed
    return data if isinstance(data, dict) else {"state": "staging"}


def _set_txn(p: _Paths, state: str, **extra) -> None:
    atomic_write(p.txn, json.dumps({"generator": GENERATOR, "state": state, **extra}) + "\n")


@contextmanager
def _locked(p: _Paths):
    """One writer per output folder at a time: an advisory ``flock`` on ``OUT`` itself (no lock
    file is left behind; a no-op where unsupported)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    fd = os.open(p.base, os.O_RDONLY | _O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _pause(point: str, count: int | None = None) -> None:
    """Test hook: stop here so a test can SIGKILL the build at a known point.

    ``DERIVE_TEST_PAUSE_AFTER_FILES=N`` pauses after the N-th file written to the staging folder;
    ``DERIVE_TEST_PAUSE_AT=ready|swapped`` after the commit point or after the swap.
    """
    want_files = os.environ.get("DERIVE_TEST_PAUSE_AFTER_FILES")
    want_at = os.environ.get("DERIVE_TEST_PAUSE_AT")
    if (point == "file" and want_files and count == int(want_files)) or point == want_at:
        where = f"after {count} files" if point == "file" else f"at {point}"
        print(f"derive: test pause {where}", file=sys.stderr, flush=True)
        time.sleep(3600)


# --- recovery ----------------------------------------------------------------------------------
def recover(folder: Path) -> None:
    """Finish or discard a transaction that an earlier, interrupted build left for ``folder``."""
    p = _Paths(_abs(Path(folder)))
    _refuse_links(p)
    if not any(os.path.lexists(x) for x in (p.txn, p.new, p.old)):
        return
    try:
        with _locked(p):
            _refuse_links(p)
            _recover(p)
    except OSError as e:
        raise InputError(f"cannot finish the interrupted build ({e.strerror or e}): "
                         f"{e.filename or p.folder}") from None


def _recover(p: _Paths) -> None:
    txn = _read_txn(p)
    if txn is None and not (p.new.exists() or p.old.exists()):
        return
    state, want = (txn or {}).get("state"), (txn or {}).get("digest")
    want = want if isinstance(want, str) else None
    if state == "ready" and want is not None and not _is_build(p.folder, want) \
            and _is_build(p.new, want, complete=True):
        # committed but not swapped, or the fallback stopped between its two renames
        if os.path.lexists(p.folder):
            _swap(p)
        else:
            os.rename(p.new, p.folder)
    elif p.new.exists() and not _is_build(p.folder, want):
        _retire(p.new, p.folder, place=False)  # never committed: discard the staging tree
    if p.old.exists() and not os.path.lexists(p.folder):
        os.rename(p.old, p.folder)  # never lose the previous tree
    for leftover in (p.new, p.old):
        if leftover.exists():
            _retire(leftover, p.folder)
    p.txn.unlink(missing_ok=True)
    _fsync_dir(p.base)


def _is_build(tree: Path, want: str | None, complete: bool = False) -> bool:
    """True when ``tree`` holds the build with digest ``want``; with ``complete``, also every
    file its manifest lists, with the recorded content (a staging tree is rolled forward only
    then: a planted or damaged one is discarded instead)."""
    if want is None or not _is_real_dir(tree):
        return False
    m = _load_manifest(tree)
    if m.state != "ok" or m.digest != want:
        return False
    if not complete:
        return True
    return m.hashes is not None and set(m.hashes) == set(m.files) \
        and len(_owned(tree, m)) == len(m.files)


# --- writing ---------------------------------------------------------------------------------
@dataclass
class _Job:
    p: _Paths
    files: dict[str, bytes]
    manifest: bytes
    owned: dict[str, str] = field(default_factory=dict)
    changed: list[Path] = field(default_factory=list)
    skip: bool = False
    staged: bool = False  # this process wrote the transaction record
    made_new: bool = False  # this process created the staging folder


def write_outputs(folder: Path, files: dict[str, bytes | str], *, formats=None,
                  pdfs: dict[str, str] | None = None) -> list[Path]:
    """Replace the outputs in ``folder`` by ``files`` (relative path -> text or bytes), as one
    transaction. ``formats`` and ``pdfs`` (PDF -> the ``.tex`` it was compiled from) are recorded
    in the manifest.

    Returns the paths whose contents changed. Files that are not provably derive's are never
    removed or overwritten: a collision with one raises :class:`InputError` before anything is
    written, as does a folder that cannot be written or a link where derive manages a path.
    """
    return write_many([(folder, files, formats, pdfs)])[0]


def _jobs(specs) -> list[_Job]:
    jobs = []
    for folder, files, formats, pdfs in specs:
        for rel in files:
            if not _safe_rel(rel):
                raise ValueError(f"refusing to write outside the output folder: {rel!r}")
        for pdf, src in (pdfs or {}).items():
            if pdf not in files or src not in files:
                raise ValueError(f"a PDF and its source must both be outputs: {pdf!r}, {src!r}")
            if not OUTPUT_NAME.match(rel):
                raise ValueError(f"not the name of a derive output: {rel!r} (see OUTPUT_NAME)")
        data = {rel: _bytes(v) for rel, v in files.items()}
        text = manifest_text(data, formats, pdfs).encode("utf-8")
        jobs.append(_Job(_Paths(_abs(Path(folder))), data, text))
    seen: dict[Path, Path] = {}
    for j in jobs:
        if j.p.folder in seen:
            raise InputError(f"two outputs go to one folder (each sheet needs its own id): "
                             f"{j.p.folder}")
        seen[j.p.folder] = j.p.folder
    return jobs


def validate_outputs(folder: Path, files: dict[str, bytes | str]) -> None:
    """Everything :func:`write_outputs` refuses that can be known without writing: links at the
    managed paths, files in the way, folders that cannot be written. Reads only."""
    job = _jobs([(folder, files, None, None)])[0]
    try:
        _refuse_links(job.p)
        if not any(os.path.lexists(x) for x in (job.p.txn, job.p.new, job.p.old)):
            _plan(job)  # leftovers are recovered first by the build, which may change the answer
    except OSError as e:
        raise _io_error(job.p.folder, e) from None


def write_many(specs) -> list[list[Path]]:
    """Write several sheets' folders, all or nothing: ``specs`` is a list of ``(folder, files,
    formats, pdfs)``. Every folder is validated, then every one staged, then committed; when any
    folder is refused or staging fails, nothing is written. Returns the changed paths per folder."""
    from derive.verify.equality import cpu_budget_paused

    jobs = _jobs(specs)
    current = jobs[0].p.folder if jobs else Path()
    try:
        with cpu_budget_paused():
            for j in jobs:  # read-only first: nothing is created for a refused build
                current = j.p.folder
                _refuse_links(j.p)
                if not any(os.path.lexists(x) for x in (j.p.txn, j.p.new, j.p.old)):
                    _plan(j)
            for j in jobs:
                current = j.p.folder
                j.p.base.mkdir(parents=True, exist_ok=True)
            with ExitStack() as stack:
                locked: set[tuple[int, int]] = set()
                for j in jobs:
                    st = os.stat(j.p.base)
                    if (st.st_dev, st.st_ino) not in locked:  # one flock per OUT (not re-entrant)
                        locked.add((st.st_dev, st.st_ino))
                        stack.enter_context(_locked(j.p))
                for j in jobs:
                    current = j.p.folder
                    _refuse_links(j.p)
                    _recover(j.p)
                for j in jobs:
                    current = j.p.folder
                    _refuse_links(j.p)
                    _plan(j)
                try:
                    for j in jobs:
                        if not j.skip:
                            current = j.p.folder
                            _stage(j)
                except BaseException:
                    for j in jobs:
                        _abort(j)
                    raise
                for k, j in enumerate(jobs):
                    if not j.skip:
                        current = j.p.folder
                        try:
                            _commit(j)
                        except BaseException:
                            for later in jobs[k + 1:]:
                                if later.staged:
                                    _abort(later)
                            raise
    except OSError as e:
        raise _io_error(current, e) from None
    except RecursionError:
        raise InputError(f"the output folder is nested too deeply: {current}") from None
    return [j.changed for j in jobs]


def _io_error(folder: Path, e: OSError) -> InputError:
    where = e.filename or folder
    return InputError(f"cannot write the outputs ({e.strerror or e}): {where}")


def _plan(j: _Job) -> None:
    """Validate one folder and work out what changes (reads only)."""
    folder = j.p.folder
    st = _lstat_under(folder, MANIFEST) if _is_real_dir(folder) else None
    if st is not None and not stat.S_ISREG(st.st_mode):
        what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a regular file"
        raise InputError(f"{MANIFEST} is {what}; derive never follows links in the folders "
                         f"it manages (move it away): {folder / MANIFEST}")
    j.owned = _owned(folder) if _is_real_dir(folder) else {}
    _refuse_foreign_collisions(folder, j.files, j.owned)
    j.changed = [folder / rel for rel in sorted(j.files)
                 if _read_bytes(folder, rel, len(j.files[rel])) != j.files[rel]]
    current = _read_bytes(folder, MANIFEST, len(j.manifest)) if _is_real_dir(folder) else None
    j.skip = not j.changed and current == j.manifest and set(j.owned) == set(j.files)
    if not j.skip:
        _refuse_unwritable(j)


def _refuse_foreign_collisions(folder: Path, files: dict[str, bytes], owned: dict[str, str]
                               ) -> None:
    """Raise InputError when a new output would replace something that is not derive's."""
    if not os.path.lexists(folder):
        return
    listed = set(read_manifest(folder))
    for rel in sorted(files):
        for parent in reversed(Path(rel).parents[:-1]):
            st = _lstat_under(folder, parent)
            if st is not None and not stat.S_ISDIR(st.st_mode):
                what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a folder"
                raise InputError(f"{parent.as_posix()} is in the way of {rel} (it is {what}); "
                                 f"move it away: {folder / parent}")
        st = _lstat_under(folder, rel)
        if st is None:
            continue
        target = folder / rel
        if stat.S_ISLNK(st.st_mode):
            raise InputError(f"{rel} is a symbolic link; derive writes only regular files, never "
                             f"through a link (move it away): {target}")
        if stat.S_ISREG(st.st_mode) and (rel in owned
                                         or _read_bytes(folder, rel, len(files[rel]))
                                         == files[rel]):
            continue  # derive's own file, or identical (adopting it loses nothing)
        if stat.S_ISREG(st.st_mode) and rel in listed:
            raise InputError(f"{rel} was changed since derive wrote it; move it away or delete "
                             f"it: {target}")
        raise InputError(f"{rel} exists and was not written by derive; move it away or delete "
                         f"it: {target}")


def _refuse_unwritable(j: _Job) -> None:
    """InputError when a folder the transaction must change is not writable (read-only)."""
    base = j.p.base
    while not os.path.lexists(base) and base != base.parent:
        base = base.parent  # OUT does not exist yet: it is created in its first existing parent
    folders = [base]
    if _is_real_dir(j.p.folder):
        folders.append(j.p.folder)
        for rel in j.owned:
            for parent in Path(rel).parents[:-1]:
                if _is_real_dir(j.p.folder / parent):
                    folders.append(j.p.folder / parent)
    for d in dict.fromkeys(folders):
        if not os.access(d, os.W_OK | os.X_OK):
            raise InputError(f"cannot write the outputs (a read-only folder): {d}")


def _stage(j: _Job) -> None:
    p = j.p
    if os.path.lexists(p.new):
        raise InputError(f"{p.new.name} is in the way (left by an earlier build); remove it: "
                         f"{p.new}")
    _set_txn(p, "staging")
    j.staged = True
    p.new.mkdir()
    j.made_new = True
    _build_tree(j)
    for d in sorted({p.new / r for rel in j.files for r in Path(rel).parents}, reverse=True):
        _fsync_dir(d)


def _abort(j: _Job) -> None:
    """Undo a staging this process did (the staging tree holds only its own files and links)."""
    if j.made_new and _is_real_dir(j.p.new):
        shutil.rmtree(j.p.new, ignore_errors=True)
    if j.staged:
        try:
            j.p.txn.unlink(missing_ok=True)
        except OSError:
            pass
    j.staged = j.made_new = False


def _commit(j: _Job) -> None:
    p = j.p
    _set_txn(p, "ready", digest=digest(j.files))  # the commit point
    _pause("ready")
    if _is_real_dir(p.folder):
        _swap(p)
    else:
        os.rename(p.new, p.folder)
    _fsync_dir(p.base)
    _pause("swapped")
    try:
        for leftover in (p.new, p.old):
            if leftover.exists():
                _retire(leftover, p.folder)
        p.txn.unlink(missing_ok=True)
        _fsync_dir(p.base)
    except OSError as e:  # the new outputs are in place; only the old tree awaits cleanup
        print(f"derive: warning: wrote {p.folder}, but could not clean up the previous tree "
              f"({e.filename or p.base}: {e.strerror or e}); the next `derive build` finishes it",
              file=sys.stderr)


def _build_tree(j: _Job) -> None:
    """Build the complete new tree in the staging folder: the manifest first (so an interrupted
    staging tree says which files are derive's), the files derive does not own, the outputs."""
    p = j.p
    _write_new(p.new / MANIFEST, j.manifest)
    modes: list[tuple[Path, int]] = []
    if _is_real_dir(p.folder):
        _carry_foreign(p.folder, p.new, set(j.owned) | set(j.files), modes)
    for count, rel in enumerate(sorted(j.files), 1):
        target = p.new / rel
        for parent in reversed(Path(rel).parents[:-1]):
            if not os.path.lexists(p.new / parent):
                (p.new / parent).mkdir()
        if os.path.lexists(target):  # an identical foreign file was carried: ours replaces it
            target.unlink()
        _write_new(target, j.files[rel])
        _pause("file", count)
    for path, mode in modes:  # the user's folder modes, once nothing more is written into them
        os.chmod(path, mode)
    if _is_real_dir(p.folder):
        os.chmod(p.new, stat.S_IMODE(os.lstat(p.folder).st_mode))


def _swap(p: _Paths) -> None:
    """Put the staging tree in place of the folder; the previous tree ends at .new or .old."""
    if exchange(p.new, p.folder):
        return
    if os.path.lexists(p.old):
        _retire(p.old, p.folder)
    os.rename(p.folder, p.old)
    os.rename(p.new, p.folder)


def _carry_foreign(src: Path, dst: Path, owned: set[str], modes: list[tuple[Path, int]],
                   rel: Path = Path()) -> None:
    """Recreate in ``dst`` every entry of ``src`` that derive does not own: regular files as hard
    links (or copies where links fail), symbolic links as links (never followed), folders that hold
    such entries (or nothing) as folders. Other special files are moved when the old tree is
    retired."""
    for entry in sorted(os.scandir(src / rel), key=lambda e: e.name):
        r = rel / entry.name
        if r.as_posix() in owned or r.as_posix() == MANIFEST:
            continue
        s, t = src / r, dst / r
        if entry.is_dir(follow_symlinks=False):
            if _has_foreign(s, r, owned):
                t.mkdir(exist_ok=True)
                _carry_foreign(src, dst, owned, modes, r)
                modes.append((t, stat.S_IMODE(entry.stat(follow_symlinks=False).st_mode)))
        elif entry.is_symlink():
            os.symlink(os.readlink(s), t)
        elif entry.is_file(follow_symlinks=False):
            try:
                os.link(s, t, follow_symlinks=False)
            except OSError:
                shutil.copy2(s, t, follow_symlinks=False)


def _has_foreign(path: Path, rel: Path, owned: set[str]) -> bool:
    """True when a folder holds something derive does not own, or nothing at all."""
    entries = list(os.scandir(path))
    if not entries:
        return True
    for e in entries:
        r = rel / e.name
        if e.is_dir(follow_symlinks=False):
            if _has_foreign(Path(e.path), r, owned):
                return True
        elif r.as_posix() not in owned:
            return True
    return False


def _retire(tree: Path, folder: Path, *, place: bool = True) -> None:
    """Dispose of a previous tree (or, with ``place=False``, of an uncommitted staging tree).

    Deleted: the files its manifest lists with the recorded content (derive's), the manifest, and
    entries that are the same file as the one at the same path in ``folder`` (a hard link or an
    identical copy); in a staging tree also a listed output that is not a hard link (one the
    interrupted build was writing: the manifest is written first). With ``place``, anything else is
    moved into ``folder`` when that path is free. Whatever is left is kept, renamed
    ``.<id>.derive-kept-<time>``; nothing is followed through a link and nothing the tree does not
    provably share with ``folder`` or its manifest is deleted.
    """
    if not _is_real_dir(tree):
        raise InputError(f"{tree.name} is not a folder; move it away: {tree}")
    m = _load_manifest(tree)
    owned = _owned(tree, m)
    listed = set(m.files)
    kept = False

    def walk(rel: Path) -> None:
        nonlocal kept
        for entry in sorted(os.scandir(tree / rel), key=lambda e: e.name):
            r = rel / entry.name
            s, t = tree / r, folder / r
            try:
                mode = os.lstat(s).st_mode
                if stat.S_ISDIR(mode):
                    walk(r)
                    try:
                        s.rmdir()  # empty now: its contents were deleted, dropped or moved
                    except OSError:
                        kept = True
                    continue
                st = os.lstat(s)
                if r.as_posix() in owned or (r.as_posix() == MANIFEST and stat.S_ISREG(mode)
                                             and (m.state == "ok" or not place)):
                    s.unlink()
                elif not place and r.as_posix() in listed and OUTPUT_NAME.match(r.as_posix()) \
                        and stat.S_ISREG(mode) and st.st_nlink == 1:
                    s.unlink()  # an output the interrupted staging was writing (torn)
                elif _same_file(s, folder, r):
                    s.unlink()
                elif place and _lstat_under(folder, r) is None and _free_parents(folder, r):
                    for parent in reversed(r.parents[:-1]):
                        if not os.path.lexists(folder / parent):
                            (folder / parent).mkdir()
                    os.rename(s, t)
                else:
                    kept = True
            except OSError:
                kept = True  # e.g. a read-only folder of the user's: keep rather than fail

    walk(Path())
    try:
        tree.rmdir()
    except OSError:
        kept = True
    if kept:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        keep = tree.parent / f".{folder.name}.derive-kept-{stamp}"
        n = 1
        while os.path.lexists(keep):
            n += 1
            keep = tree.parent / f".{folder.name}.derive-kept-{stamp}-{n}"
        os.rename(tree, keep)
        print(f"derive: warning: kept files that could not be placed in {folder} in {keep}",
              file=sys.stderr)


def _free_parents(folder: Path, rel: Path) -> bool:
    """True when every folder on the way to ``folder/rel`` is a real folder or absent."""
    if not _is_real_dir(folder):
        return False
    for parent in reversed(rel.parents[:-1]):
        try:
            if not stat.S_ISDIR(os.lstat(folder / parent).st_mode):
                return False
        except FileNotFoundError:
            return True
    return True


def _same_file(a: Path, folder: Path, rel: Path) -> bool:
    """True when ``a`` is the same file as ``folder/rel`` (reached without links): the same inode,
    equal link targets, or regular files with equal bytes."""
    try:
        sa = os.lstat(a)
    except OSError:
        return False
    sb = _lstat_under(folder, rel)
    if sb is None:
        return False
    if (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino):
        return True
    if stat.S_ISLNK(sa.st_mode) and stat.S_ISLNK(sb.st_mode):
        return os.readlink(a) == os.readlink(folder / rel)
    if stat.S_ISREG(sa.st_mode) and stat.S_ISREG(sb.st_mode) and sa.st_size == sb.st_size:
        return _file_sha(a.parent, a.name) == _file_sha(folder, rel.as_posix()) is not None
    return False


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
    records; None takes them from the manifest on disk); every file derive did not write; a PDF
    that is stale (compiled from another ``.tex``) or changed; an interrupted build's leftovers
    (keys ``../.<id>.derive-…``). Links at the managed paths raise InputError.
    """
    try:
        return _compare(folder, files, formats)
    except RecursionError:
        raise InputError(f"the output folder is nested too deeply: {folder}") from None


def _compare(folder: Path, files: dict[str, bytes | str], formats=None) -> dict[str, Drift]:
    folder = _abs(Path(folder))
    p = _Paths(folder)
    _refuse_links(p, "compare")
    drift: dict[str, Drift] = {}
    for leftover in (p.txn, p.new, p.old):
        if os.path.lexists(leftover):
            drift[f"../{leftover.name}"] = Drift(
                leftover, "left by an interrupted build (run `derive build` to finish it)")
    for kept in p.kept():
        drift[f"../{kept.name}"] = Drift(kept, "holds files an earlier build could not put back "
                                               "(look at them, then delete the folder)")
    data = {rel: _bytes(v) for rel, v in files.items()}
    m = _load_manifest(folder)
    tree = _scan(folder)
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
        elif m.hashes is None or _file_sha(folder, pdf) != m.hashes.get(pdf):
            drift[pdf] = Drift(folder / pdf, "changed since derive wrote it (run `derive build "
                                             "--pdf`)")
        else:
            current = _read_bytes(folder, pdf)
            if current is not None and sha256(current) == m.hashes.get(pdf):
                expected[pdf], pdfs[pdf] = current, src
    for rel in sorted(data):
        why = _kind_problem(tree, rel)
        if why is not None:
            if why:
                drift[rel] = Drift(folder / rel, why)
            continue
        links = _lstat_under(folder, rel)
        if links is not None and links.st_nlink > 1:  # maybe another file of the user's: not read
            drift[rel] = Drift(folder / rel, f"has {links.st_nlink} hard links (derive writes "
                                             "files with one; not read)")
            continue
        current = _read_bytes(folder, rel, len(data[rel]))
        if current != data[rel]:
            if current is not None and len(current) > len(data[rel]):  # the rest, for the diff
                current = _read_bytes(folder, rel, MAX_DIFF_BYTES)
            drift[rel] = Drift(folder / rel, "differs", _text(current or b""), _text(data[rel]))
    want = manifest_text(expected, formats if formats is not None else m.formats, pdfs)
    why = _kind_problem(tree, MANIFEST)
    if why is not None:
        if why:
            drift[MANIFEST] = Drift(folder / MANIFEST, why if why != "missing" else
                                    "missing (the folder was not written by `derive build`)")
    elif getattr(_lstat_under(folder, MANIFEST), "st_nlink", 1) > 1:
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
