"""The model's side of the label audit: detections, and the mask head on each label's own box.

Detections come from `Detector.predict`; the mask head's answer for a label's own box from
core/detection/box_to_mask.py's `BoxSegmenter` (torchvision's RoIAlign, mask head and mask
predictor run on given boxes), for the label's class. That costs a second backbone pass per
image, which keeps one implementation of "the mask head on a given box" for the canvas, the
`segment` command and the audit.

`predict_for_audit` covers "the model as is"; core/evaluation/audit_kfold.py trains k models and
calls it for each held-out fold.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.categories import match_by_name
from core.errors import Cancelled, ImageReadError
from core.evaluation.audit import AuditImage, ImagePredictions, ModelInstance
from core.files.images import read_image
from core.files.paths import resolve_inside

if TYPE_CHECKING:  # torch loads with the model, in the worker, not with this module
    from core.detection.box_to_mask import BoxSegmenter
    from core.detection.detector import Detector

SCORE_THRESHOLD = 0.05  # cleanlab wants the faint detections too; "confident" is decided later

ImageProgress = Callable[[int, int, str], None]
"""progress(done, total, file_name) after each image."""


@dataclass
class ModelForAudit:
    """A detector, how its categories map onto the ground truth's (by name), and its segmenter."""

    detector: Detector
    to_truth: Mapping[int, int]  # model category id -> ground-truth category id
    segmenter: BoxSegmenter = field(init=False)

    def __post_init__(self) -> None:
        from core.detection.box_to_mask import BoxSegmenter

        self.segmenter = BoxSegmenter(self.detector, max_images=1)

    @classmethod
    def of(cls, detector: Detector, truth_categories: Sequence[tuple[int, str]]) -> ModelForAudit:
        mapping = match_by_name(((c.id, c.name) for c in detector.categories), truth_categories)
        return cls(detector, mapping)

    @property
    def to_model(self) -> dict[int, int]:
        """Ground-truth category id -> the model's."""
        return {truth: model_id for model_id, truth in self.to_truth.items()}


def _inside(bbox: tuple[float, float, float, float], width: int, height: int) -> bool:
    """At least a pixel of the box lies in the image (what the segmenter can work on)."""
    x, y, w, h = bbox
    return min(width, x + w) - max(0.0, x) >= 1 and min(height, y + h) - max(0.0, y) >= 1


def predict_for_audit(
    model: ModelForAudit,
    pixels: np.ndarray,
    image: AuditImage,
    *,
    score_threshold: float = SCORE_THRESHOLD,
    max_detections: int = 100,
) -> ImagePredictions:
    """Detections (in ground-truth category ids), and the mask head's mask and the box head's
    class probabilities on each label's own box."""
    found = model.detector.predict(
        [pixels], score_threshold=score_threshold, max_detections=max_detections
    )[0]
    detections = tuple(
        ModelInstance(model.to_truth[d.category_id], d.score, d.bbox, d.rle)
        for d in found
        if d.category_id in model.to_truth
    )
    to_model = model.to_model
    by_class: dict[int, list] = {}
    for lab in image.labels:
        if lab.category_id in to_model and _inside(lab.bbox, image.width, image.height):
            by_class.setdefault(to_model[lab.category_id], []).append(lab)
    box_masks: dict[int, dict] = {}
    box_classes: dict[int, dict[int, float]] = {}
    if by_class:
        key = ("audit", image.image_id)
        model.segmenter.prepare(key, pixels)
        for model_class, labels in by_class.items():
            boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (lab.bbox for lab in labels)])
            for lab, answer in zip(
                labels, model.segmenter.segment(key, boxes, category_id=model_class), strict=True
            ):
                box_masks[lab.annotation_id] = answer.rle()
                classes = {
                    model.to_truth[cid]: p for cid, p in answer.choices if cid in model.to_truth
                }
                classes[lab.category_id] = answer.probability
                box_classes[lab.annotation_id] = classes
        model.segmenter.forget(key)
    return ImagePredictions(detections, box_masks, box_classes)


def predict_images(
    model: ModelForAudit,
    images: Sequence[AuditImage],
    images_dir: Path,
    *,
    progress: ImageProgress | None = None,
    should_stop: Callable[[], bool] | None = None,
    warn: Callable[[str], None] | None = None,
) -> dict[int, ImagePredictions]:
    """Predictions for each image that could be read; stops between images when asked.

    A stop request raises `Cancelled` carrying nothing; Ctrl-C (KeyboardInterrupt) is left to
    the caller, who keeps what `into` holds — see `PartialPredictions`.
    """
    done: dict[int, ImagePredictions] = {}
    try:
        for n, image in enumerate(images, 1):
            if should_stop is not None and should_stop():
                raise Cancelled("the audit was cancelled")
            try:
                pixels = read_image(resolve_inside(images_dir, image.file_name))
            except ImageReadError as exc:
                if warn is not None:
                    warn(f"{exc}; not audited")
                continue
            done[image.image_id] = predict_for_audit(model, pixels, image)
            if progress is not None:
                progress(n, len(images), image.file_name)
    except KeyboardInterrupt:
        raise PartialPredictions(done) from None
    return done


class PartialPredictions(KeyboardInterrupt):
    """Ctrl-C during `predict_images`; carries the images finished before it."""

    def __init__(self, done: dict[int, ImagePredictions]) -> None:
        super().__init__()
        self.done = done
