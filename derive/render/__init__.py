"""Printers: the format-neutral view, notation (SymPy printers), LaTeX, Markdown, JSON."""
