"""Files without following links: no-follow opens, bounded reads, atomic writes, scans.

Every read here opens the file without following a symbolic link at any component below the
folder it is given, checks with ``fstat`` that it is a regular file, and reads at most a bounded
number of bytes when asked; every write goes to a new or temporary file and is fsynced. A link is
listed by :func:`scan`, never followed.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import stat
import sys
import tempfile
from pathlib import Path

O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


def as_bytes(content: bytes | str) -> bytes:
    return content.encode("utf-8") if isinstance(content, str) else bytes(content)


# --- small atomic primitives -------------------------------------------------------------------
def atomic_write(path: Path, text: bytes | str) -> None:
    """Write to a temporary file beside ``path``, fsync it, rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(as_bytes(text))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def write_new(path: Path, data: bytes | str) -> None:
    """Create a file in a private staging folder (never through a link), fsynced. The mode is the
    one ``open`` gives (0666 minus the umask) for every output, PDFs included."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | O_CLOEXEC, 0o666)
    with os.fdopen(fd, "wb") as fh:
        fh.write(as_bytes(data))
        fh.flush()
        os.fsync(fh.fileno())


def fsync_dir(path: Path) -> None:
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
        dfd = os.open(root, os.O_RDONLY | _O_DIRECTORY | nofollow | O_CLOEXEC)
    except OSError:
        return None
    try:
        for part in parts[:-1]:
            nfd = os.open(part, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | O_CLOEXEC, dir_fd=dfd)
            os.close(dfd)
            dfd = nfd
        fd = os.open(parts[-1], os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | O_CLOEXEC, dir_fd=dfd)
    except OSError:
        return None
    finally:
        os.close(dfd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def read_bytes(root: Path, rel: str, limit: int | None = None, *,
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


def file_sha(root: Path, rel: str) -> str | None:
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


def lstat_under(root: Path, rel: Path | str) -> os.stat_result | None:
    """``lstat`` of ``root/rel`` when every folder between is a real folder, else None."""
    rel = Path(rel)
    try:
        for parent in reversed(rel.parents[:-1]):
            if not stat.S_ISDIR(os.lstat(root / parent).st_mode):
                return None
        return os.lstat(root / rel)
    except OSError:
        return None


def scan(root: Path) -> dict[str, str]:
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

    if is_real_dir(root):
        walk(root, "")
    return found


def is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def free_parents(folder: Path, rel: Path) -> bool:
    """True when every folder on the way to ``folder/rel`` is a real folder or absent."""
    if not is_real_dir(folder):
        return False
    for parent in reversed(rel.parents[:-1]):
        try:
            if not stat.S_ISDIR(os.lstat(folder / parent).st_mode):
                return False
        except FileNotFoundError:
            return True
    return True


def same_file(a: Path, folder: Path, rel: Path) -> bool:
    """True when ``a`` is the same file as ``folder/rel`` (reached without links): the same inode,
    equal link targets, or regular files with equal bytes."""
    try:
        sa = os.lstat(a)
    except OSError:
        return False
    sb = lstat_under(folder, rel)
    if sb is None:
        return False
    if (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino):
        return True
    if stat.S_ISLNK(sa.st_mode) and stat.S_ISLNK(sb.st_mode):
        return os.readlink(a) == os.readlink(folder / rel)
    if stat.S_ISREG(sa.st_mode) and stat.S_ISREG(sb.st_mode) and sa.st_size == sb.st_size:
        return file_sha(a.parent, a.name) == file_sha(folder, rel.as_posix()) is not None
    return False


# --- a private store (the cache): writes that follow no link at or below its folder -------------
def _open_dirs(root: Path, parts: list[str], create: bool) -> int:
    """A descriptor of the folder ``root/parts...``: ``root`` itself and every folder below it
    opened without following a link (created with mode 0700 when ``create``)."""
    dfd = os.open(root, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | O_CLOEXEC)
    try:
        for part in parts:
            if create:
                try:
                    os.mkdir(part, 0o700, dir_fd=dfd)
                except FileExistsError:
                    pass
            nfd = os.open(part, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | O_CLOEXEC, dir_fd=dfd)
            os.close(dfd)
            dfd = nfd
    except BaseException:
        os.close(dfd)
        raise
    return dfd


def _write_temp(dfd: int, name: str, data: bytes, mode: int) -> str:
    """A new temporary file beside ``name`` in the folder ``dfd`` holding ``data``; its name."""
    tmp = f".{name}.{os.urandom(8).hex()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | O_CLOEXEC, mode,
                 dir_fd=dfd)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    except BaseException:
        os.unlink(tmp, dir_fd=dfd)
        raise
    return tmp


def replace_under(root: Path, rel: str, data: bytes | str, mode: int = 0o600) -> None:
    """Write ``root/rel`` (a regular file, mode ``mode``) by renaming a new temporary file over
    it; no link is followed at ``root`` or below it (a link in the way raises OSError), missing
    folders are created with mode 0700. A reader sees the old file or the new one, never a part
    of one. Not fsynced: what it stores can be derived again."""
    *folders, name = rel.split("/")
    dfd = _open_dirs(root, folders, create=True)
    try:
        tmp = _write_temp(dfd, name, as_bytes(data), mode)
        try:
            os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            os.unlink(tmp, dir_fd=dfd)
            raise
    finally:
        os.close(dfd)


def create_under(root: Path, rel: str, data: bytes | str, mode: int = 0o600) -> bool:
    """Create ``root/rel`` holding ``data`` whole (a new file linked into place, never through
    a link); False when it exists already (it is left as it is)."""
    *folders, name = rel.split("/")
    dfd = _open_dirs(root, folders, create=True)
    try:
        tmp = _write_temp(dfd, name, as_bytes(data), mode)
        try:
            os.link(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd, follow_symlinks=False)
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp, dir_fd=dfd)
    finally:
        os.close(dfd)
