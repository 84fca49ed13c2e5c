"""Writing outputs safely: all or nothing, and never a file derive did not write.

Everything is rendered in memory first, so bad input never writes anything. A sheet's folder
``OUT/<id>/`` is then replaced as a whole, in a transaction:

1. ``OUT/.<id>.derive-txn`` records ``staging`` (written atomically, like every state change);
2. the new tree is built in the staging folder ``OUT/.<id>.derive-new/``: the new files, the
   manifest, and every file derive does not own, hard-linked (or copied) from the current folder
   so that it survives;
3. the transaction records ``ready`` (the commit point) with the digest of the new outputs;
4. the staging folder and ``OUT/<id>/`` are swapped atomically with Linux
   ``renameat2(RENAME_EXCHANGE)``; where that is unavailable, the current folder is renamed to
   ``OUT/.<id>.derive-old/`` and the staging folder into its place (two renames);
5. the previous tree is cleaned up: files its manifest lists are deleted, anything else is kept
   (it is a hard link of a file now in ``OUT/<id>/``, or it is moved there);
6. the transaction file is removed.

A build killed at any point leaves ``OUT/<id>/`` complete and consistent: all old files before the
swap, all new files after it (during the two-rename fallback the folder is briefly absent). The next
``derive build`` or ``derive check`` finishes the transaction (:func:`recover`): it discards a
staging folder that was never committed, completes a committed swap, and cleans up.

Ownership: the manifest ``OUT/<id>/.derive-manifest.json`` lists the files a build wrote. Only those
are ever replaced or removed. A new output whose path holds a file derive did not write is refused
(unless the contents are identical), never overwritten.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import shutil
import stat
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from derive.errors import InputError

MANIFEST = ".derive-manifest.json"
GENERATOR = "derive"


# --- small atomic primitives -------------------------------------------------------------------
def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, fsync it, rename it over ``path``."""
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
    _fsync_dir(path.parent)


def _write_new(path: Path, text: str) -> None:
    """Write a file in a private staging folder (no rename needed), fsynced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
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


# --- the manifest ------------------------------------------------------------------------------
def read_manifest(folder: Path) -> list[str]:
    """The files an earlier build wrote into ``folder`` (empty when there is no manifest)."""
    return list(_manifest(folder).get("files", []))


def _manifest(folder: Path) -> dict:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    files = data.get("files", [])
    files = [f for f in files if isinstance(f, str) and _safe_rel(f)] if isinstance(
        files, list) else []
    digest = data.get("digest") if isinstance(data.get("digest"), str) else None
    return {"files": files, "digest": digest}


def _safe_rel(rel: str) -> bool:
    p = Path(rel)
    return bool(rel) and not p.is_absolute() and ".." not in p.parts and rel != MANIFEST \
        and "\\" not in rel and "\x00" not in rel


def digest(files: dict[str, str]) -> str:
    """A content digest of a build's outputs (it identifies the build in the manifest)."""
    h = hashlib.sha256()
    for rel in sorted(files):
        data = files[rel].encode("utf-8")
        h.update(f"{rel}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def manifest_text(files: dict[str, str]) -> str:
    body = {"generator": GENERATOR, "digest": digest(files), "files": sorted(files)}
    return json.dumps(body, indent=2) + "\n"


# --- transaction bookkeeping -------------------------------------------------------------------
class _Paths:
    def __init__(self, folder: Path):
        self.folder = folder
        base = folder.parent
        self.new = base / f".{folder.name}.derive-new"
        self.old = base / f".{folder.name}.derive-old"
        self.txn = base / f".{folder.name}.derive-txn"


def _real_folder(folder: Path) -> Path:
    """Work on the real folder when ``OUT/<id>`` is a symbolic link (the link stays)."""
    folder = Path(os.path.abspath(folder))
    return Path(os.path.realpath(folder)) if folder.is_symlink() else folder


def _read_txn(p: _Paths) -> dict | None:
    try:
        data = json.loads(p.txn.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
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
    fd = os.open(p.folder.parent, os.O_RDONLY)
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
    p = _Paths(_real_folder(folder))
    if not (p.txn.exists() or p.new.exists() or p.old.exists()):
        return
    with _locked(p):
        _recover(p)


def _recover(p: _Paths) -> None:
    txn = _read_txn(p)
    if txn is None and not (p.new.exists() or p.old.exists()):
        return
    state, want = (txn or {}).get("state"), (txn or {}).get("digest")
    if state == "ready" and not _is_build(p.folder, want) and _is_build(p.new, want):
        # committed but not swapped, or the fallback stopped between its two renames
        if os.path.lexists(p.folder):
            _swap(p)
        else:
            os.rename(p.new, p.folder)
    elif p.new.exists() and not _is_build(p.folder, want):
        shutil.rmtree(p.new)  # never committed: only derive's files and links to the folder's
    if p.old.exists() and not os.path.lexists(p.folder):
        os.rename(p.old, p.folder)  # never lose the previous tree
    for leftover in (p.new, p.old):
        if leftover.exists():
            _retire(leftover, p.folder)
    p.txn.unlink(missing_ok=True)
    _fsync_dir(p.folder.parent)


def _is_build(tree: Path, want: str | None) -> bool:
    return want is not None and tree.is_dir() and _manifest(tree).get("digest") == want


# --- writing ---------------------------------------------------------------------------------
def write_outputs(folder: Path, files: dict[str, str]) -> list[Path]:
    """Replace the outputs in ``folder`` by ``files`` (relative path -> text), as one transaction.

    Returns the paths whose contents changed. Files not listed in the previous manifest are never
    removed or overwritten: a collision with one raises :class:`InputError` before anything is
    written, as does a folder that cannot be written.
    """
    for rel in files:
        if not _safe_rel(rel):
            raise ValueError(f"refusing to write outside the output folder: {rel!r}")
    from derive.verify import cpu_budget_paused

    folder = _real_folder(Path(folder))
    p = _Paths(folder)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        with cpu_budget_paused(), _locked(p):
            _recover(p)
            if os.path.lexists(folder) and not folder.is_dir():
                raise InputError(f"{folder} exists and is not a folder; move it away")
            owned = set(_manifest(folder).get("files", [])) if folder.is_dir() else set()
            _refuse_foreign_collisions(folder, files, owned)
            changed = [folder / rel for rel in sorted(files) if _read(folder / rel) != files[rel]]
            manifest = manifest_text(files)
            if not changed and owned == set(files) and _read(folder / MANIFEST) == manifest:
                return []  # nothing to do: every file (and its mtime) stays as it is
            _transaction(p, files, owned, manifest)
            return changed
    except OSError as e:
        where = e.filename or folder
        raise InputError(f"cannot write the outputs to {folder}: {where}: "
                         f"{e.strerror or e}") from None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _refuse_foreign_collisions(folder: Path, files: dict[str, str], owned: set[str]) -> None:
    """Raise InputError when a new output would replace something derive did not write."""
    for rel in sorted(files):
        for parent in reversed(Path(rel).parents[:-1]):
            if os.path.lexists(folder / parent) and not _is_real_dir(folder / parent):
                raise InputError(f"{folder / parent} is in the way of {rel} (it is not a "
                                 "folder); move it away")
        target = folder / rel
        if not os.path.lexists(target):
            continue
        regular = stat.S_ISREG(os.lstat(target).st_mode)
        if regular and (rel in owned or _read(target) == files[rel]):
            continue  # derive's own file, or identical (adopting it loses nothing)
        raise InputError(f"{target} exists and was not written by derive (it is not in "
                         f"{MANIFEST}); move it away or delete it")


def _is_real_dir(path: Path) -> bool:
    return stat.S_ISDIR(os.lstat(path).st_mode)


def _transaction(p: _Paths, files: dict[str, str], owned: set[str], manifest: str) -> None:
    _set_txn(p, "staging")
    try:
        _stage(p, files, owned, manifest)
    except BaseException:
        if p.new.exists():
            shutil.rmtree(p.new)
        p.txn.unlink(missing_ok=True)
        raise
    _set_txn(p, "ready", digest=digest(files))  # the commit point
    _pause("ready")
    if p.folder.is_dir():
        _swap(p)
    else:
        os.rename(p.new, p.folder)
    _fsync_dir(p.folder.parent)
    _pause("swapped")
    for leftover in (p.new, p.old):
        if leftover.exists():
            _retire(leftover, p.folder)
    p.txn.unlink(missing_ok=True)
    _fsync_dir(p.folder.parent)


def _stage(p: _Paths, files: dict[str, str], owned: set[str], manifest: str) -> None:
    """Build the complete new tree in the staging folder."""
    if p.new.exists():
        shutil.rmtree(p.new)
    p.new.mkdir()
    if p.folder.is_dir():
        os.chmod(p.new, stat.S_IMODE(p.folder.stat().st_mode))
        _carry_foreign(p.folder, p.new, owned | set(files))
    for count, rel in enumerate(sorted(files), 1):
        target = p.new / rel
        if os.path.lexists(target):  # an identical foreign file was carried: ours replaces it
            target.unlink()
        _write_new(target, files[rel])
        _pause("file", count)
    _write_new(p.new / MANIFEST, manifest)
    for d in sorted({p.new / r for rel in files for r in Path(rel).parents}, reverse=True):
        _fsync_dir(d)


def _swap(p: _Paths) -> None:
    """Put the staging tree in place of the folder; the previous tree ends at .new or .old."""
    if exchange(p.new, p.folder):
        return
    if p.old.exists():
        _retire(p.old, p.folder)
    os.rename(p.folder, p.old)
    os.rename(p.new, p.folder)


def _carry_foreign(src: Path, dst: Path, owned: set[str], rel: Path = Path()) -> None:
    """Recreate in ``dst`` every entry of ``src`` that derive does not own: regular files as hard
    links (or copies where links fail), symbolic links as links, folders that hold such entries
    (or nothing) as folders. Other special files are moved when the old tree is retired."""
    for entry in sorted(os.scandir(src / rel), key=lambda e: e.name):
        r = rel / entry.name
        if r.as_posix() in owned or r.as_posix() == MANIFEST:
            continue
        s, t = src / r, dst / r
        if entry.is_dir(follow_symlinks=False):
            if _has_foreign(s, r, owned):
                t.mkdir(exist_ok=True)
                os.chmod(t, stat.S_IMODE(entry.stat(follow_symlinks=False).st_mode))
                _carry_foreign(src, dst, owned, r)
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


def _retire(tree: Path, folder: Path) -> None:
    """Dispose of a previous tree: delete what its manifest lists (derive's files); for everything
    else, drop it when the same file is in ``folder`` (a hard link or an identical copy), or move
    it into ``folder``. Whatever cannot be placed is kept, renamed ``.<id>.derive-kept-<time>``."""
    owned = set(_manifest(tree).get("files", []))
    kept = False
    for root, dirs, names in os.walk(tree, topdown=False):
        rel_root = Path(root).relative_to(tree)
        for name in [*names, *dirs]:
            rel = rel_root / name
            s, t = tree / rel, folder / rel
            mode = os.lstat(s).st_mode
            if stat.S_ISDIR(mode):
                try:
                    s.rmdir()  # empty now: its contents were deleted, dropped or moved
                except OSError:
                    kept = True
                continue
            if rel.as_posix() in owned or rel.as_posix() == MANIFEST:
                s.unlink()
            elif _same_file(s, t):
                s.unlink()
            elif not os.path.lexists(t):
                t.parent.mkdir(parents=True, exist_ok=True)
                os.rename(s, t)
            else:
                kept = True
    try:
        tree.rmdir()
    except OSError:
        kept = True
    if kept:
        keep = tree.parent / f".{folder.name}.derive-kept-{time.strftime('%Y%m%d-%H%M%S')}"
        os.rename(tree, keep)
        print(f"derive: warning: kept files that could not be placed in {folder} in {keep}",
              file=sys.stderr)


def _same_file(a: Path, b: Path) -> bool:
    try:
        sa, sb = os.lstat(a), os.lstat(b)
    except OSError:
        return False
    if (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino):
        return True
    if stat.S_ISLNK(sa.st_mode) and stat.S_ISLNK(sb.st_mode):
        return os.readlink(a) == os.readlink(b)
    if stat.S_ISREG(sa.st_mode) and stat.S_ISREG(sb.st_mode) and sa.st_size == sb.st_size:
        with open(a, "rb") as fa, open(b, "rb") as fb:
            while True:
                x, y = fa.read(1 << 16), fb.read(1 << 16)
                if x != y:
                    return False
                if not x:
                    return True
    return False


# --- checking ----------------------------------------------------------------------------------
def compare_outputs(folder: Path, files: dict[str, str]) -> dict[str, tuple[str | None, str]]:
    """Files whose content on disk differs: rel -> (on disk or None, expected).

    An interrupted build's transaction is finished first (see :func:`recover`).
    """
    recover(folder)
    drift = {}
    for rel, text in sorted(files.items()):
        current = _read(Path(folder) / rel)
        if current != text:
            drift[rel] = (current, text)
    return drift
