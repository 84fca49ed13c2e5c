"""The two kinds of failure derive reports, and the helpers that keep a message one safe line
(:func:`terminal_safe`, :func:`one_line`, :func:`shorten`, :func:`and_join`).

``InputError`` is bad input (a sheet, an expression, a command-line value). The CLI prints it as one
line ``file:line: message`` and exits with status 2; nothing is written.

``VerificationFailure`` is a derivation step that did not verify. It is a bug in derive, never the
user's fault, and it fails the build loudly (exit 1).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

MAX_LINE = 300  # an error message is capped at this many characters (its file name at 150)


CONTROL = ("Cc", "Cf", "Zl", "Zp", "Cs")  # control, format, separators, surrogates
_UNSAFE = (*CONTROL, "Co", "Cn")  # for a terminal, private-use and unassigned too


def is_control(c: str) -> bool:
    """A character no sheet string may hold: anything but newline and tab among :data:`CONTROL`
    (it would reach SVG, where XML forbids it, LaTeX and terminals)."""
    return c not in "\n\t" and unicodedata.category(c) in CONTROL


def terminal_safe(text: str) -> str:
    """``text`` with every character that a terminal could act on shown as ``\\xNN`` or
    ``\\uNNNN``: control characters (C0 and C1, so no escape sequence), format characters
    (bidirectional overrides, zero-width joiners) and line/paragraph separators."""
    out = []
    for c in text:
        if unicodedata.category(c) in _UNSAFE and c not in "\n\t":
            out.append(f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return "".join(out)


def one_line(text: str, limit: int = MAX_LINE) -> str:
    """One terminal-safe line of at most ``limit`` characters (an ellipsis marks a cut)."""
    line = " ".join(terminal_safe(text).split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def shorten(text: str, limit: int) -> str:
    """``text`` on one line (runs of white space made one space), cut to at most ``limit``
    characters with ``...`` at the end when it is longer: a quotation in a message."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def and_join(words: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``: names listed in a message."""
    words = list(words)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


class InputError(Exception):
    """Bad input, located in a file and line when that is knowable."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = " ".join(str(message).split())  # always one line
        self.file = file
        self.line = line

    def at(self, file: str | None = None, line: int | None = None) -> InputError:
        """Return this error with the file and line filled in where they are still unknown."""
        return InputError(
            self.message,
            file=self.file if self.file is not None else file,
            line=self.line if self.line is not None else line,
        )

    def __str__(self) -> str:
        """``file:line: message`` on one terminal-safe line: the message is cut at
        :data:`MAX_LINE` characters and the file name at half that (never wrapped)."""
        if self.file is None:
            where = "derive: error"
        elif self.line is None:
            where = one_line(self.file, MAX_LINE // 2)
        else:
            where = f"{one_line(self.file, MAX_LINE // 2)}:{self.line}"
        return f"{where}: {one_line(self.message)}"


class VerificationFailure(Exception):
    """A recorded equality that failed verification."""
