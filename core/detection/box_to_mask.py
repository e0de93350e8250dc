"""Box-to-mask: the detector's own heads segment a box the user drew.

Mask R-CNN segments whatever region its RoI heads are given; a user's box goes through
RoIAlign to the box and mask heads exactly as a region proposal would, so a box-labelled
object gets a mask (and a class opinion) from the model the project already has, and that
mask improves with every fine-tune. Nothing here re-implements a head: torchvision's
`box_roi_pool`, `box_head`, `box_predictor`, `mask_roi_pool`, `mask_head`, `mask_predictor`
and `paste_mask_in_image` do the work. Each mask is pasted into its box only (the whole-image
paste is N x H x W floats: 1.6 GB per box on a 20,000 px square image) and kept as that crop.

The backbone (with its FPN) is by far the expensive part, and it depends only on the image.
`BoxSegmenter.prepare(key, image)` runs the model's transform and backbone once per image and
keeps the features in a small LRU cache; `segment(key, boxes)` then costs only the heads,
so moving or resizing a box re-runs only them. `backbone_runs` counts backbone passes.

A huge image (above the tiling threshold, core/detection/tiling.py's AUTO_TILING) is never
given to the backbone whole: the model would shrink it to its own size and a 100 px object
on a 20,000 px image would be a pixel. `prepare` only keeps the pixels (best a memory-mapped
level 0 of the tile pyramid, so nothing is read yet), and `segment` runs the backbone on a
square window around each box at the model's native scale (core/detection/box_windows.py),
caching the features per (image, window), a few windows per image, most recent last: a box
moved inside its window costs only the heads, a box elsewhere prepares a new window. Masks
come back as crops shifted by the window's corner, in the image's own pixels.

Not thread-safe: one thread (the app's proposal worker, a CLI loop) owns a segmenter.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torchvision.models.detection.roi_heads import expand_boxes, expand_masks, paste_mask_in_image
from torchvision.models.detection.transform import resize_boxes

from core.detection.box_windows import Window, serves, window_for
from core.detection.detector import MASK_THRESHOLD, Detector
from core.detection.oom import run_with_oom_fallback
from core.detection.tiling import AUTO_TILING, Tiling
from core.errors import MaskLoopError
from core.mask_crops import encode_crop
from core.mask_pixels import MaskCrop

DEFAULT_CACHED_IMAGES = 4  # the open image and the few prefetched after it
DEFAULT_CACHE_BYTES = 512 * 2**20  # r50 features at 800 x 1333 are ~90 MB per image
DEFAULT_CACHED_WINDOWS = 4  # per huge image: the box being drawn and a few left behind
TOP_CHOICES = 3


class BoxToMaskError(MaskLoopError):
    """A box cannot be segmented (no features for the image, a category the model lacks)."""


@dataclass(frozen=True)
class BoxMask:
    """The mask the model gives one box.

    `crop` holds its pixels inside the box rounded outwards to whole pixels (the user drew the
    object's extent: every pixel outside it is clear); `mask` is the H x W boolean array of
    the whole image, built on demand for scripts on ordinary images. `category_id` is the model's category id: the one asked for, else the box
    head's top choice. `choices` are the box head's best (category_id, probability) pairs, best
    first, background excluded. `mask_score` is the mean mask probability over the pixels the
    mask keeps: near 1 when the head is sure of its outline, 0 for an empty mask.
    `probability` is the box head's probability of `category_id` for the box, asked for or not
    (the label audit weighs a label's class by it).
    """

    crop: MaskCrop
    image_size: tuple[int, int]  # (h, w) of the image
    category_id: int
    choices: tuple[tuple[int, float], ...]
    mask_score: float
    probability: float = 0.0  # the box head's probability of `category_id` for this box

    @property
    def mask(self) -> np.ndarray:
        full = np.zeros(self.image_size, dtype=bool)
        c = self.crop
        full[c.y : c.y + c.height, c.x : c.x + c.width] = c.mask
        return full

    @property
    def area(self) -> int:
        return int(np.count_nonzero(self.crop.mask))

    def rle(self) -> dict[str, Any]:
        """The mask's compressed RLE (counts as str), encoded from the crop: the same string
        `core.masks.encode_mask(self.mask)` gives, at the box's cost."""
        c = self.crop
        return encode_crop(c.mask, c.x, c.y, *self.image_size)


@dataclass
class _Features:
    features: OrderedDict[str, torch.Tensor]
    original_size: tuple[int, int]  # (h, w) of the pixels the backbone saw (image or window)
    resized_size: tuple[int, int]  # (h, w) after the model's transform, before padding
    nbytes: int


@dataclass
class _Windowed:
    """A huge image: its pixels (ideally memory-mapped) and the features of a few windows."""

    pixels: np.ndarray
    tile: int  # the model's native scale: the smallest window side
    windows: OrderedDict[Window, _Features]

    @property
    def nbytes(self) -> int:
        # A decoded image held here counts too; a memory-mapped one is the page cache's.
        held = 0 if isinstance(self.pixels, np.memmap) else self.pixels.nbytes
        return held + sum(f.nbytes for f in self.windows.values())

    @property
    def size(self) -> tuple[int, int]:
        return int(self.pixels.shape[0]), int(self.pixels.shape[1])


class BoxSegmenter:
    """Segments user boxes with a loaded `Detector`'s model, caching features per image."""

    def __init__(
        self,
        detector: Detector,
        *,
        max_images: int = DEFAULT_CACHED_IMAGES,
        max_bytes: int = DEFAULT_CACHE_BYTES,
        tiling: Tiling | None = AUTO_TILING,
        max_windows: int = DEFAULT_CACHED_WINDOWS,
    ) -> None:
        if max_images < 1 or max_windows < 1:
            raise ValueError("max_images and max_windows must be at least 1")
        self.detector = detector
        self.max_images = max_images
        self.max_bytes = max_bytes
        self.tiling = tiling  # which images are segmented in windows (None: none)
        self.max_windows = max_windows
        self.backbone_runs = 0  # read by tests and benchmarks
        self._cache: OrderedDict[Hashable, _Features | _Windowed] = OrderedDict()
        labels = detector.label_category_ids
        known = {c.id for c in detector.categories}
        # Label index -> category id for labels that name a category (not the background,
        # not COCO's "N/A" slots).
        self._label_category = {
            index: cid for index, cid in enumerate(labels) if index > 0 and cid in known
        }
        self._category_label = {cid: index for index, cid in self._label_category.items()}

    # ---- the feature cache ------------------------------------------------------------
    def is_prepared(self, image_key: Hashable) -> bool:
        return image_key in self._cache

    def cached_keys(self) -> list[Hashable]:
        """Keys of the cached images, least recently used first."""
        return list(self._cache)

    def windows(self, image_key: Hashable) -> list[Window]:
        """The cached windows of a huge image, least recently used first ([] for others)."""
        entry = self._cache.get(image_key)
        return list(entry.windows) if isinstance(entry, _Windowed) else []

    def forget(self, image_key: Hashable | None = None) -> None:
        """Drop one image's features, or all of them (e.g. when the model changes)."""
        if image_key is None:
            self._cache.clear()
        else:
            self._cache.pop(image_key, None)

    @torch.inference_mode()
    def prepare(self, image_key: Hashable, image: np.ndarray) -> None:
        """Compute and cache the features of `image` (RGB uint8) unless they are cached.

        A huge image's features are computed per window by `segment`; here its pixels are
        only kept (a memory-mapped array is not read)."""
        if image_key in self._cache:
            self._cache.move_to_end(image_key)
            return
        height, width = int(image.shape[0]), int(image.shape[1])
        tiling = self.tiling
        tile = None if tiling is None else tiling.tile_size_for(self.detector, width, height)
        if tile is not None:
            self._cache[image_key] = _Windowed(image, tile, OrderedDict())
        else:
            self._cache[image_key] = self._features(image)
        self._evict()

    def _features(self, image: np.ndarray) -> _Features:
        computed, _, _ = run_with_oom_fallback(
            lambda batch: [self._backbone(batch[0])],
            [image],
            batch_size=1,
            device=self.detector.device,
            to_cpu=self._to_cpu,
            notify=self.detector.on_fallback,
        )
        image_list, features = computed[0]
        if isinstance(features, torch.Tensor):  # a backbone without FPN returns one map
            features = OrderedDict([("0", features)])
        self.backbone_runs += 1
        resized = image_list.image_sizes[0]
        return _Features(
            features=features,
            original_size=(int(image.shape[0]), int(image.shape[1])),
            resized_size=(int(resized[0]), int(resized[1])),
            nbytes=sum(f.numel() * f.element_size() for f in features.values()),
        )

    def _window_features(self, entry: _Windowed, window: Window) -> _Features:
        """A window's features, from the cache or computed now (reading only its pixels)."""
        cached = entry.windows.get(window)
        if cached is not None:
            entry.windows.move_to_end(window)
            return cached
        x0, y0, x1, y1 = window
        features = self._features(np.ascontiguousarray(entry.pixels[y0:y1, x0:x1]))
        entry.windows[window] = features
        while len(entry.windows) > self.max_windows:
            entry.windows.popitem(last=False)
        return features

    def _window_of(
        self,
        entry: _Windowed,
        box: tuple[float, float, float, float],
        pending: Iterable[Window] = (),
    ) -> Window:
        """The cached (or `pending`) window that serves `box` best (the smallest: the finest
        scale; the most recent among equals), else a new one centred on it."""
        known = [*entry.windows, *(w for w in pending if w not in entry.windows)]
        fitting = [w for w in known if serves(w, box, entry.tile)]
        if fitting:
            return min(reversed(fitting), key=lambda w: w[2] - w[0])
        height, width = entry.size
        return window_for(box, entry.tile, width, height)

    def _backbone(self, image: np.ndarray) -> tuple[Any, Any]:
        model = self.detector.model
        tensor = self.detector._to_tensor(image)
        device = self.detector.device
        with torch.autocast(device.type, enabled=device.type == "cuda"):
            image_list, _ = model.transform([tensor])
            return image_list, model.backbone(image_list.tensors)

    def _to_cpu(self) -> None:
        """Out of GPU memory: the model and the cached features move to the CPU."""
        self.detector.move_to_cpu()
        for entry in self._cache.values():
            for features in entry.windows.values() if isinstance(entry, _Windowed) else [entry]:
                features.features = OrderedDict((k, v.cpu()) for k, v in features.features.items())

    def _evict(self) -> None:
        # The newest entry always stays, however large: it is the image being worked on.
        while len(self._cache) > 1 and (
            len(self._cache) > self.max_images
            or sum(e.nbytes for e in self._cache.values()) > self.max_bytes
        ):
            self._cache.popitem(last=False)

    # ---- segmenting -------------------------------------------------------------------
    @torch.inference_mode()
    def segment(
        self,
        image_key: Hashable,
        boxes_xyxy: np.ndarray,
        category_id: int | None = None,
    ) -> list[BoxMask]:
        """One `BoxMask` per box ([x0, y0, x1, y1] in image pixels) of a prepared image.

        `category_id` (the model's id) picks the mask channel for every box; without it each
        box takes the box head's top choice.
        """
        entry = self._cache.get(image_key)
        if entry is None:
            raise BoxToMaskError(
                f"image {image_key!r} has no computed features; call prepare() first"
            )
        self._cache.move_to_end(image_key)
        if category_id is not None and category_id not in self._category_label:
            known = ", ".join(str(c) for c in sorted(self._category_label))
            raise BoxToMaskError(
                f"the model has no category {category_id}; its categories are {known}"
            )
        if isinstance(entry, _Windowed):
            boxes = self._image_boxes(boxes_xyxy, entry.size)
            return self._segment_windowed(entry, boxes, category_id) if len(boxes) else []
        boxes = self._image_boxes(boxes_xyxy, entry.original_size)
        if len(boxes) == 0:
            return []
        return self._segment_in(entry, boxes, category_id)

    def _segment_windowed(
        self, entry: _Windowed, boxes: torch.Tensor, category_id: int | None
    ) -> list[BoxMask]:
        """Boxes of a huge image, each in the window that serves it (boxes sharing a window
        share its one backbone pass, even a window opened by this very call)."""
        groups: dict[Window, list[int]] = {}
        for row, box in enumerate(boxes.tolist()):
            groups.setdefault(self._window_of(entry, tuple(box), groups), []).append(row)
        results: list[BoxMask | None] = [None] * len(boxes)
        for window, rows in groups.items():
            features = self._window_features(entry, window)
            x0, y0 = window[0], window[1]
            shifted = boxes[rows] - torch.tensor([x0, y0, x0, y0], dtype=boxes.dtype)
            for row, answer in zip(
                rows, self._segment_in(features, shifted, category_id), strict=True
            ):
                # Whole-pixel offsets: the pixels the paste gave, in the image's own frame.
                c = answer.crop
                results[row] = replace(
                    answer, crop=MaskCrop(c.x + x0, c.y + y0, c.mask), image_size=entry.size
                )
        self._evict()
        return [r for r in results if r is not None]

    def _segment_in(
        self, features: _Features, boxes: torch.Tensor, category_id: int | None
    ) -> list[BoxMask]:
        """Boxes in the frame of the pixels `features` came from (the image or a window)."""
        results, _, _ = run_with_oom_fallback(
            lambda rows: self._segment_boxes(features, boxes[list(rows)], category_id),
            range(len(boxes)),
            batch_size=len(boxes),
            device=self.detector.device,
            to_cpu=self._to_cpu,
            notify=self.detector.on_fallback,
        )
        return results

    def _segment_boxes(
        self, entry: _Features, boxes: torch.Tensor, category_id: int | None
    ) -> list[BoxMask]:
        device = self.detector.device
        with torch.autocast(device.type, enabled=device.type == "cuda"):
            class_probs, mask_logits = self._run_heads(entry, boxes.to(device))
        class_probs = class_probs.float().cpu()
        labels = self._chosen_labels(class_probs, category_id)
        index = torch.arange(len(labels))
        mask_probs = mask_logits.float().sigmoid()[index, labels.to(mask_logits.device)]
        crops = paste_in_boxes(mask_probs, boxes.to(device))
        results = []
        for i in range(len(labels)):
            crop = crops[i]
            inside = mask_probs[i][mask_probs[i] > MASK_THRESHOLD]
            results.append(
                BoxMask(
                    crop=crop,
                    image_size=entry.original_size,
                    category_id=self._label_category[int(labels[i])],
                    choices=self._top_choices(class_probs[i]),
                    mask_score=(
                        float(inside.mean()) if inside.numel() and crop.mask.any() else 0.0
                    ),
                    probability=float(class_probs[i, labels[i]]),
                )
            )
        return results

    def _run_heads(
        self, entry: _Features, boxes: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Class probabilities (N x labels) and mask logits (N x labels x M x M) for boxes."""
        heads = self.detector.model.roi_heads
        proposals = [resize_boxes(boxes, list(entry.original_size), list(entry.resized_size))]
        image_shapes = [entry.resized_size]
        box_features = heads.box_roi_pool(entry.features, proposals, image_shapes)
        class_logits, _ = heads.box_predictor(heads.box_head(box_features))
        mask_features = heads.mask_roi_pool(entry.features, proposals, image_shapes)
        mask_logits = heads.mask_predictor(heads.mask_head(mask_features))
        return torch.softmax(class_logits.float(), dim=-1), mask_logits

    def _chosen_labels(self, class_probs: torch.Tensor, category_id: int | None) -> torch.Tensor:
        if category_id is not None:
            label = self._category_label[category_id]
            return torch.full((len(class_probs),), label, dtype=torch.int64)
        return self._ranked_labels(class_probs)[:, 0]

    def _ranked_labels(self, class_probs: torch.Tensor) -> torch.Tensor:
        """Label indices of categories only, most probable first, one row per box."""
        valid = torch.full((class_probs.shape[-1],), False)
        valid[list(self._label_category)] = True
        masked = torch.where(valid, class_probs, torch.full_like(class_probs, -1.0))
        return masked.argsort(dim=-1, descending=True)[:, : len(self._label_category)]

    def _top_choices(self, probs: torch.Tensor) -> tuple[tuple[int, float], ...]:
        ranked = self._ranked_labels(probs[None])[0][:TOP_CHOICES]
        return tuple((self._label_category[int(i)], float(probs[i])) for i in ranked)

    @staticmethod
    def _image_boxes(boxes_xyxy: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
        boxes = torch.as_tensor(np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4))
        h, w = size
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
        too_small = ((boxes[:, 2] - boxes[:, 0]) < 1) | ((boxes[:, 3] - boxes[:, 1]) < 1)
        if bool(too_small.any()):
            raise BoxToMaskError(
                "a box must be at least one pixel wide and high inside the image (x0 < x1, y0 < y1)"
            )
        return boxes


def paste_in_boxes(mask_probs: torch.Tensor, boxes: torch.Tensor) -> list[MaskCrop]:
    """Each mask (N x M x M probabilities) pasted and thresholded inside its box (N x 4, x0 y0
    x1 y1, on the image), rounded outwards to whole pixels.

    Pixel for pixel what torchvision's `paste_masks_in_image` on the whole image gives there:
    the same padded mask and integer box, shifted by whole pixels into the box's frame.
    Nothing is kept outside the box: paste_masks_in_image pads the box by a pixel or two on
    each side, and the user's box is the object's extent, so nothing spills past it.
    """
    padded, scale = expand_masks(mask_probs[:, None], padding=1)
    pasted_boxes = expand_boxes(boxes, scale).to(dtype=torch.int64).tolist()
    crops = []
    for mask, pasted, box in zip(padded, pasted_boxes, boxes.tolist(), strict=True):
        x0, y0, x1, y1 = box
        c0, r0 = int(np.floor(x0)), int(np.floor(y0))
        c1, r1 = int(np.ceil(x1)), int(np.ceil(y1))
        shifted = [pasted[0] - c0, pasted[1] - r0, pasted[2] - c0, pasted[3] - r0]
        region = paste_mask_in_image(mask[0], shifted, r1 - r0, c1 - c0)
        crops.append(MaskCrop(c0, r0, (region > MASK_THRESHOLD).cpu().numpy()))
    return crops
