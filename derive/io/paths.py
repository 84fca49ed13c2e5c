"""The paths derive manages for a sheet's folder ``OUT/<id>``, and refusing links there.

Beside ``OUT/<id>`` a transaction uses the staging folder ``OUT/.<id>.derive-new/``, the previous
tree ``OUT/.<id>.derive-old/``, the record ``OUT/.<id>.derive-txn`` and the kept folders
``OUT/.<id>.derive-kept-<time>/``. None of them may be a symbolic link; ``OUT`` itself may be.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from derive.errors import InputError


class Paths:
    """The paths of the folder ``OUT/<id>`` (made absolute; OUT may be a link, ``OUT/<id>`` is
    never followed) and of its transaction beside it."""

    def __init__(self, folder: Path | str):
        self.folder = folder = Path(os.path.abspath(folder))
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


def refuse_links(p: Paths, doing: str = "write") -> None:
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
