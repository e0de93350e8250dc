"""Box-limited RLE work (gui/canvas/mask_crops.py) against pycocotools on whole-image masks:
the same pixels and the same RLE strings, including runs that wrap from one image column
into the next and masks touching every border."""

from __future__ import annotations

import numpy as np
import pytest

from core import masks
from gui.canvas.mask_crops import decode_crop, encode_crop, rle_counts


def _random_masks(seed: int, count: int):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        full = np.zeros((h, w), bool)
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = int(rng.integers(x0, w)) + 1, int(rng.integers(y0, h)) + 1
        full[y0:y1, x0:x1] = rng.random((y1 - y0, x1 - x0)) < rng.random()
        yield full, (x0, y0, x1 - x0, y1 - y0), rng


@pytest.mark.parametrize("seed", range(4))
def test_encode_crop_gives_the_whole_image_rle_string(seed):
    for full, (x, y, w, h), _ in _random_masks(seed, 400):
        expected = masks.encode_mask(full)
        assert encode_crop(full[y : y + h, x : x + w], x, y, *full.shape) == expected


@pytest.mark.parametrize("seed", range(4))
def test_decode_crop_gives_the_whole_image_pixels_in_any_box(seed):
    for full, _box, rng in _random_masks(seed, 400):
        rle = masks.encode_mask(full)
        h, w = full.shape
        bx, by = int(rng.integers(0, w)), int(rng.integers(0, h))
        bw, bh = int(rng.integers(1, w - bx + 1)), int(rng.integers(1, h - by + 1))
        crop = decode_crop(rle, (bx, by, bw, bh), h, w)
        assert np.array_equal(crop, full[by : by + bh, bx : bx + bw])


def test_runs_wrapping_across_columns_and_a_full_image():
    full = np.zeros((2, 6), bool)
    full[1, 1] = full[0, 2] = True  # bottom of column 1 then top of column 2: one run
    assert encode_crop(full[:, 1:3], 1, 0, 2, 6) == masks.encode_mask(full)
    everything = np.ones((3, 4), bool)
    rle = masks.encode_mask(everything)
    assert encode_crop(everything, 0, 0, 3, 4) == rle
    assert rle_counts(rle["counts"]) == [0, 12]
    assert decode_crop(rle, (1, 1, 2, 2), 3, 4).all()


def test_polygon_segmentations_decode_too():
    polygon = [[2.0, 2.0, 12.0, 2.0, 12.0, 9.0, 2.0, 9.0]]
    full = masks.decode(polygon, 12, 16)
    assert np.array_equal(decode_crop(polygon, (0, 0, 16, 12), 12, 16), full)
