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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, QSizeF, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from gui.canvas.paint_areas import meets, painted_areas

if TYPE_CHECKING:
    from gui.canvas.items import AnnotationItem

MAX_ROWS = 3  # spots tried down each edge of the box
_CHANGED_CELL_PX = 256.0  # cells of the areas changed since the last layout (whole boxes)
Edges = tuple[float, float, float, float]  # left, top, right, bottom
_MANY_CHANGES = 64  # tags changed in one layout beyond which the whole layer repaints
_Place = tuple[float, float, float, float, float, float]  # tag edges, box corner (scene)
TAG_LAYER_Z = 900.0  # above every annotation item, below the tools' overlays


@dataclass(frozen=True)
class TagRequest:
    key: int  # the annotation id
    box: QRectF  # the box in screen pixels (scene rect times the view scale)
    size: QSizeF  # the tag's size in screen pixels
    priority: float  # higher is placed first
    # The box and tag size as plain floats, made once: the layout reads them for every tag,
    # every time (functools.cached_property took a lock on each read).
    edges: Edges = field(init=False, compare=False)
    tag_size: tuple[float, float] = field(init=False, compare=False)
    signature: tuple[Edges, tuple[float, float], float] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        box = self.box
        edges = (box.x(), box.y(), box.x() + box.width(), box.y() + box.height())
        tag_size = (self.size.width(), self.size.height())
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "tag_size", tag_size)
        object.__setattr__(self, "signature", (edges, tag_size, self.priority))


class _Grid:
    """Placed rectangles bucketed by cell, so a collision test looks at neighbours only.

    Plain float tuples, not QRectF: a layout of the 600 tags in view at 50 % with 2,000
    instances made ~20,000 QRectF calls and took longer than a frame.
    """

    def __init__(self, cell: float) -> None:
        self._cell = max(cell, 1.0)
        self._cells: dict[tuple[int, int], list[Edges]] = {}

    def _range(self, edges: Edges) -> tuple[range, range]:
        c = self._cell
        return (
            range(math.floor(edges[0] / c), math.floor(edges[2] / c) + 1),
            range(math.floor(edges[1] / c), math.floor(edges[3] / c) + 1),
        )

    def collides(self, edges: Edges) -> bool:
        """Whether any placed rectangle overlaps this one (QRectF.intersects: by some area)."""
        left, top, right, bottom = edges
        cells = self._cells
        columns, rows = self._range(edges)
        for i in columns:
            for j in rows:
                for other in cells.get((i, j), ()):
                    if (
                        left < other[2]
                        and other[0] < right
                        and top < other[3]
                        and other[1] < bottom
                    ):
                        return True
        return False

    def add(self, edges: Edges) -> None:
        columns, rows = self._range(edges)
        for i in columns:
            for j in rows:
                self._cells.setdefault((i, j), []).append(edges)


def _place_one(request: TagRequest, grid: _Grid) -> tuple[float, float] | None:
    """The first free spot for this tag (then taken in `grid`), or None."""
    left, top, right, bottom = request.edges
    width, height = request.tag_size
    free_x, free_y = right - left - width, bottom - top - height
    if free_x < 0 or free_y < 0:
        return None
    for x in (0.0, free_x) if free_x > 0 else (0.0,):
        for row in range(MAX_ROWS):
            y = row * height
            if y > free_y:
                break
            edges = (left + x, top + y, left + x + width, top + y + height)
            if not grid.collides(edges):
                grid.add(edges)
                return x, y
    return None


def _tag_edges(request: TagRequest, spot: tuple[float, float]) -> Edges:
    left, top = request.edges[0] + spot[0], request.edges[1] + spot[1]
    width, height = request.tag_size
    return (left, top, left + width, top + height)


def _same(a: TagRequest, b: TagRequest) -> bool:
    return a is b or a.signature == b.signature


def _order(requests: list[TagRequest]) -> list[TagRequest]:
    return sorted(requests, key=lambda r: (-r.priority, r.key))


def place_tags(requests: list[TagRequest]) -> dict[int, QPointF | None]:
    """Each tag's offset (screen px) from its box's top-left, or None where it is hidden."""
    return TagPlacer().place(requests)


class TagPlacer:
    """`place_tags` again after a few requests changed, with the same result, placing anew
    only the tags whose outcome may differ.

    A tag's spot depends on itself and on the tags placed before it (higher priority) that
    overlap its box, since every spot lies inside the box. So a request equal to last time,
    whose box meets no changed area, keeps last time's spot. The changed areas are the boxes
    of the requests that came, went or changed (their tags lie inside), plus the old and new
    rectangles of every tag whose spot moved, added as the placement goes down the order
    (unchanged requests keep their relative order). A Tab at fit with 600 tags in view
    placed all 600 again before; now the two boxes that changed and their neighbours.
    """

    def __init__(self) -> None:
        self._last: dict[int, tuple[TagRequest, tuple[float, float] | None]] = {}

    def place(self, requests: list[TagRequest]) -> dict[int, QPointF | None]:
        if not requests:
            self._last = {}
            return {}
        last = self._last
        current = {r.key: r for r in requests}
        if not any(key in current and _same(current[key], old) for key, (old, _) in last.items()):
            return self._place_all(requests)  # a new zoom: nothing to keep, nothing to track
        changed = _Grid(_CHANGED_CELL_PX)
        for key, (old, _) in last.items():
            new = current.get(key)
            if new is None or not _same(new, old):
                changed.add(old.edges)
        for key, new in current.items():
            before = last.get(key)
            if before is None or not _same(before[0], new):
                changed.add(new.edges)
        grid = _Grid(max(r.tag_size[1] for r in requests) * 4)
        result: dict[int, tuple[TagRequest, tuple[float, float] | None]] = {}
        for request in _order(requests):
            before = last.get(request.key)
            if before is not None and _same(before[0], request) and not changed.collides(
                request.edges
            ):
                spot = before[1]
                if spot is not None:
                    grid.add(_tag_edges(request, spot))
            else:
                spot = _place_one(request, grid)
                old_spot = None if before is None else before[1]
                if before is not None and old_spot != spot:
                    if old_spot is not None:
                        changed.add(_tag_edges(before[0], old_spot))
                    if spot is not None:
                        changed.add(_tag_edges(request, spot))
            result[request.key] = (request, spot)
        self._last = result
        return {key: None if spot is None else QPointF(*spot) for key, (_, spot) in result.items()}

    def _place_all(self, requests: list[TagRequest]) -> dict[int, QPointF | None]:
        grid = _Grid(max(r.tag_size[1] for r in requests) * 4)
        result = {r.key: (r, _place_one(r, grid)) for r in _order(requests)}
        self._last = result
        return {key: None if spot is None else QPointF(*spot) for key, (_, spot) in result.items()}


class TagLayer(QGraphicsItem):
    """Paints the placed tags above every item, so another box's outline never covers them.

    Uncached but cheap: it holds only the tags `place_tags` kept (with their scene rects at
    the current zoom), looks only at those filed in the exposed cells, and each is a blit of
    pre-laid-out text.
    """

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(TAG_LAYER_Z)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)
        # No device cache while the view can scroll (see set_cached): with tags filed by cell
        # and drawn from plain floats, painting the exposed ones costs less than Qt keeping
        # and scrolling a viewport-sized cache (a pan step at 50 % with 2,000 instances: 22 ms
        # of CPU instead of 36). set_tags repaints only the tags that changed.
        self._rect = QRectF()
        self._tags: list[tuple[AnnotationItem, QRectF]] = []
        self._shown: dict[AnnotationItem, tuple[QRectF, int]] = {}  # what was last painted
        self._cell = 1.0
        self._cells: dict[tuple[int, int], list[int]] = {}  # indices into _tags, by cell
        self._index_of: dict[QGraphicsItem, int] = {}  # an item's tag in _tags
        # Each tag's image and offset, asked of its item again only when its rect or image
        # changed, or the zoom did.
        self._images: dict[AnnotationItem, tuple[float, float, QImage] | None] = {}
        self._places: list[_Place] = []
        # Each shown tag's rect and floats, reused while its rect stays the same.
        self._known: dict[AnnotationItem, tuple[QRectF, _Place]] = {}
        self._images_lod = 0.0

    def set_cached(self, cached: bool) -> None:
        """Keep the tags' pixels in a device cache (True when the whole image is in view and
        nothing scrolls: a Tab at fit with 600 tags then repaints two, 12 ms of CPU instead
        of 15), or draw the exposed ones at each paint (while panning)."""
        mode = QGraphicsItem.CacheMode
        wanted = mode.DeviceCoordinateCache if cached else mode.NoCache
        if self.cacheMode() != wanted:
            self.setCacheMode(wanted)

    def set_tags(self, rect: QRectF, tags: list[tuple[AnnotationItem, QRectF]]) -> None:
        """The scene rect to cover and the shown tags with their scene rects."""
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = QRectF(rect)
            self._shown = {}
        # Repaint only the tags that moved, changed or went: the view lays tags out after
        # every scroll step, and a whole-viewport repaint each time doubled a pan's cost.
        shown = {item: (tag_rect, item.tag_key()) for item, tag_rect in tags}
        dirty: list[QRectF] = []
        # A tag whose rect and image stay keeps what its item was asked for it (the frame
        # after a pan's layout asked each of 300 tags in view again).
        images, self._images = self._images, {}
        for item, (tag_rect, key) in shown.items():
            before = self._shown.pop(item, None)
            if before is None or before != (tag_rect, key):
                dirty.append(tag_rect)
                if before is not None:
                    dirty.append(before[0])
            elif item in images:
                self._images[item] = images[item]
        dirty += [tag_rect for tag_rect, _ in self._shown.values()]
        if len(dirty) > _MANY_CHANGES:  # a zoom: one repaint, not 600 dirty rectangles
            self.update()
        else:
            for tag_rect in dirty:
                self.update(tag_rect)
        self._shown = shown
        self._tags = tags
        self._bucket(tags)

    def _bucket(self, tags: list[tuple[AnnotationItem, QRectF]]) -> None:
        """File the tags by cell: a pan repaints a strip of the cached layer, and testing
        all 600 tags in view against each strip was most of the layer's time."""
        self._cells = {}
        self._index_of = {}
        if not tags:
            return
        self._cell = max(max(r.width() for _, r in tags), max(r.height() for _, r in tags)) * 4
        cell = self._cell
        cells = self._cells
        places = self._places = []
        self._index_of = {item: index for index, (item, _) in enumerate(tags)}
        known, self._known = self._known, {}
        for index, (item, rect) in enumerate(tags):
            hit = known.get(item)
            place: _Place
            if hit is not None and hit[0] == rect:  # most tags stay put on a pan step
                place = hit[1]
            else:
                corner = item.box_rect.topLeft()
                # Plain floats for the paint: the tag's scene edges and its box's corner.
                place = (
                    rect.left(),
                    rect.top(),
                    rect.right(),
                    rect.bottom(),
                    corner.x(),
                    corner.y(),
                )
            self._known[item] = (rect, place)
            places.append(place)
            # Filed by its top-left corner only: a cell is 4 tags wide, so a tag reaches at
            # most into the next cell right and down, and a query starts one cell before.
            key = (math.floor(place[0] / cell), math.floor(place[1] / cell))
            cells.setdefault(key, []).append(index)

    def _cell_keys(self, edges: Edges) -> list[tuple[int, int]]:
        c = self._cell
        i0, i1 = math.floor(edges[0] / c) - 1, math.floor(edges[2] / c)
        j0, j1 = math.floor(edges[1] / c) - 1, math.floor(edges[3] / c)
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
        # Only the tags within what this paint can change (a pan step's strips), not all
        # those of the exposed rectangle (the strips' bounding box: the whole viewport).
        exposed_edges = (exposed.left(), exposed.top(), exposed.right(), exposed.bottom())
        areas = painted_areas(painter) or [exposed_edges]
        indices: set[int] = set()
        if self._cells:
            for area in areas:
                for key in self._cell_keys(area):
                    indices.update(self._cells.get(key, ()))
        # A dragged item is a selected one: its tag follows it, wherever its cell was.
        scene = self.scene()
        where = self._index_of
        moving = {where[i] for i in scene.selectedItems() if i in where} if scene else set()
        indices.update(moving)
        # The view only scales and translates: device = scene * scale + (dx, dy).
        scale, dx, dy = world.m11(), world.dx(), world.dy()
        left, top, right, bottom = exposed.left(), exposed.top(), exposed.right(), exposed.bottom()
        places = self._places
        painter.save()
        painter.resetTransform()  # tags are screen-sized images: draw them in device pixels
        for index in sorted(indices):  # the layout's order, as before bucketing
            item = self._tags[index][0]
            x0, y0, x1, y1, cx, cy = places[index]
            if index in moving:  # non-zero while the user drags the item
                moved = item.pos()
                x0, x1, cx = x0 + moved.x(), x1 + moved.x(), cx + moved.x()
                y0, y1, cy = y0 + moved.y(), y1 + moved.y(), cy + moved.y()
            if x0 >= right or x1 <= left or y0 >= bottom or y1 <= top or not item.isVisible():
                continue
            if len(areas) > 1 and not meets(areas, x0, y0, x1, y1):
                continue
            if item in images:
                tag = images[item]
            else:
                found = item.tag_image(lod)
                tag = images[item] = (
                    None if found is None else (found[0].x(), found[0].y(), found[1])
                )
            if tag is not None:
                ox, oy, image = tag
                painter.drawImage(
                    QPointF(round(cx * scale + dx) + ox, round(cy * scale + dy) + oy), image
                )
        painter.restore()
