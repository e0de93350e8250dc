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
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, QSizeF, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

if TYPE_CHECKING:
    from gui.canvas.items import AnnotationItem

MAX_ROWS = 3  # spots tried down each edge of the box
TAG_LAYER_Z = 900.0  # above every annotation item, below the tools' overlays


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


class TagLayer(QGraphicsItem):
    """Paints the placed tags above every item, so another box's outline never covers them.

    Uncached but cheap: it holds only the tags `place_tags` kept (with their scene rects at
    the current zoom), skips those outside the exposed area, and each is a blit of
    pre-laid-out text.
    """

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(TAG_LAYER_Z)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)
        # Qt keeps the layer's pixels for the visible part of the view and scrolls them on a
        # pan: drawing 200 tags every frame was most of a pan's cost with 2,000 instances.
        # set_tags repaints only the tags that changed.
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._rect = QRectF()
        self._tags: list[tuple[AnnotationItem, QRectF]] = []
        self._shown: dict[AnnotationItem, tuple[QRectF, int]] = {}  # what was last painted

    def set_tags(self, rect: QRectF, tags: list[tuple[AnnotationItem, QRectF]]) -> None:
        """The scene rect to cover and the shown tags with their scene rects."""
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = QRectF(rect)
            self._shown = {}
        # Repaint only the tags that moved, changed or went: the view lays tags out after
        # every scroll step, and a whole-viewport repaint each time doubled a pan's cost.
        shown = {item: (tag_rect, item.tag_key()) for item, tag_rect in tags}
        for item, (tag_rect, key) in shown.items():
            before = self._shown.pop(item, None)
            if before is None or before != (tag_rect, key):
                self.update(tag_rect)
                if before is not None:
                    self.update(before[0])
        for tag_rect, _ in self._shown.values():
            self.update(tag_rect)
        self._shown = shown
        self._tags = tags

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        world = painter.worldTransform()
        lod = option.levelOfDetailFromTransform(world)
        exposed = option.exposedRect
        painter.save()
        painter.resetTransform()  # tags are screen-sized images: draw them in device pixels
        for item, rect in self._tags:
            moved = item.pos()  # non-zero while the user drags the item
            if not rect.translated(moved).intersects(exposed) or not item.isVisible():
                continue
            tag = item.tag_image(lod)
            if tag is not None:
                offset, image = tag
                corner = world.map(item.box_rect.topLeft() + moved)
                painter.drawImage(QPointF(round(corner.x()), round(corner.y())) + offset, image)
        painter.restore()
