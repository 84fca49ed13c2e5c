"""The output formats: the registry (:mod:`derive.render.registry`) with every built-in format
registered: ``tex``, ``md``, ``json`` (the defaults), ``text`` and ``moodle`` (Moodle XML).

A new format is one module ``derive/render/<name>.py`` that calls
:func:`~derive.render.registry.register_format`, imported here.
"""

from __future__ import annotations

from derive.render import (  # noqa: F401  (each registers its format)
    json,
    markdown,
    moodle,
    tex,
    text,
)
from derive.render.registry import (  # noqa: F401  (the registry's interface, re-exported)
    FORMATS,
    Document,
    Format,
    collect,
    default_formats,
    format_names,
    in_order,
    register_format,
    render,
    unregister_format,
)
