"""Decode images off the UI thread, keeping the last few in a small LRU cache.

`core.files.images.read_image` does the decoding (EXIF, grayscale, 16-bit...) in a superqt
worker (`create_worker`, the project's one mechanism for one-shot background tasks); the
pixels come back as a QImage through the worker's `returned` signal, queued to this thread. Going back and forth
between neighbouring images hits the cache and shows at once; the window asks for the
next images ahead of time with `preload`.

A huge image (a side over core.files.pyramid.TILED_MIN_SIDE px) is never decoded into one
QImage: once a project's tile cache is set (`set_tile_cache`), its tile pyramid is built
(once, cached beside the project) or opened, and `tiledLoaded` hands it to the canvas.
One pyramid is built at a time, and only for an image the user opens: `preload` uses a
pyramid already cached but builds none (a build holds one of the pool's threads for tens of
seconds, and the image the user jumps to next would wait behind it). Before a JPEG's build
starts, a reduced decode (core/files/preview.py, 1/2 to 1/8 a side, a second or two) goes
out as `previewLoaded`, so the canvas shows the whole image at once while the tiles build.
A PNG has no reduced decode: its pyramid is built from the top down, and its 1/8 level goes
out as `previewLoaded` every PARTIAL_PREVIEW_SECONDS, filling in as the build goes.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage
from superqt.utils import GeneratorWorker, create_worker

from core.files.pyramid import TilePyramid

DEFAULT_CACHE_SIZE = 8


def qimage_from_rgb(array: np.ndarray) -> QImage:
    """A QImage owning a copy of an H x W x 3 uint8 RGB array."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    height, width = array.shape[:2]
    image = QImage(array.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return image.copy()  # detach from the numpy buffer, which is freed when this returns


@dataclass(frozen=True)
class _Decoded:
    """What a decoding worker hands back: the pixels, or why there are none."""

    image_id: int
    path: str
    image: QImage | TilePyramid | None
    message: str = ""
    skipped: bool = False  # a preload of a huge image with no pyramid yet: not built ahead


@dataclass(frozen=True)
class _Preview:
    """A reduced decode of a huge image whose pyramid is being built (see previewLoaded)."""

    image_id: int
    path: str
    image: QImage
    size: tuple[int, int]  # the image's full (width, height)


PLACEHOLDER_RGB = (0x3A, 0x3A, 0x3A)  # gui/canvas/tiled_image.py's PLACEHOLDER_COLOR
PARTIAL_PREVIEW_SECONDS = 2.0
"""How often the preview of a huge PNG (no reduced decode) is refreshed while its pyramid is
built from the top down."""


def _partial_previews(
    image_id: int, path: Path, size: tuple[int, int], send: Callable[[_Preview], None]
) -> Callable[[np.ndarray, int], None]:
    """A build's `partial` callback that sends its coarse level as a preview now and then,
    the rows not built yet in the canvas's placeholder grey (black would look like pixels)."""
    last = -math.inf

    def partial(pixels: np.ndarray, rows: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= PARTIAL_PREVIEW_SECONDS:
            last = now
            frame = pixels.copy()
            frame[rows:] = PLACEHOLDER_RGB
            send(_Preview(image_id, str(path), qimage_from_rgb(frame), size))

    return partial


def _pixels(
    image_id: int,
    path: Path,
    tile_cache: Path | None,
    build: bool,
    send: Callable[[_Preview], None] | None = None,
) -> Generator[_Preview, None, QImage | TilePyramid | None]:
    from core.files.images import read_image, read_image_size
    from core.files.preview import decode_preview, has_reduced_decode
    from core.files.pyramid import load_pyramid, needs_pyramid, open_pyramid

    size = read_image_size(path)
    if tile_cache is not None and needs_pyramid(*size):
        cached = open_pyramid(path, tile_cache)
        if cached is not None:
            return cached
        if not build:
            return None
        preview = decode_preview(path, *size)
        partial = None
        if preview is not None:
            yield _Preview(image_id, str(path), qimage_from_rgb(preview.pixels), size)
            del preview
        elif send is not None and not has_reduced_decode(path):
            # No reduced decode (PNG): show a coarse level as the build writes it. A JPEG
            # whose reduced decode failed is broken: the build says how.
            partial = _partial_previews(image_id, path, size, send)
        try:
            # One build at a time, process-wide.
            return load_pyramid(path, tile_cache, partial=partial)
        except OSError:
            pass  # no room or no right to write the cache: show it decoded whole instead
    return qimage_from_rgb(read_image(path))


def _decode(
    image_id: int,
    path: Path,
    done: threading.Event,
    tile_cache: Path | None,
    build: bool,
    send: Callable[[_Preview], None] | None = None,
) -> Generator[_Preview, None, _Decoded]:
    """Runs on a worker thread; never raises, so every request gets an answer. Yields a
    preview first when a huge JPEG's pyramid is about to be built; `send` (thread-safe)
    takes the previews of a PNG's pyramid while it is built."""
    from core.errors import MaskLoopError

    try:
        pixels = yield from _pixels(image_id, path, tile_cache, build, send)
        return _Decoded(image_id, str(path), pixels, skipped=pixels is None)
    except MaskLoopError as exc:
        return _Decoded(image_id, str(path), None, str(exc))
    except Exception as exc:  # an unexpected decoder failure is reported like any other
        return _Decoded(image_id, str(path), None, f"{path.name}: {exc}")
    finally:
        done.set()


class ImageLoader(QObject):
    """Asynchronous image decoding with an LRU cache keyed by image id and path.

    Signals:
        loaded(int image_id, QImage): pixels are ready (from the cache or a decoder thread).
        failed(int image_id, str message): the file could not be read; message names it.
        decodingStarted(int image_id): the image asked for is not cached; `loaded` or
            `failed` follows once it is decoded (the canvas shows "Decoding image…").
        tiledLoaded(int image_id, TilePyramid): a huge image's tiles are ready (instead
            of `loaded`).
        previewLoaded(int image_id, QImage, object size): a reduced decode of a huge JPEG
            whose tiles are being built; `size` is the image's full (width, height), which
            the preview stands for. `tiledLoaded` (or `failed`) follows.
    """

    loaded = Signal(int, QImage)
    tiledLoaded = Signal(int, object)
    previewLoaded = Signal(int, QImage, object)
    _partialPreview = Signal(object)  # emitted on a worker thread, received on this one
    failed = Signal(int, str)
    decodingStarted = Signal(int)

    def __init__(self, cache_size: int = DEFAULT_CACHE_SIZE, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cache: OrderedDict[tuple[int, str], QImage | TilePyramid] = OrderedDict()
        self._tile_cache: Path | None = None
        self._cache_size = cache_size
        # Running decodes: the worker (kept alive until it reports) and its "done" flag.
        self._pending: dict[tuple[int, str], tuple[GeneratorWorker, threading.Event]] = {}
        self._wanted: tuple[int, str] | None = None  # the one request whose result is announced
        # The preview of each build still running, shown again if its image is asked for anew.
        self._previews: dict[tuple[int, str], _Preview] = {}
        self._partialPreview.connect(self._on_preview)

    def request(self, image_id: int, path: Path) -> None:
        """Ask for an image; `loaded` follows (synchronously when it is cached)."""
        key = (image_id, str(path))
        self._wanted = key
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            self._announce(image_id, cached)
            return
        self._start(key)
        self.decodingStarted.emit(image_id)
        preview = self._previews.get(key)
        if preview is not None:
            self.previewLoaded.emit(image_id, preview.image, preview.size)

    def preload(self, items: list[tuple[int, Path]]) -> None:
        """Decode images the user is likely to open next, without announcing them."""
        for image_id, path in items:
            key = (image_id, str(path))
            if key not in self._cache:
                self._start(key, build=False)

    def cached(self, image_id: int, path: Path) -> QImage | None:
        image = self._cache.get((image_id, str(path)))
        return image if isinstance(image, QImage) else None

    def set_tile_cache(self, folder: Path | None) -> None:
        """Where huge images' tile pyramids live (the project's NAME.tiles folder); None:
        no project, every image is decoded whole."""
        self._tile_cache = folder

    def clear(self) -> None:
        self._cache.clear()
        self._previews.clear()
        self._wanted = None

    def is_decoding(self, image_id: int, path: Path) -> bool:
        return (image_id, str(path)) in self._pending

    def wait_idle(self, msecs: int = 5000) -> bool:
        """Block until the running decodes are done (used on shutdown and in tests); their
        results still arrive through the event loop. False when `msecs` ran out first."""
        deadline = time.monotonic() + msecs / 1000
        for _worker, done in list(self._pending.values()):
            if not done.wait(max(0.0, deadline - time.monotonic())):
                return False
        return True

    def _start(self, key: tuple[int, str], *, build: bool = True) -> None:
        if key in self._pending:
            return
        done = threading.Event()
        worker = create_worker(
            _decode,
            key[0],
            Path(key[1]),
            done,
            self._tile_cache,
            build,
            self._partialPreview.emit,
            _start_thread=False,
        )
        # Bound methods of this QObject: Qt queues the calls to this object's thread.
        worker.yielded.connect(self._on_preview)
        worker.returned.connect(self._on_decoded)
        self._pending[key] = (worker, done)
        worker.start()

    def _on_preview(self, preview: _Preview) -> None:
        key = (preview.image_id, preview.path)
        if key not in self._pending:
            return  # its build already reported
        self._previews[key] = preview
        if key == self._wanted:
            self.previewLoaded.emit(preview.image_id, preview.image, preview.size)

    def _on_decoded(self, result: _Decoded) -> None:
        key = (result.image_id, result.path)
        self._pending.pop(key, None)
        self._previews.pop(key, None)
        if result.skipped:
            if key == self._wanted:  # opened while its preload was looking: build it now
                self._start(key)
            return
        if result.image is None:
            if key == self._wanted:
                self.failed.emit(result.image_id, result.message)
            return
        self._cache[key] = result.image
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        if key == self._wanted:
            self._announce(result.image_id, result.image)

    def _announce(self, image_id: int, pixels: QImage | TilePyramid) -> None:
        if isinstance(pixels, QImage):
            self.loaded.emit(image_id, pixels)
        else:
            self.tiledLoaded.emit(image_id, pixels)
