"""A synthetic instance-segmentation dataset: coloured shapes on textured backgrounds.

Three classes (circle, square, triangle) with 1-4 instances per image, random colours,
sizes and rotations, partly overlapping, over noise, gradients or stripes so the model has
to learn shape rather than "anything that is not flat grey". Written as PNG files plus a COCO
JSON with compressed RLE masks. Deterministic for a seed; ~300 images take a few seconds.
Used by `maskloop demo` and by tests that train a tiny model.

`style="plain"` draws the easier set that from-scratch detectors are usually shown on:
flat backgrounds and shapes that never overlap. Benchmarks use it to tell how much of a
score is the trainer and how much the difficulty of the textured default.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from core.files.atomic import write_json_atomically

SHAPE_CATEGORIES: tuple[dict[str, Any], ...] = (
    {"id": 1, "name": "circle", "supercategory": "shape"},
    {"id": 2, "name": "square", "supercategory": "shape"},
    {"id": 3, "name": "triangle", "supercategory": "shape"},
)
ANNOTATIONS_FILE = "annotations.json"
IMAGES_DIR = "images"
SHAPE_STYLES = ("textured", "plain")

# An occluded shape must keep at least this share of its pixels, so every instance stays
# recognisable (a sliver left by an overlap would be an unfair label).
_MIN_VISIBLE = 0.55
_MIN_PIXELS = 40


@dataclass(frozen=True)
class _Shape:
    category_id: int
    mask: np.ndarray  # bool H x W, before occlusion by later shapes


def _plain_background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    base = rng.integers(40, 216, size=3).astype(np.float32)
    return np.clip(base + rng.normal(0, 4, size=(h, w, 3)), 0, 255).astype(np.uint8)


def _textured_background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    kind = rng.integers(3)
    base = rng.integers(40, 216, size=3).astype(np.float32)
    if kind == 0:  # noise
        image = base + rng.normal(0, 25, size=(h, w, 3))
    elif kind == 1:  # linear gradient in a random direction
        angle = rng.uniform(0, 2 * math.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        ramp = (xx * math.cos(angle) + yy * math.sin(angle)) / max(h, w)
        other = rng.integers(40, 216, size=3).astype(np.float32)
        image = base + ramp[..., None] * (other - base) + rng.normal(0, 8, size=(h, w, 3))
    else:  # stripes
        period = rng.integers(6, 20)
        angle = rng.uniform(0, math.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        phase = (xx * math.cos(angle) + yy * math.sin(angle)) * (2 * math.pi / period)
        image = base + 30 * np.sin(phase)[..., None] + rng.normal(0, 8, size=(h, w, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def _shape_mask(rng: np.random.Generator, category_id: int, h: int, w: int) -> np.ndarray:
    short = min(h, w)
    size = rng.uniform(0.18, 0.42) * short  # diameter / side length in pixels
    cx = rng.uniform(size / 2, w - size / 2)
    cy = rng.uniform(size / 2, h - size / 2)
    mask = np.zeros((h, w), np.uint8)
    if category_id == 1:
        cv2.circle(mask, (round(cx), round(cy)), round(size / 2), 1, thickness=-1)
    else:
        sides = 4 if category_id == 2 else 3
        radius = size / 2 if sides == 3 else size / math.sqrt(2)
        start = rng.uniform(0, 2 * math.pi)
        points = [
            (cx + radius * math.cos(start + k * 2 * math.pi / sides),
             cy + radius * math.sin(start + k * 2 * math.pi / sides))
            for k in range(sides)
        ]  # fmt: skip
        cv2.fillPoly(mask, [np.round(np.array(points)).astype(np.int32)], 1)
    return mask.astype(bool)


def _place_shapes(rng: np.random.Generator, h: int, w: int, *, min_visible: float) -> list[_Shape]:
    """Pick 1-4 shapes; later ones occlude earlier ones, keeping `min_visible` of each."""
    wanted = int(rng.integers(1, 5))
    placed: list[_Shape] = []
    for _ in range(wanted * 6):  # a few tries per wanted shape
        if len(placed) == wanted:
            break
        category_id = int(rng.integers(1, 4))
        candidate = _Shape(category_id, _shape_mask(rng, category_id, h, w))
        trial = [*placed, candidate]
        visible = _visible_masks(trial)
        if all(
            v.sum() >= max(_MIN_PIXELS, min_visible * s.mask.sum())
            for v, s in zip(visible, trial, strict=True)
        ):
            placed = trial
    return placed


def _visible_masks(shapes: list[_Shape]) -> list[np.ndarray]:
    visible = []
    for index, shape in enumerate(shapes):
        mask = shape.mask.copy()
        for later in shapes[index + 1 :]:
            mask &= ~later.mask
        visible.append(mask)
    return visible


def _distinct_colour(rng: np.random.Generator, under: np.ndarray) -> np.ndarray:
    """A colour that stands out from the mean colour of the pixels it will cover."""
    reference = under.reshape(-1, 3).mean(axis=0)
    for _ in range(20):
        colour = rng.integers(0, 256, size=3)
        if np.abs(colour - reference).sum() > 150:
            return colour.astype(np.uint8)
    return (255 - reference).astype(np.uint8)


def _encode(mask: np.ndarray) -> dict[str, Any]:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def generate_shapes_dataset(
    out_dir: str | os.PathLike[str],
    *,
    n_images: int,
    seed: int,
    min_size: int = 128,
    max_size: int = 160,
    style: str = "textured",
) -> Path:
    """Write `n_images` shape images under `out_dir/images/` and `out_dir/annotations.json`.

    Image sides are drawn from [min_size, max_size]. Returns the path of the COCO JSON;
    its `file_name`s are relative to `out_dir/images/`. Category ids are 1 circle,
    2 square, 3 triangle. `style` is "textured" (noise, gradient or stripe backgrounds;
    shapes may hide up to 45% of each other) or "plain" (flat backgrounds, no overlaps).
    """
    if style not in SHAPE_STYLES:
        raise ValueError(f"unknown style {style!r}; choose one of {', '.join(SHAPE_STYLES)}")
    if n_images < 1:
        raise ValueError("n_images must be at least 1")
    if not 32 <= min_size <= max_size:
        raise ValueError("need 32 <= min_size <= max_size")
    out = Path(out_dir)
    images_dir = out / IMAGES_DIR
    images_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    digits = max(4, len(str(n_images)))
    for index in range(n_images):
        w, h = (int(v) for v in rng.integers(min_size, max_size + 1, size=2))
        if style == "plain":
            canvas = _plain_background(rng, h, w)
            shapes = _place_shapes(rng, h, w, min_visible=1.0)
        else:
            canvas = _textured_background(rng, h, w)
            shapes = _place_shapes(rng, h, w, min_visible=_MIN_VISIBLE)
        for shape in shapes:
            canvas[shape.mask] = _distinct_colour(rng, canvas[shape.mask])
        image_id = index + 1
        file_name = f"shapes_{index:0{digits}d}.png"
        cv2.imwrite(str(images_dir / file_name), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
        images.append({"id": image_id, "file_name": file_name, "width": w, "height": h})
        for shape, visible in zip(shapes, _visible_masks(shapes), strict=True):
            rle = _encode(visible)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": shape.category_id,
                    "segmentation": rle,
                    "area": float(mask_utils.area(rle)),
                    "bbox": [float(v) for v in mask_utils.toBbox(rle)],
                    "iscrowd": 0,
                }
            )
    dataset = {
        "info": {
            "description": f"MaskLoop synthetic shapes ({style}, seed {seed})",
            "version": "1",
        },
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [dict(c) for c in SHAPE_CATEGORIES],
    }
    json_path = out / ANNOTATIONS_FILE
    write_json_atomically(json_path, dataset)
    return json_path
