"""The canvas's mask edits on a mask's crop: outline (vertex) edit, fill holes, move.

Each function takes the mask as a tight `MaskCrop` (core.mask_crops.decode_tight) and
answers the tight crop after the edit, so an edit costs what the object and the edit cover,
never an image-sized array (a 20,000 x 20,000 image's bool mask is 400 MB). A crop that
the edit leaves unchanged is returned as is (`after is before`); None means no pixel is
left. The pixels are exactly those of the whole-image functions of core.mask_pixels
(`apply_contour_edit`, `fill_holes`, `shift_mask`) cut to the new box; the tests compare
the two routes pixel for pixel.
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import numpy as np

from core import mask_pixels
from core.mask_crops import Box, encode_crop, paste, tight, union_box
from core.mask_pixels import MaskCrop
from core.records import Annotation


def crop_box(crop: MaskCrop) -> Box:
    return crop.x, crop.y, crop.width, crop.height


def editable_contour(crop: MaskCrop) -> np.ndarray | None:
    """`mask_pixels.editable_contour` of the whole-image mask, from its crop: OpenCV traces
    the same boundary wherever the mask sits (outside the crop every pixel is clear)."""
    contour = mask_pixels.editable_contour(crop.mask)
    if contour is None:
        return None
    return contour + np.array([crop.x, crop.y], dtype=np.float64)


def polygon_box(points: np.ndarray, height: int, width: int) -> Box | None:
    """Whole-pixel box, clipped to the image, holding every pixel `polygon_mask` can set for
    the scene polygon `points` (None: none on the image)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 0:
        return None
    # A pixel is set when its centre (x + 0.5) is inside; one more pixel each side covers
    # the edges OpenCV draws and the rounding to 1/16 px.
    x0 = max(0, math.floor(pts[:, 0].min()) - 1)
    y0 = max(0, math.floor(pts[:, 1].min()) - 1)
    x1 = min(width, math.ceil(pts[:, 0].max()) + 2)
    y1 = min(height, math.ceil(pts[:, 1].max()) + 2)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1 - x0, y1 - y0


def contour_edit(
    crop: MaskCrop,
    old_points: np.ndarray,
    new_points: np.ndarray,
    height: int,
    width: int,
) -> MaskCrop | None:
    """The mask after its editable contour moved from `old_points` to `new_points` (scene
    points), as `mask_pixels.apply_contour_edit` on the whole image: only the pixels between
    the two polygons change, so the work covers the mask's box and the two polygons' boxes."""
    area = crop_box(crop)
    for points in (old_points, new_points):
        box = polygon_box(points, height, width)
        if box is not None:
            area = union_box(area, box)
    ax, ay, _aw, _ah = area
    before = paste(crop, area)
    # Whole-pixel shifts keep OpenCV's 1/16 px vertex coordinates exact (see polygon_box).
    shift = np.array([ax, ay], dtype=np.float64)
    old = np.asarray(old_points, dtype=np.float64).reshape(-1, 2) - shift
    new = np.asarray(new_points, dtype=np.float64).reshape(-1, 2) - shift
    after = mask_pixels.apply_contour_edit(before, old, new)
    if np.array_equal(after, before):
        return crop
    return tight(MaskCrop(ax, ay, after))


def fill_holes(crop: MaskCrop) -> MaskCrop:
    """The mask with its holes filled, as `mask_pixels.fill_holes` on the whole image.

    Every pixel outside the tight box is background joined to the image border (the strip
    beside any side of the box reaches the border), so a background region of the crop is
    a hole of the image exactly when it does not reach the crop's edge: filling the crop
    alone is the same, and a hole never extends the box."""
    filled = mask_pixels.fill_holes(crop.mask)
    if np.array_equal(filled, crop.mask):
        return crop
    return MaskCrop(crop.x, crop.y, filled)


def move(crop: MaskCrop, dx: int, dy: int, height: int, width: int) -> MaskCrop | None:
    """The mask moved by whole pixels, what leaves the image dropped (`shift_mask`); None
    when nothing is left on the image."""
    if dx == 0 and dy == 0:
        return crop
    x0, y0 = crop.x + dx, crop.y + dy
    # The part of the moved crop that stays on the image.
    cx0, cy0 = max(0, -x0), max(0, -y0)
    cx1, cy1 = min(crop.width, width - x0), min(crop.height, height - y0)
    if cx1 <= cx0 or cy1 <= cy0:
        return None
    kept = MaskCrop(x0 + cx0, y0 + cy0, crop.mask[cy0:cy1, cx0:cx1])
    if (cx0, cy0, cx1, cy1) == (0, 0, crop.width, crop.height):
        return kept  # wholly on the image: still tight
    return tight(kept)


def annotation_with_crop(ann: Annotation, crop: MaskCrop, height: int, width: int) -> Annotation:
    """`ann` with the mask `crop` (tight, non-empty): RLE, box and area follow it, as
    gui.commands.annotation_with_mask gives for the whole-image mask."""
    return replace(
        copy.deepcopy(ann),
        segmentation=encode_crop(crop.mask, crop.x, crop.y, height, width),
        bbox=(float(crop.x), float(crop.y), float(crop.width), float(crop.height)),
        area=float(np.count_nonzero(crop.mask)),
    )
