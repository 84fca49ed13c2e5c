"""Figures: layout of network and region drawings, and their TikZ and SVG."""
