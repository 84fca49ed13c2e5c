"""``--format moodle``: Moodle XML that Moodle's importer (qformat_xml) reads as intended.

:func:`import_quiz` reads a file the way ``question/format/xml/format.php`` does for the elements
these questions use: the ``type`` attribute picks the importer; ``import_headers`` reads
``name/text``, ``questiontext`` (``@format``, ``text``, its ``file`` elements with ``@name``,
``@path``, ``@encoding`` and base64 content), ``generalfeedback`` (with files), ``defaultgrade``
and ``penalty``; ``import_numerical`` reads each ``answer``'s ``text``, ``@fraction`` / 100 and
``tolerance``; ``import_essay`` reads ``responseformat``, ``responsefieldlines``,
``responserequired``, ``attachments`` and ``graderinfo`` (with files); ``import_multianswer``
(type ``cloze``) extracts the ``{n:NUMERICAL:=value:tolerance}`` fields of the question text; a
``category`` question sets the category of the questions after it.
"""

from __future__ import annotations

import base64
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from derive import pipeline
from derive.render import formats as registry
from derive.render.moodle import DEFAULT_TOLERANCE, Question, html_text, quiz
from derive.sheet.load import parse_sheet

CLOZE_FIELD = re.compile(r"\{([0-9]*):(NUMERICAL|NM):=([^:}]+):([^}]+)\}")
ESSAY_FIELDS = ("responseformat", "responsefieldlines", "responserequired", "attachments")


def text_with_files(el: ET.Element | None) -> dict:
    """``import_text_with_files``: the text, its format and its files (name -> bytes)."""
    if el is None:
        return {"text": "", "format": "html", "files": {}}
    files = {}
    for f in el.findall("file"):
        assert f.get("encoding") == "base64" and f.get("path") == "/"
        assert f.get("name") not in files, "duplicate file"
        files[f.get("name")] = base64.b64decode(f.text or "", validate=True)
    return {"text": (el.findtext("text") or "").strip(), "format": el.get("format"),
            "files": files}


def import_quiz(path: Path) -> list[dict]:
    root = ET.parse(path).getroot()  # well-formed, or this raises
    assert root.tag == "quiz"
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("<?xml "), "the xml declaration must be the first line"
    out, category = [], None
    for q in root.findall("question"):
        qtype = q.get("type")
        if qtype == "category":
            category = q.findtext("category/text")
            assert category and category.startswith("$course$/")
            continue
        name = q.findtext("name/text")
        assert name, "xmlimportnoname"
        item = {"type": qtype, "name": name, "category": category,
                "questiontext": text_with_files(q.find("questiontext")),
                "generalfeedback": text_with_files(q.find("generalfeedback")),
                "defaultgrade": q.findtext("defaultgrade"), "penalty": q.findtext("penalty")}
        if qtype == "numerical":
            item["answers"] = [{"text": a.findtext("text").strip(),
                                "fraction": float(a.get("fraction", 0)) / 100,
                                "tolerance": float(a.findtext("tolerance") or 0)}
                               for a in q.findall("answer")]
            assert item["answers"]
        elif qtype == "essay":
            item.update({k: q.findtext(k) for k in ESSAY_FIELDS})
            item["graderinfo"] = text_with_files(q.find("graderinfo"))
        elif qtype == "cloze":
            item["fields"] = [{"weight": int(m.group(1) or 1), "text": m.group(3),
                               "tolerance": float(m.group(4))}
                              for m in CLOZE_FIELD.finditer(item["questiontext"]["text"])]
            assert item["fields"], "a cloze question without fields"
        else:
            raise AssertionError(f"unexpected question type {qtype!r}")
        for key in ("questiontext", "generalfeedback", "graderinfo"):
            if key in item:  # every file a text embeds is one it shows, and the reverse
                t = item[key]
                shown = set(re.findall(r"@@PLUGINFILE@@/([^\"' >]+)", t["text"]))
                assert shown == set(t["files"]), (name, key)
                for data in t["files"].values():
                    assert data.lstrip().startswith(b"<svg") or b"<svg" in data[:200]
        out.append(item)
    return out


@pytest.fixture
def built(bundled_variants) -> Path:
    return bundled_variants  # three variants, built once per session (conftest)


def test_registered_and_not_a_default():
    assert "moodle" in registry.FORMATS
    assert "moodle" not in registry.default_formats()
    assert registry.FORMATS["moodle"].main == "questions.xml"


def test_one_question_per_part_and_variant(built):
    qs = import_quiz(built / "sheet02-key" / "questions.xml")
    key = json.loads((built / "sheet02-key" / "answer-key.json").read_text())
    parts = [f"{e['number']}{p['label']}" for e in json.loads(
        (built / "sheet02-v01" / "solutions.json").read_text())["exercises"] for p in e["parts"]]
    ids = [v["id"] for v in key["variants"]]
    assert sorted(q["name"] for q in qs) == sorted(f"{i} {p}" for i in ids for p in parts)
    for q in qs:  # each variant of a part in that part's category
        assert q["category"] == f"$course$/top/derive/sheet02/{q['name'].split()[1]}"
    per_variant = import_quiz(built / "sheet02-v01" / "questions.xml")
    assert [q["name"] for q in per_variant] == [f"sheet02-v01 {p}" for p in parts]


def test_numeric_answers_equal_the_answer_key(built):
    qs = {q["name"]: q for q in import_quiz(built / "sheet02-key" / "questions.xml")}
    key = json.loads((built / "sheet02-key" / "answer-key.json").read_text())
    checked = 0
    for v in key["variants"]:
        by_part: dict[str, list[dict]] = {}
        for a in v["answers"]:
            by_part.setdefault(a["part"], []).append(a)
        for part, answers in by_part.items():
            q = qs[f"{v['id']} {part}"]
            got = q["answers"] if q["type"] == "numerical" else q["fields"]
            assert q["type"] == ("numerical" if len(answers) == 1 else "cloze")
            assert [g["text"] for g in got] == [a["number"] for a in answers]
            for g, a in zip(got, answers, strict=True):
                assert g["tolerance"] == pytest.approx(DEFAULT_TOLERANCE * abs(float(a["number"])),
                                                       rel=1e-5)
                assert g.get("fraction", 1.0) == 1.0
                checked += 1
    assert checked == 3 * 3  # 3b, and 4b's two gradients, in each of three variants


def test_symbolic_parts_are_essays_with_the_worked_solution(built):
    qs = {q["name"]: q for q in import_quiz(built / "sheet02-key" / "questions.xml")}
    q = qs["sheet02-v01 2a"]
    assert q["type"] == "essay" and q["responseformat"] == "editor"
    assert q["graderinfo"]["text"] == q["generalfeedback"]["text"]
    assert r"\(" in q["generalfeedback"]["text"] and "$" not in q["generalfeedback"]["text"]
    assert r"\tanh" in q["generalfeedback"]["text"]
    drawing = qs["sheet02-v01 3a"]  # the network drawing: its SVG embedded
    assert drawing["generalfeedback"]["files"] and drawing["graderinfo"]["files"]
    assert float(qs["sheet02-v01 3b"]["defaultgrade"]) == 15


def test_worked_numbers_are_in_the_feedback(built):
    qs = {q["name"]: q for q in import_quiz(built / "sheet02-key" / "questions.xml")}
    fb = qs["sheet02-v01 3b"]["generalfeedback"]["text"]
    assert "Forward pass" in fb and "Backward pass" in fb and r"\approx" in fb


def test_math_and_cdata():
    assert html_text("a $x < 1$ and *b* & $$y$$") == r"a \(x &lt; 1\) and <em>b</em> &amp; \[y\]"
    q = Question("$course$/top/x", "essay", "n", "<p>]]> inside</p>", "", 1)
    root = ET.fromstring(quiz([q]))
    assert root.find("question[@type='essay']/questiontext/text").text == "<p>]]> inside</p>"


SHEET = '''[sheet]
id = "tol"
title = "Tolerance"

[[exercise]]
title = "One"
model = ["z = w*x", "a = tanh(z)", "E = (a - t)**2"]

[exercise.variants]
x = { int = [1, 3] }
w = { decimal = [0.1, 0.9] }
t = { choices = [0, 1] }

[[exercise.part]]
points = 4
task = "backprop"
wrt = "w"
tolerance = 0.01
'''


def test_tolerance_is_configurable_per_part(tmp_path):
    sheet = tmp_path / "tol.toml"
    sheet.write_text(SHEET)
    pipeline.build([str(sheet)], tmp_path / "out", ("moodle",), stdout=io.StringIO(),
                   variants=2, seed=1)
    for q in import_quiz(tmp_path / "out" / "tol-key" / "questions.xml"):
        (a,) = q["answers"]
        assert a["tolerance"] == pytest.approx(0.01 * abs(float(a["text"])), rel=1e-5)
    assert parse_sheet(SHEET, "tol.toml").exercises[0].parts[0].tolerance == 0.01
