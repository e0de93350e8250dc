"""Masks for a box-labelled COCO dataset, from a detector's heads (`maskloop segment`).

Every annotation that has a box but no mask (no `segmentation`, or an empty one) gets the
mask the model gives its box (`core.detection.box_to_mask`); with `all_annotations` every
annotation is re-segmented. Nothing else in the dataset changes: ids, categories, the
annotations' other fields and any unknown keys stay as they were; `segmentation` becomes a
compressed RLE of the image's size and `area` the mask's area.

The annotation's own category decides the mask channel when the model has a category of
the same name (case-insensitive); otherwise the box head's top choice does. The category id
written stays the dataset's either way: this fills in masks, it does not relabel.

Crowd regions (`iscrowd` 1) are never re-segmented: their box holds many objects.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.categories import match_by_name
from core.detection.box_to_mask import BoxSegmenter
from core.errors import CocoFormatError, ImageReadError
from core.files.images import read_image

BOXES_PER_CALL = 8
"""Boxes segmented together: each pastes a float mask of the whole image, so a 4000 x 3000
photo with 50 boxes would otherwise hold 2.4 GB at once."""

ProgressCallback = Callable[[int, int, str, int], None]
"""progress(images done, images to do, file name, masks written for it)."""


@dataclass
class SegmentReport:
    images_done: int = 0
    images_total: int = 0
    masks_written: int = 0
    empty_masks: int = 0  # boxes the model found nothing in: left as they were
    skipped_boxes: int = 0  # no usable box
    failed_images: list[str] = field(default_factory=list)
    interrupted: bool = False


def has_mask(annotation: dict[str, Any]) -> bool:
    """Whether the annotation has a non-empty segmentation (polygons or RLE)."""
    segmentation = annotation.get("segmentation")
    if not segmentation:
        return False
    if isinstance(segmentation, list):
        return any(len(polygon) >= 6 for polygon in segmentation if isinstance(polygon, list))
    return isinstance(segmentation, dict) and bool(segmentation.get("counts"))


def annotations_to_segment(
    dataset: dict[str, Any], *, all_annotations: bool
) -> dict[int, list[dict[str, Any]]]:
    """Image id -> the annotations (the dataset's own dicts) whose mask will be computed."""
    chosen: dict[int, list[dict[str, Any]]] = {}
    for annotation in dataset.get("annotations") or []:
        if not isinstance(annotation, dict) or annotation.get("iscrowd"):
            continue
        if all_annotations or not has_mask(annotation):
            chosen.setdefault(annotation.get("image_id"), []).append(annotation)  # type: ignore[arg-type]
    return chosen


def _box_xyxy(annotation: dict[str, Any]) -> list[float] | None:
    bbox = annotation.get("bbox")
    try:
        x, y, w, h = (float(v) for v in bbox)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    return [x, y, x + w, y + h] if w >= 1 and h >= 1 else None


def segment_dataset(
    dataset: dict[str, Any],
    images_dir: Path,
    segmenter: BoxSegmenter,
    *,
    all_annotations: bool = False,
    progress: ProgressCallback | None = None,
) -> SegmentReport:
    """Fill in masks in `dataset` (changed in place), image by image.

    Ctrl-C stops between images; the report then says `interrupted` and the dataset holds
    the masks of the images finished so far.
    """
    if not isinstance(dataset.get("images"), list):
        raise CocoFormatError("the COCO file has no 'images' list")
    images = {image.get("id"): image for image in dataset["images"] if isinstance(image, dict)}
    todo = annotations_to_segment(dataset, all_annotations=all_annotations)
    model_category = _model_categories(segmenter, dataset.get("categories") or [])
    report = SegmentReport(images_total=len(todo))
    try:
        for image_id, annotations in todo.items():
            image = images.get(image_id)
            name = str(image.get("file_name")) if image else f"image id {image_id}"
            try:
                if image is None:
                    raise ImageReadError(f"annotations refer to image id {image_id}, not listed")
                written = _segment_image(
                    image, annotations, images_dir, segmenter, model_category, report
                )
            except ImageReadError as exc:
                print(f"maskloop: warning: {exc}; its annotations are unchanged", file=sys.stderr)
                report.failed_images.append(name)
                written = 0
            report.images_done += 1
            if progress is not None:
                progress(report.images_done, report.images_total, name, written)
    except KeyboardInterrupt:
        report.interrupted = True
    return report


def _model_categories(segmenter: BoxSegmenter, categories: list[dict[str, Any]]) -> dict[int, int]:
    """The dataset's category id -> the model's id of the same name."""
    return match_by_name(
        ((int(c["id"]), str(c["name"])) for c in categories if "id" in c and "name" in c),
        ((c.id, c.name) for c in segmenter.detector.categories),
    )


def _segment_image(
    image: dict[str, Any],
    annotations: list[dict[str, Any]],
    images_dir: Path,
    segmenter: BoxSegmenter,
    model_category: dict[int, int],
    report: SegmentReport,
) -> int:
    pixels = read_image(images_dir / str(image["file_name"]))
    height, width = pixels.shape[:2]
    if (image.get("width"), image.get("height")) != (width, height):
        print(
            f"maskloop: warning: {image['file_name']} is {width}x{height} pixels, the COCO file "
            f"says {image.get('width')}x{image.get('height')}; masks use the real size",
            file=sys.stderr,
        )
    key = ("segment", image.get("id"))
    segmenter.prepare(key, pixels)
    groups: dict[int | None, list[tuple[dict[str, Any], list[float]]]] = {}
    for annotation in annotations:
        box = _box_xyxy(annotation)
        if box is None:
            report.skipped_boxes += 1
            continue
        picked = model_category.get(annotation.get("category_id"))  # type: ignore[arg-type]
        groups.setdefault(picked, []).append((annotation, box))
    written = 0
    for picked, group in groups.items():
        for start in range(0, len(group), BOXES_PER_CALL):
            written += _write_masks(
                segmenter, key, group[start : start + BOXES_PER_CALL], picked, report
            )
    segmenter.forget(key)
    report.masks_written += written
    return written


def _write_masks(
    segmenter: BoxSegmenter,
    key: tuple,
    members: list[tuple[dict[str, Any], list[float]]],
    picked: int | None,
    report: SegmentReport,
) -> int:
    boxes = np.array([box for _, box in members], dtype=np.float32)
    written = 0
    for (annotation, _), result in zip(
        members, segmenter.segment(key, boxes, category_id=picked), strict=True
    ):
        if result.area == 0:
            report.empty_masks += 1
            continue
        annotation["segmentation"] = result.rle()
        annotation["area"] = float(result.area)
        written += 1
    return written
