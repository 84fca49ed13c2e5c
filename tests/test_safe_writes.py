"""Safe writes: one transaction per sheet folder, only derive's own files, and a build killed at
any point (SIGKILL) leaves the previous outputs intact; the next build or check recovers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT

from derive.errors import InputError
from derive.io import writer
from derive.io.compare import compare_outputs
from derive.io.manifest import MANIFEST, manifest_text, read_manifest
from derive.io.writer import recover, write_outputs

V1 = {"solutions.tex": "tex v1\n", "solutions.md": "md v1\n", "figures/a.svg": "<svg>1</svg>\n",
      "figures/old.svg": "<svg>old</svg>\n"}
V2 = {"solutions.tex": "tex v2\n", "solutions.md": "md v2\n", "figures/a.svg": "<svg>2</svg>\n",
      "figures/new.svg": "<svg>new</svg>\n"}


@pytest.fixture(params=["exchange", "two renames"])
def mode(request, monkeypatch):
    """Every behaviour holds with renameat2(RENAME_EXCHANGE) and with its fallback."""
    if request.param == "two renames":
        monkeypatch.setenv("DERIVE_TEST_NO_EXCHANGE", "1")
    elif not sys.platform.startswith("linux"):
        pytest.skip("renameat2 is Linux-only")
    return request.param


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root``: kind, contents or link target, and mtime."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        st = path.lstat()
        if path.is_symlink():
            out[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            out[rel] = ("dir",)
        else:
            out[rel] = ("file", path.read_bytes(), st.st_mtime_ns)
    return out


def contents(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text() for p in folder.rglob("*")
            if p.is_file() and not p.is_symlink() and p.name != MANIFEST}


def add_foreign(folder: Path) -> None:
    (folder / "notes.txt").write_text("my notes\n")
    (folder / "figures" / "mine").mkdir(parents=True)
    (folder / "figures" / "mine" / "drawing.svg").write_text("<svg>mine</svg>\n")
    (folder / "empty").mkdir()
    (folder / "link").symlink_to("notes.txt")


FOREIGN = {"notes.txt", "figures/mine/drawing.svg", "empty", "link"}


def foreign_intact(folder: Path) -> None:
    assert (folder / "notes.txt").read_text() == "my notes\n"
    assert (folder / "figures" / "mine" / "drawing.svg").read_text() == "<svg>mine</svg>\n"
    assert (folder / "empty").is_dir()
    assert os.readlink(folder / "link") == "notes.txt"


def no_debris(out: Path) -> None:
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


# --- the transaction ---------------------------------------------------------------------------
def test_first_build_writes_files_and_manifest(tmp_path, mode):
    folder = tmp_path / "out" / "s"
    changed = write_outputs(folder, V1)
    assert contents(folder) == V1
    assert sorted(read_manifest(folder)) == sorted(V1)
    assert len(changed) == len(V1)
    no_debris(tmp_path / "out")


def test_rebuild_replaces_owned_files_keeps_foreign_ones(tmp_path, mode):
    folder = tmp_path / "s"
    write_outputs(folder, V1)
    add_foreign(folder)
    write_outputs(folder, V2)
    assert {k: v for k, v in contents(folder).items() if k in V1 or k in V2} == V2
    assert not (folder / "figures" / "old.svg").exists()  # stale, and derive's: removed
    foreign_intact(folder)
    assert sorted(read_manifest(folder)) == sorted(V2)
    no_debris(tmp_path)


def test_identical_rebuild_touches_nothing(tmp_path, mode):
    folder = tmp_path / "s"
    write_outputs(folder, V1)
    before = snapshot(folder)
    time.sleep(0.01)
    assert write_outputs(folder, V1) == []
    assert snapshot(folder) == before


def test_foreign_file_in_the_way_is_refused_and_nothing_written(tmp_path, mode):
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "solutions.tex").write_text("the lecturer's own solutions\n")
    before = snapshot(tmp_path)
    with pytest.raises(InputError, match="was not written by derive"):
        write_outputs(folder, V1)
    assert snapshot(tmp_path) == before


def test_identical_foreign_file_is_adopted(tmp_path, mode):
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "solutions.tex").write_text(V1["solutions.tex"])
    write_outputs(folder, V1)
    assert "solutions.tex" in read_manifest(folder)


def test_owned_path_replaced_by_a_folder_is_refused(tmp_path, mode):
    folder = tmp_path / "s"
    write_outputs(folder, V1)
    (folder / "solutions.md").unlink()
    (folder / "solutions.md").mkdir()
    (folder / "solutions.md" / "keep").write_text("x")
    with pytest.raises(InputError, match="not written by derive"):
        write_outputs(folder, V2)
    assert (folder / "solutions.md" / "keep").read_text() == "x"


def test_a_file_where_a_folder_is_needed_is_refused(tmp_path, mode):
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "figures").write_text("not a folder")
    with pytest.raises(InputError, match="in the way"):
        write_outputs(folder, V1)
    assert (folder / "figures").read_text() == "not a folder"


def test_manifest_cannot_make_derive_delete_outside_or_foreign_files(tmp_path, mode):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    folder = tmp_path / "out" / "s"
    write_outputs(folder, V1)
    (folder / "notes.txt").write_text("mine")
    hostile = {"generator": "derive", "files": [str(victim), "../../victim.txt", "../s2/x",
                                                 "/etc/passwd", MANIFEST, "notes.txt/..", 5]}
    (folder / MANIFEST).write_text(json.dumps(hostile))
    write_outputs(folder, {"other.tex": "x\n"})
    assert victim.read_text() == "keep me"
    assert (folder / "notes.txt").read_text() == "mine"
    # the old outputs are no longer listed as derive's, so they are kept as foreign files
    assert (folder / "solutions.tex").read_text() == V1["solutions.tex"]
    no_debris(tmp_path / "out")


def test_unsafe_output_names_are_refused(tmp_path):
    with pytest.raises(ValueError):
        write_outputs(tmp_path / "s", {"../escape.tex": "x"})
    with pytest.raises(ValueError):
        write_outputs(tmp_path / "s", {"/tmp/abs.tex": "x"})
    assert not (tmp_path / "escape.tex").exists()


def test_symlinked_sheet_folder_is_refused(tmp_path, mode):
    """OUT/<id> is managed by derive: a link there is never followed (issue 12)."""
    real = tmp_path / "real"
    write_outputs(real, V1)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "s").symlink_to(real)
    before = snapshot(tmp_path)
    with pytest.raises(InputError, match="is a symbolic link"):
        write_outputs(tmp_path / "out" / "s", V2)
    assert snapshot(tmp_path) == before


def test_symlinked_out_is_followed(tmp_path, mode):
    """OUT itself (the --out argument) may be a link."""
    (tmp_path / "real").mkdir()
    (tmp_path / "out").symlink_to(tmp_path / "real")
    write_outputs(tmp_path / "out" / "s", V1)
    write_outputs(tmp_path / "out" / "s", V2)
    assert contents(tmp_path / "real" / "s") == V2
    no_debris(tmp_path / "real")


def test_unwritable_output_is_an_input_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="cannot write the outputs"):
        write_outputs(blocker / "s", V1)


def test_check_compares_and_reports_foreign_files(tmp_path, mode):
    folder = tmp_path / "s"
    write_outputs(folder, V1)
    assert compare_outputs(folder, V1) == {}
    add_foreign(folder)
    before = snapshot(tmp_path)
    assert set(compare_outputs(folder, V1)) == FOREIGN
    drift = compare_outputs(folder, V2)
    assert {"solutions.tex", "solutions.md", "figures/a.svg", "figures/new.svg",
            MANIFEST} <= set(drift)
    assert drift["figures/new.svg"].reason == "missing"
    assert drift["solutions.tex"].reason == "differs"
    assert snapshot(tmp_path) == before


# --- recovery from every interruption point (simulated in-process) -------------------------------
class Stop(BaseException):
    pass


@pytest.mark.parametrize("point", ["file:1", "file:3", "ready", "swapped"])
def test_interrupted_transaction_recovers(tmp_path, mode, monkeypatch, point):
    """Stop the transaction at ``point`` (as a SIGKILL would: no cleanup), then recover."""
    folder = tmp_path / "s"
    write_outputs(folder, V1)
    add_foreign(folder)
    before = snapshot(folder)

    def stop(where, count=None):
        if where == point or f"{where}:{count}" == point:
            raise Stop

    monkeypatch.setattr(writer, "pause_point", stop)
    monkeypatch.setattr(writer.shutil, "rmtree", _no_cleanup(writer.shutil.rmtree, Stop))
    with pytest.raises(Stop):
        write_outputs(folder, V2)
    monkeypatch.undo()
    if point == "swapped":
        assert {k: v for k, v in contents(folder).items() if k in V2} == V2
    else:
        assert snapshot(folder) == before  # the previous outputs, untouched
    if mode == "two renames":
        monkeypatch.setenv("DERIVE_TEST_NO_EXCHANGE", "1")
    recover(folder)
    no_debris(tmp_path)
    foreign_intact(folder)
    expected = V2 if point in ("ready", "swapped") else V1  # committed: rolled forward
    assert {k: v for k, v in contents(folder).items() if k in V1 or k in V2} == expected
    write_outputs(folder, V2)
    assert set(compare_outputs(folder, V2)) == FOREIGN  # the user's files are reported, kept
    foreign_intact(folder)
    no_debris(tmp_path)


def _no_cleanup(rmtree, stop):
    """While a Stop propagates, the staging folder is not removed (SIGKILL runs no handlers)."""
    def guarded(path, *args, **kwargs):
        if isinstance(sys.exc_info()[1], stop):
            return None
        return rmtree(path, *args, **kwargs)

    return guarded


def test_fallback_killed_between_its_two_renames_recovers(tmp_path, monkeypatch):
    monkeypatch.setenv("DERIVE_TEST_NO_EXCHANGE", "1")
    folder = tmp_path / "s"
    write_outputs(folder, V1)
    add_foreign(folder)
    real_rename = os.rename
    calls = []

    def rename(a, b):
        calls.append((a, b))
        if Path(b).name == "s" and Path(a).name.endswith("derive-new") and len(calls) > 0:
            raise Stop  # the old tree is at .s.derive-old; the folder is momentarily absent
        return real_rename(a, b)

    monkeypatch.setattr(writer.os, "rename", rename)
    with pytest.raises(Stop):
        write_outputs(folder, V2)
    monkeypatch.setattr(writer.os, "rename", real_rename)
    assert not folder.exists()
    recover(folder)  # committed: rolls forward
    assert {k: v for k, v in contents(folder).items() if k in V2} == V2
    foreign_intact(folder)
    no_debris(tmp_path)


def test_recovery_keeps_files_added_to_the_old_tree(tmp_path, monkeypatch):
    """A file that appears in the folder during the build (after the foreign files were
    carried over) is moved into the new folder, never deleted."""
    folder = tmp_path / "s"
    write_outputs(folder, V1)

    def late(where, count=None):
        if where == "ready":
            (folder / "late.txt").write_text("written during the build")

    monkeypatch.setattr(writer, "pause_point", late)
    write_outputs(folder, V2)
    assert (folder / "late.txt").read_text() == "written during the build"
    no_debris(tmp_path)


def test_uncommitted_debris_is_discarded_by_the_next_build(tmp_path, mode):
    folder = tmp_path / "s"
    write_outputs(folder, V1)
    (tmp_path / ".s.derive-new" / "figures").mkdir(parents=True)
    (tmp_path / ".s.derive-new" / MANIFEST).write_text(manifest_text(V2))  # written first
    (tmp_path / ".s.derive-new" / "figures" / "new.svg").write_text("<sv")  # a torn output
    (tmp_path / ".s.derive-txn").write_text('{"state": "stag')  # torn record
    write_outputs(folder, V2)
    assert contents(folder) == V2
    no_debris(tmp_path)


# --- a real `derive build`, SIGKILLed mid-write ---------------------------------------------------
TINY = '''
[sheet]
id = "tiny"
title = "Tiny {version}"

[[exercise]]
title = "One"
model = ["y = 1 - relu(x1) - relu(x2) + relu(x1 + x2)", "E = log(cosh(y - t))"]

[[exercise.part]]
task = "network"
of = "y"

[[exercise.part]]
task = "derivative"
of = "E"
wrt = "y"
'''


def _env(**extra) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def _derive(*args, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "derive", *args], capture_output=True,
                          text=True, timeout=600, env=_env(**env))


def _build_and_kill(sheet: Path, out: Path, **env) -> str:
    """Start `derive build`, wait for the test pause, SIGKILL it; return what it printed."""
    proc = subprocess.Popen([sys.executable, "-m", "derive", "build", str(sheet), "--out",
                             str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env(**env))
    try:
        line = proc.stderr.readline()  # blocks until the pause (or exit)
        assert line.startswith("derive: test pause"), line + proc.stderr.read()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return line


@pytest.mark.parametrize(
    ("pause", "fallback"),
    [({"DERIVE_TEST_PAUSE_AFTER_FILES": "4"}, False),
     ({"DERIVE_TEST_PAUSE_AT": "ready"}, False),
     ({"DERIVE_TEST_PAUSE_AT": "swapped"}, False),
     ({"DERIVE_TEST_PAUSE_AT": "ready"}, True)],
    ids=["after-4-files", "committed", "swapped", "fallback-committed"],
)
@pytest.mark.slow  # a real build killed at each point: about a minute in all (CI runs -m slow)
def test_sigkill_mid_build_leaves_previous_outputs_intact(tmp_path, pause, fallback):
    v1, v2 = tmp_path / "v1.toml", tmp_path / "v2.toml"
    v1.write_text(TINY.format(version="v1"))
    v2.write_text(TINY.format(version="v2"))
    out = tmp_path / "out"
    extra = {"DERIVE_TEST_NO_EXCHANGE": "1"} if fallback else {}
    assert _derive("build", str(v1), "--out", str(out), **extra).returncode == 0
    folder = out / "tiny"
    (folder / "notes.txt").write_text("my notes\n")
    before = snapshot(folder)
    assert len([p for p in before if p.endswith((".tex", ".md", ".json", ".svg"))]) >= 5

    _build_and_kill(v2, out, **pause, **extra)

    swapped = pause.get("DERIVE_TEST_PAUSE_AT") == "swapped"
    committed = pause.get("DERIVE_TEST_PAUSE_AT") in ("ready", "swapped")
    after = snapshot(folder)
    if swapped:  # the new tree is complete and in place; only the old one awaits cleanup
        assert "Tiny v2" in (folder / "solutions.tex").read_text()
    else:  # nothing of the new build is visible: every file as it was, mtimes included
        assert after == before
    assert (folder / "notes.txt").read_text() == "my notes\n"

    # `derive check` reports the interrupted build and changes nothing
    frozen = snapshot(out)
    check = _derive("check", str(v2 if committed else v1), "--out", str(out), **extra)
    assert check.returncode == 1, check.stdout + check.stderr
    assert "interrupted build" in check.stdout
    assert snapshot(out) == frozen
    # the next build finishes (or discards) the transaction and completes the change
    assert _derive("build", str(v2), "--out", str(out), **extra).returncode == 0
    assert (folder / "notes.txt").read_text() == "my notes\n"
    no_debris(out)
    (folder / "notes.txt").unlink()  # check reports every file derive did not write
    assert _derive("check", str(v2), "--out", str(out)).returncode == 0


@pytest.mark.slow
def test_sigkill_then_build_recovers_without_check(tmp_path):
    sheet = tmp_path / "v.toml"
    sheet.write_text(TINY.format(version="v1"))
    out = tmp_path / "out"
    _build_and_kill(sheet, out, DERIVE_TEST_PAUSE_AFTER_FILES="2")  # first build ever
    assert not (out / "tiny").exists()  # nothing half-written is visible
    assert _derive("check", str(sheet), "--out", str(out)).returncode == 1
    assert _derive("build", str(sheet), "--out", str(out)).returncode == 0
    assert _derive("check", str(sheet), "--out", str(out)).returncode == 0
    no_debris(out)


@pytest.mark.parametrize("name", ["notes.txt", "figures/.hidden.svg", "sub/dir/a.tex"])
def test_a_file_name_derive_would_not_recognise_later_is_refused(tmp_path, name):
    """Every written name must be one a later build recognises as derive's (OUTPUT_NAME): the
    check once looked at the wrong variable and let any name through."""
    with pytest.raises(ValueError, match="not the name of a derive output"):
        write_outputs(tmp_path / "sheet", {"solutions.tex": "x\n", name: "y\n"})
    assert not (tmp_path / "sheet").exists()
