"""Compiling the standalone ``.tex`` outputs to PDF (``derive build --pdf``).

Each document is compiled from the rendered files in memory, in a private temporary folder
(mode 0700, removed afterwards, on SIGTERM too), *before* anything is written: the PDFs are then
written with the other outputs, in the same transaction, and listed in the manifest with the sha256
of the ``.tex`` each was compiled from. So a failed compile writes nothing, and a PDF never
disagrees with the ``.tex`` beside it without ``derive check`` saying so.

pdflatex runs with ``-no-shell-escape``, ``openout_any=p`` and ``openin_any=p`` (no writes or reads
outside the folder, no dot files), without a terminal (stdin is empty) and in its own process
group, until its cross-references settle (at most :data:`MAX_RUNS` runs). Its CPU time comes out of
the command's budget (``DERIVE_TIME_LIMIT``): the child gets a CPU limit of what is left, so a TeX
loop ends with one line. ``SOURCE_DATE_EPOCH`` (0 unless set) and ``FORCE_SOURCE_DATE=1`` make the
PDFs reproducible. When TeX is missing, one line says so and the build still succeeds without PDFs.
"""

from __future__ import annotations

import math
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

from derive.errors import InputError
from derive.io.manifest import safe_rel
from derive.io.safefs import atomic_write, read_bytes, scan

TIMEOUT_SECONDS = 300  # wall clock, per run, when no CPU budget is set
MAX_RUNS = 4
MAX_FILE_BYTES = 512 * 1024 * 1024  # any file TeX writes (a log filled by a loop)
LOG_TAIL_LINES = 25
NO_TEX = ("derive: --pdf skipped: pdflatex is not installed (install TeX Live: "
          "texlive-latex-base, -recommended, -pictures); all other outputs were written")


def tex_available() -> bool:
    return shutil.which("pdflatex") is not None


def tex_command(name: str) -> list[str] | None:
    """The command that compiles ``name`` in its folder, or None when TeX is not installed."""
    exe = shutil.which("pdflatex")
    if exe is None:
        return None
    return [exe, "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error",
            "-file-line-error", name]


def tex_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("TEXMFOUTPUT", None)  # openout_any=p allows absolute paths below it
    env.update({"openout_any": "p", "openin_any": "p", "shell_escape": "f",
                "FORCE_SOURCE_DATE": "1"})
    env.setdefault("SOURCE_DATE_EPOCH", "0")
    return env


def standalone(files) -> list[str]:
    """The documents among the outputs (not the ``\\input``-able fragments and figures)."""
    return sorted(f for f in files if f.endswith(".tex") and "/" not in f)


# --- termination and the CPU budget --------------------------------------------------------------
class _Terminated(BaseException):
    pass


@contextmanager
def _sigterm_cleans_up():
    """While compiling, SIGTERM raises an exception (so temporary folders and the TeX child are
    cleaned up), then the signal is delivered again as it was set before."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.getsignal(signal.SIGTERM)
    if old == signal.SIG_IGN:
        yield
        return
    fired = [False]

    def handler(signum, frame):
        if not fired[0]:  # a second SIGTERM during cleanup does not interrupt the cleanup
            fired[0] = True
            raise _Terminated

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    except _Terminated:
        signal.signal(signal.SIGTERM, old if old is not None else signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)  # the default action ends the process here
        raise KeyboardInterrupt from None  # a handler of the caller's that returned
    finally:
        signal.signal(signal.SIGTERM, old if old is not None else signal.SIG_DFL)


def _remaining_budget() -> float | None:
    """CPU seconds left in the running :func:`derive.verify.equality.cpu_budget`, None without
    one."""
    if threading.current_thread() is not threading.main_thread() \
            or not hasattr(signal, "ITIMER_VIRTUAL"):
        return None
    value, _ = signal.getitimer(signal.ITIMER_VIRTUAL)
    return value if value > 0 else None


def _charge(seconds: float) -> None:
    """Take the CPU time TeX used out of the running budget."""
    if _remaining_budget() is None or seconds <= 0:
        return
    value, interval = signal.getitimer(signal.ITIMER_VIRTUAL)
    signal.setitimer(signal.ITIMER_VIRTUAL, max(value - seconds, 0.001), interval)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _limits(cpu_seconds: float | None):
    def lower(which: int, soft: int, hard: int) -> None:
        """Lower a limit (never above a hard limit the caller already has)."""
        try:
            _, current = resource.getrlimit(which)
            if current != resource.RLIM_INFINITY:
                soft, hard = min(soft, current), min(hard, current)
            resource.setrlimit(which, (soft, hard))
        except (OSError, ValueError):
            pass

    def apply():  # in the child, before exec
        if cpu_seconds is not None:
            soft = max(1, math.ceil(cpu_seconds))
            lower(resource.RLIMIT_CPU, soft, soft + 1)
        lower(resource.RLIMIT_FSIZE, MAX_FILE_BYTES, MAX_FILE_BYTES)
        lower(resource.RLIMIT_CORE, 0, 0)
    return apply


def _run(cmd: list[str], cwd: Path, cpu_seconds: float | None) -> int:
    """Run TeX in its own process group; the group is killed whatever ends the wait."""
    timeout = TIMEOUT_SECONDS if cpu_seconds is None else 30 + 4 * cpu_seconds
    proc = subprocess.Popen(cmd, cwd=cwd, env=tex_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, preexec_fn=_limits(cpu_seconds))
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise InputError(f"{Path(cmd[0]).name} did not finish {cmd[-1]} within {timeout:g} s"
                         ) from None
    finally:
        if proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait()


# --- compiling -----------------------------------------------------------------------------------
def compile_documents(files, names: list[str]) -> dict[str, bytes] | None:
    """Compile each of ``names`` from ``files`` (relative path -> text or bytes, every file the
    documents need); returns ``{pdf name: bytes}``, or None when TeX is not installed.

    Raises :class:`InputError` (one line) when a document does not compile, TeX runs out of the
    CPU budget or time, or the temporary folder cannot be written.
    """
    if not names:
        return {}
    if not tex_available():
        return None
    out: dict[str, bytes] = {}
    try:
        with _sigterm_cleans_up(), tempfile.TemporaryDirectory(prefix="derive-pdf-") as tmp:
            work = Path(tmp) / "build"
            work.mkdir()
            for rel, content in files.items():
                if not safe_rel(rel):
                    raise ValueError(f"refusing to compile a file outside the folder: {rel!r}")
                if rel.endswith((".md", ".json", ".pdf")):
                    continue
                (work / rel).parent.mkdir(parents=True, exist_ok=True)
                (work / rel).write_bytes(content.encode("utf-8") if isinstance(content, str)
                                         else content)
            for name in names:
                out[str(Path(name).with_suffix(".pdf"))] = _compile_one(work, name)
    except subprocess.SubprocessError as e:
        raise InputError(f"cannot run pdflatex: {e}") from None
    except OSError as e:
        raise InputError(f"cannot compile the PDFs ({e.strerror or e}): "
                         f"{e.filename or 'the temporary folder'}") from None
    return out


def _compile_one(work: Path, name: str) -> bytes:
    program = "pdflatex"
    budget = _remaining_budget()
    used = 0.0
    aux = work / Path(name).with_suffix(".aux")
    previous = None
    for _ in range(MAX_RUNS):
        start = _children_cpu()
        try:
            code = _run(tex_command(name), work, None if budget is None else budget - used)
        finally:
            spent = _children_cpu() - start
            used += spent
            _charge(spent)
        if budget is not None and (used >= budget or code in (-signal.SIGXCPU,
                                                              -signal.SIGKILL)):
            raise InputError(f"gave up: {program} used more than {budget:.3g} s of CPU time on "
                             f"{name} (a TeX loop? DERIVE_TIME_LIMIT sets the budget)")
        if code == -signal.SIGXFSZ:
            raise InputError(f"{name}: {program} wrote more than {MAX_FILE_BYTES} bytes "
                             "(a TeX loop?)")
        if code != 0:
            raise InputError(f"{name} does not compile: {_failure(work / name, program)}")
        log = _read_log(work / name)
        current = aux.read_bytes() if aux.is_file() else b""
        if previous is not None and current == previous and "Rerun" not in log:
            break
        previous = current
    pdf = work / Path(name).with_suffix(".pdf")
    if not pdf.is_file() or pdf.is_symlink():
        raise InputError(f"{name}: {program} wrote no PDF")
    return pdf.read_bytes()


def _read_log(tex: Path) -> str:
    try:
        return tex.with_suffix(".log").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _failure(tex: Path, program: str) -> str:
    """The first LaTeX error of the log and the lines that show where it is, as one line."""
    lines = _read_log(tex).splitlines()
    if not lines:
        return f"{program} failed (no log)"
    picked = [k for k, ln in enumerate(lines)
              if ln.startswith("!") or re.match(r".*\.tex:\d+: ", ln)]
    if not picked:
        return f"{program} failed: " + " ".join(ln.strip() for ln in lines[-3:])
    k = picked[0]
    detail = " ".join(ln.strip() for ln in lines[k:k + 3] if ln.strip())
    return detail[:400]


# --- compiling a folder on disk (for tools and tests) --------------------------------------------
def compile_pdfs(folder: Path, tex_names: list[str]) -> bool:
    """Compile each of ``tex_names`` (relative to ``folder``) to PDF beside it.

    Reads the folder's regular files (links are not followed) and writes each PDF atomically, with
    the mode of its ``.tex``. Prints one line per PDF written; prints one notice (and returns True)
    when TeX is not installed; prints the LaTeX error (one line) and returns False when a
    document fails to compile.
    """
    folder = Path(folder)
    if not tex_available():
        print(NO_TEX, file=sys.stderr)
        return True
    files = {rel: data for rel, kind in scan(folder).items() if kind == "file"
             and not rel.startswith(".") and not rel.endswith(".pdf")
             and (data := read_bytes(folder, rel)) is not None}
    ok = True
    for name in tex_names:
        try:
            pdfs = compile_documents(files, [name]) or {}
        except InputError as e:
            ok = False
            print(str(e), file=sys.stderr)
            continue
        for pdf, data in pdfs.items():
            target = folder / pdf
            atomic_write(target, data)
            try:
                os.chmod(target, os.stat(folder / name).st_mode & 0o777)
            except OSError:
                pass
            print(f"wrote {target}")
    return ok
