"""Start-up cost: what importing derive pulls in (a table, benchmarks/run.py, measures the time)."""

from __future__ import annotations

import subprocess
import sys
from xml.sax.saxutils import quoteattr as reference

from conftest import ROOT
from hypothesis import given
from hypothesis import strategies as st

from derive.render.moodle import quoteattr


def test_derive_does_not_import_the_http_client():
    code = "import sys, derive.pipeline, derive.cli; print(sorted(m for m in ('urllib.request', "
    code += "'http.client', 'xml.sax.saxutils') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


@given(st.text(alphabet=st.sampled_from("ab\"'&<>\n\r\t é"), max_size=12))
def test_moodle_quotes_attributes_as_the_standard_library_does(text):
    assert quoteattr(text) == reference(text)
