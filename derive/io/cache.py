"""The cache of verified results: a private, content-addressed store of JSON entries.

A build may reuse what an earlier build established: an entry is found by a key that the caller
computes from the exact input of the work it stands for (:mod:`derive.verify.cached` keys a
check's verdicts by a digest of the claim checked and of derive's own source), so a hit is the
same result for the same input.

Where it lives: ``$DERIVE_CACHE_DIR``, else ``$XDG_CACHE_HOME/derive``, else
``~/.cache/derive``; never inside a sheet's repository unless pointed there. ``DERIVE_NO_CACHE=1``
(or ``derive build --no-cache``) turns it off; ``derive check`` runs without it unless given
``--cache``.

What it trusts: nothing it reads is executed or evaluated. Each entry is one JSON document
``<space>/<k[:2]>/<k>.json`` holding its space, its key, its value (JSON data) and an HMAC-SHA256
of the three under the store's own random key (the file ``key``, created once with mode 0600).
An entry that is not valid JSON, is larger than :data:`MAX_ENTRY`, names another key, or whose
MAC does not match (tampered, planted or cut short) is ignored: the work is done again and the
entry rewritten. The folder must be a real folder (not a link) owned by the user and writable by
nobody else, and the key file readable by nobody else; otherwise the store is not used at all.
Files are read and written through :mod:`derive.io.safefs` (no link followed at or below the
folder). Any error of the file system makes the store a no-op: a cache never fails a build.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import hmac
import json
import os
import stat
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import mpmath
import sympy
from sympy.core.function import UndefinedFunction

import derive
from derive.io import safefs

ENV_DIR = "DERIVE_CACHE_DIR"  # where the store is (default: the user's cache folder)
ENV_OFF = "DERIVE_NO_CACHE"  # 1: no store, every result derived again
FORMAT = 1  # the layout of an entry; another value is a miss
MAX_ENTRY = 4 << 20  # bytes: a larger file is not an entry of this store
KEY_FILE = "key"


def default_dir() -> Path:
    """``$DERIVE_CACHE_DIR``, else ``$XDG_CACHE_HOME/derive``, else ``~/.cache/derive``."""
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "derive"


@cache
def code_digest() -> bytes:
    """The versions of derive, SymPy, mpmath, Jinja and Python, the entry :data:`FORMAT` and
    every ``.py`` file of the derive package (path and bytes, in path order), digested: part of
    every key, so that any change to the code is a miss."""
    h = hashlib.sha256()
    for part in (derive.__version__, sympy.__version__, mpmath.__version__, jinja2.__version__,
                 sys.version, str(FORMAT)):
        h.update(part.encode() + b"\0")
    package = Path(derive.__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package).as_posix().encode()
        data = path.read_bytes()
        h.update(b"%d:%s%d:" % (len(rel), rel, len(data)) + data)
    return h.digest()


def disabled_by_env() -> bool:
    """True when ``DERIVE_NO_CACHE`` is set to anything but ``""`` or ``0``."""
    return os.environ.get(ENV_OFF, "") not in ("", "0")


def _private(st: os.stat_result, kind: int, others: int) -> bool:
    """``st`` is of type ``kind``, owned by this user, with none of the mode bits ``others``."""
    uid = os.getuid() if hasattr(os, "getuid") else st.st_uid
    return stat.S_IFMT(st.st_mode) == kind and st.st_uid == uid and not st.st_mode & others


class Store:
    """An open store: its folder and its key (see the module docstring)."""

    def __init__(self, root: Path, key: bytes):
        self.root = root
        self._key = key

    def _mac(self, space: str, key: str, value: Any) -> str:
        text = json.dumps([FORMAT, space, key, value], ensure_ascii=True,
                          separators=(",", ":"), allow_nan=False)
        return hmac.new(self._key, text.encode("ascii"), hashlib.sha256).hexdigest()

    @staticmethod
    def _rel(space: str, key: str) -> str:
        return f"{space}/{key[:2]}/{key}.json"

    def get(self, space: str, key: str) -> Any | None:
        """The value stored under ``key`` in ``space``; None when there is none or the entry is
        not one this store wrote (unreadable, malformed, too large, or its MAC differs)."""
        data = safefs.read_bytes(self.root, self._rel(space, key), MAX_ENTRY)
        if data is None or len(data) > MAX_ENTRY:
            return None
        try:
            entry = json.loads(data.decode("ascii"))
        except (ValueError, RecursionError, UnicodeDecodeError):
            return None
        if not (isinstance(entry, dict) and set(entry) == {"format", "space", "key", "value",
                                                           "mac"}):
            return None
        if entry["format"] != FORMAT or entry["space"] != space or entry["key"] != key:
            return None
        mac = entry["mac"]
        try:
            expected = self._mac(space, key, entry["value"])
        except (ValueError, RecursionError):
            return None
        if not isinstance(mac, str) or not hmac.compare_digest(mac, expected):
            return None
        return entry["value"]

    def put(self, space: str, key: str, value: Any) -> None:
        """Store ``value`` (JSON data) under ``key`` in ``space``, replacing what was there; a
        file-system error leaves the store as it was."""
        try:
            text = json.dumps({"format": FORMAT, "space": space, "key": key, "value": value,
                               "mac": self._mac(space, key, value)},
                              ensure_ascii=True, separators=(",", ":"), allow_nan=False)
        except (ValueError, TypeError, RecursionError):
            return
        if len(text) > MAX_ENTRY:
            return
        try:
            safefs.replace_under(self.root, self._rel(space, key), text)
        except OSError:
            pass


def open_store(root: Path | None = None) -> Store | None:
    """The store at ``root`` (default :func:`default_dir`), created if absent; None when it is
    turned off by the environment, or its folder or key is not private to this user."""
    if disabled_by_env():
        return None
    root = default_dir() if root is None else root
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(os.lstat(root), stat.S_IFDIR, 0o022):
            return None
        if safefs.lstat_under(root, KEY_FILE) is None:
            safefs.create_under(root, KEY_FILE, os.urandom(32).hex())
        st = safefs.lstat_under(root, KEY_FILE)
        if st is None or not _private(st, stat.S_IFREG, 0o077):
            return None
        text = safefs.read_bytes(root, KEY_FILE, 64)
    except OSError:
        return None
    try:
        key = bytes.fromhex((text or b"").decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return None
    return Store(root, key) if len(key) == 32 else None


# --- digests of values ---------------------------------------------------------------------------
class Unkeyed(Exception):
    """The value holds something :func:`digest` does not digest."""


def _type_name(cls: type) -> bytes:
    if isinstance(cls, UndefinedFunction):  # f(x) of a sheet: its name and assumptions
        return repr(("undefined", cls.__name__, sorted(cls._kwargs.items(), key=repr),
                     sorted(getattr(cls, "_extra_kwargs", {}).items(), key=repr))).encode()
    if "<" in cls.__qualname__:
        raise Unkeyed(f"a local class {cls.__qualname__}")
    return f"{cls.__module__}.{cls.__qualname__}".encode()


class _Digest:
    """Digests of the objects of one value (a Merkle tree: each object's digest is made of its
    type and its parts' digests), each object digested once."""

    def __init__(self):
        self.memo: dict[int, tuple[bytes, Any]] = {}  # id -> (digest, the object, kept alive)

    def of(self, obj: Any) -> bytes:
        hit = self.memo.get(id(obj))
        if hit is not None:
            return hit[0]
        h = hashlib.sha256()
        self._feed(h, obj)
        digest = h.digest()
        self.memo[id(obj)] = (digest, obj)
        return digest

    def _feed(self, h, obj: Any) -> None:  # noqa: C901 (one case per kind of value)
        if obj is None or isinstance(obj, (bool, int, str, bytes, float)):
            h.update(type(obj).__name__.encode() + b":" + repr(obj).encode())
        elif isinstance(obj, sympy.Basic):
            h.update(b"sympy:" + _type_name(type(obj)))
            for item in obj._hashable_content():
                h.update(self.of(item))
        elif isinstance(obj, Fraction):
            h.update(b"fraction:%d/%d" % (obj.numerator, obj.denominator))
        elif isinstance(obj, (tuple, list)) and type(obj) in (tuple, list):
            h.update(b"%s:%d" % (type(obj).__name__.encode(), len(obj)))
            for item in obj:
                h.update(self.of(item))
        elif type(obj) is dict:
            h.update(b"dict:%d" % len(obj))
            for k, v in obj.items():
                h.update(self.of(k) + self.of(v))
        elif type(obj) in (set, frozenset):
            h.update(b"set:%d" % len(obj))
            for d in sorted(self.of(item) for item in obj):
                h.update(d)
        elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            h.update(b"dataclass:" + _type_name(type(obj)))
            for f in dataclasses.fields(obj):
                h.update(f.name.encode() + b"=" + self.of(getattr(obj, f.name)))
        elif isinstance(obj, enum.Enum):
            h.update(b"enum:" + _type_name(type(obj)) + b"." + obj.name.encode())
        elif isinstance(obj, mpmath.mpf):
            h.update(b"mpf:" + repr(obj._mpf_).encode())
        elif isinstance(obj, mpmath.mpc):
            h.update(b"mpc:" + repr(obj._mpc_).encode())
        elif isinstance(obj, type):
            h.update(b"class:" + _type_name(obj))
        elif isinstance(obj, (types.FunctionType, types.BuiltinFunctionType)) \
                and "<" not in obj.__qualname__ and not getattr(obj, "__closure__", None):
            h.update(f"function:{obj.__module__}.{obj.__qualname__}".encode())
        else:
            raise Unkeyed(f"a {type(obj).__qualname__}")


def digest(obj: Any) -> bytes:
    """A digest of ``obj`` as data (see :mod:`derive.verify.cached`: SymPy objects by their type
    and structural content, dataclasses by type and fields, containers by their items); raises
    :class:`Unkeyed` for anything else (a closure, an object of an unknown kind)."""
    try:
        return _Digest().of(obj)
    except RecursionError:
        raise Unkeyed("nested too deeply") from None


# the store of the running command (None: every result derived again)
ACTIVE: ContextVar[Store | None] = ContextVar("cache", default=None)


def active() -> Store | None:
    """The store the running command uses, or None."""
    return ACTIVE.get()


@contextmanager
def using(store: Store | None) -> Iterator[Store | None]:
    """Use ``store`` (None: no store) for the commands run inside."""
    token = ACTIVE.set(store)
    try:
        yield store
    finally:
        ACTIVE.reset(token)
