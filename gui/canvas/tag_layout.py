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
from PySide6.QtGui import QImage, QPainter
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


Edges = tuple[float, float, float, float]  # left, top, right, bottom


class _Grid:
    """Placed rectangles bucketed by cell, so a collision test looks at neighbours only.

    Plain float tuples, not QRectF: a layout of the 600 tags in view at 50 % with 2,000
    instances made ~20,000 QRectF calls and took longer than a frame.
    """

    def __init__(self, cell: float) -> None:
        self._cell = max(cell, 1.0)
        self._cells: dict[tuple[int, int], list[Edges]] = {}

    def _keys(self, edges: Edges) -> list[tuple[int, int]]:
        c = self._cell
        i0, i1 = math.floor(edges[0] / c), math.floor(edges[2] / c)
        j0, j1 = math.floor(edges[1] / c), math.floor(edges[3] / c)
        return [(i, j) for i in range(i0, i1 + 1) for j in range(j0, j1 + 1)]

    def collides(self, edges: Edges) -> bool:
        """Whether any placed rectangle overlaps this one (QRectF.intersects: by some area)."""
        left, top, right, bottom = edges
        cells = self._cells
        for key in self._keys(edges):
            for other in cells.get(key, ()):
                if left < other[2] and other[0] < right and top < other[3] and other[1] < bottom:
                    return True
        return False

    def add(self, edges: Edges) -> None:
        for key in self._keys(edges):
            self._cells.setdefault(key, []).append(edges)


def _spots(request: TagRequest) -> Iterator[tuple[float, float]]:
    """Candidate offsets from the box's top-left that keep the tag inside the box."""
    box, size = request.box, request.size
    height = size.height()
    free_x, free_y = box.width() - size.width(), box.height() - height
    if free_x < 0 or free_y < 0:
        return
    for x in (0.0, free_x) if free_x > 0 else (0.0,):
        for row in range(MAX_ROWS):
            y = row * height
            if y > free_y:
                break
            yield x, y


def place_tags(requests: list[TagRequest]) -> dict[int, QPointF | None]:
    """Each tag's offset (screen px) from its box's top-left, or None where it is hidden."""
    placed: dict[int, QPointF | None] = {}
    if not requests:
        return placed
    grid = _Grid(max(r.size.height() for r in requests) * 4)
    for request in sorted(requests, key=lambda r: (-r.priority, r.key)):
        placed[request.key] = None
        left, top = request.box.x(), request.box.y()
        width, height = request.size.width(), request.size.height()
        for x, y in _spots(request):
            edges = (left + x, top + y, left + x + width, top + y + height)
            if not grid.collides(edges):
                grid.add(edges)
                placed[request.key] = QPointF(x, y)
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
        self._cell = 1.0
        self._cells: dict[tuple[int, int], list[int]] = {}  # indices into _tags, by cell
        self._moving: list[int] = []  # the selected items' tags, drawn wherever they are
        # Each tag's image and offset, asked of its item once per layout and zoom.
        self._images: dict[int, tuple[QPointF, QImage] | None] = {}
        self._images_lod = 0.0

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
        self._images = {}
        self._bucket(tags)

    def _bucket(self, tags: list[tuple[AnnotationItem, QRectF]]) -> None:
        """File the tags by cell: a pan repaints a strip of the cached layer, and testing
        all 600 tags in view against each strip was most of the layer's time."""
        self._cells = {}
        self._moving = []
        if not tags:
            return
        self._cell = max(max(r.width() for _, r in tags), max(r.height() for _, r in tags)) * 4
        for index, (item, rect) in enumerate(tags):
            if item.isSelected():  # may be dragged: its tag follows the item, not the cells
                self._moving.append(index)
                continue
            for key in self._cell_keys(rect):
                self._cells.setdefault(key, []).append(index)

    def _cell_keys(self, rect: QRectF) -> list[tuple[int, int]]:
        c = self._cell
        i0, i1 = math.floor(rect.left() / c), math.floor(rect.right() / c)
        j0, j1 = math.floor(rect.top() / c), math.floor(rect.bottom() / c)
        return [(i, j) for i in range(i0, i1 + 1) for j in range(j0, j1 + 1)]

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        world = painter.worldTransform()
        lod = option.levelOfDetailFromTransform(world)
        exposed = option.exposedRect
        if lod != self._images_lod:
            self._images, self._images_lod = {}, lod
        images = self._images
        indices = set(self._moving)
        if self._cells:
            for key in self._cell_keys(exposed):
                indices.update(self._cells.get(key, ()))
        painter.save()
        painter.resetTransform()  # tags are screen-sized images: draw them in device pixels
        for index in sorted(indices):  # the layout's order, as before bucketing
            item, rect = self._tags[index]
            moved = item.pos()  # non-zero while the user drags the item
            if not rect.translated(moved).intersects(exposed) or not item.isVisible():
                continue
            if index in images:
                tag = images[index]
            else:
                tag = images[index] = item.tag_image(lod)
            if tag is not None:
                offset, image = tag
                corner = world.map(item.box_rect.topLeft() + moved)
                painter.drawImage(QPointF(round(corner.x()), round(corner.y())) + offset, image)
        painter.restore()
