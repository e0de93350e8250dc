"""A huge JPEG's first opening: a reduced preview at once, edited at full resolution, then
replaced by the sharp tiles once its pyramid is built."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("pytestqt")

from _gui_helpers import drag, make_canvas  # noqa: E402
from _window_helpers import shown_window, wait_until  # noqa: E402
from PySide6.QtCore import QPointF, QRectF  # noqa: E402

from core import masks  # noqa: E402
from core.files import pyramid  # noqa: E402
from core.files.preview import decode_preview, reduction_for  # noqa: E402
from core.store import ProjectStore  # noqa: E402
from gui.canvas.mask_crops import decode_crop  # noqa: E402

WIDTH, HEIGHT = 4200, 4100  # just above the tiling threshold (4,096 px)
QUADRANTS = {
    (0, 0): (200, 40, 40),
    (1, 0): (40, 200, 40),
    (0, 1): (40, 40, 200),
    (1, 1): (230, 230, 60),
}


def _quadrants() -> np.ndarray:
    """Four flat colours, one per quadrant: a preview pixel in each says where it comes from."""
    rgb = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint8)
    for (col, row), colour in QUADRANTS.items():
        ys = slice(row * HEIGHT // 2, (row + 1) * HEIGHT // 2)
        xs = slice(col * WIDTH // 2, (col + 1) * WIDTH // 2)
        rgb[ys, xs] = colour
    return rgb


@pytest.fixture
def gated_build(monkeypatch: pytest.MonkeyPatch):
    """Pyramid builds wait for the test to open the gate: "before the pyramid is done" is
    then a state the test holds, not a race it hopes to win."""
    gate = threading.Event()
    real = pyramid.load_pyramid

    def gated(*args, **kwargs):
        assert gate.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(pyramid, "load_pyramid", gated)
    yield gate
    gate.set()


def test_reduced_preview_covers_the_whole_image(tmp_path: Path) -> None:
    path = tmp_path / "huge.jpg"
    assert cv2.imwrite(str(path), cv2.cvtColor(_quadrants(), cv2.COLOR_RGB2BGR))
    preview = decode_preview(path, WIDTH, HEIGHT)
    assert preview is not None and preview.factor == reduction_for(WIDTH, HEIGHT) == 4
    assert preview.pixels.shape == (1025, 1050, 3)  # ceil(4100 / 4), ceil(4200 / 4)
    for (col, row), colour in QUADRANTS.items():
        y, x = (row * 2 + 1) * 1025 // 4, (col * 2 + 1) * 1050 // 4  # each quadrant's middle
        assert np.abs(preview.pixels[y, x].astype(int) - colour).max() <= 3, (col, row)
    png = tmp_path / "huge.png"
    assert cv2.imwrite(str(png), _quadrants()[:8])
    assert decode_preview(png, WIDTH, 8) is None  # PNG has no reduced decode


def test_huge_jpeg_shows_a_preview_until_its_tiles_replace_it(
    qtbot, tmp_path: Path, gated_build: threading.Event
) -> None:
    images = tmp_path / "images"
    images.mkdir()
    rgb = _quadrants()
    assert cv2.imwrite(str(images / "huge.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    project = tmp_path / "huge.maskloop"
    with ProjectStore.create(project, images) as store:
        store.add_category("field")
        store.add_image("huge.jpg", WIDTH, HEIGHT)
    window = shown_window(qtbot, tmp_path)
    window.resize(1200, 900)
    assert window.open_project(project)
    canvas = window.canvas
    item = canvas.pixmap_item
    wait_until(qtbot, lambda: item.isVisible() and not item.pixmap().isNull())

    # The pyramid is not built yet: the preview, 1/4 a side, stretched over the whole image.
    assert canvas.tiled_item is None and not gated_build.is_set()
    assert (item.pixmap().width(), item.pixmap().height()) == (1050, 1025)
    assert item.sceneBoundingRect() == QRectF(0, 0, WIDTH, HEIGHT)
    assert canvas.image_size == (WIDTH, HEIGHT)
    preview = item.pixmap().toImage()
    for (col, row), colour in QUADRANTS.items():
        pixel = preview.pixelColor((col * 2 + 1) * 1050 // 4, (row * 2 + 1) * 1025 // 4)
        assert np.abs(np.array(pixel.getRgb()[:3]) - colour).max() <= 3, (col, row)
    note = canvas.decoding_overlay
    assert note.isVisible() and note.label.text().startswith("Preview at 1/4")

    # Tools work in full-resolution pixels on the preview: the same stroke as on a small
    # image, moved 2,950 px right and 3,060 down.
    (tmp_path / "small").mkdir()
    small = make_canvas(qtbot, tmp_path / "small")
    small.view.set_tool("brush")
    small.view.set_brush_size(10)
    drag(small.view, (50.5, 40.5), (150.5, 40.5))
    (reference,) = small.stored()
    expected = masks.decode(reference.segmentation, 150, 200)
    canvas.zoom.zoom_100()
    canvas.centerOn(QPointF(3050, 3100))
    canvas.set_tool("brush")
    canvas.set_brush_size(10)
    drag(canvas, (3000.5, 3100.5), (3100.5, 3100.5))
    with ProjectStore.open(project) as store:
        (ann,) = store.annotations(window.current_document.image_id)
    x, y, w, h = reference.bbox
    assert tuple(ann.bbox) == (x + 2950, y + 3060, w, h)
    crop = decode_crop(ann.segmentation, (2950, 3060, 200, 150), HEIGHT, WIDTH)
    assert np.array_equal(crop, expected)

    # The build finishes: the sharp tiles replace the preview, the view stays where it was.
    centre = canvas.mapToScene(canvas.viewport().rect().center())
    gated_build.set()
    wait_until(qtbot, lambda: canvas.tiled_item is not None, timeout_ms=60_000)
    assert item.pixmap().isNull() and not item.isVisible()
    assert item.transform().isIdentity()
    assert not note.isVisible()
    assert canvas.view_scale() == 1.0
    assert canvas.mapToScene(canvas.viewport().rect().center()) == centre
    assert canvas.item_for(ann.id) is not None  # the stroke drawn on the preview stays


def test_a_png_preview_fills_in_from_the_top_as_its_pyramid_is_built(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PNG has no reduced decode: its 1/8 level is shown as the streamed build writes it."""
    import gui.image_loader
    from gui.image_loader import PLACEHOLDER_RGB, ImageLoader

    monkeypatch.setattr(gui.image_loader, "PARTIAL_PREVIEW_SECONDS", 0.0)  # after every strip
    path = tmp_path / "huge.png"
    assert cv2.imwrite(str(path), cv2.cvtColor(_quadrants(), cv2.COLOR_RGB2BGR))
    loader = ImageLoader()
    loader.set_tile_cache(tmp_path / "p.tiles")
    events: list[object] = []
    loader.previewLoaded.connect(lambda _id, image, size: events.append((image.copy(), size)))
    loader.tiledLoaded.connect(lambda _id, built: events.append(built))
    loader.request(1, path)
    wait_until(qtbot, lambda: len(events) > 1 and not isinstance(events[-1], tuple))
    *previews, built = events
    assert (built.width, built.height) == (WIDTH, HEIGHT)
    assert len(previews) == -(-HEIGHT // 256)  # one a strip, all before the tiles
    first, _ = previews[0]
    last, size = previews[-1]
    assert size == (WIDTH, HEIGHT) and (last.width(), last.height()) == (525, 513)

    def rgb(image, x: int, y: int) -> tuple[int, ...]:
        return tuple(image.pixelColor(x, y).getRgb()[:3])

    top_left, bottom_right = (131, 10), (393, 500)
    assert rgb(first, *top_left) == QUADRANTS[(0, 0)]  # the first strip's rows...
    assert rgb(first, *bottom_right) == PLACEHOLDER_RGB  # ...the rest not built yet
    assert rgb(last, *top_left) == QUADRANTS[(0, 0)]
    assert rgb(last, *bottom_right) == QUADRANTS[(1, 1)]


def test_a_truncated_huge_jpeg_gets_no_preview_and_its_error_names_it(
    qtbot, tmp_path: Path
) -> None:
    from gui.image_loader import ImageLoader

    whole = tmp_path / "whole.jpg"
    assert cv2.imwrite(str(whole), cv2.cvtColor(_quadrants(), cv2.COLOR_RGB2BGR))
    path = tmp_path / "half.jpg"
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    loader = ImageLoader()
    loader.set_tile_cache(tmp_path / "p.tiles")
    events: list[str] = []
    loader.previewLoaded.connect(lambda *_: events.append("preview"))
    loader.tiledLoaded.connect(lambda *_: events.append("tiles"))
    loader.failed.connect(lambda _id, message: events.append(message))
    loader.request(1, path)
    wait_until(qtbot, lambda: bool(events), timeout_ms=30_000)
    assert loader.wait_idle()
    qtbot.wait(50)
    (message,) = events
    assert "half.jpg" in message and "corrupt" in message


def test_coming_back_during_the_build_shows_the_preview_again(
    qtbot, tmp_path: Path, gated_build: threading.Event
) -> None:
    from gui.image_loader import ImageLoader

    path = tmp_path / "huge.jpg"
    assert cv2.imwrite(str(path), cv2.cvtColor(_quadrants(), cv2.COLOR_RGB2BGR))
    small = tmp_path / "small.png"
    assert cv2.imwrite(str(small), np.zeros((20, 30, 3), np.uint8))
    loader = ImageLoader()
    loader.set_tile_cache(tmp_path / "p.tiles")
    events: list[tuple[str, int]] = []
    loader.previewLoaded.connect(lambda image_id, *_: events.append(("preview", image_id)))
    loader.loaded.connect(lambda image_id, _image: events.append(("pixels", image_id)))
    loader.tiledLoaded.connect(lambda image_id, _p: events.append(("tiles", image_id)))
    loader.request(1, path)
    wait_until(qtbot, lambda: ("preview", 1) in events)
    loader.request(2, small)  # the annotator moves on while the tiles build...
    wait_until(qtbot, lambda: ("pixels", 2) in events)
    loader.request(1, path)  # ...and comes back: the preview at once, not a blank canvas
    assert events == [("preview", 1), ("pixels", 2), ("preview", 1)]
    gated_build.set()
    wait_until(qtbot, lambda: ("tiles", 1) in events, timeout_ms=60_000)
    assert events[-1] == ("tiles", 1)
