"""core.masks: conversions agree with pycocotools and polygons are exact or refused."""

from __future__ import annotations

import cv2
import numpy as np
import pycocotools.mask as mask_utils
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from core import masks


def _blob(h: int = 20, w: int = 30) -> np.ndarray:
    mask = np.zeros((h, w), bool)
    mask[2:9, 3:12] = True
    mask[12:18, 15:28] = True  # a second part
    return mask


def test_encode_then_decode_gives_the_same_pixels() -> None:
    mask = _blob()
    rle = masks.encode_mask(mask)
    assert isinstance(rle["counts"], str) and rle["size"] == [20, 30]
    assert np.array_equal(masks.decode(rle, 20, 30), mask)


def test_area_and_bbox_agree_with_pycocotools() -> None:
    rle = masks.encode_mask(_blob())
    assert masks.area_of(rle, 20, 30) == _blob().sum() == 63 + 78
    assert masks.bbox_of(rle, 20, 30) == (3.0, 2.0, 25.0, 16.0)


def test_uncompressed_rle_and_polygons_convert_to_compressed_rle() -> None:
    mask = _blob()
    compressed = masks.encode_mask(mask)
    flat = mask.flatten(order="F").astype(int)
    changes = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    counts = np.diff(np.concatenate([[0], changes])).tolist()
    assert masks.to_rle({"size": [20, 30], "counts": counts}, 20, 30) == compressed
    polygon = [[3, 2, 12, 2, 12, 9, 3, 9]]
    expected = mask_utils.merge(mask_utils.frPyObjects(polygon, 20, 30))
    assert masks.to_rle(polygon, 20, 30)["counts"] == expected["counts"].decode()


def test_multi_part_mask_traces_to_one_polygon_per_part_that_rasterises_exactly() -> None:
    mask = _blob()
    polygons = masks.mask_to_polygons(mask)
    assert polygons is not None and len(polygons) == 2
    assert np.array_equal(masks.decode(polygons, 20, 30), mask)


def test_mask_with_a_hole_cannot_become_polygons() -> None:
    ring = np.zeros((12, 12), bool)
    ring[2:10, 2:10] = True
    ring[5:7, 5:7] = False
    assert masks.mask_to_polygons(ring) is None


def test_empty_mask_has_no_polygons() -> None:
    assert masks.mask_to_polygons(np.zeros((5, 5), bool)) is None


def test_iou_of_identical_and_disjoint_masks() -> None:
    a = masks.encode_mask(_blob())
    b = masks.encode_mask(~_blob())
    assert masks.mask_iou(a, a, 20, 30) == pytest.approx(1.0)
    assert masks.mask_iou(a, b, 20, 30) == 0.0


@settings(max_examples=150, deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(1, 24), st.integers(1, 24))))
def test_traced_polygons_are_exact_or_refused(mask: np.ndarray) -> None:
    polygons = masks.mask_to_polygons(mask)
    if polygons is not None:
        h, w = mask.shape
        assert np.array_equal(masks.decode(polygons, h, w), mask)
    else:  # refused only for a reason: the mask is empty or has a hole
        assert not mask.any() or _has_hole(mask)


def _has_hole(mask: np.ndarray) -> bool:
    """A background region (4-connected, as 8-connected parts leave it) not touching the border."""
    background = np.pad(~mask, 1, constant_values=True).astype(np.uint8)
    n_labels, _ = cv2.connectedComponents(background, connectivity=4)
    return n_labels - 1 > 1
