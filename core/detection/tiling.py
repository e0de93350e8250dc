"""Tiled inference: a huge image cut into overlapping tiles at the model's scale.

A Mask R-CNN rescales every image to its own size (`min_size`, 800 px for the r50 models,
256 for `lite`): a 20,000 px aerial photo shrunk to 800 px loses every car. Here the image
is cut into overlapping square tiles of `size` px (by default the model's `min_size`, so a
tile reaches the model at its native scale), the tiles are predicted in batches, and the
detections are mapped back to the image and merged:

- same-class detections from two tiles whose masks agree inside the two tiles' shared
  region (intersection over the smaller of the two parts there >= MERGE_AGREEMENT) are one
  object cut by a tile edge, or seen twice: they become one instance whose mask is the union
  and whose score is the best (transitively, so an object across three tiles is one too);
- what is left is suppressed across tiles per class (box IoU >= NMS_IOU keeps the best).

Masks stay crops (their box's pixels plus an offset) from the tile's output to the end and
are encoded with `core.mask_crops.encode_crop`, whose buffers follow the crop: no instance
ever holds an image-sized array. The image itself may be a memory-mapped array (the canvas's
tile pyramid, core/files/pyramid.py): only the tiles being predicted are read.

`predict_images` is what the CLI and the proposal worker call: images with a side longer
than AUTO_TILE_MIN_SIDE (the canvas's own threshold for tiles) are tiled automatically,
`Tiling(size=...)` forces a tile size (`maskloop predict --tile SIZE --overlap F`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from pycocotools import mask as mask_utils

from core.detection.detector import Detection
from core.files.pyramid import TILED_MIN_SIDE
from core.mask_crops import decode_crop, encode_crop
from core.mask_pixels import MaskCrop

AUTO_TILE_MIN_SIDE = TILED_MIN_SIDE  # 4,096 px: above it, proposals are predicted tiled
DEFAULT_OVERLAP = 0.25
MIN_TILE = 32
TILE_BATCH = 4  # tiles per forward pass, at least
MERGE_AGREEMENT = 0.5
NMS_IOU = 0.5

Window = tuple[int, int, int, int]  # x0, y0, x1, y1 in image pixels


class TilingStopped(Exception):
    """`should_stop` said stop between two batches of tiles: the image is left unpredicted
    (a 30,000 px image is thousands of tiles, far too long to finish before stopping)."""


class _Predictor(Protocol):
    def predict(
        self,
        images: Sequence[np.ndarray],
        *,
        score_threshold: float = ...,
        max_detections: int = ...,
        batch_size: int = ...,
    ) -> list[list[Detection]]: ...


@dataclass(frozen=True)
class Tiling:
    """How to tile: `size` px square tiles (None: the model's min_size) overlapping by
    `overlap` of a tile, for images with a side longer than `min_side` (0: every image)."""

    size: int | None = None
    overlap: float = DEFAULT_OVERLAP
    min_side: int = 0

    def __post_init__(self) -> None:
        if self.size is not None and self.size < MIN_TILE:
            raise ValueError(f"a tile must be at least {MIN_TILE} px (got {self.size})")
        if not 0.0 <= self.overlap < 0.9:
            raise ValueError(f"the overlap is a fraction of a tile, 0 to 0.9 (got {self.overlap})")

    def tile_size_for(self, detector: Any, width: int, height: int) -> int | None:
        """The tile size for an image this big, or None when it is predicted whole."""
        if max(width, height) <= self.min_side:
            return None
        size = self.size or model_tile_size(detector)
        if width <= size and height <= size:
            return None  # one tile would be the whole image
        return size


AUTO_TILING = Tiling(min_side=AUTO_TILE_MIN_SIDE)


def model_tile_size(detector: Any) -> int:
    """The detector's native scale: the short side it rescales images to (512 if unknown)."""
    transform = getattr(getattr(detector, "model", None), "transform", None)
    min_size = getattr(transform, "min_size", None)
    if isinstance(min_size, (tuple, list)) and min_size:
        return int(min_size[-1])
    return int(min_size) if isinstance(min_size, (int, float)) else 512


def _starts(length: int, size: int, stride: int) -> list[int]:
    if length <= size:
        return [0]
    starts = list(range(0, length - size, stride))
    return [*starts, length - size]  # the last tile ends at the image's edge


def tile_windows(width: int, height: int, size: int, overlap: float) -> list[Window]:
    """Overlapping size x size windows covering the image, row by row; the last row and
    column are moved back to end at the edge (so every tile is full size)."""
    stride = max(1, round(size * (1.0 - overlap)))
    return [
        (x, y, min(x + size, width), min(y + size, height))
        for y in _starts(height, size, stride)
        for x in _starts(width, size, stride)
    ]


@dataclass
class _Piece:
    """One tile's detection in image coordinates, its mask a crop."""

    category_id: int
    score: float
    tile: int
    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    crop: MaskCrop


def _pieces(detections: list[Detection], tile: int, window: Window) -> list[_Piece]:
    x0, y0, x1, y1 = window
    pieces = []
    for det in detections:
        rle = {"size": det.rle["size"], "counts": det.rle["counts"].encode("ascii")}
        mx, my, mw, mh = (int(round(v)) for v in mask_utils.toBbox(rle))
        if mw <= 0 or mh <= 0:
            continue
        mask = decode_crop(det.rle, (mx, my, mw, mh), y1 - y0, x1 - x0)
        bx, by, bw, bh = det.bbox
        pieces.append(
            _Piece(
                det.category_id,
                det.score,
                tile,
                (bx + x0, by + y0, bx + bw + x0, by + bh + y0),
                MaskCrop(mx + x0, my + y0, mask),
            )
        )
    return pieces


def _part(crop: MaskCrop, region: Window) -> np.ndarray:
    """The crop's pixels inside `region` (a region-sized bool array)."""
    rx0, ry0, rx1, ry1 = region
    out = np.zeros((ry1 - ry0, rx1 - rx0), dtype=bool)
    x0, y0 = max(rx0, crop.x), max(ry0, crop.y)
    x1, y1 = min(rx1, crop.x + crop.width), min(ry1, crop.y + crop.height)
    if x1 > x0 and y1 > y0:
        out[y0 - ry0 : y1 - ry0, x0 - rx0 : x1 - rx0] = crop.mask[
            y0 - crop.y : y1 - crop.y, x0 - crop.x : x1 - crop.x
        ]
    return out


def _same_object(a: _Piece, b: _Piece, windows: Sequence[Window]) -> bool:
    """Whether two tiles' detections are one object: their masks agree where both tiles saw."""
    wa, wb = windows[a.tile], windows[b.tile]
    shared = (max(wa[0], wb[0]), max(wa[1], wb[1]), min(wa[2], wb[2]), min(wa[3], wb[3]))
    if shared[2] <= shared[0] or shared[3] <= shared[1]:
        return False
    # Only the part of the shared region that both crops reach can hold agreement.
    ca, cb = a.crop, b.crop
    region = (
        max(shared[0], min(ca.x, cb.x)),
        max(shared[1], min(ca.y, cb.y)),
        min(shared[2], max(ca.x + ca.width, cb.x + cb.width)),
        min(shared[3], max(ca.y + ca.height, cb.y + cb.height)),
    )
    if region[2] <= region[0] or region[3] <= region[1]:
        return False
    pa, pb = _part(ca, region), _part(cb, region)
    na, nb = int(pa.sum()), int(pb.sum())
    if not na or not nb:
        return False
    return int(np.logical_and(pa, pb).sum()) / min(na, nb) >= MERGE_AGREEMENT


def _union(group: list[_Piece]) -> _Piece:
    x0 = min(p.crop.x for p in group)
    y0 = min(p.crop.y for p in group)
    x1 = max(p.crop.x + p.crop.width for p in group)
    y1 = max(p.crop.y + p.crop.height for p in group)
    mask = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    for p in group:
        mask[
            p.crop.y - y0 : p.crop.y - y0 + p.crop.height,
            p.crop.x - x0 : p.crop.x - x0 + p.crop.width,
        ] |= p.crop.mask
    best = max(group, key=lambda p: p.score)
    box = (
        min(p.box[0] for p in group),
        min(p.box[1] for p in group),
        max(p.box[2] for p in group),
        max(p.box[3] for p in group),
    )
    return _Piece(best.category_id, best.score, best.tile, box, MaskCrop(x0, y0, mask))


def _neighbour_tiles(windows: Sequence[Window]) -> list[tuple[int, int]]:
    """Pairs of tiles (a < b) whose windows overlap, found through a grid of tile-sized
    cells: each window meets only the few windows sharing its cells, not all of them."""
    if not windows:
        return []
    size = max(1, max(x1 - x0 for x0, _y0, x1, _y1 in windows))
    cells: dict[tuple[int, int], list[int]] = {}
    for index, (x0, y0, x1, y1) in enumerate(windows):
        for cx in range(x0 // size, (x1 - 1) // size + 1):
            for cy in range(y0 // size, (y1 - 1) // size + 1):
                cells.setdefault((cx, cy), []).append(index)
    pairs = set()
    for members in cells.values():
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                wa, wb = windows[a], windows[b]
                if max(wa[0], wb[0]) < min(wa[2], wb[2]) and max(wa[1], wb[1]) < min(wa[3], wb[3]):
                    pairs.add((min(a, b), max(a, b)))
    return sorted(pairs)


def _reaches(piece: _Piece, region: Window) -> bool:
    c = piece.crop
    return (
        c.x < region[2]
        and region[0] < c.x + c.width
        and c.y < region[3]
        and region[1] < c.y + c.height
    )


def merge_pieces(pieces: list[_Piece], windows: Sequence[Window]) -> list[_Piece]:
    """Join same-class detections of different tiles that are one object (union-find).

    Only pieces reaching into the region two neighbouring tiles share are compared, so the
    cost follows the detections along tile edges, not the square of all detections."""
    parent = list(range(len(pieces)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_tile: dict[int, list[int]] = {}
    for index, piece in enumerate(pieces):
        by_tile.setdefault(piece.tile, []).append(index)
    for a, b in _neighbour_tiles(windows):
        if a not in by_tile or b not in by_tile:
            continue
        wa, wb = windows[a], windows[b]
        shared = (max(wa[0], wb[0]), max(wa[1], wb[1]), min(wa[2], wb[2]), min(wa[3], wb[3]))
        left = [i for i in by_tile[a] if _reaches(pieces[i], shared)]
        right = [j for j in by_tile[b] if _reaches(pieces[j], shared)]
        for i in left:
            ci = pieces[i].crop
            for j in right:
                pi, pj = pieces[i], pieces[j]
                cj = pj.crop
                if (
                    pi.category_id != pj.category_id
                    or ci.x >= cj.x + cj.width
                    or cj.x >= ci.x + ci.width
                    or ci.y >= cj.y + cj.height
                    or cj.y >= ci.y + ci.height
                    or root(i) == root(j)
                ):
                    continue  # another class, or masks whose boxes do not even meet
                if _same_object(pi, pj, windows):
                    parent[root(j)] = root(i)
    groups: dict[int, list[_Piece]] = {}
    for index, piece in enumerate(pieces):
        groups.setdefault(root(index), []).append(piece)
    return [group[0] if len(group) == 1 else _union(group) for group in groups.values()]


def _suppress(pieces: list[_Piece]) -> list[_Piece]:
    """NMS per class across tiles (box IoU >= NMS_IOU keeps the best), in torchvision's
    C++ kernel: a random-weight model gives 100 detections a tile, 40,000 on a big image."""
    if not pieces:
        return []
    import torch
    from torchvision.ops import batched_nms

    boxes = torch.tensor([p.box for p in pieces], dtype=torch.float32)
    scores = torch.tensor([p.score for p in pieces], dtype=torch.float32)
    classes = torch.tensor([p.category_id for p in pieces], dtype=torch.int64)
    keep = batched_nms(boxes, scores, classes, NMS_IOU)
    return [pieces[i] for i in keep.tolist()]


def predict_tiled(
    detector: _Predictor,
    image: np.ndarray,
    size: int,
    *,
    overlap: float = DEFAULT_OVERLAP,
    score_threshold: float = 0.05,
    max_detections: int = 100,
    batch_size: int = TILE_BATCH,
    should_stop: Callable[[], bool] | None = None,
) -> list[Detection]:
    """Detections of one image predicted tile by tile and merged; `max_detections` is per
    tile. `image` may be memory-mapped: only the tiles in the batch are read. Raises
    TilingStopped when `should_stop()` is true between two batches."""
    height, width = image.shape[:2]
    windows = tile_windows(width, height, size, overlap)
    batch = max(batch_size, TILE_BATCH)
    pieces: list[_Piece] = []
    for start in range(0, len(windows), batch):
        if should_stop is not None and should_stop():
            raise TilingStopped(f"stopped after {start} of {len(windows)} tiles")
        chunk = windows[start : start + batch]
        crops = [np.ascontiguousarray(image[y0:y1, x0:x1]) for x0, y0, x1, y1 in chunk]
        outputs = detector.predict(
            crops, score_threshold=score_threshold, max_detections=max_detections, batch_size=batch
        )
        for offset, (window, found) in enumerate(zip(chunk, outputs, strict=True)):
            pieces += _pieces(found, start + offset, window)
    merged = _suppress(merge_pieces(pieces, windows))
    detections = []
    for piece in merged:
        c = piece.crop
        rle = encode_crop(c.mask, c.x, c.y, height, width)
        x0, y0, x1, y1 = piece.box
        detections.append(
            Detection(piece.category_id, piece.score, (x0, y0, x1 - x0, y1 - y0), rle)
        )
    return detections


def predict_images(
    detector: _Predictor,
    images: Sequence[np.ndarray],
    tiling: Tiling | None = AUTO_TILING,
    *,
    score_threshold: float = 0.05,
    max_detections: int = 100,
    batch_size: int = 2,
    should_stop: Callable[[], bool] | None = None,
) -> list[list[Detection]]:
    """`detector.predict` for each image, the ones `tiling` picks predicted tile by tile
    (`should_stop` is asked between batches of tiles; TilingStopped ends the call)."""
    sizes = [
        None if tiling is None else tiling.tile_size_for(detector, im.shape[1], im.shape[0])
        for im in images
    ]
    whole = [i for i, size in enumerate(sizes) if size is None]
    results: list[list[Detection]] = [[] for _ in images]
    if whole:
        found = detector.predict(
            [images[i] for i in whole],
            score_threshold=score_threshold,
            max_detections=max_detections,
            batch_size=batch_size,
        )
        for i, detections in zip(whole, found, strict=True):
            results[i] = detections
    for i, size in enumerate(sizes):
        if size is not None:
            assert tiling is not None
            results[i] = predict_tiled(
                detector,
                images[i],
                size,
                overlap=tiling.overlap,
                score_threshold=score_threshold,
                max_detections=max_detections,
                batch_size=batch_size,
                should_stop=should_stop,
            )
    return results
