"""Mask edits on crops (core/mask_edits.py, core.mask_crops.decode_tight) against the
whole-image functions of core.mask_pixels: the same pixels, boxes, areas and RLE strings,
for random masks, masks on the image's edges, moves that push a mask partly or wholly off
the image, and holes that touch the mask's box."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core import mask_edits, mask_pixels, masks
from core.mask_crops import decode_tight, encode_crop
from core.mask_pixels import MaskCrop
from core.records import Annotation


def _blobby_masks(seed: int, count: int):
    """Random masks of a few discs and rectangles, some cut by the image's edges, some with
    rectangles cleared out of them (holes, some reaching the box's edge)."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        h, w = (int(v) for v in rng.integers(8, 60, 2))
        full = np.zeros((h, w), np.uint8)
        for _ in range(int(rng.integers(1, 4))):
            cx, cy = int(rng.integers(-3, w + 3)), int(rng.integers(-3, h + 3))
            if rng.random() < 0.5:
                cv2.circle(full, (cx, cy), int(rng.integers(1, 15)), 1, -1)
            else:
                cv2.rectangle(
                    full,
                    (cx, cy),
                    (cx + int(rng.integers(-12, 12)), cy + int(rng.integers(-12, 12))),
                    1,
                    -1,
                )
        for _ in range(int(rng.integers(0, 3))):
            cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
            cv2.rectangle(
                full, (cx, cy), (cx + int(rng.integers(0, 5)), cy + int(rng.integers(0, 5))), 0, -1
            )
        yield full.astype(bool), rng


def _tight(full: np.ndarray) -> MaskCrop | None:
    box = mask_pixels.tight_bbox(full)
    return None if box is None else mask_pixels.crop_box(full, box)


def _same(crop: MaskCrop | None, full: np.ndarray) -> bool:
    """True when `crop` is exactly the tight crop of the whole-image mask `full`."""
    expected = _tight(full)
    if expected is None or crop is None:
        return expected is None and crop is None
    return (crop.x, crop.y) == (expected.x, expected.y) and np.array_equal(crop.mask, expected.mask)


@pytest.mark.parametrize("seed", range(3))
def test_decode_tight_is_the_whole_decode_cut_to_its_tight_box(seed):
    for full, _rng in _blobby_masks(seed, 300):
        assert _same(decode_tight(masks.encode_mask(full), *full.shape), full)


def test_decode_tight_of_wrapping_runs_empty_masks_and_other_segmentation_kinds():
    full = np.zeros((4, 6), bool)
    full[3, 1] = full[0, 2] = True  # one run from column 1's bottom into column 2's top
    crop = decode_tight(masks.encode_mask(full), 4, 6)
    assert crop is not None and (crop.x, crop.y, crop.width, crop.height) == (1, 0, 2, 4)
    assert _same(crop, full)
    assert decode_tight(masks.encode_mask(np.zeros((5, 7), bool)), 5, 7) is None
    everything = np.ones((3, 4), bool)
    assert _same(decode_tight(masks.encode_mask(everything), 3, 4), everything)
    polygon = [[2.0, 2.0, 12.0, 2.0, 12.0, 9.0, 2.0, 9.0]]
    assert _same(decode_tight(polygon, 12, 16), masks.decode(polygon, 12, 16))
    uncompressed = {"size": [4, 6], "counts": [13, 2, 9]}  # column-major: 13 off, 2 on
    assert _same(decode_tight(uncompressed, 4, 6), masks.decode(uncompressed, 4, 6))


@pytest.mark.parametrize("seed", range(3))
def test_editable_contour_of_the_crop_is_the_whole_image_one(seed):
    for full, _rng in _blobby_masks(seed, 200):
        crop = _tight(full)
        if crop is None:
            continue
        expected = mask_pixels.editable_contour(full)
        got = mask_edits.editable_contour(crop)
        assert (got is None) == (expected is None)
        if expected is not None:
            assert np.array_equal(got, expected)


@pytest.mark.parametrize("seed", range(3))
def test_contour_edit_on_the_crop_equals_the_whole_image_edit(seed):
    edited = 0
    for full, rng in _blobby_masks(seed, 200):
        crop = _tight(full)
        old = mask_pixels.editable_contour(full) if crop is not None else None
        if crop is None or old is None:
            continue
        h, w = full.shape
        new = old.copy()
        # Drag one vertex anywhere on the image (the tool clamps to it), sometimes far out,
        # sometimes onto the edge, and sometimes drop another vertex.
        i = int(rng.integers(len(new)))
        new[i] = rng.uniform(0, w), rng.uniform(0, h)
        if rng.random() < 0.3:
            new[i] = float(rng.choice([0, w])), rng.uniform(0, h)
        if len(new) > 3 and rng.random() < 0.3:
            new = np.delete(new, int(rng.integers(len(new))), axis=0)
        expected = mask_pixels.apply_contour_edit(full, old, new)
        after = mask_edits.contour_edit(crop, old, new, h, w)
        assert _same(after, expected)
        assert (after is crop) == np.array_equal(expected, full)
        edited += after is not crop
    assert edited > 100


@pytest.mark.parametrize("seed", range(3))
def test_fill_holes_on_the_crop_equals_the_whole_image_fill(seed):
    filled = 0
    for full, _rng in _blobby_masks(seed, 300):
        crop = _tight(full)
        if crop is None:
            continue
        expected = mask_pixels.fill_holes(full)
        after = mask_edits.fill_holes(crop)
        assert _same(after, expected)
        assert (after is crop) == np.array_equal(expected, full)
        filled += after is not crop
    assert filled > 5


def test_a_hole_open_to_the_box_edge_is_not_filled_and_a_closed_one_is():
    full = np.zeros((20, 20), bool)
    full[5:15, 5:15] = True
    full[8:10, 5:8] = False  # a notch from the box's left edge: open, not a hole
    full[11:13, 10:12] = False  # enclosed: a hole
    after = mask_edits.fill_holes(_tight(full))
    assert _same(after, mask_pixels.fill_holes(full))
    assert not after.mask[3:5, 0:3].any() and after.mask[6:8, 5:7].all()


@pytest.mark.parametrize("seed", range(3))
def test_move_on_the_crop_equals_the_whole_image_shift_including_off_the_image(seed):
    clipped = gone = 0
    for full, rng in _blobby_masks(seed, 300):
        crop = _tight(full)
        if crop is None:
            continue
        h, w = full.shape
        dx, dy = int(rng.integers(-w - 5, w + 5)), int(rng.integers(-h - 5, h + 5))
        expected = mask_pixels.shift_mask(full, dx, dy)
        after = mask_edits.move(crop, dx, dy, h, w)
        assert _same(after, expected)
        gone += after is None
        clipped += after is not None and int(after.mask.sum()) < int(full.sum())
    assert gone > 10 and clipped > 10


def test_annotation_with_crop_equals_the_whole_image_annotation_field_by_field():
    for full, _rng in _blobby_masks(7, 100):
        crop = _tight(full)
        if crop is None:
            continue
        ann = Annotation(image_id=3, category_id=2, bbox=(1.0, 1.0, 1.0, 1.0), id=9)
        got = mask_edits.annotation_with_crop(ann, crop, *full.shape)
        x, y, w, h = mask_pixels.tight_bbox(full)
        assert got.segmentation == masks.encode_mask(full)
        assert got.bbox == (float(x), float(y), float(w), float(h))
        assert got.area == float(full.sum())
        assert (got.id, got.image_id, got.category_id) == (9, 3, 2)
        assert ann.bbox == (1.0, 1.0, 1.0, 1.0)  # the original is left alone
        assert encode_crop(crop.mask, crop.x, crop.y, *full.shape) == got.segmentation
