"""The cache of verified results (derive.io.cache, derive.verify.cached): a warm build writes the
bytes a cold one writes, a tampered, planted or malformed entry is ignored (never a wrong pass,
never a crash, never code run), and the store is used only where it is private."""

from __future__ import annotations

import base64
import json
import marshal
import os
import pickle
import stat
from pathlib import Path

import pytest
import sympy as sp

from derive import cli, pipeline
from derive.errors import VerificationFailure
from derive.io import cache
from derive.steps import Align, Line, Solution
from derive.verify import cached, solution
from derive.verify.claims import Answer

ROOT = Path(__file__).resolve().parent.parent
SHEETS = [str(ROOT / "derive" / "sheets" / "sheet02.toml"),
          str(ROOT / "tests" / "sheets" / "relu_regions.toml")]
x = sp.Symbol("x")
TRUE = (sp.tanh(x), sp.sinh(x) / sp.cosh(x))
FALSE = (sp.tanh(x), sp.sinh(x) / sp.cosh(2 * x))


@pytest.fixture
def store_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(cache.ENV_DIR, str(folder))
    monkeypatch.delenv(cache.ENV_OFF, raising=False)
    return folder


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def entries(folder: Path) -> list[Path]:
    return sorted((folder / cached.SPACE).rglob("*.json"))


def build(out: Path, use_cache: bool = True) -> dict[str, bytes]:
    assert pipeline.build(SHEETS, out, pipeline.choose_formats(None), use_cache=use_cache) == 0
    return tree(out)


def one_line(check) -> Solution:
    return Solution(blocks=[Align((Line(sp.Symbol("y"), check[1], "a step", check=check),))])


def count_checks(monkeypatch) -> list:
    """Every check_equal call of the verify step, recorded."""
    calls = []
    real = solution.check_equal

    def counting(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(solution, "check_equal", counting)
    return calls


def test_a_warm_build_writes_every_byte_a_cold_build_writes(store_dir, tmp_path, monkeypatch):
    cold = build(tmp_path / "cold", use_cache=False)
    assert not store_dir.exists()  # --no-cache: nothing read, nothing written
    assert build(tmp_path / "first", use_cache=True) == cold  # fills the cache
    assert entries(store_dir)
    calls = count_checks(monkeypatch)
    assert build(tmp_path / "warm", use_cache=True) == cold
    assert calls == []  # every verdict came from the cache


def test_one_changed_line_is_checked_again_and_the_rest_reused(store_dir, monkeypatch):
    with cache.using(cache.open_store()):
        solution.verify_solution(one_line(TRUE))
        calls = count_checks(monkeypatch)
        solution.verify_solution(one_line(TRUE))
        assert calls == []
        other = (sp.tanh(2 * x), sp.sinh(2 * x) / sp.cosh(2 * x))
        solution.verify_solution(one_line(other))
        assert calls == [other]


def _plant(folder: Path, space: str, subject, value, mac: str) -> Path:
    key = cached.key(space, subject)
    path = folder / cached.SPACE / key[:2] / f"{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"format": cache.FORMAT, "space": cached.SPACE, "key": key,
                                "value": value, "mac": mac}))
    return path


PASS = [["symbolic", "simplifies to 0", "step", "", []]]


def test_a_planted_verdict_cannot_make_a_wrong_step_pass(store_dir):
    store = cache.open_store()
    foreign = cache.Store(store_dir, os.urandom(32))  # the same layout, another key
    good_mac = foreign._mac(cached.SPACE, cached.key("line", FALSE), PASS)
    for mac in ("0" * 64, good_mac, store._key.hex()):
        _plant(store_dir, "line", FALSE, PASS, mac)
        with cache.using(store), pytest.raises(VerificationFailure, match="does not verify"):
            solution.verify_solution(one_line(FALSE))


def test_a_planted_answer_verdict_cannot_make_a_wrong_answer_pass(store_dir):
    claim = Answer("answer = sympy.diff", *FALSE)
    _plant(store_dir, "claim", claim, [["symbolic", "", "answer", claim.label, []]], "0" * 64)
    with cache.using(cache.open_store()), pytest.raises(VerificationFailure, match="failed"):
        solution.verify_solution(Solution(claims=[claim]))


def test_an_entry_of_the_wrong_shape_is_a_miss(store_dir, monkeypatch):
    store = cache.open_store()
    key = cached.key("line", TRUE)
    for value in ([], PASS * 2, [["symbolic", "", "answer", "", []]], [[1, 2, 3, 4, 5]],
                  [["symbolic", "", "step", "", [["n", {"set": [1]}]]]], {"a": 1}, "x"):
        store.put(cached.SPACE, key, value)  # signed with the store's own key
        calls = count_checks(monkeypatch)
        with cache.using(store):
            v = solution.verify_solution(one_line(TRUE))
        assert calls == [TRUE] and v.verdicts[0].kind == "step"


def test_a_corrupted_cache_is_ignored_and_rewritten(store_dir, tmp_path, monkeypatch):
    cold = build(tmp_path / "cold", use_cache=False)
    build(tmp_path / "fill")
    paths = sorted(store_dir.rglob("*.json"))  # verdicts, drawings, compiled templates
    assert {p.relative_to(store_dir).parts[0] for p in paths} == {
        cached.SPACE, "drawings", "templates"}
    damage = [b"", b"{", b"[" * 100000 + b"]" * 100000, b"\xff\xfe", b"null",
              json.dumps({"format": 1}).encode(), b"x" * (cache.MAX_ENTRY + 10)]
    for k, path in enumerate(paths):
        if k % 3 == 0:
            path.write_bytes(damage[k % len(damage)])
        elif k % 3 == 1:  # the verdict or text edited, the MAC left as it was
            entry = json.loads(path.read_text())
            if entry["space"] == cached.SPACE:
                entry["value"][0][1] = "forged"
            else:
                entry["value"][0] = "forged"
            path.write_text(json.dumps(entry))
        else:  # another entry's (valid) content under this name
            path.write_bytes(paths[(k + 1) % len(paths)].read_bytes())
    calls = count_checks(monkeypatch)
    assert build(tmp_path / "warm") == cold
    assert calls  # the damaged entries were checked again...
    calls.clear()
    assert build(tmp_path / "again") == cold
    assert calls == []  # ...and rewritten


def test_a_planted_pickle_or_link_is_never_loaded_or_followed(store_dir, tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.write_text, (marker, "code ran"))

    cache.open_store()
    key = cached.key("line", TRUE)
    path = store_dir / cached.SPACE / key[:2] / f"{key}.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(pickle.dumps(Payload()))
    with cache.using(cache.open_store()):
        solution.verify_solution(one_line(TRUE))
    assert not marker.exists()
    target = tmp_path / "elsewhere.json"
    target.write_text("kept")
    path.unlink()
    path.symlink_to(target)
    with cache.using(cache.open_store()):
        solution.verify_solution(one_line(TRUE))  # read: refused; write: replaces the link
    assert target.read_text() == "kept" and not path.is_symlink()


def test_a_planted_compiled_template_is_never_run(store_dir, tmp_path):
    cold = build(tmp_path / "cold", use_cache=False)
    build(tmp_path / "fill")
    marker = tmp_path / "ran"
    code = compile(f"open({str(marker)!r}, 'w').write('code ran')", "<planted>", "exec")
    planted = sorted((store_dir / "templates").rglob("*.json"))
    assert planted
    for path in planted:
        entry = json.loads(path.read_text())
        entry["value"][1] = base64.b64encode(marshal.dumps(code)).decode()
        path.write_text(json.dumps(entry))  # the MAC of the compiled template it replaced
    assert build(tmp_path / "warm") == cold
    assert not marker.exists()


def test_the_store_is_used_only_where_it_is_private(store_dir, tmp_path):
    assert cache.open_store() is not None
    assert stat.S_IMODE(os.stat(store_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(store_dir / cache.KEY_FILE).st_mode) == 0o600
    os.chmod(store_dir, 0o777)
    assert cache.open_store() is None  # writable by others
    os.chmod(store_dir, 0o700)
    os.chmod(store_dir / cache.KEY_FILE, 0o644)
    assert cache.open_store() is None  # its key readable by others
    os.chmod(store_dir / cache.KEY_FILE, 0o600)
    link = tmp_path / "link"
    link.symlink_to(store_dir)
    assert cache.open_store(link) is None  # the folder is a link
    (store_dir / cache.KEY_FILE).write_text("short")
    assert cache.open_store() is None  # a key that is not 32 bytes


def test_the_environment_and_the_flags_turn_it_off(store_dir, tmp_path, monkeypatch):
    src = SHEETS[1]
    monkeypatch.setenv(cache.ENV_OFF, "1")
    assert cli.main(["build", src, "--out", str(tmp_path / "a")]) == 0
    assert not store_dir.exists()
    monkeypatch.delenv(cache.ENV_OFF)
    assert cli.main(["build", src, "--out", str(tmp_path / "b"), "--no-cache"]) == 0
    assert cli.main(["check", src, "--out", str(tmp_path / "b")]) == 0  # cold by default
    assert not store_dir.exists()
    assert cli.main(["build", src, "--out", str(tmp_path / "c")]) == 0
    assert entries(store_dir)
    calls = count_checks(monkeypatch)
    assert cli.main(["check", src, "--out", str(tmp_path / "c")]) == 0
    assert calls  # check ran every check again
    calls.clear()
    assert cli.main(["check", src, "--out", str(tmp_path / "c"), "--cache"]) == 0
    assert calls == []


def test_the_key_is_the_exact_claim():
    k = cached.key
    same = (sp.tanh(x), sp.sinh(x) / sp.cosh(x))
    assert k("line", TRUE) == k("line", same)
    assert k("line", TRUE) != k("claim", TRUE)
    assert k("line", TRUE) != k("line", FALSE)
    positive = sp.Symbol("x", positive=True)
    assert k("line", (x, x)) != k("line", (positive, positive))  # assumptions count
    assert k("line", (sp.Float(0.5, 15),) * 2) != k("line", (sp.Float(0.5, 30),) * 2)
    assert k("line", (sp.Float(0.5), 1)) != k("line", (sp.Rational(1, 2), 1))
    f, g = sp.Function("f"), sp.Function("f", real=True)
    assert k("line", (f(x), x)) != k("line", (g(x), x))
    assert k("line", [1]) != k("line", (1,)) and k("line", (1,)) != k("line", (True,))
    assert k("line", (lambda: 1,)) is None  # no digest: always checked
    assert cache.code_digest() == cache.code_digest()
