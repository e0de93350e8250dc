"""The pixels of a huge image on the canvas: only the visible tiles, at the zoom's level.

`TiledImageItem` stands in for the canvas's QGraphicsPixmapItem when the image has a tile
pyramid (core/files/pyramid.py; images with a side over TILED_MIN_SIDE px). Scene
coordinates stay full-resolution pixels, so annotations, tools and the status bar's cursor
position are the same as on a small image; only the drawing differs:

- `paint` picks the pyramid level matching the view's scale (the coarsest one still at
  least as sharp as the screen), draws the tiles of that level that the exposed rectangle
  touches, and asks `TileLoader` for the ones not cached yet;
- a missing tile is drawn from the best coarser tile already cached (blurred for a moment,
  never a hole), else as a flat placeholder, until its pixels arrive;
- `TileLoader` reads tiles in its own thread (a slice of a memory-mapped file plus a
  conversion to a QImage), newest request first, and hands them back through a queued
  signal; the item keeps the last TILE_CACHE tiles (an LRU).

Memory: at most TILE_CACHE tiles of TILE_SIZE**2 x 4 bytes (160 x 1 MB), whatever the
image size; a 1600 x 1000 viewport shows at most about 40 tiles.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from PySide6.QtCore import QObject, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from core.files.pyramid import TileKey, TilePyramid
from gui.image_loader import qimage_from_rgb

TILE_CACHE = 160
MAX_PENDING = 96  # queued tile reads kept; older requests (tiles long scrolled away) drop off
PLACEHOLDER_COLOR = QColor("#3a3a3a")


class TileLoader(QObject):
    """Reads tiles in one background thread; the newest request wins.

    Signals:
        tileLoaded(TileKey, QImage): a tile's pixels, delivered on the loader's thread.
    """

    tileLoaded = Signal(object, QImage)

    def __init__(self, pyramid: TilePyramid, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pyramid = pyramid
        self._wanted: list[TileKey] = []
        self._in_flight: set[TileKey] = set()
        self._cv = threading.Condition()
        self._stopping = False
        self.reads = 0  # tiles read so far (tests, benchmark)
        self._thread = threading.Thread(target=self._run, name="tile-loader", daemon=True)
        self._thread.start()

    def want(self, keys: list[TileKey]) -> None:
        """Queue tiles the view needs now, ahead of older requests. Qt may paint one frame in
        several exposed pieces, so a request adds to the queue rather than replacing it; the
        oldest requests beyond MAX_PENDING (tiles scrolled away long ago) are dropped."""
        with self._cv:
            fresh = [k for k in keys if k not in self._in_flight]
            wanted = set(fresh)
            self._wanted = [k for k in self._wanted if k not in wanted] + fresh[::-1]
            del self._wanted[:-MAX_PENDING]
            self._cv.notify()

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._wanted = []
            self._cv.notify()
        self._thread.join(timeout=5)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until the queue is empty and no tile is being read (tests)."""
        with self._cv:
            return self._cv.wait_for(lambda: not self._wanted and not self._in_flight, timeout)

    def _run(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._stopping or bool(self._wanted))
                if self._stopping:
                    return
                key = self._wanted.pop()  # the latest paint's, in its own order
                self._in_flight.add(key)
            try:
                image = qimage_from_rgb(self._pyramid.tile(key))
                image = image.convertToFormat(QImage.Format.Format_RGB32)  # fastest to blit
                self.reads += 1
                self.tileLoaded.emit(key, image)
            except Exception:  # noqa: BLE001 - a vanished cache file: the placeholder stays
                pass
            finally:
                with self._cv:
                    self._in_flight.discard(key)
                    self._cv.notify_all()


class TiledImageItem(QGraphicsItem):
    """Draws a TilePyramid at full-resolution scene coordinates, tile by visible tile."""

    def __init__(self, pyramid: TilePyramid, cache_size: int = TILE_CACHE) -> None:
        super().__init__()
        self.pyramid = pyramid
        self._bounds = QRectF(0, 0, pyramid.width, pyramid.height)
        self._cache: OrderedDict[TileKey, QImage] = OrderedDict()
        self._cache_size = cache_size
        self.loader = TileLoader(pyramid)
        self.loader.tileLoaded.connect(self._on_tile_loaded)
        self.last_level = -1  # the level the last paint drew (tests)
        self.last_keys: list[TileKey] = []  # the tiles the last paint covered (tests)
        self.last_requested: list[TileKey] = []  # those it had to ask the loader for
        self.setZValue(-1)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        # Gives paint() the exposed rectangle, so only the tiles it touches are drawn.
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)

    def boundingRect(self) -> QRectF:
        return self._bounds

    def cached_keys(self) -> list[TileKey]:
        return list(self._cache)

    def close(self) -> None:
        """Stop the loader thread; the item draws placeholders from now on."""
        self.loader.tileLoaded.disconnect(self._on_tile_loaded)
        self.loader.stop()
        self._cache.clear()

    def tiles_for(self, exposed: QRectF, scale: float) -> tuple[int, list[TileKey]]:
        """The level drawn at view scale `scale` and its tiles that `exposed` touches."""
        level = self.pyramid.level_for_scale(scale)
        rect = exposed.intersected(self._bounds)
        if rect.isEmpty():
            return level, []
        keys = self.pyramid.tiles_in(level, rect.left(), rect.top(), rect.right(), rect.bottom())
        return level, keys

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        scale = option.levelOfDetailFromTransform(painter.worldTransform())
        level, keys = self.tiles_for(option.exposedRect, scale)
        # Smooth when the level is shrunk on screen; crisp pixels when zoomed in to edit.
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, scale < 1.0)
        missing = []
        for key in keys:
            image = self._cache.get(key)
            if image is not None:
                self._cache.move_to_end(key)
                rect = QRectF(*self.pyramid.tile_rect(key))
                span = self.pyramid.scale_of(level)
                # A last tile's last pixel may reach past the image: draw only what is in it.
                source = QRectF(0, 0, rect.width() / span, rect.height() / span)
                painter.drawImage(rect, image, source)
                continue
            missing.append(key)
            self._draw_placeholder(painter, key)
        self.last_level, self.last_keys, self.last_requested = level, keys, missing
        if missing:
            self.loader.want(missing)

    def _draw_placeholder(self, painter: QPainter, key: TileKey) -> None:
        """The part of the nearest coarser cached tile that covers `key`, else flat grey."""
        target = QRectF(*self.pyramid.tile_rect(key))
        pyramid = self.pyramid
        for level in range(key.level + 1, pyramid.level_count):
            shift = level - key.level
            coarse = TileKey(level, key.col >> shift, key.row >> shift)
            image = self._cache.get(coarse)
            if image is None:
                continue
            x, y, _w, _h = pyramid.tile_rect(coarse)
            span = pyramid.scale_of(level)
            source = QRectF(
                (target.x() - x) / span,
                (target.y() - y) / span,
                target.width() / span,
                target.height() / span,
            )
            painter.drawImage(target, image, source)
            return
        painter.fillRect(target, PLACEHOLDER_COLOR)

    def _on_tile_loaded(self, key: TileKey, image: QImage) -> None:
        self._cache[key] = image
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        self.update(QRectF(*self.pyramid.tile_rect(key)))
