"""Where the score tags of close boxes go, so that they never pile on top of each other.

Each annotation item draws its tag (score, and the category name when selected) at a fixed
screen size inside its box. With crowded proposals the tags at the boxes' top-left corners
overlap into an unreadable stack, so the view places them all at once: the most important
tag first (selected, then higher score) at its box's corner, the others at the first of a
few spots inside their box (down the left edge, then down the right edge) that is still
free; a tag with no free spot is hidden rather than drawn over another.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSizeF

MAX_ROWS = 3  # spots tried down each edge of the box


@dataclass(frozen=True)
class TagRequest:
    key: int  # the annotation id
    box: QRectF  # the box in screen pixels (scene rect times the view scale)
    size: QSizeF  # the tag's size in screen pixels
    priority: float  # higher is placed first


class _Grid:
    """Placed rectangles bucketed by cell, so a collision test looks at neighbours only."""

    def __init__(self, cell: float) -> None:
        self._cell = max(cell, 1.0)
        self._cells: dict[tuple[int, int], list[QRectF]] = {}

    def _keys(self, rect: QRectF) -> Iterator[tuple[int, int]]:
        c = self._cell
        for i in range(math.floor(rect.left() / c), math.floor(rect.right() / c) + 1):
            for j in range(math.floor(rect.top() / c), math.floor(rect.bottom() / c) + 1):
                yield i, j

    def collides(self, rect: QRectF) -> bool:
        return any(
            other.intersects(rect) for key in self._keys(rect) for other in self._cells.get(key, ())
        )

    def add(self, rect: QRectF) -> None:
        for key in self._keys(rect):
            self._cells.setdefault(key, []).append(rect)


def _spots(request: TagRequest) -> Iterator[QPointF]:
    """Candidate offsets from the box's top-left that keep the tag inside the box."""
    box, size = request.box, request.size
    free_x, free_y = box.width() - size.width(), box.height() - size.height()
    if free_x < 0 or free_y < 0:
        return
    for x in (0.0, free_x) if free_x > 0 else (0.0,):
        for row in range(MAX_ROWS):
            y = row * size.height()
            if y > free_y:
                break
            yield QPointF(x, y)


def place_tags(requests: list[TagRequest]) -> dict[int, QPointF | None]:
    """Each tag's offset (screen px) from its box's top-left, or None where it is hidden."""
    placed: dict[int, QPointF | None] = {}
    if not requests:
        return placed
    grid = _Grid(max(r.size.height() for r in requests) * 4)
    for request in sorted(requests, key=lambda r: (-r.priority, r.key)):
        placed[request.key] = None
        for offset in _spots(request):
            rect = QRectF(request.box.topLeft() + offset, request.size)
            if not grid.collides(rect):
                grid.add(rect)
                placed[request.key] = offset
                break
    return placed
