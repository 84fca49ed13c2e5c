"""Hostile file systems and TeX (issue 12, "Trust"): derive never follows a link in the tree it
manages, never deletes or overwrites a file it did not write (whatever a manifest says), `derive
check` never changes anything, a multi-sheet build is all or nothing, sheet paths that are not
regular files are refused, and `--pdf` compiles in a private folder without shell escape, within
the CPU budget, before anything is written.

Every case asserts its outcome: the exit code, one line ``...: ...`` on stderr (no traceback), and
the tree (every entry, its mode, mtime, content or link target) unchanged where nothing may change.
The builds run in-process (``derive.cli.main``) with the tiny sheet's rendering cached, so that the
module stays fast; TeX cases skip without pdflatex (and fail with DERIVE_REQUIRE_TEX=1).
"""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, need_tool, tiny_sheet

from derive import cli, pipeline
from derive.errors import InputError
from derive.io import pdf, safefs, writer
from derive.io.compare import compare_outputs
from derive.io.manifest import MANIFEST, digest, manifest_text, sha256
from derive.io.writer import write_outputs
from derive.sheet.load import MAX_SHEET_BYTES

LOOP_TEX = "\\documentclass{article}\\begin{document}\\loop\\iftrue\\repeat\\end{document}\n"
BAD_TEX = "\\documentclass{article}\\begin{document}\n\\nosuchmacro\n\\end{document}\n"
SECRET = "-----BEGIN OPENSSH PRIVATE KEY----- not really\n"

_real_render = pipeline.derive_files
_cache: dict = {}


@pytest.fixture(autouse=True)
def fast_render(monkeypatch):
    """Solve each distinct sheet once per module (rendering is not what these tests are about)."""
    def render(sheet, formats):
        key = (sheet.id, sheet.title, tuple(formats))
        if key not in _cache:
            _cache[key] = _real_render(sheet, formats)
        results, files = _cache[key]
        return results, dict(files)

    monkeypatch.setattr(pipeline, "derive_files", render)


def sheet(tmp_path: Path, name="tiny", id="tiny", title="Tiny") -> Path:
    """A sheet file in tmp/sheets (which tree snapshots leave out)."""
    path = tmp_path / "sheets" / f"{name}-{title.replace(' ', '_')}.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(tiny_sheet(id=id, title=title))
    return path


def derive(capsys, *argv) -> tuple[int, str, str]:
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def snapshot(root: Path, dir_mtimes: bool = True) -> dict[str, tuple]:
    """Every entry below ``root`` (dot entries included, links not followed), without the test's
    own ``sheets`` and ``tmp`` folders. ``dir_mtimes=False`` for a write that failed halfway: it
    created and removed its staging folder, which changes the parent's mtime and nothing else."""
    found = {}

    def walk(path: Path, rel: str):
        for e in sorted(os.scandir(path), key=lambda e: e.name):
            st = e.stat(follow_symlinks=False)
            r = rel + e.name
            if r in ("sheets", "tmp"):
                continue
            if stat.S_ISLNK(st.st_mode):
                found[r] = ("link", os.readlink(e.path))
            elif stat.S_ISDIR(st.st_mode):
                found[r] = ("dir", st.st_mode, st.st_mtime_ns if dir_mtimes else None)
                walk(Path(e.path), r + "/")
            elif stat.S_ISREG(st.st_mode):
                found[r] = ("file", st.st_mode, st.st_mtime_ns, Path(e.path).read_bytes())
            else:
                found[r] = ("other", st.st_mode)
    walk(root, "")
    return found


def one_line_error(err: str, *needles: str) -> None:
    """One line ``something: message`` on stderr, no traceback, containing each needle."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and ": " in lines[0], err
    for needle in needles:
        assert needle in lines[0], err


@pytest.fixture
def built(tmp_path, capsys):
    """A finished build of the tiny sheet in OUT = tmp/out, a secret outside it."""
    src = sheet(tmp_path)
    out = tmp_path / "out"
    assert derive(capsys, "build", src, "--out", out)[0] == 0
    secret = tmp_path / "home" / ".ssh"
    secret.mkdir(parents=True)
    (secret / "id_rsa").write_text(SECRET)
    return src, out, secret


def no_debris(out: Path) -> None:
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


# --- 1. links at every path derive manages --------------------------------------------------------
MANAGED = ["tiny", ".tiny.derive-old", ".tiny.derive-new", ".tiny.derive-txn",
           ".tiny.derive-kept-20240101-000000"]


@pytest.mark.parametrize("command", ["build", "check"])
@pytest.mark.parametrize("name", MANAGED)
def test_link_at_a_managed_path_is_refused_and_nothing_moves(built, tmp_path, capsys, name,
                                                             command):
    src, out, secret = built
    if name == "tiny":  # OUT/<id> itself a link to the user's folder
        os.rename(out / "tiny", tmp_path / "elsewhere")
        (out / "tiny").symlink_to(secret)
    elif name.endswith("txn"):
        (out / name).symlink_to(secret / "id_rsa")
    else:
        (out / name).symlink_to(secret)
    before = snapshot(tmp_path)
    rc, stdout, err = derive(capsys, command, src, "--out", out)
    assert rc == 2
    one_line_error(err, "is a symbolic link", name)
    assert SECRET not in stdout + err
    assert snapshot(tmp_path) == before  # the ssh key (and everything else) stayed where it was


def test_link_out_dir_itself_is_allowed(tmp_path, capsys):
    """OUT (the --out argument) may be a link: derive works in the folder it points to."""
    src = sheet(tmp_path)
    (tmp_path / "real").mkdir()
    (tmp_path / "out").symlink_to(tmp_path / "real")
    assert derive(capsys, "build", src, "--out", tmp_path / "out")[0] == 0
    assert derive(capsys, "check", src, "--out", tmp_path / "out")[0] == 0
    assert (tmp_path / "real" / "tiny" / "solutions.tex").is_file()


@pytest.mark.parametrize("rel", ["solutions.tex", "parts", MANIFEST])
def test_link_inside_the_folder_is_drift_for_check_and_refused_by_build(built, tmp_path, capsys,
                                                                       rel):
    src, out, secret = built
    target = out / "tiny" / rel
    if target.is_dir():
        os.rename(target, tmp_path / "parts-moved")
        target.symlink_to(secret)
    else:
        target.unlink()
        target.symlink_to(secret / "id_rsa")
    before = snapshot(tmp_path)
    rc, stdout, err = derive(capsys, "check", src, "--out", out)
    assert rc == 1 and err == ""
    assert f"{target}: is a symbolic link" in stdout
    assert SECRET not in stdout  # a link is reported, never read
    assert snapshot(tmp_path) == before
    rc, stdout, err = derive(capsys, "build", src, "--out", out)
    assert rc == 2
    one_line_error(err, "symbolic link")
    assert snapshot(tmp_path) == before


def test_user_links_elsewhere_in_the_folder_are_kept_as_links(built, tmp_path, capsys):
    src, out, secret = built
    (out / "tiny" / "my-key").symlink_to(secret / "id_rsa")
    assert derive(capsys, "build", sheet(tmp_path, title="Tiny v2"), "--out", out)[0] == 0
    assert os.readlink(out / "tiny" / "my-key") == str(secret / "id_rsa")
    assert (secret / "id_rsa").read_text() == SECRET
    no_debris(out)


# --- 2. forged manifests --------------------------------------------------------------------------
def _forge(folder: Path, **fields) -> None:
    data = json.loads((folder / MANIFEST).read_text())
    data.update(fields)
    (folder / MANIFEST).write_text(json.dumps(data))


def test_manifest_listing_user_files_with_their_real_hash_deletes_nothing(built, tmp_path, capsys):
    src, out, secret = built
    folder = out / "tiny"
    (folder / "notes.txt").write_text("my notes\n")
    (folder / "figures").mkdir()
    (folder / "figures" / "mine.svg").write_text("<svg>mine</svg>\n")
    data = json.loads((folder / MANIFEST).read_text())
    for rel in ("notes.txt", "figures/mine.svg"):  # the forger knows the contents even
        data["files"].append(rel)
        data["sha256"][rel] = sha256((folder / rel).read_bytes())
    (folder / MANIFEST).write_text(json.dumps(data))
    assert derive(capsys, "build", sheet(tmp_path, title="Tiny v2"), "--out", out)[0] == 0
    assert (folder / "notes.txt").read_text() == "my notes\n"  # not a name derive writes
    no_debris(out)


def test_manifest_with_wrong_hashes_makes_no_file_derive_s(built, tmp_path, capsys):
    src, out, secret = built
    folder = out / "tiny"
    data = json.loads((folder / MANIFEST).read_text())
    data["sha256"] = {rel: "0" * 64 for rel in data["sha256"]}
    (folder / MANIFEST).write_text(json.dumps(data))
    before = snapshot(tmp_path)
    rc, _, err = derive(capsys, "build", sheet(tmp_path, title="Tiny v2"), "--out", out)
    assert rc == 2  # the files whose content changes are not provably derive's: refused
    one_line_error(err, "changed since derive wrote it")
    assert snapshot(tmp_path) == before


def test_hand_edited_output_is_refused_not_overwritten(built, tmp_path, capsys):
    src, out, secret = built
    tex = out / "tiny" / "solutions.tex"
    tex.write_text(tex.read_text() + "% my own remark\n")
    before = snapshot(tmp_path)
    rc, _, err = derive(capsys, "build", sheet(tmp_path, title="Tiny v2"), "--out", out)
    assert rc == 2
    one_line_error(err, "solutions.tex was changed since derive wrote it")
    assert snapshot(tmp_path) == before


def test_manifest_with_traversal_and_absolute_paths_touches_nothing_outside(built, tmp_path,
                                                                            capsys):
    src, out, secret = built
    folder = out / "tiny"
    victim = tmp_path / "victim.tex"
    victim.write_text("keep me\n")
    key = str(secret / "id_rsa")
    _forge(folder, files=["../../victim.tex", "../victim.tex", key, "parts/../../../victim.tex",
                          "./solutions.tex", 7, None],
           sha256={"../../victim.tex": sha256(b"keep me\n"),
                   key: sha256(SECRET)})
    rc, _, _ = derive(capsys, "build", src, "--out", out)
    assert rc == 0  # nothing is derive's any more, but every output is identical: adopted
    assert victim.read_text() == "keep me\n" and (secret / "id_rsa").read_text() == SECRET
    no_debris(out)


def test_legacy_manifest_is_trusted_only_when_its_digest_matches(built, tmp_path, capsys):
    src, out, secret = built
    folder = out / "tiny"
    files = json.loads((folder / MANIFEST).read_text())["files"]
    legacy = {rel: (folder / rel).read_bytes() for rel in files}
    (folder / MANIFEST).write_text(json.dumps({"generator": "derive", "files": files,
                                               "digest": digest(legacy)}))
    v2 = sheet(tmp_path, title="Tiny v2")
    assert derive(capsys, "build", v2, "--out", out)[0] == 0  # an older derive's build: upgraded
    assert "sha256" in json.loads((folder / MANIFEST).read_text())
    # the same manifest with a digest that does not match: nothing is derive's
    files = json.loads((folder / MANIFEST).read_text())["files"]
    (folder / MANIFEST).write_text(json.dumps({"generator": "derive", "files": files,
                                               "digest": "0" * 64}))
    before = snapshot(tmp_path)
    rc, _, err = derive(capsys, "build", src, "--out", out)
    assert rc == 2
    one_line_error(err, "was changed since derive wrote it")
    assert snapshot(tmp_path) == before


def test_planted_staging_folder_keeps_files_it_cannot_prove_are_derive_s(built, tmp_path, capsys):
    src, out, secret = built
    planted = out / ".tiny.derive-new"
    planted.mkdir()
    (planted / "precious.txt").write_text("not derive's\n")
    (planted / "link").symlink_to(secret / "id_rsa")
    rc, _, err = derive(capsys, "build", sheet(tmp_path, title="Tiny v2"), "--out", out)
    assert rc == 0 and "derive: warning: kept files" in err
    kept = [p for p in out.iterdir() if p.name.startswith(".tiny.derive-kept-")]
    assert len(kept) == 1 and (kept[0] / "precious.txt").read_text() == "not derive's\n"
    assert os.readlink(kept[0] / "link") == str(secret / "id_rsa")
    assert (secret / "id_rsa").read_text() == SECRET


def test_planted_committed_transaction_is_rolled_forward_only_when_complete(built, tmp_path,
                                                                           capsys):
    """A staging folder and a ``ready`` record that an attacker planted (or a damaged one): it
    would replace the outputs, but it holds a link, so it is discarded (the link kept, unread)."""
    src, out, secret = built
    planted = out / ".tiny.derive-new"
    planted.mkdir()
    files = {"solutions.tex": "planted\n"}
    (planted / MANIFEST).write_text(manifest_text(files))
    (planted / "solutions.tex").symlink_to(secret / "id_rsa")
    (out / ".tiny.derive-txn").write_text(json.dumps({"state": "ready",
                                                      "digest": digest(files)}))
    rc, _, err = derive(capsys, "build", sheet(tmp_path, title="Tiny v2"), "--out", out)
    assert rc == 0 and "kept files" in err
    assert "Tiny v2" in (out / "tiny" / "solutions.tex").read_text()
    assert not (out / "tiny" / "solutions.tex").is_symlink()
    assert (secret / "id_rsa").read_text() == SECRET
    kept = next(out.glob(".tiny.derive-kept-*"))
    assert os.readlink(kept / "solutions.tex") == str(secret / "id_rsa")


def test_planted_old_tree_with_links_moves_nothing_through_them(built, tmp_path, capsys):
    src, out, secret = built
    old = out / ".tiny.derive-old"
    old.mkdir()
    (old / "parts").symlink_to(secret)  # the bug: files were moved out of the linked folder
    (old / MANIFEST).write_text(json.dumps({"files": ["parts/id_rsa"], "sha256": {
        "parts/id_rsa": sha256(SECRET)}}))
    before = snapshot(secret)
    assert derive(capsys, "build", src, "--out", out)[0] == 0
    assert snapshot(secret) == before
    assert (out / "tiny" / "parts").is_dir() and not (out / "tiny" / "parts").is_symlink()
    assert not (out / "tiny" / "parts" / "id_rsa").exists()


def test_check_does_not_read_a_hard_linked_output(built, tmp_path, capsys):
    src, out, secret = built
    tex = out / "tiny" / "solutions.tex"
    tex.unlink()
    os.link(secret / "id_rsa", tex)
    stdout = _check_unchanged(capsys, tmp_path, src, out, f"{tex}: has 2 hard links")
    assert SECRET not in stdout


# --- 3. check never changes anything --------------------------------------------------------------
def _check_unchanged(capsys, tmp_path, src, out, *expect, rc=1, fmt=None) -> str:
    before = snapshot(tmp_path)
    time.sleep(0.01)
    args = ["check", src, "--out", out] + (["--format", fmt] if fmt else [])
    code, stdout, err = derive(capsys, *args)
    assert code == rc, stdout + err
    for needle in expect:
        assert needle in stdout, stdout
    assert snapshot(tmp_path) == before
    return stdout


def test_check_reports_every_foreign_entry(built, tmp_path, capsys):
    src, out, _ = built
    folder = out / "tiny"
    (folder / "notes.txt").write_text("mine\n")
    (folder / "empty").mkdir()
    os.mkfifo(folder / "pipe")
    stdout = _check_unchanged(capsys, tmp_path, src, out, "notes.txt: a file derive did not write",
                              "empty: an empty folder", "pipe: a special file", "3 files drifted")
    assert "mine" not in stdout


def test_check_prints_hostile_file_names_and_contents_terminal_safe(built, tmp_path, capsys):
    src, out, _ = built
    folder = out / "tiny"
    (folder / "\x1b]0;owned\x07.txt").write_text("x")
    os.close(os.open(os.fsencode(folder) + b"/caf\xe9.txt", os.O_CREAT | os.O_WRONLY, 0o644))
    tex = folder / "solutions.tex"
    tex.write_text(tex.read_text() + "\x1b[2J\n")
    stdout = _check_unchanged(capsys, tmp_path, src, out, "\\x1b]0;owned\\x07.txt: a file",
                              "caf\\udce9.txt: a file", "-\\x1b[2J")
    assert "\x1b" not in stdout


def test_check_reports_a_missing_and_an_edited_manifest(built, tmp_path, capsys):
    src, out, _ = built
    manifest = out / "tiny" / MANIFEST
    original = manifest.read_text()
    manifest.write_text(original.replace('"tex"', '"md"', 1))
    _check_unchanged(capsys, tmp_path, src, out, f"--- {manifest} (on disk)")
    manifest.unlink()
    _check_unchanged(capsys, tmp_path, src, out, f"{manifest}: missing")


def test_check_reports_an_interrupted_build_and_the_build_finishes_it(built, tmp_path, capsys,
                                                                     monkeypatch):
    src, out, _ = built

    class Stop(BaseException):
        pass

    def stop(where, count=None):
        if where == "ready":
            raise Stop

    monkeypatch.setattr(writer, "pause_point", stop)
    v2 = sheet(tmp_path, title="Tiny v2")
    with pytest.raises(Stop):
        cli.main(["build", str(v2), "--out", str(out)])
    monkeypatch.undo()
    monkeypatch.setattr(pipeline, "derive_files", _cached)
    capsys.readouterr()
    _check_unchanged(capsys, tmp_path, v2, out, ".tiny.derive-txn: left by an interrupted build",
                     ".tiny.derive-new: left by an interrupted build")
    assert derive(capsys, "build", v2, "--out", out)[0] == 0  # rolls the committed build forward
    no_debris(out)
    _check_unchanged(capsys, tmp_path, v2, out, "clean", rc=0)


def _cached(sheet, formats):
    results, files = _cache[(sheet.id, sheet.title, tuple(formats))]
    return results, dict(files)


def test_check_reads_the_formats_from_the_manifest(tmp_path, capsys):
    src = sheet(tmp_path)
    out = tmp_path / "out"
    assert derive(capsys, "build", src, "--out", out, "--format", "md")[0] == 0
    _check_unchanged(capsys, tmp_path, src, out, "clean", rc=0)
    _check_unchanged(capsys, tmp_path, src, out, "clean", rc=0, fmt="md")
    _check_unchanged(capsys, tmp_path, src, out, "solutions.tex: missing", fmt="tex,md,json")


# --- 4. one command, several sheets ------------------------------------------------------------
def test_two_sheets_with_one_id_are_refused(tmp_path, capsys):
    a, b = sheet(tmp_path, "a"), sheet(tmp_path, "b", title="Other")
    for command in ("build", "check"):
        rc, _, err = derive(capsys, command, a, b, "--out", tmp_path / "out")
        assert rc == 2
        one_line_error(err, "two sheets have the id 'tiny'")
    rc, _, err = derive(capsys, "build", a, a, "--out", tmp_path / "out")
    assert rc == 2
    assert not (tmp_path / "out").exists()


def test_multi_sheet_build_is_all_or_nothing(tmp_path, capsys):
    a, b = sheet(tmp_path, "a"), sheet(tmp_path, "b", id="tiny2")
    out = tmp_path / "out"
    (out / "tiny2").mkdir(parents=True)
    (out / "tiny2" / "solutions.md").write_text("the lecturer's own\n")
    before = snapshot(tmp_path)
    rc, _, err = derive(capsys, "build", a, b, "--out", out)
    assert rc == 2
    one_line_error(err, "was not written by derive")
    assert snapshot(tmp_path) == before  # tiny (the first sheet) was not written either


def test_multi_sheet_build_fails_in_staging_writes_nothing(tmp_path, capsys, monkeypatch):
    a, b = sheet(tmp_path, "a"), sheet(tmp_path, "b", id="tiny2")
    out = tmp_path / "out"
    assert derive(capsys, "build", a, b, "--out", out)[0] == 0
    before = snapshot(tmp_path, dir_mtimes=False)
    real = writer.write_new

    def full(path, data):
        if ".tiny2.derive-new" in str(path) and path.name == "solutions.md":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, data)

    monkeypatch.setattr(writer, "write_new", full)
    rc, _, err = derive(capsys, "build", sheet(tmp_path, "a", title="A2"),
                        sheet(tmp_path, "b", id="tiny2", title="B2"), "--out", out)
    assert rc == 2
    one_line_error(err, "No space left on device")
    assert snapshot(tmp_path, dir_mtimes=False) == before
    no_debris(out)


# --- 5. sheet paths that are not regular files ----------------------------------------------------
def _special(tmp_path: Path, kind: str) -> Path:
    if kind == "fifo":
        os.mkfifo(tmp_path / "s.toml")
        return tmp_path / "s.toml"
    if kind == "dev-zero":
        return Path("/dev/zero")
    if kind == "folder":
        (tmp_path / "s.toml").mkdir()
        return tmp_path / "s.toml"
    if kind == "link":
        (tmp_path / "s.toml").symlink_to(sheet(tmp_path))
        return tmp_path / "s.toml"
    if kind == "oversized":  # sparse: the size is refused before anything is read
        with open(tmp_path / "s.toml", "wb") as fh:
            fh.truncate(50 * MAX_SHEET_BYTES)
        return tmp_path / "s.toml"
    raise AssertionError(kind)


@pytest.mark.parametrize(("kind", "message"), [
    ("fifo", "is not a regular file"), ("dev-zero", "is not a regular file"),
    ("folder", "is a folder"), ("link", "is a symbolic link"), ("oversized", "too large")])
def test_sheet_that_is_not_a_regular_file_is_refused(tmp_path, capsys, kind, message):
    path = _special(tmp_path, kind)
    started = time.monotonic()
    for command in ("build", "check", "list"):
        rc, _, err = derive(capsys, command, path, "--out", tmp_path / "out") if command != "list" \
            else derive(capsys, command, path)
        assert rc == 2
        one_line_error(err, f"{path}: ", message)
    assert time.monotonic() - started < 10  # a FIFO or a device never blocks or streams
    assert not (tmp_path / "out").exists()


def test_sheet_growing_past_the_limit_is_read_only_up_to_the_limit(tmp_path, monkeypatch):
    """The size check does not trust fstat alone: at most MAX_SHEET_BYTES + 1 bytes are read."""
    from derive.sheet import load as sheet_module

    path = tmp_path / "s.toml"
    path.write_bytes(b"#" * (MAX_SHEET_BYTES + 5000))
    real_fstat, reads = os.fstat, []

    def small_fstat(fd):  # a file that grows after fstat: the size looks fine
        st = real_fstat(fd)
        return os.stat_result((st.st_mode, *st[1:6], 10, *st[7:]))

    real_read = os.read

    def counting_read(fd, n):
        data = real_read(fd, n)
        reads.append(len(data))
        return data

    monkeypatch.setattr(os, "fstat", small_fstat)
    monkeypatch.setattr(os, "read", counting_read)
    with pytest.raises(sheet_module.InputError, match="too large"):
        sheet_module.read_text(path, "s.toml")
    assert sum(reads) == MAX_SHEET_BYTES + 1


# --- 6. read-only folders and a full disk --------------------------------------------------------
@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_is_one_line_and_changes_nothing(built, tmp_path, capsys):
    src, out, _ = built
    os.chmod(out / "tiny", 0o555)
    try:
        before = snapshot(tmp_path)
        rc, _, err = derive(capsys, "build", sheet(tmp_path, title="Tiny v2"), "--out", out)
        assert rc == 2
        one_line_error(err, "not writable")
        assert snapshot(tmp_path) == before
    finally:
        os.chmod(out / "tiny", 0o755)


@pytest.mark.parametrize("where", ["preflight", "first write"])
def test_read_only_file_system_is_one_line_and_leaves_nothing(built, tmp_path, capsys,
                                                              monkeypatch, where):
    src, out, _ = built
    before = snapshot(tmp_path)
    if where == "preflight":  # what os.access says on a read-only mount (also for root)
        monkeypatch.setattr(writer.os, "access", lambda path, mode: False)
    else:
        def erofs(*args, **kwargs):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(out))
        monkeypatch.setattr(safefs.tempfile, "mkstemp", erofs)
    rc, _, err = derive(capsys, "build", sheet(tmp_path, title="Tiny v2"), "--out", out)
    assert rc == 2
    one_line_error(err, "derive: error: cannot write the outputs (")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("where", ["transaction record", "first file", "fourth file"])
def test_full_disk_is_one_line_and_leaves_no_temporary_file(built, tmp_path, capsys, monkeypatch,
                                                            where):
    src, out, _ = built
    before = snapshot(tmp_path, dir_mtimes=False)

    def enospc(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if where == "transaction record":  # its temporary file is written, then fsync fails
        monkeypatch.setattr(safefs.os, "fsync", enospc)
    else:
        real_write, count = writer.write_new, [0]
        limit = 1 if where == "first file" else 4

        def full(path, data):
            count[0] += 1
            if count[0] >= limit:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
            return real_write(path, data)

        monkeypatch.setattr(writer, "write_new", full)
    rc, _, err = derive(capsys, "build", sheet(tmp_path, title="Tiny v2"), "--out", out)
    assert rc == 2
    one_line_error(err, "derive: error: cannot write the outputs (No space left on device)")
    assert snapshot(tmp_path, dir_mtimes=False) == before
    no_debris(out)


def test_dev_full_is_one_line(tmp_path, monkeypatch):
    """A real ENOSPC from the kernel: /dev/full as the transaction record's temporary file."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    monkeypatch.setattr(safefs.tempfile, "mkstemp",
                        lambda **kw: (os.open("/dev/full", os.O_WRONLY), str(tmp_path / "x.tmp")))
    with pytest.raises(InputError, match="No space left on device"):
        write_outputs(tmp_path / "out" / "s", {"solutions.tex": "x\n"})
    assert not (tmp_path / "out" / "s").exists()
    assert [p.name for p in (tmp_path / "out").iterdir()] == []


# --- 7. compiling ------------------------------------------------------------------------------
@pytest.fixture
def tex():
    need_tool("pdflatex", "DERIVE_REQUIRE_TEX")


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """TeX's temporary folders go here, so a test can see that none is left behind."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(pdf.tempfile, "tempdir", str(folder))
    return folder


def _with_tex(monkeypatch, tex_text: str) -> None:
    """Rendering that puts ``tex_text`` into solutions.tex (a document derive would never write:
    the sheet's text is checked; this stands for any TeX that misbehaves)."""
    def render(sheet, formats):
        results, files = _cached_or_real(sheet, formats)
        return results, {**files, "solutions.tex": tex_text}

    monkeypatch.setattr(pipeline, "derive_files", render)


def _cached_or_real(sheet, formats):
    key = (sheet.id, sheet.title, tuple(formats))
    if key not in _cache:
        _cache[key] = _real_render(sheet, formats)
    return _cache[key][0], dict(_cache[key][1])


@pytest.mark.tex
def test_tex_loop_ends_within_the_time_limit_with_one_line(built, tmp_path, capsys, monkeypatch,
                                                           tex, private_tmp):
    src, out, _ = built
    _with_tex(monkeypatch, LOOP_TEX)
    monkeypatch.setenv("DERIVE_TIME_LIMIT", "3")
    before = snapshot(tmp_path)
    started = time.monotonic()
    rc, _, err = derive(capsys, "build", src, "--out", out, "--pdf")
    assert time.monotonic() - started < 30
    assert rc == 2
    one_line_error(err, "derive: error: gave up: pdflatex used more than", "CPU time")
    assert snapshot(tmp_path) == before  # nothing written
    assert not list(private_tmp.iterdir())  # the temporary folder removed


@pytest.mark.tex
def test_failed_compile_exits_non_zero_and_leaves_no_stale_pdf(tmp_path, capsys, monkeypatch, tex,
                                                               private_tmp):
    src = sheet(tmp_path)
    out = tmp_path / "out"
    assert derive(capsys, "build", src, "--out", out, "--pdf")[0] == 0
    folder = out / "tiny"
    manifest = json.loads((folder / MANIFEST).read_text())
    assert {"solutions.pdf", "exercises.pdf"} <= set(manifest["files"])
    assert manifest["pdf"]["solutions.pdf"]["source_sha256"] == sha256(
        (folder / "solutions.tex").read_bytes())
    before = snapshot(tmp_path)
    _with_tex(monkeypatch, BAD_TEX)
    rc, _, err = derive(capsys, "build", sheet(tmp_path, title="Tiny v2"), "--out", out, "--pdf")
    assert rc == 2
    one_line_error(err, "does not compile", "nosuchmacro")
    assert snapshot(tmp_path) == before  # the old .tex and its PDF, still a pair
    assert not list(private_tmp.iterdir())
    monkeypatch.setattr(pipeline, "derive_files", _cached_or_real)
    _check_unchanged(capsys, tmp_path, src, out, "clean", rc=0)


@pytest.mark.tex
def test_check_reports_a_stale_or_edited_pdf_and_a_build_without_pdf_removes_them(
        tmp_path, capsys, tex, private_tmp):
    src = sheet(tmp_path)
    out = tmp_path / "out"
    assert derive(capsys, "build", src, "--out", out, "--pdf")[0] == 0
    folder = out / "tiny"
    v2 = sheet(tmp_path, "v2", title="Tiny v2")
    _check_unchanged(capsys, tmp_path, v2, out, "solutions.pdf: is stale",
                     "exercises.pdf: is stale")
    with open(folder / "exercises.pdf", "ab") as fh:
        fh.write(b"%")
    _check_unchanged(capsys, tmp_path, src, out, "exercises.pdf: changed since derive wrote it")
    (folder / "exercises.pdf").unlink()
    _check_unchanged(capsys, tmp_path, src, out, "exercises.pdf: missing")
    assert derive(capsys, "build", v2, "--out", out)[0] == 0  # without --pdf: derive's PDFs go
    assert not list(folder.glob("*.pdf"))
    _check_unchanged(capsys, tmp_path, v2, out, "clean", rc=0)
    no_debris(out)
    assert not list(private_tmp.iterdir())


@pytest.mark.tex
def test_pdf_has_the_mode_of_the_other_outputs(tmp_path, capsys, tex):
    old = os.umask(0o027)
    try:
        assert derive(capsys, "build", sheet(tmp_path), "--out", tmp_path / "out", "--pdf")[0] == 0
    finally:
        os.umask(old)
    folder = tmp_path / "out" / "tiny"
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir() if p.is_file()}
    assert modes["solutions.pdf"] == modes["solutions.tex"] == modes["exercises.pdf"] == 0o640


@pytest.mark.tex
def test_tex_cannot_run_commands_or_touch_files_outside_its_folder(tmp_path, capsys, monkeypatch,
                                                                  tex, private_tmp):
    src = sheet(tmp_path)
    sentinel = tmp_path / "SENTINEL"
    for body in (f"\\immediate\\write18{{touch {sentinel}}}",
                 "\\immediate\\openout5=../ESCAPE.tex \\immediate\\write5{x}",
                 "\\input{/etc/hostname}"):
        _with_tex(monkeypatch, "\\documentclass{article}\\begin{document}" + body
                  + " ok\\end{document}\n")
        rc, _, err = derive(capsys, "build", src, "--out", tmp_path / "out", "--pdf")
        assert rc in (0, 2), err
        if rc == 2:
            one_line_error(err)
        assert not sentinel.exists()
        assert not list(private_tmp.iterdir()) and not list(tmp_path.rglob("ESCAPE*"))


@pytest.mark.tex
def test_sigterm_during_compile_removes_the_temporary_folder(tmp_path, tex):
    src = sheet(tmp_path)
    private = tmp_path / "tmp"
    private.mkdir()
    script = (
        "import sys; from derive import cli, pipeline\n"
        "real = pipeline.derive_files\n"
        "def render(sheet, formats):\n"
        "    results, files = real(sheet, formats)\n"
        f"    return results, {{**files, 'solutions.tex': {LOOP_TEX!r}}}\n"
        "pipeline.derive_files = render\n"
        "sys.exit(cli.main(sys.argv[1:]))\n")
    env = dict(os.environ, TMPDIR=str(private), DERIVE_TIME_LIMIT="120",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", script, "build", str(src), "--out",
                             str(tmp_path / "out"), "--pdf"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not list(private.glob("derive-pdf-*/build/*.log")) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGTERM, err
    assert "Traceback" not in err
    assert not list(private.iterdir())  # the private folder is gone
    assert not (tmp_path / "out").exists()
    deadline = time.monotonic() + 10
    while _processes_in(private) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _processes_in(private)  # the TeX child's process group was killed


def _processes_in(folder: Path) -> list[int]:
    """Processes whose working folder is below ``folder`` (the TeX child works there)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cwd = os.readlink(entry / "cwd")
            except OSError:
                continue
            if cwd.startswith(str(folder)):
                found.append(int(entry.name))
    return found


# --- 8. the output API directly ----------------------------------------------------------------
def test_pdf_bytes_and_sources_are_recorded(tmp_path):
    files = {"solutions.tex": "x\n", "solutions.pdf": b"%PDF-1.5 \x00\xff"}
    write_outputs(tmp_path / "s", files, formats=("tex",), pdfs={"solutions.pdf": "solutions.tex"})
    assert (tmp_path / "s" / "solutions.pdf").read_bytes() == files["solutions.pdf"]
    assert (tmp_path / "s" / MANIFEST).read_text() == manifest_text(
        files, ("tex",), {"solutions.pdf": "solutions.tex"})
    assert compare_outputs(tmp_path / "s", {"solutions.tex": "x\n"}) == {}
    assert set(compare_outputs(tmp_path / "s", {"solutions.tex": "y\n"})) == {
        "solutions.tex", "solutions.pdf", MANIFEST}
