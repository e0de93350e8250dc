"""Why each missed instance was missed: one cause per false negative.

For every FN of `core.evaluation.matching` (at its IoU and score threshold), the first of
these checks that holds names the cause:

1. **not proposed**: no RPN proposal overlaps it with box IoU >= 0.5 (anchors or objectness);
2. **scored low**: proposed, but on every such proposal the box head gave its class a
   probability below the score threshold;
3. **suppressed**: a detection of its class (box IoU >= 0.5, at or above the threshold) was
   removed by NMS;
4. **wrong class**: a prediction of another class found it (box IoU >= 0.5);
5. **poor mask**: a prediction of its class found it with a good box (IoU >= 0.5) but the
   mask IoU is under the matching IoU (segm evaluation only);
6. **poorly localised**: whatever is left: predictions of its class overlap it, only below
   the matching IoU (or the box head's box wandered off the proposal that scored it).

Checks 1-3 read the model's two stages (`core.detection.stage_view.StageView`, made by
`core.detection.stages.inspect_stages`); checks 4-6 read the evaluated predictions. An image
without a StageView skips 1-3, and an FN there with no prediction near it is **not
detected** (run with a model to tell the first three apart). Torch-free.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from core.categories import match_by_name
from core.detection.stage_view import StageView, box_iou, corners
from core.evaluation.matching import EvaluationData, MatchResult
from core.evaluation.metrics import _to_rle

NOT_PROPOSED = "not proposed"
SCORED_LOW = "scored low"
SUPPRESSED = "suppressed"
WRONG_CLASS = "wrong class"
POOR_MASK = "poor mask"
POORLY_LOCALISED = "poorly localised"
NOT_DETECTED = "not detected"  # no StageView for the image, and no prediction near it
CAUSES = (NOT_PROPOSED, SCORED_LOW, SUPPRESSED, WRONG_CLASS, POOR_MASK, POORLY_LOCALISED)
ALL_CAUSES = (*CAUSES, NOT_DETECTED)
GOOD_BOX_IOU = 0.5  # "proposed" and "found" both mean box IoU >= this


@dataclass(frozen=True)
class MissCause:
    annotation_id: int
    image_id: int
    category_id: int
    cause: str  # one of ALL_CAUSES
    detail: str  # the evidence, for a tooltip or a CSV cell


class StagesOnDemand(Mapping[int, StageView]):
    """Stage views made when `explain_misses` asks for them, one image at a time.

    A StageView holds every proposal's class scores and every detection's mask logits
    (about 0.7 MB for a ResNet-50 model): kept for thousands of images they would fill the
    memory. `explain_misses` visits the misses image by image, so only the latest is kept.
    """

    def __init__(self, image_ids: Sequence[int], make: Callable[[int], StageView | None]):
        self._ids = list(image_ids)
        self._known = set(self._ids)
        self._make = make
        self._last: tuple[int, StageView | None] | None = None
        self.made = 0  # views computed so far (progress)

    def __getitem__(self, image_id: int) -> StageView:
        if image_id not in self._known:
            raise KeyError(image_id)
        if self._last is None or self._last[0] != image_id:
            self._last = (image_id, self._make(image_id))
            self.made += 1
        view = self._last[1]
        if view is None:
            raise KeyError(image_id)
        return view

    def __iter__(self) -> Iterator[int]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)


def label_categories(view: StageView, category_names: Mapping[int, str]) -> dict[int, int]:
    """The model's label -> the evaluated data's category id with the same name."""
    return match_by_name(
        ((label, name) for label, name in enumerate(view.label_names) if label > 0),
        category_names.items(),
    )


def explain_misses(
    data: EvaluationData,
    matched: MatchResult,
    stages: Mapping[int, StageView] | None = None,
) -> list[MissCause]:
    """A cause for every FN of `matched`, in its ground-truth order.

    `stages` maps image ids to the model's StageView of that image (any subset; images
    without one get the prediction-only checks).
    """
    stages = stages or {}
    annotations = {int(a["id"]): a for a in data.ground_truth.get("annotations", [])}
    images = {int(i["id"]): i for i in data.ground_truth.get("images", [])}
    by_image: dict[int, list[int]] = {}
    for index, prediction in enumerate(data.predictions):
        if float(prediction["score"]) >= matched.settings.score_threshold:
            by_image.setdefault(int(prediction["image_id"]), []).append(index)
    labels: dict[int, dict[int, int]] = {}  # image id -> label -> category id
    misses = [g for g in matched.ground_truth if g.outcome == "fn"]
    order = {g.annotation_id: n for n, g in enumerate(misses)}
    causes = []
    # Image by image, so StagesOnDemand makes each image's view once.
    for gt in sorted(misses, key=lambda g: g.image_id):
        annotation = annotations[gt.annotation_id]
        view = stages.get(gt.image_id)
        if view is not None and gt.image_id not in labels:
            labels[gt.image_id] = label_categories(view, data.category_names)
        cause, detail = _stage_cause(
            view, labels.get(gt.image_id, {}), annotation, matched.settings.score_threshold
        )
        if not cause:
            image = images.get(gt.image_id, {})
            cause, detail = _prediction_cause(
                data, by_image.get(gt.image_id, []), annotation, image, matched, view is None
            )
        causes.append(MissCause(gt.annotation_id, gt.image_id, gt.category_id, cause, detail))
    causes.sort(key=lambda m: order[m.annotation_id])
    return causes


def cause_counts(causes: list[MissCause]) -> dict[int, dict[str, int]]:
    """Category id -> cause -> number of FNs (only causes that occur)."""
    counts: dict[int, dict[str, int]] = {}
    for miss in causes:
        per_class = counts.setdefault(miss.category_id, {})
        per_class[miss.cause] = per_class.get(miss.cause, 0) + 1
    return counts


def _stage_cause(
    view: StageView | None,
    label_to_category: Mapping[int, int],
    annotation: Mapping[str, Any],
    score_threshold: float,
) -> tuple[str, str]:
    if view is None:
        return "", ""
    box = corners(annotation["bbox"])
    overlaps = box_iou(view.proposals, box)
    proposed = np.flatnonzero(overlaps >= GOOD_BOX_IOU)
    if proposed.size == 0:
        best = float(overlaps.max()) if overlaps.size else 0.0
        return NOT_PROPOSED, f"best proposal box IoU {best:.2f} of {len(overlaps)} proposals"
    own = [label for label, cid in label_to_category.items() if cid == annotation["category_id"]]
    best_score = (
        float(view.class_scores[np.ix_(proposed, np.asarray(own, dtype=np.int64))].max())
        if own
        else 0.0
    )
    if best_score < score_threshold:
        return SCORED_LOW, (
            f"{proposed.size} proposals, best class score {best_score:.2f} < {score_threshold:g}"
        )
    for victim in view.suppressed:
        if victim.label not in own or victim.score < score_threshold:
            continue
        iou = float(box_iou(np.array([victim.box]), box)[0])
        if iou >= GOOD_BOX_IOU:
            by = f"detection {victim.suppressed_by}" if victim.suppressed_by is not None else "NMS"
            return SUPPRESSED, f"score {victim.score:.2f}, box IoU {iou:.2f}, removed by {by}"
    return "", ""


def _prediction_cause(
    data: EvaluationData,
    candidates: list[int],
    annotation: Mapping[str, Any],
    image: Mapping[str, Any],
    matched: MatchResult,
    stages_unknown: bool,
) -> tuple[str, str]:
    box = corners(annotation["bbox"])
    boxes = np.array([corners(data.prediction_box(i)) for i in candidates]).reshape(-1, 4)
    overlaps = box_iou(boxes, box)
    category = annotation["category_id"]
    same = [
        (i, float(o))
        for i, o in zip(candidates, overlaps, strict=True)
        if data.predictions[i]["category_id"] == category
    ]
    for index, iou in zip(candidates, overlaps, strict=True):
        other = data.predictions[index]["category_id"]
        if other != category and iou >= GOOD_BOX_IOU:
            name = data.category_names.get(int(other), str(other))
            return WRONG_CLASS, f"found as {name} (score {data.predictions[index]['score']:.2f})"
    threshold = matched.settings.iou_threshold
    if matched.settings.iou_type == "segm" and annotation.get("segmentation"):
        height, width = int(image.get("height", 0)), int(image.get("width", 0))
        truth = _to_rle(annotation["segmentation"], height, width)
        for index, iou in same:
            segmentation = data.predictions[index].get("segmentation")
            if iou < GOOD_BOX_IOU or not segmentation:
                continue
            mask_iou = float(np.asarray(mask_utils.iou([segmentation], [truth], [0])).item())
            if mask_iou < threshold:
                return POOR_MASK, f"box IoU {iou:.2f}, mask IoU {mask_iou:.2f} < {threshold:g}"
    best = max((iou for _, iou in same), default=0.0)
    if stages_unknown and best == 0.0:
        return NOT_DETECTED, "no prediction of its class overlaps it"
    return POORLY_LOCALISED, f"best IoU of its class {best:.2f} < {threshold:g}"
