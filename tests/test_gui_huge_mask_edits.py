"""Mask edits on a 20,000 x 20,000 image through real mouse events and the edit actions:
the polygon tool's vertex drag, fill holes and a move (one partly off the image) store the
pixels the whole-image functions give, as one undo step each, while allocating only about
the mask's box: an image-sized bool mask alone would be 400 MB."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPointF, Qt  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402

from core import mask_pixels  # noqa: E402
from core.mask_crops import decode_crop, encode_crop  # noqa: E402
from core.records import Annotation, ReviewState, Source  # noqa: E402
from core.store import ProjectStore  # noqa: E402
from gui.canvas.view import CanvasView  # noqa: E402
from gui.document import ImageDocument  # noqa: E402
from tests._gui_helpers import CAT_A, drag  # noqa: E402

SIDE = 20_000
PEAK_LIMIT = 20 * 2**20  # far below one 400 MB image-sized array
WINDOW = 600  # the local window the expected pixels are computed in (whole-image functions)


def _ring(outer: int, inner: int | None) -> np.ndarray:
    """A disc with a round hole (None: without)."""
    yy, xx = np.mgrid[-outer : outer + 1, -outer : outer + 1]
    r2 = xx**2 + yy**2
    return (r2 <= outer**2) & (r2 > (-1 if inner is None else inner**2))


class HugeCanvas:
    def __init__(self, qtbot, tmp_path: Path, x: int, y: int, crop: np.ndarray) -> None:
        (tmp_path / "images").mkdir()
        self.store = ProjectStore.create(tmp_path / "huge.maskloop", tmp_path / "images")
        self.store.add_category("cat", category_id=CAT_A, color="#ff0000")
        image = self.store.add_image("huge.jpg", SIDE, SIDE)
        h, w = crop.shape
        self.ann = self.store.add_annotation(
            Annotation(
                image_id=image.id,
                category_id=CAT_A,
                bbox=(float(x), float(y), float(w), float(h)),
                segmentation=encode_crop(crop, x, y, SIDE, SIDE),
                area=float(crop.sum()),
                source=Source.HUMAN,
                state=ReviewState.ACCEPTED,
            )
        )
        self.view = CanvasView()
        qtbot.addWidget(self.view)
        self.view.resize(900, 700)
        self.view.show()
        qtbot.waitExposed(self.view)
        pixels = QImage(SIDE // 50, SIDE // 50, QImage.Format.Format_RGB32)
        pixels.fill(Qt.GlobalColor.darkGray)  # only the document's image size matters here
        self.view.set_image(pixels)
        self.doc = ImageDocument(self.store, image.id)
        self.view.set_document(self.doc)
        self.view.set_categories(self.store.categories())
        self.view.set_current_category(CAT_A)
        self.view.zoom.zoom_100()
        self.view.centerOn(QPointF(x + w / 2, y + h / 2))
        assert self.ann.id is not None
        self.view.select_annotation(self.ann.id)
        # The local window, on the image, where the expected pixels are computed.
        self.wx = min(max(0, x + w // 2 - WINDOW // 2), SIDE - WINDOW)
        self.wy = min(max(0, y + h // 2 - WINDOW // 2), SIDE - WINDOW)

    def stored(self) -> Annotation:
        with ProjectStore.open(self.store.path) as other:
            assert self.ann.id is not None
            return other.get_annotation(self.ann.id)

    def window(self, ann: Annotation) -> np.ndarray:
        """The annotation's pixels in the local window."""
        box = (self.wx, self.wy, WINDOW, WINDOW)
        return decode_crop(ann.segmentation, box, SIDE, SIDE)


def _peak_bytes(action: Callable[[], None]) -> int:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture
def ring_canvas(qtbot, tmp_path: Path) -> Iterator[HugeCanvas]:
    canvas = HugeCanvas(qtbot, tmp_path, 15_000, 12_000, _ring(150, 40))
    yield canvas
    canvas.store.close()


def _assert_one_undo_step_back(canvas: HugeCanvas) -> None:
    canvas.doc.undo_stack.undo()
    assert canvas.stored() == canvas.ann


def test_fill_holes_on_a_huge_image_fills_on_the_crop(ring_canvas: HugeCanvas) -> None:
    c = ring_canvas
    before = c.window(c.ann)
    peak = _peak_bytes(c.view.edits.fill_holes_selected)
    assert peak < PEAK_LIMIT
    after = c.stored()
    assert np.array_equal(c.window(after), mask_pixels.fill_holes(before))
    assert after.area == float(np.count_nonzero(_ring(150, None)))
    assert after.bbox == c.ann.bbox
    _assert_one_undo_step_back(c)


def test_moving_a_mask_on_a_huge_image_shifts_it_on_the_crop(ring_canvas: HugeCanvas) -> None:
    c = ring_canvas
    before = c.window(c.ann)
    peak = _peak_bytes(lambda: drag(c.view, (15_150.0, 12_020.0), (15_210.0, 12_045.0)))
    assert peak < PEAK_LIMIT
    after = c.stored()
    assert after.bbox == (15_060.0, 12_025.0, 301.0, 301.0)
    assert np.array_equal(c.window(after), mask_pixels.shift_mask(before, 60, 25))
    _assert_one_undo_step_back(c)


def test_a_move_past_the_huge_image_edge_clips_the_mask(qtbot, tmp_path: Path) -> None:
    c = HugeCanvas(qtbot, tmp_path, SIDE - 310, SIDE - 320, _ring(150, 40))
    try:
        before = c.window(c.ann)
        start = (SIDE - 160.0, SIDE - 310.0)  # on the ring's top
        peak = _peak_bytes(lambda: drag(c.view, start, (start[0] + 100, start[1] + 150)))
        assert peak < PEAK_LIMIT
        after = c.stored()
        expected = mask_pixels.shift_mask(before, 100, 150)
        assert np.array_equal(c.window(after), expected)
        x, y, w, h = after.bbox
        assert (x + w, y + h) == (SIDE, SIDE)  # cut by the image's right and bottom edges
        assert after.area == float(expected.sum()) < c.ann.area
        _assert_one_undo_step_back(c)
    finally:
        c.store.close()


def test_dragging_a_vertex_on_a_huge_image_edits_the_crop(ring_canvas: HugeCanvas) -> None:
    c = ring_canvas
    before = c.window(c.ann)
    c.view.set_tool("polygon")
    points = c.view.polygon_item.points
    assert len(points) >= 4
    old = np.array([[p.x(), p.y()] for p in points])
    i = int(np.argmax(old[:, 0]))  # the rightmost vertex, pulled 80 px further right
    target = (old[i, 0] + 80, old[i, 1])
    peak = _peak_bytes(lambda: drag(c.view, (old[i, 0], old[i, 1]), target))
    assert peak < PEAK_LIMIT
    # Where the vertex landed (the view's pixel grid rounds the drag's end a little).
    new = np.array([[p.x(), p.y()] for p in c.view.polygon_item.points])
    assert len(new) == len(old) and abs(new[i, 0] - target[0]) < 1
    shift = np.array([c.wx, c.wy], dtype=np.float64)
    expected = mask_pixels.apply_contour_edit(before, old - shift, new - shift)
    after = c.stored()
    assert np.array_equal(c.window(after), expected)
    assert after.bbox[2] > c.ann.bbox[2]  # the box grew to the new vertex
    _assert_one_undo_step_back(c)
