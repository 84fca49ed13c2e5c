"""The two kinds of failure derive reports.

``InputError`` is bad input (a sheet, an expression, a command-line value). The CLI prints it as one
line ``file:line: message`` and exits with status 2; nothing is written.

``VerificationFailure`` is a derivation step that did not verify. It is a bug in derive, never the
user's fault, and it fails the build loudly (exit 1).
"""

from __future__ import annotations


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
        if self.file is None:
            return f"derive: error: {self.message}"
        if self.line is None:
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}: {self.message}"


class VerificationFailure(Exception):
    """A recorded equality that failed verification."""
