"""What Mask R-CNN's two stages saw on one image, as plain numpy: `StageView`.

`core.detection.stages.inspect_stages` fills it by running torchvision's own modules step by
step; this module holds only the result, so the miss causes, the CLI and the canvas read it
without importing torch. Every box is `(x0, y0, x1, y1)` in the ORIGINAL image's pixels
(torchvision's corner form, not COCO's `[x, y, w, h]`). Labels are the model's label
indices (0 is the background); `label_names` names them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Corners = tuple[float, float, float, float]  # x0, y0, x1, y1


@dataclass(frozen=True)
class StageDetection:
    """One detection of the second stage: the box head's class and regressed box for one
    RPN proposal. Final detections carry the mask head's logits; NMS-removed ones carry
    the final detection that removed them."""

    label: int
    score: float
    box: Corners  # the regressed box of `label`
    proposal_index: int  # row of StageView.proposals this detection came from
    proposal_box: Corners
    top_classes: tuple[tuple[int, float], ...]  # the proposal's 3 best (label, probability)
    # 28 x 28 mask logits of `label`, covering `box` (torchvision pastes them into it)
    mask_logits: np.ndarray | None = field(default=None, repr=False, compare=False)
    suppressed_by: int | None = None  # index into StageView.final (NMS-removed only)


@dataclass(frozen=True)
class StageView:
    """The two stages on one image.

    - `proposals`, `objectness`: the RPN's proposals after its own NMS, best objectness
      first: exactly the regions the box head classified.
    - `class_scores`: the box head's softmax over every label, one row per proposal.
    - `final`: the model's output, in its order (what `model(images)` returns: the
      detections above the model's own candidate cut `candidate_threshold`, after NMS and the
      per-image limit). `detections` and `under_threshold` split it at `score_threshold`.
    - `suppressed`: the candidates class-wise NMS removed, best first, each with the final
      detection that removed it (None when that one fell past the per-image limit).
    """

    image_size: tuple[int, int]  # original (height, width)
    label_names: tuple[str, ...]  # index = label; label 0 is the background
    proposals: np.ndarray  # (P, 4) float32 corners
    objectness: np.ndarray  # (P,) probabilities
    class_scores: np.ndarray  # (P, num_labels) probabilities
    final: tuple[StageDetection, ...]
    suppressed: tuple[StageDetection, ...]
    score_threshold: float = 0.5
    candidate_threshold: float = 0.05
    nms_threshold: float = 0.5

    @property
    def detections(self) -> list[StageDetection]:
        """The final detections at or above `score_threshold`."""
        return [d for d in self.final if d.score >= self.score_threshold]

    @property
    def under_threshold(self) -> list[StageDetection]:
        """The final detections below `score_threshold` (hidden as proposals)."""
        return [d for d in self.final if d.score < self.score_threshold]

    def top_proposals(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The `n` proposals of highest objectness: (boxes, objectness)."""
        n = max(0, int(n))
        return self.proposals[:n], self.objectness[:n]

    def label_name(self, label: int) -> str:
        if 0 <= label < len(self.label_names):
            return self.label_names[label]
        return f"label {label}"


def box_iou(boxes: np.ndarray, box: Corners) -> np.ndarray:
    """IoU of each row of `boxes` (N x 4 corners) with one `box`."""
    if len(boxes) == 0:
        return np.zeros(0)
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    x0 = np.maximum(boxes[:, 0], box[0])
    y0 = np.maximum(boxes[:, 1], box[1])
    x1 = np.minimum(boxes[:, 2], box[2])
    y1 = np.minimum(boxes[:, 3], box[3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    other = (box[2] - box[0]) * (box[3] - box[1])
    union = area + other - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def corners(xywh: tuple[float, float, float, float] | list[float]) -> Corners:
    """A COCO box `[x, y, w, h]` as corners."""
    x, y, w, h = (float(v) for v in xywh)
    return (x, y, x + w, y + h)
