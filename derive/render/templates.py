"""Where derive's templates are, and the Jinja environments of the sheet templates.

The templates ship inside the wheel (``derive/templates``); in a checkout they are the top-level
``templates/`` folder. :func:`template_dir` finds them for every printer: the sheet templates
(``*.tex.j2``, ``*.md.j2``, ``derive.sty``) and the figure templates (``figures/``).
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from derive.render.markup import md_math

STYLE = "derive.sty"


def template_dir() -> Path:
    """The templates folder: ``derive/templates`` in a wheel, ``templates/`` in a checkout (the
    one that holds the figure templates too)."""
    package = Path(__file__).resolve().parents[1]  # the derive package
    for candidate in (package / "templates", package.parent / "templates"):
        if (candidate / "figures").is_dir():
            return candidate
    raise FileNotFoundError("derive's templates are missing from this installation")


def environment(kind: str) -> jinja2.Environment:
    """A Jinja environment for the sheet templates: ``tex`` (LaTeX-safe delimiters) or ``md``."""
    common = dict(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    if kind == "tex":
        return jinja2.Environment(
            block_start_string="<%",
            block_end_string="%>",
            variable_start_string="<<",
            variable_end_string=">>",
            comment_start_string="<#",
            comment_end_string="#>",
            **common,
        )
    env = jinja2.Environment(**common)
    env.filters["mdmath"] = md_math
    return env


def style_text() -> str:
    """The text of ``derive.sty``, shipped with the templates."""
    return (template_dir() / STYLE).read_text(encoding="utf-8")
