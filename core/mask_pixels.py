"""Pixel work on boolean masks: tight boxes, crops, contours, polygon rasters, hole filling.

Masks here are numpy bool arrays in image pixels (row = y, column = x); nothing here needs
Qt, so the canvas, the undo commands and scripts share one implementation. Encoding to and
decoding from COCO RLE is `core.masks` (pycocotools). Pixel convention: image pixel (i, j)
covers the scene square [j, j+1) x [i, i+1), so its centre is at scene point
(j + 0.5, i + 0.5); scene polygons are shifted by half a pixel before rasterising so that a
polygon drawn along pixel edges covers exactly the pixels inside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SUBPIXEL_BITS = 4  # cv2 drawing with 1/16 px precision
SUBPIXEL = 1 << SUBPIXEL_BITS


@dataclass(frozen=True)
class MaskCrop:
    """The part of a full-image mask inside its tight bounding box."""

    x: int  # column of the crop's left edge in the image
    y: int  # row of the crop's top edge in the image
    mask: np.ndarray  # bool, crop height x crop width

    @property
    def width(self) -> int:
        return int(self.mask.shape[1])

    @property
    def height(self) -> int:
        return int(self.mask.shape[0])


def tight_bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """[x, y, w, h] of the set pixels (COCO style, integer), or None for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    y0, y1 = int(rows[0]), int(rows[-1])
    x0, x1 = int(cols[0]), int(cols[-1])
    return x0, y0, x1 - x0 + 1, y1 - y0 + 1


def crop_box(mask: np.ndarray, box: tuple[float, float, float, float]) -> MaskCrop | None:
    """The mask cut to a box known to hold all its pixels (e.g. pycocotools' toBbox)."""
    x, y, w, h = (int(round(v)) for v in box)
    if w <= 0 or h <= 0:
        return None
    return MaskCrop(x, y, np.ascontiguousarray(mask[y : y + h, x : x + w]))


def _contours(mask: np.ndarray, mode: int) -> list[np.ndarray]:
    contours, _ = cv2.findContours(mask.astype(np.uint8), mode, cv2.CHAIN_APPROX_SIMPLE)
    return list(contours)


def outline_contours(crop: MaskCrop) -> list[np.ndarray]:
    """Outer and hole boundaries of the crop as (N, 2) int32 arrays in image pixels."""
    found = _contours(crop.mask, cv2.RETR_CCOMP)
    return [c.reshape(-1, 2) + np.array([crop.x, crop.y], dtype=np.int32) for c in found]


def editable_contour(mask: np.ndarray, *, relative_epsilon: float = 0.006) -> np.ndarray | None:
    """The largest outer boundary, simplified for editing: (N, 2) float scene points.

    approxPolyDP keeps a handful of vertices a person can drag instead of every
    boundary pixel. The tolerance scales with the perimeter, at least one pixel.
    """
    contours = _contours(mask, cv2.RETR_EXTERNAL)
    if not contours:
        return None
    largest = max(contours, key=cv2.contourArea)
    epsilon = max(1.0, relative_epsilon * cv2.arcLength(largest, True))
    simplified = cv2.approxPolyDP(largest, epsilon, True).reshape(-1, 2)
    if len(simplified) < 3:
        simplified = largest.reshape(-1, 2)
    if len(simplified) < 3:
        return None
    return simplified.astype(np.float64) + 0.5  # pixel centres in scene coordinates


def polygon_mask(points: np.ndarray, height: int, width: int) -> np.ndarray:
    """Rasterise a scene-coordinate polygon ((N, 2) points) into a bool image mask."""
    canvas = np.zeros((height, width), dtype=np.uint8)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) >= 3:
        fixed = np.round((pts - 0.5) * SUBPIXEL).astype(np.int32)
        cv2.fillPoly(canvas, [fixed], 1, lineType=cv2.LINE_8, shift=SUBPIXEL_BITS)
    return canvas.astype(bool)


def apply_contour_edit(
    mask: np.ndarray, old_points: np.ndarray, new_points: np.ndarray
) -> np.ndarray:
    """The mask after its editable contour moved from `old_points` to `new_points`.

    Only the pixels between the two polygons change: those the new polygon gained are
    set, those it lost are cleared. Holes, other components and boundary detail that the
    simplified contour does not follow stay as they were.
    """
    h, w = mask.shape
    before = polygon_mask(old_points, h, w)
    after = polygon_mask(new_points, h, w)
    return (mask & ~(before & ~after)) | (after & ~before)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """The mask with every background region that does not reach the image border set."""
    h, w = mask.shape
    padded = np.zeros((h + 2, w + 2), dtype=np.uint8)
    padded[1:-1, 1:-1] = mask
    flood_mask = np.zeros((h + 4, w + 4), dtype=np.uint8)
    # Flood the outside background from the padded corner; what stays 0 is enclosed.
    cv2.floodFill(padded, flood_mask, (0, 0), 2, flags=4)
    return mask | (padded[1:-1, 1:-1] == 0)


def shift_mask(mask: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """The mask moved by whole pixels; what leaves the image is dropped."""
    h, w = mask.shape
    result = np.zeros_like(mask)
    src_x0, src_x1 = max(0, -dx), min(w, w - dx)
    src_y0, src_y1 = max(0, -dy), min(h, h - dy)
    if src_x0 < src_x1 and src_y0 < src_y1:
        result[src_y0 + dy : src_y1 + dy, src_x0 + dx : src_x1 + dx] = mask[
            src_y0:src_y1, src_x0:src_x1
        ]
    return result
