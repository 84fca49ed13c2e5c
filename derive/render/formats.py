"""The output formats: the registry (:mod:`derive.render.registry`) with every built-in format
registered: ``tex``, ``md``, ``json`` (the defaults) and ``text``.

A new format is one module ``derive/render/<name>.py`` that calls
:func:`~derive.render.registry.register_format`, imported here.
"""

from __future__ import annotations

from derive.render import json, markdown, tex, text  # noqa: F401  (each registers its format)
from derive.render.registry import (  # noqa: F401  (the registry's interface, re-exported)
    FORMATS,
    Document,
    Format,
    default_formats,
    format_names,
    in_order,
    register_format,
    render,
    unregister_format,
)
