"""Where derive's templates are, and the Jinja environments of the sheet templates.

The templates ship inside the wheel (``derive/templates``); in a checkout they are the top-level
``templates/`` folder. :func:`template_dir` finds them for every printer: the sheet templates
(``*.tex.j2``, ``*.md.j2``, ``derive.sty``) and the figure templates (``figures/``).

While a command uses the cache of verified results (:mod:`derive.io.cache`), the compiled
templates are kept there too (:func:`bytecode_cache`): a compiled template is code, so it is an
entry of that store (marshalled, no pickle) and loaded only when its MAC shows the store wrote
it, under a key made of the environment's kind, the template's name and file, and the code
digest (derive's source, Jinja's and Python's versions), and only for the template source it
was compiled from (Jinja's checksum of the source).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import marshal
from functools import cache as cache_results
from pathlib import Path
from typing import Any

import jinja2

from derive.io import cache
from derive.render.markup import md_math

STYLE = "derive.sty"


def template_dir() -> Path:
    """The templates folder: ``derive/templates`` in a wheel, ``templates/`` in a checkout (the
    one that holds the figure templates too)."""
    package = Path(__file__).resolve().parents[1]  # the derive package
    for candidate in (package / "templates", package.parent / "templates"):
        if (candidate / "figures").is_dir():
            return candidate
    raise FileNotFoundError("derive's templates are missing from this installation")


class _StoredBytecode(jinja2.BytecodeCache):
    """Compiled templates as entries of a :class:`derive.io.cache.Store` (see the module
    docstring); an entry that is not one is a miss (the template compiles again)."""

    SPACE = "templates"

    def __init__(self, store: cache.Store, kind: str):
        self.store = store
        self.kind = kind

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        h = hashlib.sha256(cache.code_digest())
        h.update(f"{self.kind}\0{name}\0{filename or ''}".encode())
        return h.hexdigest()

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        value = self.store.get(self.SPACE, bucket.key)
        if not (isinstance(value, list) and len(value) == 2 and value[0] == bucket.checksum
                and isinstance(value[1], str)):
            return  # absent, or compiled from another source
        try:
            bucket.code = marshal.loads(base64.b64decode(value[1], validate=True))
        except (ValueError, binascii.Error, EOFError, TypeError):
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.store.put(self.SPACE, bucket.key, [
            bucket.checksum, base64.b64encode(marshal.dumps(bucket.code)).decode("ascii")])


@cache_results
def templates_digest() -> bytes:
    """A digest of every file of the templates folder (path and bytes, in path order)."""
    h = hashlib.sha256()
    root = template_dir()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix().encode()
        data = path.read_bytes()
        h.update(b"%d:%s%d:" % (len(rel), rel, len(data)) + data)
    return h.digest()


def result_key(space: str, subject: Any) -> str | None:
    """The key of a rendering of ``subject`` (a figure's model, ...) in the running command's
    cache: its digest (:func:`derive.io.cache.digest`), derive's code and the templates; None
    without a cache, or for a subject without a digest."""
    if cache.active() is None:
        return None
    h = hashlib.sha256(cache.code_digest() + templates_digest() + space.encode() + b"\0")
    try:
        h.update(cache.digest(subject))
    except cache.Unkeyed:
        return None
    return h.hexdigest()


def bytecode_cache(kind: str) -> jinja2.BytecodeCache | None:
    """The compiled templates of environments of ``kind`` in the running command's cache, or
    None when it uses none."""
    store = cache.active()
    return None if store is None else _StoredBytecode(store, kind)


def environment(kind: str) -> jinja2.Environment:
    """A Jinja environment for the sheet templates: ``tex`` (LaTeX-safe delimiters) or ``md``."""
    common = dict(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        bytecode_cache=bytecode_cache(kind),
    )
    if kind == "tex":
        return jinja2.Environment(
            block_start_string="<%",
            block_end_string="%>",
            variable_start_string="<<",
            variable_end_string=">>",
            comment_start_string="<#",
            comment_end_string="#>",
            **common,
        )
    env = jinja2.Environment(**common)
    env.filters["mdmath"] = md_math
    return env


def style_text() -> str:
    """The text of ``derive.sty``, shipped with the templates."""
    return (template_dir() / STYLE).read_text(encoding="utf-8")
