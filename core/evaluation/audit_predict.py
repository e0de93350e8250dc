"""The model's side of the label audit: detections, and the mask head on each label's own box.

One backbone pass per image serves both: torchvision's own modules (`transform`, `backbone`,
`rpn`, `roi_heads`, then `roi_heads.mask_roi_pool` / `mask_head` / `mask_predictor` on the
labels' boxes, and `transform.postprocess` to paste the masks back) — nothing re-implemented.
core/detection/box_to_mask.py (when it lands) runs the same heads on given boxes for the
canvas; this private variant shares the detections' features instead of computing them twice.

`predict_for_audit` covers "the model as is"; core/evaluation/audit_kfold.py trains k models and
calls it for each held-out fold.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torchvision.models.detection.roi_heads import maskrcnn_inference
from torchvision.models.detection.transform import resize_boxes

from core.categories import match_by_name
from core.detection.detector import (
    MASK_THRESHOLD,
    Detector,
    detections_from_output,
    label_category_table,
)
from core.errors import Cancelled, ImageReadError
from core.evaluation.audit import AuditImage, ImagePredictions, ModelInstance
from core.files.images import read_image
from core.files.paths import resolve_inside
from core.masks import encode_mask

SCORE_THRESHOLD = 0.05  # cleanlab wants the faint detections too; "confident" is decided later

ImageProgress = Callable[[int, int, str], None]
"""progress(done, total, file_name) after each image."""


@dataclass(frozen=True)
class ModelForAudit:
    """A detector and how its categories map onto the ground truth's (by name)."""

    detector: Detector
    to_truth: Mapping[int, int]  # model category id -> ground-truth category id

    @classmethod
    def of(cls, detector: Detector, truth_categories: Sequence[tuple[int, str]]) -> ModelForAudit:
        mapping = match_by_name(((c.id, c.name) for c in detector.categories), truth_categories)
        return cls(detector, mapping)


def _label_index(model: ModelForAudit) -> dict[int, int]:
    """Ground-truth category id -> the model's label index (for the mask predictor)."""
    by_model_id = {cid: i for i, cid in enumerate(model.detector.label_category_ids) if i > 0}
    return {
        truth: by_model_id[model_id]
        for model_id, truth in model.to_truth.items()
        if model_id in by_model_id
    }


@torch.inference_mode()
def predict_for_audit(
    model: ModelForAudit,
    pixels: np.ndarray,
    image: AuditImage,
    *,
    score_threshold: float = SCORE_THRESHOLD,
    max_detections: int = 100,
) -> ImagePredictions:
    """Detections (in ground-truth category ids) and the mask head's mask on each label's box."""
    detector = model.detector
    net = detector.model
    heads = net.roi_heads
    heads.score_thresh = float(score_threshold)
    heads.detections_per_img = int(max_detections)
    tensor = detector._to_tensor(pixels)
    original = [(int(tensor.shape[-2]), int(tensor.shape[-1]))]
    batch, _ = net.transform([tensor])
    features = net.backbone(batch.tensors)
    proposals, _ = net.rpn(batch, features)
    found, _ = heads(features, proposals, batch.image_sizes)
    output = net.transform.postprocess(found, batch.image_sizes, original)[0]
    table = label_category_table(detector.label_category_ids, set(model.to_truth))
    detections = tuple(
        ModelInstance(model.to_truth[d.category_id], d.score, d.bbox, d.rle)
        for d in detections_from_output(output, table)
    )

    label_index = _label_index(model)
    labels = [
        lab
        for lab in image.labels
        if lab.category_id in label_index and lab.bbox[2] > 0 and lab.bbox[3] > 0
    ]
    box_masks: dict[int, dict] = {}
    if labels:
        boxes = torch.tensor(
            [[x, y, x + w, y + h] for x, y, w, h in (lab.bbox for lab in labels)],
            dtype=torch.float32,
            device=detector.device,
        )
        scaled = resize_boxes(boxes, list(original[0]), list(batch.image_sizes[0]))
        pooled = heads.mask_roi_pool(features, [scaled], batch.image_sizes)
        logits = heads.mask_predictor(heads.mask_head(pooled))
        classes = torch.tensor(
            [label_index[lab.category_id] for lab in labels], device=detector.device
        )
        probs = maskrcnn_inference(logits, [classes])
        pasted = net.transform.postprocess(
            [{"boxes": scaled, "labels": classes, "scores": classes.float(), "masks": probs[0]}],
            batch.image_sizes,
            original,
        )[0]["masks"]
        binary = (pasted[:, 0] > MASK_THRESHOLD).cpu().numpy()
        for lab, mask in zip(labels, binary, strict=True):
            box_masks[lab.annotation_id] = encode_mask(mask)
    return ImagePredictions(detections, box_masks)


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
