"""The Moodle format: ``questions.xml``, a sheet's parts as Moodle XML questions (``--format
moodle``), following the Moodle XML format that Moodle's ``qformat_xml`` imports.

One question per part, each after a ``category`` question that puts it in
``$course$/top/derive/<sheet>/<exercise><part>`` (a variant's questions go to the category of
the sheet it was drawn from, so that a quiz can draw one variant per student at random from a
part's category). The question is named ``<sheet id> <exercise><part>``.

* A part with worked numbers (a variant's backprop part) is a ``numerical`` question when it
  asks one gradient: its answer (fraction 100) the value to 15 significant digits, its
  ``tolerance`` (absolute, as Moodle reads it) the part's relative tolerance (``tolerance`` in
  the sheet, default :data:`DEFAULT_TOLERANCE`) times the value. Asking several gradients, it is
  a ``cloze`` question with one ``{points:NUMERICAL:=value:tolerance}`` field per gradient.
* Every other part is an ``essay`` question; its grader information and its general feedback
  hold the worked solution.

Every ``<text>`` is HTML in CDATA; math is written ``\\( ... \\)`` and ``\\[ ... \\]`` for
Moodle's MathJax filter; a figure is an ``<img src="@@PLUGINFILE@@/<stem>.svg">`` with its SVG
embedded as a base64 ``<file>`` of the text that shows it. :func:`quiz` writes any list of
questions as one file (the answer key of a set of variants holds them all, grouped by part).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field

import sympy as sp

from derive.render.markup import parse_markup
from derive.render.prose import markup
from derive.render.registry import Document, Format, register_format
from derive.render.view import Printer
from derive.sheet.variants import NUMERIC_TASKS, number_text
from derive.steps import Align, Figure, PartResult, Table, Text

DEFAULT_TOLERANCE = 1e-3  # relative


def quoteattr(data: str) -> str:
    """``data`` as a quoted XML attribute value, as :func:`xml.sax.saxutils.quoteattr` writes it
    (that module imports ``urllib.request`` and the whole HTTP client, a tenth of derive's start
    time): ``&``, ``<``, ``>`` and the whitespace controls escaped, in double quotes unless the
    value holds ``"`` and no ``'``."""
    data = data.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")
    data = data.replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")
    if '"' not in data:
        return f'"{data}"'
    if "'" not in data:
        return f"'{data}'"
    return '"' + data.replace('"', "&quot;") + '"'



@dataclass
class Question:
    """One Moodle question: its category, type, name, texts (HTML) and, per text, its files."""

    category: str
    qtype: str  # "numerical", "cloze" or "essay"
    name: str
    text: str
    feedback: str
    points: float
    answers: list[tuple[str, str]] = field(default_factory=list)  # numerical: (value, tol)
    files: dict[str, bytes] = field(default_factory=dict)  # name -> content (feedback's)


def html_text(text: str) -> str:
    """Sheet markup as HTML: text escaped, ``*emphasis*`` as ``<em>``, math as ``\\( \\)`` and
    ``\\[ \\]``, blank lines as paragraph breaks."""
    out = []
    for seg in parse_markup(text):
        if seg.kind == "text":
            out.append(html.escape(seg.content, quote=False).replace("\n\n", "</p><p>"))
        elif seg.kind == "emph":
            out.append(f"<em>{html.escape(seg.content, quote=False)}</em>")
        elif seg.kind == "math":
            out.append(rf"\({html.escape(seg.content, quote=False)}\)")
        else:
            out.append(rf"\[{html.escape(seg.content, quote=False)}\]")
    return "".join(out).strip()


def _para(text: str) -> str:
    return f"<p>{text}</p>" if text else ""


def tolerance_text(v: sp.Expr, relative: float) -> str:
    """The absolute tolerance ``relative * |v|`` (Moodle's numerical tolerance is absolute)."""
    return f"{float(abs(sp.N(v, 20))) * relative:.6g}"


def solution_html(r: PartResult, doc: Document) -> tuple[str, dict[str, bytes]]:
    """A part's worked solution as HTML, and the SVG files its figures show."""
    sol = r.solution
    p = Printer.for_exercise(r.exercise)
    out: list[str] = []
    files: dict[str, bytes] = {}
    for block in sol.blocks:
        if isinstance(block, Text):
            out.append(_para(html_text(markup(block.text))))
        elif isinstance(block, Align):
            rows = []
            for ln in block.lines:
                lhs = rf"\({p.tex(ln.lhs)}\)" if ln.lhs is not None else ""
                rel = "=" if ln.relation == "=" else ":="
                rule = html_text(markup(ln.rule)) if ln.rule else ""
                rows.append(f"<tr><td>{lhs}</td><td>\\({rel} {html.escape(p.tex(ln.rhs))}\\)"
                            f"</td><td><small>{rule}</small></td></tr>")
            out.append("<table>" + "".join(rows) + "</table>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{html_text(markup(h))}</th>" for h in block.header)
            body = "".join("<tr>" + "".join(f"<td>{_cell(c, p)}</td>" for c in row) + "</tr>"
                           for row in block.rows)
            caption = html_text(markup(block.caption))
            out.append(f"<table><caption>{caption}</caption><tr>{head}</tr>{body}</table>")
        elif isinstance(block, Figure):
            name = f"{block.stem}.svg"
            files[name] = doc.drawings[id(block)].svg.strip().encode("utf-8") + b"\n"
            caption = html_text(markup(block.caption))
            out.append(f'<p><img src="@@PLUGINFILE@@/{name}" alt="{html.escape(block.stem)}">'
                       f"<br>{caption}</p>")
    if sol.summary is not None:
        out.append(f"<p><small>Verified: {html.escape(sol.summary.brief)}</small></p>")
    return "".join(out), files


def _cell(cell, p: Printer) -> str:
    if isinstance(cell, sp.Basic):
        return rf"\({html.escape(p.tex(cell))}\)"
    return html_text(markup(cell))


def questions(doc: Document) -> list[Question]:
    """The questions of a sheet's parts, in sheet order."""
    sheet = doc.sheet
    base = sheet.variant_of or sheet.id
    out = []
    for r in doc.results:
        ex, part = r.exercise, r.part
        hint = html_text(part.hint)
        head = (_para(f"<strong>{html_text(ex.title)}</strong>") + _para(html_text(ex.text))
                + _para(html_text(part.text)) + (_para(f"<em>Hint:</em> {hint}") if hint else ""))
        feedback, files = solution_html(r, doc)
        category = f"$course$/top/derive/{base}/{ex.number}{part.label}"
        name = f"{sheet.id} {ex.number}{part.label}"
        points = float(part.points or 1)
        sol = r.solution
        numbers = sol is not None and part.task in NUMERIC_TASKS and "variant" in sol.data
        if not numbers:
            out.append(Question(category, "essay", name, head, feedback, points, files=files))
            continue
        rel = part.tolerance or DEFAULT_TOLERANCE
        grads = [(w, sp.sympify(v)) for w, v in sol.data["gradients"].items()]
        answers = [(number_text(v), tolerance_text(v, rel)) for _, v in grads]
        p = Printer.for_exercise(ex)
        loss = sp.Symbol(sol.data["loss"], real=True)
        asked = [rf"\({html.escape(p.tex(sp.Derivative(loss, sp.Symbol(w, real=True))))}\)"
                 for w, _ in grads]
        listed = asked[0] if len(asked) == 1 else ", ".join(asked[:-1]) + " and " + asked[-1]
        give = f"Give {listed} at these values (to a relative error of {rel:g})."
        if len(grads) == 1:
            out.append(Question(category, "numerical", name, head + _para(give), feedback,
                                points, answers, files))
            continue
        weight = max(1, round(points / len(grads)))
        fields = "".join(f"<p>{a} = {{{weight}:NUMERICAL:={value}:{tol}}}</p>"
                         for a, (value, tol) in zip(asked, answers, strict=True))
        out.append(Question(category, "cloze", name, head + _para(give) + fields, feedback,
                            points, answers, files))
    return out


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _text(tag: str, text: str, files: dict[str, bytes] | None = None, fmt: str = "html") -> str:
    inner = f"<text>{_cdata(text)}</text>"
    for name, data in sorted((files or {}).items()):
        inner += (f'<file name={quoteattr(name)} path="/" encoding="base64">'
                  f"{base64.b64encode(data).decode('ascii')}</file>")
    return f'    <{tag} format="{fmt}">{inner}</{tag}>\n'


def question_xml(q: Question) -> str:
    """One ``<question>`` element."""
    out = [f'  <question type="{q.qtype}">\n',
           f"    <name><text>{_cdata(q.name)}</text></name>\n",
           _text("questiontext", q.text),
           _text("generalfeedback", q.feedback, q.files)]
    if q.qtype != "cloze":
        out.append(f"    <defaultgrade>{q.points:g}</defaultgrade>\n")
    out.append("    <penalty>0.3333333</penalty>\n    <hidden>0</hidden>\n")
    if q.qtype == "numerical":
        for value, tol in q.answers:
            out.append(f'    <answer fraction="100" format="moodle_auto_format">'
                       f"<text>{_cdata(value)}</text><feedback format=\"html\"><text>"
                       f"{_cdata('')}</text></feedback><tolerance>{tol}</tolerance></answer>\n")
        out.append("    <unitgradingtype>0</unitgradingtype>\n"
                   "    <unitpenalty>0.1000000</unitpenalty>\n"
                   "    <showunits>3</showunits>\n    <unitsleft>0</unitsleft>\n")
    elif q.qtype == "essay":
        out.append("    <responseformat>editor</responseformat>\n"
                   "    <responserequired>1</responserequired>\n"
                   "    <responsefieldlines>15</responsefieldlines>\n"
                   "    <attachments>0</attachments>\n"
                   "    <attachmentsrequired>0</attachmentsrequired>\n")
        out.append(_text("graderinfo", q.feedback, q.files))
        out.append(f'    <responsetemplate format="html"><text>{_cdata("")}</text>'
                   "</responsetemplate>\n")
    out.append("  </question>\n")
    return "".join(out)


def category_xml(category: str) -> str:
    return (f'  <question type="category">\n    <category><text>{_cdata(category)}</text>'
            "</category>\n  </question>\n")


def quiz(qs: Sequence[Question]) -> str:
    """The questions as one Moodle XML file; a ``category`` question before each run of
    questions of one category."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n', "<quiz>\n"]
    current = None
    for q in qs:
        if q.category != current:
            out.append(category_xml(q.category))
            current = q.category
        out.append(question_xml(q))
    out.append("</quiz>\n")
    return "".join(out)


def by_part(qs: Sequence[Question]) -> list[Question]:
    """Questions grouped by category (in order of first appearance), each group in order: every
    variant of a part together."""
    order: dict[str, list[Question]] = {}
    for q in qs:
        order.setdefault(q.category, []).append(q)
    return [q for group in order.values() for q in group]


def render(doc: Document) -> dict[str, str]:
    return {"questions.xml": quiz(questions(doc))}


def collect(docs: Sequence[Document]) -> dict[str, str]:
    """Every document's questions in one ``questions.xml``, grouped by part (a set of
    variants: each part's variants together, in its category)."""
    return {"questions.xml": quiz(by_part([q for doc in docs for q in questions(doc)]))}


FORMAT = register_format(Format("moodle", "questions.xml (Moodle XML)", render,
                                main="questions.xml", rank=50, collect=collect))
