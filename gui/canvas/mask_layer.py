"""One composited layer that paints every annotation of a crowded image, tile by tile.

With 2,000 instances on screen, letting each AnnotationItem keep its own device-pixel cache
made every pan frame alpha-blend up to 2,000 cached pixmaps (about 200 ms a frame on a
2-core CPU). Above COMPOSITE_MIN_ITEMS annotations the view hands its items to this layer
instead: the items stay in the scene (hit-testing, selection, tags and tools are unchanged)
but paint nothing themselves (ItemHasNoContents); the layer draws their fills and outlines
into screen-aligned tiles of TILE_PX x TILE_PX device pixels, once per zoom, and a frame is
then a blit of the few dozen tiles in view.

- Tiles are drawn at the view's exact scale and sub-pixel offset, so they look like what
  the items would have drawn; a zoom step or a new sub-pixel offset starts a fresh set.
- The tiles missing from a frame are drawn together into one image (each item once, not
  once per tile it touches) and cut into tiles.
- An item that changes (an edit, a new colour, hidden by the score threshold, selected or
  unselected) calls `invalidate` with its scene rectangle: only that rectangle of the
  cached tiles is cleared and redrawn, with the items that overlap it, at the next paint.
- The selected item (and one being dragged or resized) paints itself above the layer, so
  its highlight and live edits cost nothing here.

Memory: at most MAX_TILES tiles of TILE_PX**2 x 4 bytes (256 x 256 KB = 64 MB), whatever
the image size; a 1600 x 1000 viewport shows about 40 tiles.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterator

from PySide6.QtCore import QPoint, QRect, QRectF, Qt
from PySide6.QtGui import QImage, QPainter, QRegion, QTransform
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from gui.canvas.items import AnnotationItem

COMPOSITE_MIN_ITEMS = 300  # below this, items keep painting (and caching) themselves
TILE_PX = 256
MAX_TILES = 256
MASK_LAYER_Z = 5.0  # above the image (-1), below every annotation item (~10)
# Device pixels around a changed item that are redrawn too: cosmetic halos (3 px wide) and
# antialiasing reach a little beyond the item's bounding rectangle.
_MARGIN_PX = 3

TileKey = tuple[int, int]


class MaskLayer(QGraphicsItem):
    """Paints the composited annotation items (those with `composited` true) from tiles."""

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(MASK_LAYER_Z)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)
        self._rect = QRectF()
        self._tiles: OrderedDict[TileKey, QImage] = OrderedDict()
        self._dirty: dict[TileKey, QRegion] = {}  # device pixels to redraw, by tile
        # The view scale and the sub-pixel offset of the tiles in the cache.
        self._grid: tuple[float, float, float] | None = None
        self.tiles_drawn = 0  # tiles drawn from scratch so far (tests, benchmark)

    # ---- what the view calls ----------------------------------------------------------
    def set_rect(self, rect: QRectF) -> None:
        """The scene rectangle the layer covers (the image)."""
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = QRectF(rect)
            self.clear()

    def clear(self) -> None:
        """Forget every tile (another document, the layer turned on or off)."""
        self._tiles.clear()
        self._dirty.clear()
        self.update()

    def invalidate(self, scene_rect: QRectF) -> None:
        """Redraw this scene rectangle of the cached tiles at the next paint."""
        if scene_rect.isEmpty():
            return
        grid = self._grid
        if grid is None or not self._tiles:
            self.update(scene_rect)
            return
        scale = grid[0]
        device = self._to_device(scene_rect).adjusted(
            -_MARGIN_PX, -_MARGIN_PX, _MARGIN_PX, _MARGIN_PX
        )
        keys = self._keys_over(device)
        if len(keys) > len(self._tiles):  # a huge rect: walk the cache rather than the range
            keys = list(self._tiles)
        for key in keys:
            if key not in self._tiles:
                continue
            part = device.intersected(self._tile_rect(key))
            if part.isEmpty():
                continue
            self._dirty[key] = self._dirty.get(key, QRegion()).united(part)
        margin = _MARGIN_PX / scale
        self.update(scene_rect.adjusted(-margin, -margin, margin, margin))

    @property
    def cached_tiles(self) -> int:
        return len(self._tiles)

    # ---- QGraphicsItem --------------------------------------------------------------------
    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        world = painter.worldTransform()
        scale = world.m11()
        if scale <= 0 or self.scene() is None:
            return
        ox, oy = math.floor(world.dx()), math.floor(world.dy())
        grid = (scale, round(world.dx() - ox, 3), round(world.dy() - oy, 3))
        if grid != self._grid:  # a zoom step: tiles drawn at another scale are useless
            self._tiles.clear()
            self._dirty.clear()
            self._grid = grid
        exposed = option.exposedRect.intersected(self._rect)
        if exposed.isEmpty():
            return
        keys = self._keys_over(self._to_device(exposed))
        hints = painter.renderHints()
        missing = [key for key in keys if key not in self._tiles]
        if missing:
            self._draw_tiles(missing, hints)
        dirty = [key for key in keys if key in self._dirty]
        if dirty:
            self._repair(dirty, hints)
        painter.save()
        painter.resetTransform()  # tiles are in device pixels already
        for key in keys:
            self._tiles.move_to_end(key)
            painter.drawImage(
                QPoint(key[0] * TILE_PX + ox, key[1] * TILE_PX + oy), self._tiles[key]
            )
        painter.restore()
        while len(self._tiles) > max(MAX_TILES, len(keys)):
            old, _ = self._tiles.popitem(last=False)
            self._dirty.pop(old, None)

    # ---- drawing ----------------------------------------------------------------------------
    def _to_device(self, scene_rect: QRectF) -> QRect:
        """A scene rectangle in the tiles' device pixels (scene * scale + sub-pixel offset)."""
        assert self._grid is not None
        scale, fx, fy = self._grid
        return QRectF(
            scene_rect.x() * scale + fx,
            scene_rect.y() * scale + fy,
            scene_rect.width() * scale,
            scene_rect.height() * scale,
        ).toAlignedRect()

    def _to_scene(self, device: QRect) -> QRectF:
        assert self._grid is not None
        scale, fx, fy = self._grid
        return QRectF(
            (device.x() - fx) / scale,
            (device.y() - fy) / scale,
            device.width() / scale,
            device.height() / scale,
        )

    @staticmethod
    def _tile_rect(key: TileKey) -> QRect:
        return QRect(key[0] * TILE_PX, key[1] * TILE_PX, TILE_PX, TILE_PX)

    @staticmethod
    def _keys_over(device: QRect) -> list[TileKey]:
        if device.isEmpty():
            return []
        i0, i1 = device.left() // TILE_PX, device.right() // TILE_PX
        j0, j1 = device.top() // TILE_PX, device.bottom() // TILE_PX
        return [(i, j) for j in range(j0, j1 + 1) for i in range(i0, i1 + 1)]

    def _draw_tiles(self, keys: list[TileKey], hints: QPainter.RenderHint) -> None:
        """Draw the missing tiles as one image (each item drawn once), then cut it up."""
        union = QRect()
        for key in keys:
            union = union.united(self._tile_rect(key))
        image = QImage(union.size(), QImage.Format.Format_ARGB32_Premultiplied)
        self._draw_items(image, union.topLeft(), QRegion(union), hints)
        for key in keys:
            self._tiles[key] = image.copy(self._tile_rect(key).translated(-union.topLeft()))
            self._dirty.pop(key, None)
        self.tiles_drawn += len(keys)

    def _repair(self, keys: list[TileKey], hints: QPainter.RenderHint) -> None:
        """Redraw the changed pixels of these tiles: one image for all of them, in which only
        the items overlapping a changed rectangle are drawn (a threshold step that hides 30
        proposals redraws their neighbours, not the 2,000 items in view), then copied into
        the tiles through the same clip."""
        region = QRegion()
        for key in keys:
            region = region.united(self._dirty.pop(key))
        bound = region.boundingRect()
        image = QImage(bound.size(), QImage.Format.Format_ARGB32_Premultiplied)
        self._draw_items(image, bound.topLeft(), region, hints)
        for key in keys:
            tile_origin = self._tile_rect(key).topLeft()
            painter = QPainter(self._tiles[key])
            painter.setClipRegion(region.translated(-tile_origin))
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
            painter.drawImage(bound.topLeft() - tile_origin, image)
            painter.end()

    def _draw_items(
        self, image: QImage, origin: QPoint, region: QRegion, hints: QPainter.RenderHint
    ) -> None:
        """Clear `region` (device px; `image`'s top-left sits at `origin`) and draw into it
        the composited items that overlap it, bottom first, as they would draw themselves."""
        assert self._grid is not None
        scale, fx, fy = self._grid
        local = region.translated(-origin)
        painter = QPainter(image)
        painter.setRenderHints(hints)
        painter.setClipRegion(local)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        painter.fillRect(local.boundingRect(), Qt.GlobalColor.transparent)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceOver)
        painter.setTransform(QTransform(scale, 0, 0, scale, fx - origin.x(), fy - origin.y()))
        margin = _MARGIN_PX / scale
        bound = self._to_scene(region.boundingRect()).adjusted(-margin, -margin, margin, margin)
        several = region.rectCount() > 1
        for item in self._items_in(bound):
            if several and not region.intersects(
                self._to_device(item.sceneBoundingRect()).adjusted(
                    -_MARGIN_PX, -_MARGIN_PX, _MARGIN_PX, _MARGIN_PX
                )
            ):
                continue
            item.draw_content(painter, scale)
        painter.end()

    def _items_in(self, scene_rect: QRectF) -> Iterator[AnnotationItem]:
        scene = self.scene()
        for item in scene.items(
            scene_rect,
            Qt.ItemSelectionMode.IntersectsItemBoundingRect,
            Qt.SortOrder.AscendingOrder,
        ):
            if isinstance(item, AnnotationItem) and item.composited and item.isVisible():
                yield item
