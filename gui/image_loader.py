"""Decode images off the UI thread, keeping the last few in a small LRU cache.

`core.files.images.read_image` does the decoding (EXIF, grayscale, 16-bit...) in a QThreadPool
task; the pixels come back as a QImage through a queued signal. Going back and forth
between neighbouring images hits the cache and shows at once; the window asks for the
next images ahead of time with `preload`.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QImage

DEFAULT_CACHE_SIZE = 8


def qimage_from_rgb(array: np.ndarray) -> QImage:
    """A QImage owning a copy of an H x W x 3 uint8 RGB array."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    height, width = array.shape[:2]
    image = QImage(array.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return image.copy()  # detach from the numpy buffer, which is freed when this returns


class _Relay(QObject):
    """Carries results from pool threads back to the loader's thread (queued connections)."""

    done = Signal(int, str, QImage)
    failed = Signal(int, str, str)


class _DecodeTask(QRunnable):
    def __init__(self, relay: _Relay, image_id: int, path: Path) -> None:
        super().__init__()
        self._relay = relay
        self._image_id = image_id
        self._path = path

    def run(self) -> None:
        from core.errors import MaskLoopError
        from core.files.images import read_image

        try:
            image = qimage_from_rgb(read_image(self._path))
        except MaskLoopError as exc:
            self._relay.failed.emit(self._image_id, str(self._path), str(exc))
            return
        except Exception as exc:  # an unexpected decoder failure must not kill the pool thread
            self._relay.failed.emit(self._image_id, str(self._path), f"{self._path.name}: {exc}")
            return
        self._relay.done.emit(self._image_id, str(self._path), image)


class ImageLoader(QObject):
    """Asynchronous image decoding with an LRU cache keyed by image id and path.

    Signals:
        loaded(int image_id, QImage): pixels are ready (from the cache or a decoder thread).
        failed(int image_id, str message): the file could not be read; message names it.
    """

    loaded = Signal(int, QImage)
    failed = Signal(int, str)

    def __init__(self, cache_size: int = DEFAULT_CACHE_SIZE, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cache: OrderedDict[tuple[int, str], QImage] = OrderedDict()
        self._cache_size = cache_size
        self._pending: set[tuple[int, str]] = set()
        self._wanted: tuple[int, str] | None = None  # the one request whose result is announced
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)
        self._relay = _Relay(self)
        self._relay.done.connect(self._on_done)
        self._relay.failed.connect(self._on_failed)

    def request(self, image_id: int, path: Path) -> None:
        """Ask for an image; `loaded` follows (synchronously when it is cached)."""
        key = (image_id, str(path))
        self._wanted = key
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            self.loaded.emit(image_id, cached)
            return
        self._start(key)

    def preload(self, items: list[tuple[int, Path]]) -> None:
        """Decode images the user is likely to open next, without announcing them."""
        for image_id, path in items:
            key = (image_id, str(path))
            if key not in self._cache:
                self._start(key)

    def cached(self, image_id: int, path: Path) -> QImage | None:
        return self._cache.get((image_id, str(path)))

    def clear(self) -> None:
        self._cache.clear()
        self._wanted = None

    def wait_idle(self, msecs: int = 5000) -> bool:
        """Block until decoder threads are done (used on shutdown and in tests)."""
        return self._pool.waitForDone(msecs)

    def _start(self, key: tuple[int, str]) -> None:
        if key in self._pending:
            return
        self._pending.add(key)
        self._pool.start(_DecodeTask(self._relay, key[0], Path(key[1])))

    def _on_done(self, image_id: int, path: str, image: QImage) -> None:
        key = (image_id, path)
        self._pending.discard(key)
        self._cache[key] = image
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        if key == self._wanted:
            self.loaded.emit(image_id, image)

    def _on_failed(self, image_id: int, path: str, message: str) -> None:
        key = (image_id, path)
        self._pending.discard(key)
        if key == self._wanted:
            self.failed.emit(image_id, message)
