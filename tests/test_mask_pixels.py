"""Qt-free mask pixel operations in core.mask_pixels, checked pixel by pixel."""

from __future__ import annotations

import numpy as np

from core import mask_pixels


def test_tight_bbox_and_crop_cover_exactly_the_set_pixels() -> None:
    mask = np.zeros((20, 30), dtype=bool)
    mask[5:9, 10:17] = True
    assert mask_pixels.tight_bbox(mask) == (10, 5, 7, 4)
    crop = mask_pixels.crop_box(mask, (10.0, 5.0, 7.0, 4.0))
    assert crop is not None and (crop.x, crop.y, crop.width, crop.height) == (10, 5, 7, 4)
    assert crop.mask.all()
    assert mask_pixels.tight_bbox(np.zeros((4, 4), dtype=bool)) is None


def test_fill_holes_fills_enclosed_background_only() -> None:
    ring = np.zeros((12, 12), dtype=bool)
    ring[2:10, 2:10] = True
    ring[4:8, 4:8] = False
    filled = mask_pixels.fill_holes(ring)
    expected = np.zeros_like(ring)
    expected[2:10, 2:10] = True
    assert np.array_equal(filled, expected)


def test_shift_mask_moves_pixels_and_drops_what_leaves_the_image() -> None:
    mask = np.zeros((6, 6), dtype=bool)
    mask[0, 0] = mask[5, 5] = True
    moved = mask_pixels.shift_mask(mask, 1, 2)
    assert np.argwhere(moved).tolist() == [[2, 1]]


def test_polygon_through_pixel_centres_covers_those_pixels() -> None:
    square = np.array([(2.5, 3.5), (5.5, 3.5), (5.5, 6.5), (2.5, 6.5)])
    raster = mask_pixels.polygon_mask(square, 10, 10)
    expected = np.zeros((10, 10), dtype=bool)
    expected[3:7, 2:6] = True
    assert np.array_equal(raster, expected)
