"""Turning a detector's output into proposals stored in a project.

The detector speaks its own categories (COCO's for torchvision's weights, a checkpoint's
for fine-tuned models); the project has its own. They are matched by name, ignoring case,
so a COCO model proposes `person` and `car` in a project that has those categories before
any fine-tuning. A project with no categories yet adopts the model's categories that are
actually detected (keeping the model's id when it is free). Detections of categories the
project does not have are otherwise dropped.

Each image's proposals replace that image's previous proposals in one store transaction as
soon as it is done, so stopping midway keeps everything finished so far.

Images with a side longer than core.detection.tiling.AUTO_TILE_MIN_SIDE (4,096 px) are
predicted tile by tile at the model's scale (`tiling`); their pixels come from the canvas's
memory-mapped tile pyramid when it has been built, so the worker never holds a second decode.

A proposal that repeats a label the image already has (accepted, or made by hand) is not
stored: re-proposing an unreviewed image after a model swap would otherwise stack a second
outline on every object already labelled. "Repeats" is mask IoU >= DUPLICATE_IOU with any
such label, whatever its class (a label of the wrong class is the annotator's call, not a
reason to propose the object again).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pycocotools.mask as mask_utils

from core.categories import category_key
from core.detection.detector import Detection, Detector
from core.detection.tiling import AUTO_TILING, Tiling, TilingStopped, predict_images
from core.errors import ImageReadError
from core.files.images import check_image_size, read_image
from core.files.pyramid import cache_folder, load_pyramid, needs_pyramid
from core.masks import to_rle
from core.records import Annotation, BBox, Category, ReviewState, Source

if TYPE_CHECKING:  # the store is only needed for type checking; no import cycle at runtime
    from core.store import ProjectStore

ProgressCallback = Callable[[int, int, int], None]
"""progress(done, total, image_id) after each image."""

DUPLICATE_IOU = 0.5
"""A proposal whose mask overlaps a kept label this much (IoU) is the same object again."""


class CategoryMapper:
    """Maps a detector's category ids to a project's, by case-insensitive name."""

    def __init__(self, store: ProjectStore, detector_categories: Sequence[Category]) -> None:
        self._store = store
        self._model_categories = {c.id: c for c in detector_categories}
        project = store.categories()
        # An empty project learns its categories from what the model finds.
        self.adopts_new_categories = not project
        by_name = {category_key(c.name): c.id for c in project}
        self._mapping: dict[int, int | None] = {
            model_id: by_name.get(category_key(c.name))
            for model_id, c in self._model_categories.items()
        }

    def project_category(self, model_category_id: int) -> int | None:
        """The project category id for a model category, or None to drop the detection."""
        mapped = self._mapping.get(model_category_id)
        if mapped is not None or not self.adopts_new_categories:
            return mapped
        model_category = self._model_categories.get(model_category_id)
        if model_category is None:
            return None
        taken = {c.id for c in self._store.categories()}
        added = self._store.add_category(
            model_category.name,
            category_id=model_category.id if model_category.id not in taken else None,
            supercategory=model_category.supercategory,
        )
        self._mapping[model_category_id] = added.id
        return added.id

    def matched(self) -> dict[int, int]:
        """Model category id -> project category id, for the ones mapped so far."""
        return {m: p for m, p in self._mapping.items() if p is not None}


def _rounded_box(bbox: BBox) -> BBox:
    x, y, w, h = bbox
    return (round(x, 2), round(y, 2), round(w, 2), round(h, 2))


def detections_to_annotations(
    detections: Sequence[Detection], image_id: int, mapper: CategoryMapper
) -> list[Annotation]:
    """Proposal annotations (source model, state proposed) for the detections kept."""
    annotations = []
    for detection in detections:
        category_id = mapper.project_category(detection.category_id)
        if category_id is None:
            continue
        annotations.append(
            Annotation(
                image_id=image_id,
                category_id=category_id,
                bbox=_rounded_box(detection.bbox),
                segmentation=dict(detection.rle),
                source=Source.MODEL,
                score=round(detection.score, 4),
                state=ReviewState.PROPOSED,
                area=detection.area,
            )
        )
    return annotations


def _pycoco_rle(ann: Annotation, height: int, width: int) -> dict:
    """The annotation's mask as one pycocotools RLE (counts as bytes); its box if it has none."""
    seg = ann.segmentation
    if not seg:
        box = np.array([[float(v) for v in ann.bbox]], dtype=np.float64)
        return mask_utils.frPyObjects(box, height, width)[0]
    if not (isinstance(seg, dict) and isinstance(seg.get("counts"), str)):
        seg = to_rle(seg, height, width)  # polygons, uncompressed RLE
    return {"size": list(seg["size"]), "counts": seg["counts"].encode("ascii")}


def is_kept_label(ann: Annotation) -> bool:
    """Labels a proposal must not repeat: accepted ones and anything a person drew."""
    return ann.state is ReviewState.ACCEPTED or (
        ann.source is Source.HUMAN and ann.state is not ReviewState.REJECTED
    )


def drop_labelled_duplicates(
    proposals: Sequence[Annotation],
    labels: Sequence[Annotation],
    height: int,
    width: int,
    *,
    iou_threshold: float = DUPLICATE_IOU,
) -> list[Annotation]:
    """The proposals whose mask IoU with every label is below `iou_threshold`.

    IoU is computed by pycocotools on the RLEs, without decoding masks to pixels.
    """
    if not proposals or not labels:
        return list(proposals)
    found = [_pycoco_rle(p, height, width) for p in proposals]
    kept = [_pycoco_rle(label, height, width) for label in labels]
    ious = np.asarray(mask_utils.iou(found, kept, [0] * len(kept))).reshape(len(found), len(kept))
    return [p for p, row in zip(proposals, ious, strict=True) if row.max() < iou_threshold]


@dataclass
class ProposalReport:
    images_done: int = 0
    images_total: int = 0
    proposals: int = 0
    duplicates_dropped: int = 0  # proposals that repeated an accepted or hand-made label
    cancelled: bool = False
    warnings: list[str] = field(default_factory=list)  # size corrections, unreadable images
    failed_images: list[int] = field(default_factory=list)


def unreviewed_image_ids(store: ProjectStore) -> list[int]:
    """Ids of the images no annotator has marked reviewed, in id order."""
    return [image.id for image in store.list_images() if not image.reviewed]


def model_pixels(store: ProjectStore, image_id: int, tiling: Tiling | None) -> np.ndarray:
    """The image's RGB pixels. A huge image that will be tiled is read from level 0 of its
    tile pyramid (memory-mapped: only the tiles being predicted are in memory, for the hours
    a 30,000 px image can take on a CPU), built now if the canvas has not built it yet.
    Box-to-mask (gui/workers/box_mask_job.py) reads its windows from the same array."""
    path = store.image_path(image_id)
    image = store.get_image(image_id)
    if tiling is not None and needs_pyramid(image.width, image.height):
        try:
            return load_pyramid(path, cache_folder(store.path)).level_array(0)
        except OSError:
            pass  # a read-only or full project folder: decode it whole
    return read_image(path)


def propose_images(
    store: ProjectStore,
    detector: Detector,
    image_ids: Sequence[int],
    *,
    score_threshold: float = 0.05,
    max_detections: int = 100,
    batch_size: int = 2,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    mapper: CategoryMapper | None = None,
    tiling: Tiling | None = AUTO_TILING,
) -> ProposalReport:
    """Predict `image_ids` in batches and store each image's proposals as it finishes.

    An unreadable image is skipped with a warning; `should_stop` is checked between
    batches and ends the run with `cancelled=True`, keeping what was stored.
    """
    mapper = mapper or CategoryMapper(store, detector.categories)
    report = ProposalReport(images_total=len(image_ids))
    for start in range(0, len(image_ids), batch_size):
        if should_stop is not None and should_stop():
            report.cancelled = True
            break
        batch_ids: list[int] = []
        pixels = []
        for image_id in image_ids[start : start + batch_size]:
            try:
                warning = check_image_size(store, image_id)
                pixels.append(model_pixels(store, image_id, tiling))
            except ImageReadError as exc:
                report.warnings.append(str(exc))
                report.failed_images.append(image_id)
                report.images_done += 1
                if progress is not None:
                    progress(report.images_done, report.images_total, image_id)
                continue
            if warning:
                report.warnings.append(warning)
            batch_ids.append(image_id)
        if not pixels:
            continue
        try:
            detections = predict_images(
                detector,
                pixels,
                tiling,
                score_threshold=score_threshold,
                max_detections=max_detections,
                batch_size=batch_size,
                should_stop=should_stop,
            )
        except TilingStopped:  # a huge image's tiles: stopping waits for no more of them
            report.cancelled = True
            break
        for image_id, found in zip(batch_ids, detections, strict=True):
            proposals = detections_to_annotations(found, image_id, mapper)
            labels = [a for a in store.annotations(image_id) if is_kept_label(a)]
            if labels:
                image = store.get_image(image_id)  # after check_image_size: the true size
                fresh = drop_labelled_duplicates(proposals, labels, image.height, image.width)
                report.duplicates_dropped += len(proposals) - len(fresh)
                proposals = fresh
            store.replace_proposals(image_id, proposals, detector.model_key)
            report.proposals += len(proposals)
            report.images_done += 1
            if progress is not None:
                progress(report.images_done, report.images_total, image_id)
    return report
