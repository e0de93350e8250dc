"""Mask conversions between pixel arrays, COCO RLE and COCO polygons.

All run-length work goes through `pycocotools.mask`, the reference implementation every COCO
tool agrees with. RLE dicts leaving this module have `counts` as `str` (JSON-ready);
pycocotools itself wants `bytes`, which `_to_pycoco` supplies.

Polygons are traced with OpenCV on the pixel *edges* (not the pixel centres), so pycocotools
rasterises them back to exactly the same pixels; `mask_to_polygons` verifies that and answers
None when polygons cannot represent a mask exactly (holes, a one-pixel sliver).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pycocotools.mask as mask_utils

from core.records import BBox, Segmentation


def encode_mask(mask: np.ndarray) -> dict[str, Any]:
    """Compressed COCO RLE of a H x W boolean (or 0/1) mask, counts as str."""
    if mask.ndim != 2:
        raise ValueError(f"a mask must be 2-D, got shape {mask.shape}")
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8, copy=False)))
    return _from_pycoco(rle)


def is_rle(segmentation: Segmentation | None) -> bool:
    return isinstance(segmentation, dict)


def to_rle(segmentation: Segmentation, height: int, width: int) -> dict[str, Any]:
    """Any COCO segmentation (polygons, compressed or uncompressed RLE) as compressed RLE."""
    return _from_pycoco(_to_pycoco(segmentation, height, width))


def decode(segmentation: Segmentation, height: int, width: int) -> np.ndarray:
    """The H x W boolean mask of a COCO segmentation."""
    return mask_utils.decode(_to_pycoco(segmentation, height, width)).astype(bool)


def area_of(segmentation: Segmentation, height: int, width: int) -> float:
    """Pixel count of the mask, as COCO's `area` field expects."""
    return float(mask_utils.area(_to_pycoco(segmentation, height, width)))


def bbox_of(segmentation: Segmentation, height: int, width: int) -> BBox:
    """The tight [x, y, w, h] box of the mask (all zeros for an empty mask)."""
    x, y, w, h = mask_utils.toBbox(_to_pycoco(segmentation, height, width)).tolist()
    return (float(x), float(y), float(w), float(h))


def mask_iou(a: Segmentation, b: Segmentation, height: int, width: int) -> float:
    """Intersection over union of two segmentations of the same image."""
    ra, rb = _to_pycoco(a, height, width), _to_pycoco(b, height, width)
    return float(mask_utils.iou([ra], [rb], [0])[0][0])


def mask_to_polygons(mask: np.ndarray) -> list[list[float]] | None:
    """COCO polygons (one per part) that rasterise back to exactly `mask`, or None.

    None when the mask is empty, has a hole (COCO polygons cannot subtract), or is a shape
    whose traced outline does not reproduce every pixel. The caller then keeps RLE.
    """
    mask = np.asarray(mask).astype(np.uint8, copy=False)
    if not mask.any():
        return None
    height, width = mask.shape
    # Upsampling 2x puts each pixel's corners on the traced boundary; mapping a boundary
    # pixel u of the 2x image to (u + 1) // 2 gives the original pixel-edge coordinate.
    doubled = np.kron(mask, np.ones((2, 2), np.uint8))
    contours, hierarchy = cv2.findContours(doubled, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    if hierarchy is not None and (hierarchy[0][:, 3] != -1).any():
        return None  # a contour with a parent is a hole
    polygons = []
    for contour in contours:
        points = _edge_outline((contour[:, 0, :] + 1) // 2)
        if len(points) < 3:
            return None
        polygons.append(points.astype(float).ravel().tolist())
    rebuilt = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polygons, height, width)))
    if not np.array_equal(rebuilt.astype(bool), mask.astype(bool)):
        return None
    return polygons


def _edge_outline(points: np.ndarray) -> np.ndarray:
    """Drop repeated and collinear vertices of a closed outline."""
    keep = np.ones(len(points), dtype=bool)
    keep[1:] = (np.diff(points, axis=0) != 0).any(axis=1)
    points = points[keep]
    if len(points) > 1 and (points[0] == points[-1]).all():
        points = points[:-1]
    if len(points) < 3:
        return points
    prev, nxt = np.roll(points, 1, axis=0), np.roll(points, -1, axis=0)
    cross = (points[:, 0] - prev[:, 0]) * (nxt[:, 1] - points[:, 1]) - (
        points[:, 1] - prev[:, 1]
    ) * (nxt[:, 0] - points[:, 0])
    return points[cross != 0]


def _counts_bytes(counts: str | bytes) -> bytes:
    return counts.encode("ascii") if isinstance(counts, str) else counts


def _to_pycoco(segmentation: Segmentation, height: int, width: int) -> dict[str, Any]:
    """A single pycocotools RLE object (counts as bytes) for any COCO segmentation."""
    if isinstance(segmentation, dict):
        counts = segmentation["counts"]
        if isinstance(counts, list):  # uncompressed RLE
            h, w = segmentation["size"]
            return mask_utils.frPyObjects(segmentation, int(h), int(w))
        return {"size": list(segmentation["size"]), "counts": _counts_bytes(counts)}
    if isinstance(segmentation, list):
        if not segmentation:
            return mask_utils.encode(np.zeros((height, width), np.uint8, order="F"))
        polygons = [list(map(float, poly)) for poly in segmentation]
        return mask_utils.merge(mask_utils.frPyObjects(polygons, int(height), int(width)))
    raise ValueError(f"not a COCO segmentation: {type(segmentation).__name__}")


def _from_pycoco(rle: dict[str, Any]) -> dict[str, Any]:
    counts = rle["counts"]
    return {
        "size": [int(v) for v in rle["size"]],
        "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts,
    }
