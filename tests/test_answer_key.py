"""The answer key's tables print their numbers as math (a minus sign, not a hyphen); the JSON
key keeps plain parseable numbers."""

from __future__ import annotations

import json
import re


def test_markdown_key_prints_numbers_as_math_and_json_stays_parseable(bundled_variants):
    key = bundled_variants / "sheet02-key"
    md = (key / "answer-key.md").read_text()
    rows = [ln for ln in md.splitlines() if ln.startswith("| sheet02-v0")]
    cells = [c.strip() for ln in rows for c in ln.strip("|").split("|")[1:]]
    assert cells and all(re.fullmatch(r"\$-?[0-9.]+(\\ldots)?\$", c) for c in cells), cells
    assert any(c.startswith("$-") for c in cells)  # the sign is inside the math
    assert not re.search(r"\| -[0-9]", md)  # no bare hyphen-minus number
    for variant in json.loads((key / "answer-key.json").read_text())["variants"]:
        for answer in variant["answers"]:
            float(answer["number"])
            float(answer["shown"])
