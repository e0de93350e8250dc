"""Category colours and the overlay styles derived from them.

The store gives each category a "#rrggbb" colour; a category without one (or an id the
canvas has not been told about) gets a stable colour from a fixed palette, so the same
category looks the same in every session. The palette is `core.palette`, the one the
store assigns new categories' colours from.
"""

from __future__ import annotations

from PySide6.QtGui import QColor

from core.palette import palette_color as _palette_hex
from core.records import Category

ACCEPTED_FILL_ALPHA = 110
"""Fill opacity (0-255) of accepted and human masks: strong enough to see the shape."""

PROPOSAL_FILL_ALPHA = 55
"""Proposals are drawn lighter so that reviewed labels stand out from unreviewed ones."""

SELECTION_COLOR = QColor("#ffffff")


def palette_color(category_id: int) -> QColor:
    """The fallback colour of a category id: stable across sessions."""
    return QColor(_palette_hex(category_id))


def category_color(category: Category | None, category_id: int = 0) -> QColor:
    """The colour a category is drawn in: its own when valid, else the palette's."""
    if category is not None and category.color:
        color = QColor(category.color)
        if color.isValid():
            return color
        category_id = category.id
    elif category is not None:
        category_id = category.id
    return palette_color(category_id)


def with_alpha(color: QColor, alpha: int) -> QColor:
    """A copy of `color` with the given opacity (0-255)."""
    result = QColor(color)
    result.setAlpha(alpha)
    return result
