"""Compiling the standalone ``.tex`` outputs to PDF (``derive build --pdf``).

latexmk runs when it is installed (it reruns pdflatex until cross-references settle); otherwise
pdflatex runs twice. Each document is compiled in a private temporary copy of the output folder,
so the folder receives only the finished ``.pdf`` (no ``.aux``/``.log`` litter), written atomically.

PDFs are not part of the build's manifest and ``derive check`` never compares them: they embed
dates and IDs and are not byte-for-byte reproducible. When TeX is missing, one line says so and
the build still succeeds (every other output was written).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TIMEOUT_SECONDS = 300
LOG_TAIL_LINES = 25


def tex_command(name: str) -> list[list[str]] | None:
    """The commands that compile ``name`` in its folder, or None when TeX is not installed."""
    flags = ["-interaction=nonstopmode", "-halt-on-error", "-file-line-error"]
    if shutil.which("latexmk") and shutil.which("pdflatex"):
        return [["latexmk", "-pdf", "-silent", *flags, name]]
    if shutil.which("pdflatex"):
        return [["pdflatex", *flags, name]] * 2
    return None


def compile_pdf(folder: Path, name: str) -> tuple[bool, str]:
    """Compile ``folder/name`` (a ``.tex`` file); returns ``(ok, message)``."""
    commands = tex_command(name)
    if commands is None:
        return False, "no TeX"
    with tempfile.TemporaryDirectory(prefix="derive-pdf-") as tmp:
        work = Path(tmp) / "build"
        shutil.copytree(folder, work, ignore=shutil.ignore_patterns("*.pdf", ".*"))
        for cmd in commands:
            try:
                proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True,
                                      timeout=TIMEOUT_SECONDS, stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                return False, f"{cmd[0]} timed out after {TIMEOUT_SECONDS} s"
            if proc.returncode != 0:
                return False, _failure(work / name, cmd[0])
        pdf = work / Path(name).with_suffix(".pdf")
        if not pdf.is_file():
            return False, f"{cmd[0]} wrote no PDF"
        target = folder / pdf.name
        fd, partial = tempfile.mkstemp(dir=folder, prefix=f".{pdf.name}.", suffix=".tmp")
        os.close(fd)
        shutil.copyfile(pdf, partial)
        os.replace(partial, target)
    return True, str(target)


def _failure(tex: Path, program: str) -> str:
    log = tex.with_suffix(".log")
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return f"{program} failed (no log)"
    # an error line ("! ..." or "./file.tex:12: ...") and the two lines that show where it is
    picked = [k for k, ln in enumerate(lines)
              if ln.startswith("!") or re.match(r".*\.tex:\d+: ", ln)]
    shown = sorted({j for k in picked for j in range(k, min(k + 3, len(lines)))})
    detail = "\n".join([lines[j] for j in shown][:LOG_TAIL_LINES] or lines[-LOG_TAIL_LINES:])
    return f"{program} failed:\n{detail}"


def compile_pdfs(folder: Path, tex_names: list[str]) -> bool:
    """Compile each of ``tex_names`` (relative to ``folder``) to PDF beside it.

    Prints one line per PDF written; prints one notice (and returns True) when TeX is not
    installed; prints the LaTeX errors and returns False when a document fails to compile.
    """
    folder = Path(folder)
    if tex_command("x.tex") is None:
        print("derive: --pdf skipped: pdflatex is not installed (install TeX Live: "
              "texlive-latex-base, -recommended, -pictures); all other outputs were written",
              file=sys.stderr)
        return True
    ok = True
    for name in tex_names:
        done, message = compile_pdf(folder, name)
        if done:
            print(f"wrote {message}")
        else:
            ok = False
            print(f"derive: {folder / name}: {message}", file=sys.stderr)
    return ok
