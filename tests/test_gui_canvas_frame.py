"""What a canvas frame shows around and under the photo: the view fills the background only
where the photo does not cover the exposed area opaquely (a viewport-sized fill per pan step
was drawn over at once), so every pixel must still be painted, at any pan step."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

import numpy as np  # noqa: E402
from PySide6.QtCore import QPoint  # noqa: E402
from PySide6.QtGui import QColor, QImage  # noqa: E402
from PySide6.QtWidgets import QApplication, QGraphicsItem  # noqa: E402

from core.records import ReviewState, Source  # noqa: E402
from gui.canvas.items import AnnotationItem  # noqa: E402
from gui.canvas.view import PAN_TAG_LAYOUT_DELAY_MS, CanvasView  # noqa: E402
from tests._gui_helpers import IMAGE_H, IMAGE_W, make_canvas, mask_annotation  # noqa: E402

BACKGROUND = QColor("#2b2b2b")


def _noise(width: int, height: int, alpha: int | None = None) -> QImage:
    rng = np.random.default_rng(3)
    if alpha is None:
        rgb = np.ascontiguousarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
        fmt = QImage.Format.Format_RGB888
        return QImage(rgb.data, width, height, 3 * width, fmt).copy()
    rgba = np.ascontiguousarray(rng.integers(0, 255, (height, width, 4), dtype=np.uint8))
    rgba[..., 3] = alpha
    fmt = QImage.Format.Format_RGBA8888
    return QImage(rgba.data, width, height, 4 * width, fmt).copy()


def _view(qtbot, image: QImage, size: tuple[int, int] = (200, 150)) -> CanvasView:
    view = CanvasView()
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    qtbot.waitExposed(view)
    view.set_image(image)
    QApplication.processEvents()
    return view


def _frame(view: CanvasView) -> np.ndarray:
    image = view.viewport().grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    width, height = image.width(), image.height()
    data = np.frombuffer(image.constBits(), np.uint8, image.bytesPerLine() * height)
    rows = data.reshape(height, image.bytesPerLine())[:, : 3 * width]
    return rows.reshape(height, width, 3).copy()  # the image's buffer goes with it


def test_every_pixel_of_a_pan_at_100_percent_is_the_photo(qtbot):
    """Each step's frame, scrolled and then repainted where it came in, equals the photo's
    pixels under the viewport: nothing is left from an earlier frame or unpainted."""
    image = _noise(500, 400)
    view = _view(qtbot, image)
    view.zoom.zoom_100()
    hbar, vbar = view.horizontalScrollBar(), view.verticalScrollBar()
    hbar.setValue(hbar.minimum())
    vbar.setValue(vbar.minimum())
    QApplication.processEvents()
    photo = _frame_of(image)
    for step in range(1, 8):
        hbar.setValue(hbar.minimum() + (hbar.maximum() - hbar.minimum()) * step // 7)
        vbar.setValue(vbar.minimum() + (vbar.maximum() - vbar.minimum()) * step // 7)
        QApplication.processEvents()
        frame = _frame(view)
        corner = view.mapToScene(0, 0)
        x, y = round(corner.x()), round(corner.y())
        height, width = frame.shape[:2]
        assert np.array_equal(frame, photo[y : y + height, x : x + width]), f"step {step}"


def _frame_of(image: QImage) -> np.ndarray:
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height = rgb.width(), rgb.height()
    data = np.frombuffer(rgb.constBits(), np.uint8, rgb.bytesPerLine() * height)
    return data.reshape(height, rgb.bytesPerLine())[:, : 3 * width].reshape(height, width, 3).copy()


def test_the_background_shows_around_the_photo_at_fit(qtbot):
    view = _view(qtbot, _noise(400, 100), size=(300, 300))  # wide: bands above and below
    view.zoom.fit()
    QApplication.processEvents()
    frame = _frame(view)
    expected = [BACKGROUND.red(), BACKGROUND.green(), BACKGROUND.blue()]
    assert frame[2, frame.shape[1] // 2].tolist() == expected
    assert frame[-3, frame.shape[1] // 2].tolist() == expected


def test_a_photo_with_transparent_pixels_shows_the_background_through_them(qtbot):
    """Only an opaque photo stands in for the background fill: half-transparent red over
    the background brush, at every pixel of the frame."""
    image = QImage(500, 400, QImage.Format.Format_ARGB32)
    image.fill(QColor(255, 0, 0, 128))
    view = _view(qtbot, image)
    view.zoom.zoom_100()
    QApplication.processEvents()
    frame = _frame(view).astype(int)
    over = np.array([BACKGROUND.red(), BACKGROUND.green(), BACKGROUND.blue()]) * (127 / 255)
    expected = over + np.array([255, 0, 0]) * (128 / 255)
    assert np.abs(frame - expected).max() <= 2


def _on_screen(view: CanvasView) -> np.ndarray:
    """The viewport as the window shows it (its backing store, kept across scroll steps),
    unlike `grab`, which paints the whole viewport afresh."""
    window = QApplication.primaryScreen().grabWindow(view.winId()).toImage()
    ratio = round(window.devicePixelRatio())  # device pixels, as `grab` gives them
    corner = view.viewport().mapTo(view, QPoint(0, 0)) * ratio
    width, height = view.viewport().width() * ratio, view.viewport().height() * ratio
    return _frame_of(window.copy(corner.x(), corner.y(), width, height))


def test_a_diagonal_pan_leaves_on_screen_what_a_full_repaint_draws(qtbot, tmp_path):
    """The mask layer and the tag layer draw only the tiles and tags under what a pan step
    exposes (two thin strips): the frame kept on screen must still be the whole picture."""
    rng = np.random.default_rng(5)
    anns = []
    for _ in range(40):
        cx, cy = int(rng.integers(20, IMAGE_W - 20)), int(rng.integers(20, IMAGE_H - 20))
        mask = np.zeros((IMAGE_H, IMAGE_W), bool)
        mask[max(cy - 12, 0) : cy + 12, max(cx - 18, 0) : cx + 18] = True
        anns.append(
            mask_annotation(
                1,
                mask,
                source=Source.MODEL,
                state=ReviewState.PROPOSED,
                score=float(rng.uniform(0.3, 1.0)),
            )
        )
    canvas = make_canvas(qtbot, tmp_path, anns)
    view = canvas.view
    view.composite_min_items = 0  # the mask layer paints them all
    view.set_document(canvas.doc)
    view.build_pending_overlays()
    view.zoom.zoom_100()
    view.zoom.zoom_by(3.0)
    hbar, vbar = view.horizontalScrollBar(), view.verticalScrollBar()
    hbar.setValue(hbar.minimum())
    vbar.setValue(vbar.minimum())
    for step in range(1, 11):
        hbar.setValue(hbar.minimum() + (hbar.maximum() - hbar.minimum()) * step // 10)
        vbar.setValue(vbar.minimum() + (vbar.maximum() - vbar.minimum()) * step // 10)
        QApplication.processEvents()
        # Sharp tiles and the tags of boxes scrolled in, then compare.
        qtbot.waitUntil(lambda: view.mask_layer.settled, timeout=5000)
        qtbot.wait(2 * PAN_TAG_LAYOUT_DELAY_MS)
        assert view.tag_layer.cacheMode() == QGraphicsItem.CacheMode.NoCache
        shown, fresh = _on_screen(view).astype(int), _frame(view).astype(int)
        differ = np.abs(shown - fresh).max(axis=2) > 2
        assert differ.sum() == 0, f"step {step}: {differ.sum()} pixels differ"


def test_a_layout_asks_again_only_the_tags_it_changed(qtbot, tmp_path, monkeypatch):
    """The tag layer keeps each tag's image across layouts while its rect and image stay:
    after the threshold hides one proposal, the next frame asks no tag for its image again
    (it asked every tag in view), and the hidden one's tag is gone."""
    anns = [
        mask_annotation(
            1,
            _box_mask(10 + 45 * (i % 4), 10 + 45 * (i // 4), 40, 35),
            source=Source.MODEL,
            state=ReviewState.PROPOSED,
            score=0.5 + i / 20,
        )
        for i in range(8)
    ]
    canvas = make_canvas(qtbot, tmp_path, anns)
    view = canvas.view
    view.build_pending_overlays()  # decoded now, not between the events below (new tags)
    view.zoom.zoom_by(3.0)  # the image does not fit: the layer paints each frame, uncached
    view.horizontalScrollBar().setValue(0)
    view.verticalScrollBar().setValue(0)
    view.layout_tags()
    view.viewport().grab()
    asked: list[int] = []
    tag_image = AnnotationItem.tag_image
    monkeypatch.setattr(
        AnnotationItem,
        "tag_image",
        lambda item, lod: asked.append(item.annotation.id) or tag_image(item, lod),
    )
    lowest = min(canvas.stored(), key=lambda a: a.score)
    assert view.item_for(lowest.id).label_scene_rect(view.view_scale()) is not None
    view.set_score_threshold(lowest.score + 0.01)
    QApplication.processEvents()
    view.viewport().grab()
    assert asked == []
    assert view.item_for(lowest.id).label_scene_rect(view.view_scale()) is None


def _box_mask(x: int, y: int, w: int, h: int) -> np.ndarray:
    mask = np.zeros((IMAGE_H, IMAGE_W), bool)
    mask[y : y + h, x : x + w] = True
    return mask
