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

import json
import os
import shutil
import stat
import sys
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from derive.errors import InputError
from derive.io.manifest import (
    GENERATOR,
    MANIFEST,
    OUTPUT_NAME,
    digest,
    load_manifest,
    manifest_text,
    owned_files,
    read_manifest,
    safe_rel,
)
from derive.io.paths import Paths, refuse_links
from derive.io.safefs import (
    O_CLOEXEC,
    as_bytes,
    atomic_write,
    exchange,
    free_parents,
    fsync_dir,
    is_real_dir,
    lstat_under,
    read_bytes,
    same_file,
    write_new,
)

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None


# --- transaction bookkeeping -------------------------------------------------------------------
def _read_txn(p: Paths) -> dict | None:
    if not os.path.lexists(p.txn):
        return None
    raw = read_bytes(p.base, p.txn.name, 65536, root_may_be_link=True)
    try:
        data = json.loads((raw or b"").decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return {"state": "staging"}  # a torn or unreadable record was never committed
    return data if isinstance(data, dict) else {"state": "staging"}


def _set_txn(p: Paths, state: str, **extra) -> None:
    atomic_write(p.txn, json.dumps({"generator": GENERATOR, "state": state, **extra}) + "\n")


@contextmanager
def _locked(p: Paths):
    """One writer per output folder at a time: an advisory ``flock`` on ``OUT`` itself (no lock
    file is left behind; a no-op where unsupported)."""
    if fcntl is None:  # pragma: no cover - not POSIX
        yield
        return
    fd = os.open(p.base, os.O_RDONLY | O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def pause_point(point: str, count: int | None = None) -> None:
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
    p = Paths(folder)
    refuse_links(p)
    if not any(os.path.lexists(x) for x in (p.txn, p.new, p.old)):
        return
    try:
        with _locked(p):
            refuse_links(p)
            _recover(p)
    except OSError as e:
        raise InputError(f"cannot finish the interrupted build ({e.strerror or e}): "
                         f"{e.filename or p.folder}") from None


def _recover(p: Paths) -> None:
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
    fsync_dir(p.base)


def _is_build(tree: Path, want: str | None, complete: bool = False) -> bool:
    """True when ``tree`` holds the build with digest ``want``; with ``complete``, also every
    file its manifest lists, with the recorded content (a staging tree is rolled forward only
    then: a planted or damaged one is discarded instead)."""
    if want is None or not is_real_dir(tree):
        return False
    m = load_manifest(tree)
    if m.state != "ok" or m.digest != want:
        return False
    if not complete:
        return True
    return m.hashes is not None and set(m.hashes) == set(m.files) \
        and len(owned_files(tree, m)) == len(m.files)


# --- writing ---------------------------------------------------------------------------------
@dataclass
class _Job:
    p: Paths
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
    transaction. ``formats`` (as given: in the registry's order, each once) and ``pdfs`` (PDF -> the
    ``.tex`` it was compiled from) are recorded in the manifest.

    Returns the paths whose contents changed. Files that are not provably derive's are never
    removed or overwritten: a collision with one raises :class:`InputError` before anything is
    written, as does a folder that cannot be written or a link where derive manages a path.
    """
    return write_many([(folder, files, formats, pdfs)])[0]


def _jobs(specs) -> list[_Job]:
    jobs = []
    for folder, files, formats, pdfs in specs:
        for rel in files:
            if not safe_rel(rel):
                raise ValueError(f"refusing to write outside the output folder: {rel!r}")
            if not OUTPUT_NAME.match(rel):  # a later build would not recognise it as derive's
                raise ValueError(f"not the name of a derive output: {rel!r} (see OUTPUT_NAME)")
        for pdf, src in (pdfs or {}).items():
            if pdf not in files or src not in files:
                raise ValueError(f"a PDF and its source must both be outputs: {pdf!r}, {src!r}")
        data = {rel: as_bytes(v) for rel, v in files.items()}
        text = manifest_text(data, formats, pdfs).encode("utf-8")
        jobs.append(_Job(Paths(folder), data, text))
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
        refuse_links(job.p)
        if not any(os.path.lexists(x) for x in (job.p.txn, job.p.new, job.p.old)):
            _plan(job)  # leftovers are recovered first by the build, which may change the answer
    except OSError as e:
        raise _io_error(job.p.folder, e) from None


def write_many(specs) -> list[list[Path]]:
    """Write several sheets' folders, all or nothing: ``specs`` is a list of ``(folder, files,
    formats, pdfs)``. Every folder is validated, then every one staged, then committed; when any
    folder is refused or staging fails, nothing is written. Returns the changed paths per folder.

    A CPU budget should be paused around the call (``derive build`` does), so that a build is never
    stopped halfway through writing (the next build would finish the transaction)."""
    jobs = _jobs(specs)
    current = jobs[0].p.folder if jobs else Path()
    try:
        for j in jobs:  # read-only first: nothing is created for a refused build
            current = j.p.folder
            refuse_links(j.p)
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
                refuse_links(j.p)
                _recover(j.p)
            for j in jobs:
                current = j.p.folder
                refuse_links(j.p)
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
    st = lstat_under(folder, MANIFEST) if is_real_dir(folder) else None
    if st is not None and not stat.S_ISREG(st.st_mode):
        what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a regular file"
        raise InputError(f"{MANIFEST} is {what}; derive never follows links in the folders "
                         f"it manages (move it away): {folder / MANIFEST}")
    j.owned = owned_files(folder) if is_real_dir(folder) else {}
    _refuse_foreign_collisions(folder, j.files, j.owned)
    j.changed = [folder / rel for rel in sorted(j.files)
                 if read_bytes(folder, rel, len(j.files[rel])) != j.files[rel]]
    current = read_bytes(folder, MANIFEST, len(j.manifest)) if is_real_dir(folder) else None
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
            st = lstat_under(folder, parent)
            if st is not None and not stat.S_ISDIR(st.st_mode):
                what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a folder"
                raise InputError(f"{parent.as_posix()} is in the way of {rel} (it is {what}); "
                                 f"move it away: {folder / parent}")
        st = lstat_under(folder, rel)
        if st is None:
            continue
        target = folder / rel
        if stat.S_ISLNK(st.st_mode):
            raise InputError(f"{rel} is a symbolic link; derive writes only regular files, never "
                             f"through a link (move it away): {target}")
        if stat.S_ISREG(st.st_mode) and (rel in owned
                                         or read_bytes(folder, rel, len(files[rel]))
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
    if is_real_dir(j.p.folder):
        folders.append(j.p.folder)
        for rel in j.owned:
            for parent in Path(rel).parents[:-1]:
                if is_real_dir(j.p.folder / parent):
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
        fsync_dir(d)


def _abort(j: _Job) -> None:
    """Undo a staging this process did (the staging tree holds only its own files and links)."""
    if j.made_new and is_real_dir(j.p.new):
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
    pause_point("ready")
    if is_real_dir(p.folder):
        _swap(p)
    else:
        os.rename(p.new, p.folder)
    fsync_dir(p.base)
    pause_point("swapped")
    try:
        for leftover in (p.new, p.old):
            if leftover.exists():
                _retire(leftover, p.folder)
        p.txn.unlink(missing_ok=True)
        fsync_dir(p.base)
    except OSError as e:  # the new outputs are in place; only the old tree awaits cleanup
        print(f"derive: warning: wrote {p.folder}, but could not clean up the previous tree "
              f"({e.filename or p.base}: {e.strerror or e}); the next `derive build` finishes it",
              file=sys.stderr)


def _build_tree(j: _Job) -> None:
    """Build the complete new tree in the staging folder: the manifest first (so an interrupted
    staging tree says which files are derive's), the files derive does not own, the outputs."""
    p = j.p
    write_new(p.new / MANIFEST, j.manifest)
    modes: list[tuple[Path, int]] = []
    if is_real_dir(p.folder):
        _carry_foreign(p.folder, p.new, set(j.owned) | set(j.files), modes)
    for count, rel in enumerate(sorted(j.files), 1):
        target = p.new / rel
        for parent in reversed(Path(rel).parents[:-1]):
            if not os.path.lexists(p.new / parent):
                (p.new / parent).mkdir()
        if os.path.lexists(target):  # an identical foreign file was carried: ours replaces it
            target.unlink()
        write_new(target, j.files[rel])
        pause_point("file", count)
    for path, mode in modes:  # the user's folder modes, once nothing more is written into them
        os.chmod(path, mode)
    if is_real_dir(p.folder):
        os.chmod(p.new, stat.S_IMODE(os.lstat(p.folder).st_mode))


def _swap(p: Paths) -> None:
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
    if not is_real_dir(tree):
        raise InputError(f"{tree.name} is not a folder; move it away: {tree}")
    m = load_manifest(tree)
    owned = owned_files(tree, m)
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
                elif same_file(s, folder, r):
                    s.unlink()
                elif place and lstat_under(folder, r) is None and free_parents(folder, r):
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
