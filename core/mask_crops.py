"""Mask work cut to a box: decode part of an RLE, encode a crop as a whole-image RLE.

On a 12,000 x 9,000 image a whole-image mask is 108 MB; decoding it, rasterising a brush
stroke into an image-sized array, combining and re-encoding cost more than a second per
stroke. A mask's pixels outside its box are all zero, so everything here works on the box
(or on the strip of image columns it spans, for the column-major RLE) and the cost follows
the object, not the image. Results are bit-identical to the whole-image route: the RLE
string equals `core.masks.encode_mask` of the full mask. Used by the canvas (brush, mask
items, the edits of core/mask_edits.py) and by tiled inference (core/detection/tiling.py), which keeps each instance's mask
as a crop until it encodes it here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pycocotools.mask as mask_utils

from core import masks
from core.mask_pixels import MaskCrop
from core.records import Segmentation

Box = tuple[int, int, int, int]  # x, y, width, height in whole image pixels


def rle_counts(counts: str | bytes) -> list[int]:
    """The run lengths of a compressed COCO RLE string (pycocotools' rleFrString)."""
    data = counts.encode("ascii") if isinstance(counts, str) else counts
    result: list[int] = []
    p, n = 0, len(data)
    while p < n:
        x, k, more = 0, 0, True
        while more:
            c = data[p] - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(result) > 2:
            x += result[-2]
        result.append(x)
    return result


def _compressed(segmentation: Segmentation, height: int, width: int) -> dict[str, Any]:
    if isinstance(segmentation, dict) and not isinstance(segmentation.get("counts"), list):
        return segmentation
    return masks.to_rle(segmentation, height, width)  # polygons, uncompressed RLE


def _one_runs(rle: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Column-major [start, end) of each non-empty run of ones of a compressed RLE."""
    counts = np.asarray(rle_counts(rle["counts"]), dtype=np.int64)
    ends = np.cumsum(counts)
    starts = ends - counts
    starts, ends = starts[1::2], ends[1::2]  # odd runs are ones
    keep = ends > starts
    return starts[keep], ends[keep]


def decode_crop(segmentation: Segmentation, box: Box, height: int, width: int) -> np.ndarray:
    """The mask's pixels inside `box` (bool, box height x box width), without decoding the
    rest of the image: cost follows the box and the number of runs."""
    starts, ends = _one_runs(_compressed(segmentation, height, width))
    return _decode_runs(starts, ends, box, height)


def run_box(starts: np.ndarray, ends: np.ndarray, height: int) -> Box | None:
    """The tight box of the pixels the runs cover; None when there are none."""
    if starts.size == 0:
        return None
    first_col, last_col = starts // height, (ends - 1) // height
    # A run that wraps into the next column covers that column's top and the previous
    # column's bottom row.
    wraps = last_col > first_col
    top = np.where(wraps, 0, starts % height)
    bottom = np.where(wraps, height, (ends - 1) % height + 1)
    x0, x1 = int(first_col.min()), int(last_col.max()) + 1
    y0, y1 = int(top.min()), int(bottom.max())
    return x0, y0, x1 - x0, y1 - y0


def decode_tight(segmentation: Segmentation, height: int, width: int) -> MaskCrop | None:
    """The mask cut to its tight box (None: no pixel set), found from the RLE runs whatever
    the annotation's stored box says; pixel for pixel the whole-image decode's crop."""
    starts, ends = _one_runs(_compressed(segmentation, height, width))
    box = run_box(starts, ends, height)
    if box is None:
        return None
    return MaskCrop(box[0], box[1], _decode_runs(starts, ends, box, height))


def _decode_runs(starts: np.ndarray, ends: np.ndarray, box: Box, height: int) -> np.ndarray:
    x, y, w, h = box
    # Keep the runs that reach into the box's columns.
    keep = (ends > x * height) & (starts < (x + w) * height)
    starts, ends = starts[keep], ends[keep]
    # Split runs that wrap from one column into the next into one piece per column.
    first_col, last_col = starts // height, (ends - 1) // height
    pieces = last_col - first_col + 1
    col = np.repeat(first_col, pieces) + (
        np.arange(pieces.sum()) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    )
    row0 = np.maximum(np.repeat(starts, pieces), col * height) - col * height
    row1 = np.minimum(np.repeat(ends, pieces), (col + 1) * height) - col * height
    # Clip to the box and mark each piece's start and end in a per-column edge array.
    inside = (col >= x) & (col < x + w)
    col, row0, row1 = (
        col[inside] - x,
        np.clip(row0[inside], y, y + h),
        np.clip(row1[inside], y, y + h),
    )
    nonempty = row1 > row0
    col, row0, row1 = col[nonempty], row0[nonempty] - y, row1[nonempty] - y
    edges = np.zeros((w, h + 1), dtype=np.int32)
    np.add.at(edges, (col, row0), 1)
    np.add.at(edges, (col, row1), -1)
    return np.ascontiguousarray(np.cumsum(edges[:, :h], axis=1).T > 0)


def encode_crop(crop: np.ndarray, x: int, y: int, height: int, width: int) -> dict[str, Any]:
    """Compressed RLE of a height x width image that is `crop` at (x, y) and empty elsewhere;
    the same string `core.masks.encode_mask` gives for the full mask. Cost follows the crop."""
    h, w = crop.shape
    # Each crop column with a zero above and below: every change of value is a run boundary.
    padded = np.zeros((w, h + 2), dtype=np.int8)
    padded[:, 1:-1] = crop.T
    cols, rows = np.nonzero(np.diff(padded, axis=1))  # row r: value changes before crop row r
    # Column-major position in the whole image of the first pixel after each change.
    changes = (x + cols).astype(np.int64) * height + y + rows
    # A run reaching the bottom of one column and the top of the next is one run: its end
    # and the next start fall on the same position and cancel.
    positions, seen = np.unique(changes, return_counts=True)
    changes = positions[seen == 1]
    bounds = np.concatenate(([0], changes, [height * width]))
    runs = np.diff(bounds).tolist()  # starts with zeros (possibly none), alternates
    if len(runs) > 1 and runs[-1] == 0:
        runs.pop()  # ones up to the very last pixel: no empty run of zeros after them
    rle = mask_utils.frPyObjects({"size": [height, width], "counts": runs}, height, width)
    return {"size": [height, width], "counts": rle["counts"].decode("ascii")}


def tight(crop: MaskCrop) -> MaskCrop | None:
    """The crop cut down to its set pixels; None when none is set."""
    rows = np.flatnonzero(crop.mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(crop.mask.any(axis=0))
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    return MaskCrop(crop.x + c0, crop.y + r0, np.ascontiguousarray(crop.mask[r0:r1, c0:c1]))


def union_box(a: Box, b: Box) -> Box:
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return x0, y0, x1 - x0, y1 - y0


def paste(crop: MaskCrop, box: Box) -> np.ndarray:
    """`crop` placed into a fresh all-False array covering `box` (which contains it)."""
    x, y, w, h = box
    out = np.zeros((h, w), dtype=bool)
    out[crop.y - y : crop.y - y + crop.height, crop.x - x : crop.x - x + crop.width] = crop.mask
    return out
