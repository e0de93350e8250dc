"""Masks on a 20,000 x 20,000 image: each item holds its box's pixels, never the image's."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtGui import QColor, QImage, QPainter  # noqa: E402
from PySide6.QtWidgets import QGraphicsScene  # noqa: E402

from core.records import Annotation, ReviewState, Source  # noqa: E402
from gui.canvas.items import AnnotationItem  # noqa: E402
from gui.canvas.mask_crops import encode_crop  # noqa: E402

SIDE = 20_000  # a full-size RGBA overlay would be 1.6 GB, a bool mask 400 MB


def _disc(radius: int) -> np.ndarray:
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return xx**2 + yy**2 <= radius**2


def _annotation(x: int, y: int, crop: np.ndarray) -> Annotation:
    rle = encode_crop(crop, x, y, SIDE, SIDE)
    h, w = crop.shape
    return Annotation(
        image_id=1,
        category_id=1,
        bbox=(x, y, w, h),
        segmentation=rle,
        source=Source.MODEL,
        score=0.9,
        state=ReviewState.PROPOSED,
        id=7,
    )


def test_mask_item_on_a_huge_image_allocates_only_its_box(qtbot) -> None:
    crop = _disc(150)  # 301 x 301 px at (15,000, 12,000)
    ann = _annotation(15_000, 12_000, crop)
    tracemalloc.start()
    try:
        item = AnnotationItem(ann, (SIDE, SIDE), QColor("#ff8800"), "field", lambda *_: None)
        item.ensure_decoded()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20  # far below one 400 MB image-sized array
    overlay = item._overlay  # noqa: SLF001 - the image paint() blits
    assert isinstance(overlay, QImage)
    assert (overlay.width(), overlay.height()) == (301, 301)
    mask_crop = item.mask_crop
    assert mask_crop is not None
    assert (mask_crop.x, mask_crop.y) == (15_000, 12_000)
    assert np.array_equal(mask_crop.mask, crop)
    # The overlay's pixels are the mask: coloured inside the disc, clear outside.
    assert overlay.pixelColor(150, 150).alpha() > 0
    assert overlay.pixelColor(2, 2).alpha() == 0

    # Painted zoomed out (as on a fitted huge image) it draws a shrunk copy of the box
    # overlay, not anything image-sized.
    scene = QGraphicsScene(0, 0, SIDE, SIDE)
    scene.addItem(item)
    target = QImage(400, 400, QImage.Format.Format_ARGB32_Premultiplied)
    target.fill(0)
    painter = QPainter(target)
    scene.render(painter, target=target.rect(), source=scene.sceneRect())  # at 2 %
    painter.end()
    assert QColor(target.pixel(307, 247)).alpha() > 0  # the disc, at 15,150 x 12,150 / 50
    sizes = [(image.width(), image.height()) for image in item._overlays.values()]  # noqa: SLF001
    assert len(sizes) == 2  # the overlay and the copy shrunk for 2 %
    assert all(w <= 301 and h <= 301 for w, h in sizes)
    assert item.boundingRect().width() < 310
