"""One composited layer that paints every annotation of a crowded image, tile by tile.

With 2,000 instances on screen, letting each AnnotationItem keep its own device-pixel cache
made every pan frame alpha-blend up to 2,000 cached pixmaps (about 200 ms a frame on a
2-core CPU). Above COMPOSITE_MIN_ITEMS annotations the view hands its items to this layer
instead: the items stay in the scene (hit-testing, selection, tags and tools are unchanged)
but paint nothing themselves (ItemHasNoContents); the layer draws their fills and outlines
into screen-aligned tiles of TILE_PX x TILE_PX device pixels, and a frame is a blit of the
few dozen tiles in view.

- Tiles are drawn at the view's exact scale and sub-pixel offset (a "grid"), so they look
  like what the items would have drawn.
- Each item is drawn once per grid into its own small image, a sprite (fill, halo, outline
  at that scale); a tile is then a blit of the sprites over it, bottom first. Stroking
  outlines is the costly part, so a pan that brings half-seen items into a new tile, a
  threshold step or a selection change (which redraw the neighbours of what changed) only
  blit sprites again.
- An item that changes (an edit, a new colour, hidden by the score threshold, selected or
  unselected) calls `invalidate` with its scene rectangle: only that rectangle of the cached
  tiles is redrawn, at the next paint, with the items that overlap it; an edit or a new
  style also calls `forget` to drop its sprite.
- A paint never spends more than `frame_budget_s` drawing new tiles when something can
  stand in for them: the tiles of an earlier grid (the zoom before, or the image at fit),
  drawn scaled. The rest is drawn between events in short slices, visible tiles
  first, then a ring around the view for the next pan, and each finished tile repaints
  sharp. A tile nothing can stand in for is drawn in the paint, whatever it costs, so the
  layer never shows a hole where masks are.
- The selected item (and one being dragged or resized) paints itself above the layer, so
  its highlight and live edits cost nothing here.

Memory: at most MAX_TILES tiles of TILE_PX**2 x 4 bytes (256 x 256 KB = 64 MB) over all
grids kept, plus MAX_SPRITE_BYTES of sprites; a 1600 x 1000 viewport shows about 40 tiles.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass

import shiboken6
from PySide6.QtCore import QPoint, QRect, QRectF, Qt, QTimer
from PySide6.QtGui import QImage, QPainter, QRegion, QTransform
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from gui.canvas.items import AnnotationItem
from gui.canvas.mask_index import ItemIndex
from gui.canvas.paint_areas import meets, painted_areas

COMPOSITE_MIN_ITEMS = 300  # below this, items keep painting (and caching) themselves
TILE_PX = 256
MAX_TILES = 256
MAX_GRIDS = 4  # grids whose tiles are kept to stand in while a new zoom is drawn
MAX_SPRITE_BYTES = 96 * 1024 * 1024
# An item bigger than this on screen (device px) is drawn straight into the tiles: a sprite
# of a mask that fills the view at 800 % would be hundreds of megabytes.
MAX_SPRITE_PX = 1024 * 1024
# Drawing new tiles that something can stand in for: at most this long in a paint, and in
# each slice of work between events (the next frame waits for a slice to end).
FRAME_BUDGET_S = 0.003
SLICE_BUDGET_S = 0.005
MASK_LAYER_Z = 5.0  # above the image (-1), below every annotation item (~10)
# Device pixels around a changed item that are redrawn too: cosmetic halos (3 px wide) and
# antialiasing reach a little beyond the item's bounding rectangle.
_MARGIN_PX = 3
_MAX_QUERY_RECTS = 16

TileKey = tuple[int, int]
Grid = tuple[float, float, float]  # the view scale and the tiles' sub-pixel offset


@dataclass(frozen=True)
class _Sprite:
    image: QImage
    origin: QPoint  # its top-left in the grid's device pixels


class MaskLayer(QGraphicsItem):
    """Paints the composited annotation items (those with `composited` true) from tiles."""

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(MASK_LAYER_Z)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)
        self._rect = QRectF()
        self._index = ItemIndex()
        self._grid: Grid | None = None
        self._tiles: OrderedDict[TileKey, QImage] = OrderedDict()  # the current grid's
        self._dirty: dict[TileKey, QRegion] = {}  # device pixels to redraw, by tile
        self._provisional: set[TileKey] = set()  # tiles made from a stand-in, to draw sharp
        self._earlier: OrderedDict[Grid, dict[TileKey, QImage]] = OrderedDict()  # stand-ins
        self._sprites: OrderedDict[AnnotationItem, _Sprite] = OrderedDict()
        self._retired: list[OrderedDict[AnnotationItem, _Sprite]] = []  # earlier grids'
        self._sprite_bytes = 0
        self._hints = QPainter.RenderHint.TextAntialiasing
        self._view_keys: list[TileKey] = []  # tiles over the whole viewport at the last paint
        self._pending: list[TileKey] = []  # visible tiles shown through a stand-in
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._draw_some)
        # None: draw every missing tile in the paint (tests that compare pixels at once).
        self.frame_budget_s: float | None = FRAME_BUDGET_S
        self.tiles_drawn = 0  # tiles drawn from scratch so far (tests, benchmark)
        self.sprites_drawn = 0
        self.forced_tiles = 0
        self.stand_in_paints = 0  # paints that showed a stand-in for some tile (benchmark)

    # ---- what the view and the items call ---------------------------------------------
    def set_rect(self, rect: QRectF) -> None:
        """The scene rectangle the layer covers (the image)."""
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = QRectF(rect)
            self._drop_pixels()  # the items stay: the view may set them before the image

    def clear(self) -> None:
        """Forget every tile, sprite and item (another document, the layer turned on or off)."""
        self._drop_pixels()
        self._index.clear()

    def _drop_pixels(self) -> None:
        self._tiles.clear()
        self._dirty.clear()
        self._provisional.clear()
        self._earlier.clear()
        self._sprites.clear()
        self._retired.clear()
        self._sprite_bytes = 0
        self._pending = []
        self._timer.stop()
        self.update()

    def add_item(self, item: AnnotationItem) -> None:
        """The layer paints `item` from now on, while it is `composited`."""
        self._index.add(item)
        self.invalidate(item.sceneBoundingRect())

    def remove_item(self, item: AnnotationItem) -> None:
        self.forget(item)
        self._index.remove(item)
        self.invalidate(item.sceneBoundingRect())

    def forget(self, item: AnnotationItem) -> None:
        """The item's look, place or stacking changed: draw its sprite again when needed."""
        sprite = self._sprites.pop(item, None)
        if sprite is not None:
            self._sprite_bytes -= sprite.image.sizeInBytes()
        self._index.changed()

    def invalidate(self, scene_rect: QRectF) -> None:
        """Redraw this scene rectangle of the cached tiles at the next paint."""
        if scene_rect.isEmpty():
            return
        grid = self._grid
        if grid is None:
            self.update(scene_rect)
            return
        for earlier, tiles in self._earlier.items():  # stand-ins must not show what went
            around = self._to_device(scene_rect, earlier).adjusted(
                -_MARGIN_PX, -_MARGIN_PX, _MARGIN_PX, _MARGIN_PX
            )
            for key in self._keys_over(around):
                tiles.pop(key, None)
        device = self._to_device(scene_rect, grid).adjusted(
            -_MARGIN_PX, -_MARGIN_PX, _MARGIN_PX, _MARGIN_PX
        )
        keys = self._keys_over(device)
        if len(keys) > len(self._tiles):  # a huge rect: walk the cache rather than the range
            keys = list(self._tiles)
        for key in keys:
            if key not in self._tiles:
                continue
            if key in self._provisional:  # stands in for what changed: draw it sharp
                del self._tiles[key]
                self._provisional.discard(key)
                continue
            part = device.intersected(self._tile_rect(key))
            if part.isEmpty():
                continue
            self._dirty[key] = self._dirty.get(key, QRegion()).united(part)
        margin = _MARGIN_PX / grid[0]
        self.update(scene_rect.adjusted(-margin, -margin, margin, margin))

    def finish(self) -> None:
        """Draw every tile still shown through a stand-in now (screenshots, benchmarks)."""
        self._timer.stop()
        if self._pending and self._grid is not None:
            for key in self._pending:
                if key in self._provisional:
                    self._draw_tile(key, None)
                    self.update(self._to_scene(self._tile_rect(key)))
        self._pending = []

    @property
    def settled(self) -> bool:
        """True when no visible tile waits to be drawn sharp."""
        return not self._pending

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
        if grid != self._grid:
            self._switch_grid(grid)
        self._hints = painter.renderHints()
        budget = self.frame_budget_s
        deadline = None if budget is None else time.perf_counter() + budget
        if widget is not None:
            view = QRect(-ox, -oy, widget.width(), widget.height())
            self._view_keys = self._keys_over(view.intersected(self._to_device(self._rect, grid)))
        exposed = option.exposedRect.intersected(self._rect)
        if exposed.isEmpty():
            return
        keys = self._keys_over(self._to_device(exposed, grid))
        dirty = [key for key in keys if key in self._dirty]
        if dirty:  # what changed shows at once: cheap, the sprites are there
            self._repair(dirty)
        stand_ins: list[TileKey] = []
        for key in keys:
            if key in self._tiles:
                continue
            forced = deadline is None or not self._can_stand_in(key)
            self.forced_tiles += forced
            if not self._draw_tile(key, None if forced else deadline):
                stand_ins.append(key)
        if stand_ins:
            self.stand_in_paints += 1
            self._make_provisional(stand_ins)
        self._pending = [k for k in self._view_keys if k in self._provisional] + [
            k for k in keys if k in self._provisional and k not in self._view_keys
        ]
        painter.save()
        painter.resetTransform()  # tiles are in device pixels already
        # Blit only the tiles under what this paint can change (a pan step's two strips),
        # not every tile of their bounding rectangle, the whole viewport.
        areas = painted_areas(painter, margin=0.0)
        for key in keys:
            tile = self._tiles.get(key)
            if tile is not None:
                self._tiles.move_to_end(key)
                x, y = key[0] * TILE_PX + ox, key[1] * TILE_PX + oy
                if areas is None or meets(areas, x, y, x + TILE_PX, y + TILE_PX):
                    painter.drawImage(QPoint(x, y), tile)
        painter.restore()
        self._evict(keys)
        if not self._timer.isActive() and (self._pending or self._retired or self._prefetch_keys()):
            self._timer.start()

    # ---- grids and stand-ins ----------------------------------------------------------------
    def _switch_grid(self, grid: Grid) -> None:
        """A zoom step or a new sub-pixel offset: keep the old tiles to stand in for the new."""
        if self._grid is not None and self._tiles:
            self._earlier.pop(self._grid, None)
            clean = {
                k: t
                for k, t in self._tiles.items()
                if k not in self._dirty and k not in self._provisional
            }
            self._earlier[self._grid] = clean
        earlier = self._earlier.pop(grid, None)  # back to a zoom seen before: reuse its tiles
        overview = min(self._earlier, key=lambda g: g[0], default=None)
        for old in [g for g in self._earlier if g != overview]:
            if len(self._earlier) <= MAX_GRIDS - 1:
                break
            del self._earlier[old]
        self._tiles = OrderedDict(earlier or {})
        self._dirty.clear()
        self._provisional.clear()
        # Freeing 2,000 sprites took 14 ms: they go a few hundred at a time between events.
        self._retired.append(self._sprites)
        self._sprites = OrderedDict()
        self._sprite_bytes = 0
        self._pending = []
        self._grid = grid

    def _earlier_keys(self, key: TileKey, grid: Grid) -> list[TileKey]:
        assert self._grid is not None
        scene = self._to_scene(self._tile_rect(key)).intersected(self._rect)
        return self._keys_over(self._to_device(scene, grid))

    def _can_stand_in(self, key: TileKey) -> bool:
        """Whether one earlier grid holds every tile over this tile's area."""
        return self._stand_in_grid(key) is not None

    def _stand_in_grid(self, key: TileKey) -> Grid | None:
        for grid in reversed(self._earlier):
            tiles = self._earlier[grid]
            needed = self._earlier_keys(key, grid)
            if needed and all(k in tiles for k in needed):
                return grid
        return None

    def _make_provisional(self, keys: list[TileKey]) -> None:
        """Stand-in tiles: an earlier grid's tiles scaled to these, until drawn sharp."""
        assert self._grid is not None
        scale, fx, fy = self._grid
        for key in keys:
            grid = self._stand_in_grid(key)
            if grid is None:
                continue
            s, gx, gy = grid
            k = scale / s
            origin = self._tile_rect(key).topLeft()
            image = QImage(TILE_PX, TILE_PX, QImage.Format.Format_ARGB32_Premultiplied)
            image.fill(0)
            painter = QPainter(image)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.setTransform(
                QTransform(k, 0, 0, k, fx - gx * k - origin.x(), fy - gy * k - origin.y())
            )
            tiles = self._earlier[grid]
            for old in self._earlier_keys(key, grid):
                painter.drawImage(QPoint(old[0] * TILE_PX, old[1] * TILE_PX), tiles[old])
            painter.end()
            self._tiles[key] = image
            self._provisional.add(key)

    # ---- drawing between events -------------------------------------------------------------
    def _prefetch_keys(self) -> list[TileKey]:
        """Tiles of a ring one tile wide around the view, not drawn yet (the next pan's)."""
        if self._grid is None or not self._view_keys or len(self._tiles) >= MAX_TILES // 2:
            return []
        i0, j0 = self._view_keys[0]
        i1, j1 = self._view_keys[-1]
        layer = self._to_device(self._rect, self._grid)
        bounds = self._keys_over(layer)
        if not bounds:
            return []
        (bi0, bj0), (bi1, bj1) = bounds[0], bounds[-1]
        ring = [
            (i, j)
            for j in range(max(j0 - 1, bj0), min(j1 + 1, bj1) + 1)
            for i in range(max(i0 - 1, bi0), min(i1 + 1, bi1) + 1)
        ]
        return [key for key in ring if key not in self._tiles]

    def _draw_some(self) -> None:
        """One slice of drawing between events: the visible stand-ins first, then the ring."""
        if not shiboken6.isValid(self):  # the view and its scene went while a slice waited
            self._timer.stop()
            self._retired.clear()
            return
        if self._grid is None or self.scene() is None or not self.isVisible():
            self._pending = []
            return
        deadline = time.perf_counter() + SLICE_BUDGET_S
        while self._retired and time.perf_counter() < deadline:
            sprites = self._retired[-1]
            for _ in range(min(200, len(sprites))):
                sprites.popitem()
            if not sprites:
                self._retired.pop()
        for key in list(self._pending):
            if key not in self._provisional or self._draw_tile(key, deadline):
                self._pending.remove(key)
                self.update(self._to_scene(self._tile_rect(key)))
            if time.perf_counter() > deadline:
                break
        if not self._pending:
            for key in self._prefetch_keys():
                self._draw_tile(key, deadline)
                if time.perf_counter() > deadline:
                    break
        if self._pending or self._retired or self._prefetch_keys():
            self._timer.start()

    # ---- drawing ----------------------------------------------------------------------------
    def _to_device(self, scene_rect: QRectF, grid: Grid) -> QRect:
        """A scene rectangle in a grid's device pixels (scene * scale + sub-pixel offset)."""
        scale, fx, fy = grid
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

    def _items_over(self, device: QRegion) -> list[AnnotationItem]:
        """The composited items that may touch these device pixels, bottom first."""
        assert self._grid is not None
        margin = _MARGIN_PX / self._grid[0]
        # A region of many rectangles (a threshold jump showing 600 proposals) is looked up
        # as its bounding rectangle: one pass over the index instead of one per rectangle;
        # the clip still keeps the drawing to the region.
        parts: list[QRect] = (
            list(device)  # type: ignore[call-overload]  # its rectangles
            if device.rectCount() <= _MAX_QUERY_RECTS
            else [device.boundingRect()]
        )
        rects = [self._to_scene(r).adjusted(-margin, -margin, margin, margin) for r in parts]
        return [i for i in self._index.items_in(*rects) if i.isVisible() and i.composited]

    def _draw_tile(self, key: TileKey, deadline: float | None) -> bool:
        """Draw one tile from sprites; False when the deadline came first (sprites drawn so
        far are kept, the tile is not)."""
        if deadline is not None and time.perf_counter() > deadline:
            return False
        rect = self._tile_rect(key)
        items = self._items_over(QRegion(rect))
        if deadline is not None:
            for item in items:
                if time.perf_counter() > deadline:
                    return False
                self._sprite(item)
        image = QImage(TILE_PX, TILE_PX, QImage.Format.Format_ARGB32_Premultiplied)
        self._compose(image, rect.topLeft(), QRegion(rect), items)
        self._tiles[key] = image
        self._dirty.pop(key, None)
        self._provisional.discard(key)
        self.tiles_drawn += 1
        return True

    def _repair(self, keys: list[TileKey]) -> None:
        """Redraw the changed pixels of these tiles, each through its own clip, from the
        sprites of the items over them only: a threshold step that hides 30 proposals blits
        their neighbours again, not the 2,000 items in view."""
        for key in keys:
            region = self._dirty.pop(key)
            self._compose(
                self._tiles[key],
                self._tile_rect(key).topLeft(),
                region,
                self._items_over(region),
            )

    def _compose(
        self, image: QImage, origin: QPoint, region: QRegion, items: list[AnnotationItem]
    ) -> None:
        """Clear `region` (device px; `image`'s top-left sits at `origin`) and draw into it
        these items, bottom first, as they would draw themselves."""
        local = region.translated(-origin)
        painter = QPainter(image)
        painter.setClipRegion(local)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        painter.fillRect(local.boundingRect(), Qt.GlobalColor.transparent)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceOver)
        for item in items:
            sprite = self._sprite(item)
            if sprite is None:  # too big for a sprite: drawn here, through the clip
                self._draw_item(painter, item, origin)
            else:
                painter.drawImage(sprite.origin - origin, sprite.image)
        painter.end()

    def _draw_item(self, painter: QPainter, item: AnnotationItem, origin: QPoint) -> None:
        assert self._grid is not None
        scale, fx, fy = self._grid
        painter.save()
        painter.setRenderHints(self._hints)
        painter.setTransform(QTransform(scale, 0, 0, scale, fx - origin.x(), fy - origin.y()))
        item.draw_content(painter, scale)
        painter.restore()

    def _sprite(self, item: AnnotationItem) -> _Sprite | None:
        """The item drawn alone at the current grid, cached (None: too big to cache)."""
        sprite = self._sprites.get(item)
        if sprite is not None:
            self._sprites.move_to_end(item)
            return sprite
        assert self._grid is not None
        device = self._to_device(item.sceneBoundingRect(), self._grid).adjusted(
            -_MARGIN_PX, -_MARGIN_PX, _MARGIN_PX, _MARGIN_PX
        )
        if device.width() * device.height() > MAX_SPRITE_PX:
            return None
        image = QImage(device.size(), QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(0)
        painter = QPainter(image)
        self._draw_item(painter, item, device.topLeft())
        painter.end()
        sprite = _Sprite(image, device.topLeft())
        self._sprites[item] = sprite
        self._sprite_bytes += image.sizeInBytes()
        self.sprites_drawn += 1
        while self._sprite_bytes > MAX_SPRITE_BYTES and len(self._sprites) > 1:
            _, old = self._sprites.popitem(last=False)
            self._sprite_bytes -= old.image.sizeInBytes()
        return sprite

    def _evict(self, visible: list[TileKey]) -> None:
        """Keep at most MAX_TILES tiles: earlier grids go first, oldest first, but the one of
        the smallest scale (the image at fit, as it opens) stays to stand in for any zoom;
        then the current grid's least recently seen tiles go."""
        overview = min(self._earlier, key=lambda grid: grid[0], default=None)
        kept = 0 if overview is None else len(self._earlier[overview])
        total = len(self._tiles) + sum(len(t) for t in self._earlier.values())
        for grid in [g for g in self._earlier if g != overview]:
            if total <= MAX_TILES:
                break
            total -= len(self._earlier.pop(grid))
        while len(self._tiles) > max(MAX_TILES - kept, len(visible)):
            old, _ = self._tiles.popitem(last=False)
            self._dirty.pop(old, None)
            self._provisional.discard(old)
