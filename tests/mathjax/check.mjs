// Checks derive's Markdown the way a course web page would show it.
//
// usage: node check.mjs FILE.md ...   -> prints a JSON report; exit status 1 on any error
//
// 1. Every math span ($$...$$ blocks and inline $...$, outside code) is typeset by MathJax 3
//    (TeX input with the base and ams packages only, which GitHub and MkDocs Material both load);
//    an undefined macro, a misplaced & or an unbalanced brace is an error.
// 2. The Markdown is also parsed by markdown-it, a CommonMark parser that knows nothing about
//    math (like MkDocs without arithmatex): every math span must come through it unchanged
//    (up to CommonMark's backslash escapes), so no `_` or `*` in math became emphasis and no `<`
//    became an HTML tag.
import {readFileSync} from 'node:fs';
import MarkdownIt from 'markdown-it';
import {mathjax} from 'mathjax-full/js/mathjax.js';
import {TeX} from 'mathjax-full/js/input/tex.js';
import {SVG} from 'mathjax-full/js/output/svg.js';
import {liteAdaptor} from 'mathjax-full/js/adaptors/liteAdaptor.js';
import {RegisterHTMLHandler} from 'mathjax-full/js/handlers/html.js';
import 'mathjax-full/js/input/tex/base/BaseConfiguration.js';
import 'mathjax-full/js/input/tex/ams/AmsConfiguration.js';

const adaptor = liteAdaptor();
RegisterHTMLHandler(adaptor);
const tex = new TeX({packages: ['base', 'ams'], formatError: (jax, err) => { throw err; }});
const doc = mathjax.document('', {InputJax: tex, OutputJax: new SVG({fontCache: 'none'})});
const md = new MarkdownIt({html: true});

// Math spans of a Markdown text, in order: {tex, display, line}.
export function mathSpans(text) {
  const spans = [];
  const lines = text.split('\n');
  let inFence = false;
  let block = null;
  lines.forEach((line, i) => {
    if (/^\s*(```|~~~)/.test(line)) { inFence = !inFence; return; }
    if (inFence) return;
    if (block !== null) {
      if (line.trim() === '$$') { spans.push({tex: block.body.join('\n'), display: true, line: block.line}); block = null; }
      else block.body.push(line);
      return;
    }
    if (line.trim() === '$$') { block = {body: [], line: i + 1}; return; }
    const oneLine = line.match(/^\s*\$\$(.+)\$\$\s*$/);
    if (oneLine) { spans.push({tex: oneLine[1], display: true, line: i + 1}); return; }
    const code = line.replace(/`[^`]*`/g, (m) => ' '.repeat(m.length));
    const inline = /(?<![\\$])\$(?=\S)((?:\\.|[^$\\])+?)(?<=\S)\$(?!\d)/g;
    for (const m of code.matchAll(inline)) spans.push({tex: m[1], display: false, line: i + 1});
  });
  if (block !== null) spans.push({tex: null, display: true, line: block.line, error: 'unclosed $$ block'});
  return spans;
}

const unescape = (s) => s.replace(/\\([!-/:-@[-`{-~])/g, '$1');
const escapeHtml = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const report = {files: [], spans: 0, errors: []};
for (const file of process.argv.slice(2)) {
  const text = readFileSync(file, 'utf8');
  const spans = mathSpans(text);
  const html = md.render(text);
  report.files.push({file, spans: spans.length});
  report.spans += spans.length;
  for (const span of spans) {
    const where = `${file}:${span.line}`;
    if (span.error) { report.errors.push({where, error: span.error}); continue; }
    try {
      doc.convert(span.tex, {display: span.display});
    } catch (err) {
      report.errors.push({where, tex: span.tex, error: `MathJax: ${err.message}`});
    }
    for (const piece of span.tex.split('\n')) {
      const expected = escapeHtml(unescape(piece.trim()));
      if (expected && !html.includes(expected)) {
        report.errors.push({where, tex: piece, error: 'changed by a math-unaware Markdown parser'});
      }
    }
  }
}
console.log(JSON.stringify(report, null, 2));
process.exit(report.errors.length ? 1 : 0);
