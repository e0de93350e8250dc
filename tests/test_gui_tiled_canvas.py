"""A huge image in the window: drawn from its tile pyramid, edited at full resolution."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("pytestqt")

from _gui_helpers import drag, make_canvas  # noqa: E402
from _window_helpers import shown_window, wait_until  # noqa: E402
from PySide6.QtCore import QPointF  # noqa: E402
from PySide6.QtGui import QTransform  # noqa: E402

from core import masks  # noqa: E402
from core.files.pyramid import TileKey, cache_folder  # noqa: E402
from core.store import ProjectStore  # noqa: E402
from gui.canvas.mask_crops import decode_crop  # noqa: E402

WIDTH, HEIGHT = 10_000, 8_000


def _huge_project(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """One 10,000 x 8,000 image whose pixels say where they are (x and y in two channels)."""
    x = (np.arange(WIDTH) // 40 % 256).astype(np.uint8)
    y = (np.arange(HEIGHT) // 32 % 256).astype(np.uint8)
    rgb = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint8)
    rgb[:, :, 0] = x[None, :]
    rgb[:, :, 1] = y[:, None]
    rgb[:, :, 2] = 90
    images = tmp_path / "images"
    images.mkdir()
    assert cv2.imwrite(str(images / "huge.bmp"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    project = tmp_path / "huge.maskloop"
    with ProjectStore.create(project, images) as store:
        store.add_category("field")
        store.add_image("huge.bmp", WIDTH, HEIGHT)
    return project, rgb


@pytest.fixture(scope="module")
def huge_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """Shared: the second test opens the tiles the first one built."""
    return _huge_project(tmp_path_factory.mktemp("huge"))


@pytest.fixture
def huge_window(qtbot, tmp_path: Path, huge_project: tuple[Path, np.ndarray]):
    project, rgb = huge_project
    window = shown_window(qtbot, tmp_path)
    window.resize(1200, 900)
    assert window.open_project(project)
    canvas = window.canvas
    wait_until(qtbot, lambda: canvas.tiled_item is not None, timeout_ms=120_000)
    return window, rgb, project


def test_huge_image_is_drawn_from_tiles_of_the_zoom_level(qtbot, huge_window) -> None:
    window, rgb, project = huge_window
    canvas = window.canvas
    item = canvas.tiled_item
    assert canvas.pixmap_item.pixmap().isNull()  # no full-size pixmap anywhere
    assert canvas.image_size == (WIDTH, HEIGHT)
    assert (cache_folder(project) / item.pyramid.folder.name).is_dir()  # beside the project

    # Fitted, the whole image is on screen at 5-8 %: the level where one screen pixel is
    # 16 or 8 image pixels, every one of its tiles asked for.
    canvas.zoom.fit()
    level = 4 if canvas.view_scale() < 1 / 8 else 3
    canvas.viewport().repaint()
    assert item.last_level == level
    cols, rows = item.pyramid.grid(level)
    assert item.last_keys == [TileKey(level, c, r) for r in range(rows) for c in range(cols)]
    # At 10 % (one screen pixel = 10 image pixels: level 3, tiles of 4,096 image pixels)
    # the tiles asked for are the ones under the viewport.
    canvas.setTransform(QTransform.fromScale(0.1, 0.1))
    canvas.centerOn(QPointF(2000, 7000))
    canvas.viewport().repaint()
    visible = canvas.mapToScene(canvas.viewport().rect()).boundingRect()
    wanted = {
        TileKey(3, c, r)
        for c in range(int(max(visible.left(), 0)) // 4096, int(visible.right()) // 4096 + 1)
        for r in range(int(max(visible.top(), 0)) // 4096, 2)
    }
    assert item.last_level == 3
    assert set(item.last_keys) == wanted
    assert set(item.last_requested) <= wanted  # the ones not cached yet, loading

    # At 100 % around (6000, 5000) only the level-0 tiles under the viewport are asked for.
    canvas.zoom.zoom_100()
    canvas.centerOn(QPointF(6000, 5000))
    qtbot.wait(50)
    item.loader.wait_idle()
    qtbot.wait(50)
    canvas.viewport().repaint()
    visible = canvas.mapToScene(canvas.viewport().rect()).boundingRect()
    expected = item.pyramid.tiles_in(
        0, visible.left(), visible.top(), visible.right(), visible.bottom()
    )
    assert item.last_level == 0
    assert item.last_keys == expected
    assert set(item.cached_keys()) >= set(expected)  # loaded in the background
    assert item.last_requested == []  # everything visible is cached: nothing left to ask
    assert len(expected) <= 9  # a 1200 x 900 window at 100 %: a few 512 px tiles
    # A cached tile holds the image's own pixels.
    key = expected[0]
    image = item._cache[key]  # noqa: SLF001 - the pixels the item draws
    x, y, w, h = item.pyramid.tile_rect(key)
    pixel = image.pixelColor(5, 7)
    assert (pixel.red(), pixel.green(), pixel.blue()) == tuple(rgb[y + 7, x + 5])


def test_brush_stroke_at_full_zoom_lands_on_full_resolution_pixels(
    qtbot, huge_window, tmp_path: Path
) -> None:
    """The same stroke as on a small whole-pixmap image, 6,950 px right and 4,960 down."""
    (tmp_path / "small").mkdir()
    small = make_canvas(qtbot, tmp_path / "small")
    small.view.set_tool("brush")
    small.view.set_brush_size(10)
    drag(small.view, (50.5, 40.5), (150.5, 40.5))
    (reference,) = small.stored()
    expected = masks.decode(reference.segmentation, 150, 200)

    window, _rgb, project = huge_window
    canvas = window.canvas
    canvas.zoom.zoom_100()
    canvas.centerOn(QPointF(7050, 5000))
    canvas.set_tool("brush")
    canvas.set_brush_size(10)
    drag(canvas, (7000.5, 5000.5), (7100.5, 5000.5))

    with ProjectStore.open(project) as store:
        (ann,) = store.annotations(window.current_document.image_id)
    x, y, w, h = reference.bbox
    assert tuple(ann.bbox) == (x + 6950, y + 4960, w, h)
    crop = decode_crop(ann.segmentation, (6950, 4960, 200, 150), HEIGHT, WIDTH)
    assert np.array_equal(crop, expected)
    assert crop[40, 50:151].all()  # y 5000, x 7000..7100: along the stroke
    assert ann.area == expected.sum()


def test_tile_requests_of_one_frame_painted_in_pieces_are_all_read(qtbot, tmp_path: Path) -> None:
    """Qt may paint one frame as several exposed pieces: each piece's request adds to the
    loader's queue; none replaces another's (tiles left grey until the next repaint)."""
    from core.files.pyramid import build_pyramid
    from gui.canvas.tiled_image import TileLoader

    path = tmp_path / "mid.png"
    rgb = np.random.default_rng(3).integers(0, 255, (1100, 1100, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), rgb)
    pyramid = build_pyramid(path, tmp_path / "tiles")
    loader = TileLoader(pyramid)
    received: list[TileKey] = []
    loader.tileLoaded.connect(lambda key, _image: received.append(key))
    first, second = [TileKey(0, 0, 0), TileKey(0, 1, 0)], [TileKey(0, 2, 2)]
    with loader._cv:  # noqa: SLF001 - both pieces queued before the thread takes either
        loader.want(first)
        loader.want(second)
    assert loader.wait_idle()
    wait_until(qtbot, lambda: len(received) == 3, timeout_ms=10_000)
    assert received[0] == second[0]  # the latest piece first
    assert sorted(received, key=lambda k: (k.row, k.col)) == [*first, *second]
    loader.stop()


def test_preload_builds_no_pyramid_and_opening_builds_it(qtbot, tmp_path: Path) -> None:
    """Prefetching never starts a pyramid build (it would hold a pool thread for tens of
    seconds); opening the image builds it and hands the canvas the tiles."""
    from gui.image_loader import ImageLoader

    path = tmp_path / "strip.bmp"
    assert cv2.imwrite(str(path), np.full((64, 4200, 3), 77, dtype=np.uint8))
    tiles = tmp_path / "p.tiles"
    loader = ImageLoader()
    loader.set_tile_cache(tiles)
    shown: list[object] = []
    loader.tiledLoaded.connect(lambda _id, pyramid: shown.append(pyramid))
    loader.loaded.connect(lambda _id, image: shown.append(image))

    loader.preload([(1, path)])
    assert loader.wait_idle()
    qtbot.wait(50)
    assert not tiles.exists() and shown == [] and loader.cached(1, path) is None

    loader.request(1, path)
    wait_until(qtbot, lambda: bool(shown), timeout_ms=30_000)
    (pyramid,) = shown
    assert (pyramid.width, pyramid.height) == (4200, 64)
    assert any(tiles.iterdir())
