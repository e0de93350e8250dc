"""Where the mask layer's items are: their scene bounds in stacking order, for region queries.

Asking the QGraphicsScene for the items under a tile walks its index and wraps every hit in
a Python object, and the layer asks for each tile and each changed rectangle; with 2,000
items that was a large part of a threshold step. This index keeps the bounds in one numpy
array sorted bottom-first (z value, then insertion order, as Qt stacks siblings), so a query
is one vectorised comparison. It is rebuilt lazily after an item moves, changes z, or comes
and goes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QRectF

if TYPE_CHECKING:
    from gui.canvas.items import AnnotationItem


class ItemIndex:
    """Scene bounding rectangles of items, bottom first."""

    def __init__(self) -> None:
        self._sequence: dict[AnnotationItem, int] = {}  # insertion order breaks z ties
        self._next = 0
        self._order: list[AnnotationItem] = []
        self._bounds = np.zeros((0, 4))
        self._stale = False

    def __len__(self) -> int:
        return len(self._sequence)

    def add(self, item: AnnotationItem) -> None:
        self._sequence[item] = self._next
        self._next += 1
        self._stale = True

    def remove(self, item: AnnotationItem) -> None:
        if self._sequence.pop(item, None) is not None:
            self._stale = True

    def clear(self) -> None:
        self._sequence.clear()
        self._order = []
        self._bounds = np.zeros((0, 4))
        self._stale = False

    def changed(self) -> None:
        """An item's bounds or z value may have changed: sort again at the next query."""
        self._stale = True

    def items_in(self, *rects: QRectF) -> list[AnnotationItem]:
        """The items whose scene bounds intersect any of `rects`, bottom first."""
        if self._stale:
            self._rebuild()
        b = self._bounds
        hit = np.zeros(len(b), dtype=bool)
        for rect in rects:
            hit |= (
                (b[:, 0] < rect.right())
                & (b[:, 2] > rect.left())
                & (b[:, 1] < rect.bottom())
                & (b[:, 3] > rect.top())
            )
        order = self._order
        return [order[i] for i in np.flatnonzero(hit)]

    def _rebuild(self) -> None:
        sequence = self._sequence
        self._order = sorted(sequence, key=lambda item: (item.zValue(), sequence[item]))
        bounds = np.zeros((len(self._order), 4))
        for row, item in enumerate(self._order):
            r = item.sceneBoundingRect()
            bounds[row] = (r.left(), r.top(), r.right(), r.bottom())
        self._bounds = bounds
        self._stale = False
