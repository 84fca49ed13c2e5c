"""A long build shows one line per part on stderr when stderr is a terminal, and is quiet
otherwise (issue 15)."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys

from conftest import ROOT

from derive import pipeline


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


SHEET = str(ROOT / "tests" / "sheets" / "calculus_rules.toml")


def _build(tmp_path, stderr) -> None:
    out = io.StringIO()
    assert pipeline.build([SHEET], tmp_path / "out", ("json",), stdout=out, stderr=stderr) == 0


def test_a_long_build_on_a_terminal_prints_one_line_per_part(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "PROGRESS_AFTER", 0.0)  # every build counts as long
    err = FakeTerminal()
    _build(tmp_path, err)
    lines = err.getvalue().splitlines()
    sheet = pipeline.load_sheets([SHEET])[0]
    parts = [(ex.number, p) for ex in sheet.exercises for p in ex.parts]
    assert len(lines) == len(parts) > 1
    for k, (line, (number, part)) in enumerate(zip(lines, parts, strict=True), 1):
        assert line == (f"derive: {sheet.id}: part {number}{part.label} ({part.task}) solved "
                        f"and verified [{k}/{len(parts)}]")


def test_a_short_build_and_a_build_not_on_a_terminal_are_quiet(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "PROGRESS_AFTER", 10.0**9)  # every build counts as short
    err = FakeTerminal()
    _build(tmp_path / "short", err)
    assert err.getvalue() == ""
    monkeypatch.setattr(pipeline, "PROGRESS_AFTER", 0.0)
    plain = io.StringIO()  # a file or a pipe: never any progress
    _build(tmp_path / "plain", plain)
    assert plain.getvalue() == ""
    assert pipeline.progress_lines(plain, after=0) is None


def test_derive_build_on_a_real_terminal_shows_progress_after_the_threshold(tmp_path):
    """Through the command line, stderr a pseudo-terminal: lines appear past the threshold
    (set to 0 through a wrapper that changes nothing else); through a pipe none do."""
    code = ("import sys; from derive import pipeline; pipeline.PROGRESS_AFTER = 0.0; "
            "from derive.cli import main; sys.exit(main(sys.argv[1:]))")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    args = [sys.executable, "-c", code, "build", SHEET, "--out", str(tmp_path / "o"),
            "--format", "json"]
    main_fd, child_fd = pty.openpty()
    proc = subprocess.run(args, stderr=child_fd, stdout=subprocess.PIPE, env=env, timeout=300)
    os.close(child_fd)
    seen = b""
    try:
        while chunk := os.read(main_fd, 65536):
            seen += chunk
    except OSError:  # the terminal is closed once everything was read
        pass
    os.close(main_fd)
    assert proc.returncode == 0
    assert b"solved and verified [1/" in seen
    piped = subprocess.run(args, capture_output=True, env=env, timeout=300)
    assert piped.returncode == 0 and piped.stderr == b""
