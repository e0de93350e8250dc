"""Category colours and the overlay styles derived from them.

The store gives each category a "#rrggbb" colour; a category without one (or an id the
canvas has not been told about) gets a stable colour from a fixed palette, so the same
category looks the same in every session.
"""

from __future__ import annotations

from PySide6.QtGui import QColor

from core.records import Category

# Distinct, colour-blind-friendly hues (Okabe-Ito plus a few Tableau ones).
_PALETTE = (
    "#e69f00",
    "#56b4e9",
    "#009e73",
    "#f0e442",
    "#0072b2",
    "#d55e00",
    "#cc79a7",
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#b07aa1",
    "#ff9da7",
)

ACCEPTED_FILL_ALPHA = 110
"""Fill opacity (0-255) of accepted and human masks: strong enough to see the shape."""

PROPOSAL_FILL_ALPHA = 55
"""Proposals are drawn lighter so that reviewed labels stand out from unreviewed ones."""

SELECTION_COLOR = QColor("#ffffff")


def palette_color(category_id: int) -> QColor:
    """The fallback colour of a category id: stable across sessions."""
    return QColor(_PALETTE[category_id % len(_PALETTE)])


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
