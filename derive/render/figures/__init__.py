"""Figures: a figure's model drawn as TikZ and SVG (draw), laid out (layout), labelled (labels)."""
