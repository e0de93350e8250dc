"""Label audit: which labels are most likely wrong, and which objects nobody labelled.

Given ground-truth labels and a model's predictions on the same images, every label and every
confident unmatched detection gets a score in 0..1 (1: almost surely a mistake) for one of four
issues, and the rows are ranked by it:

- **overlooked** (a detection): a confident detection that matches no label of its class (box
  IoU below `match_iou`); an object nobody labelled. A detection over a label of *another*
  class is that label's wrong class, not a second row.
- **wrong class** (a label): the model confidently sees another class in the label's box.
- **bad location** (a label): the label's box or mask disagrees with the model.
- **spurious** (a label): no detection of any class supports the label at all.

Which part of each score comes from where:

| issue | box-level part (cleanlab's ObjectLab) | MaskLoop's part |
| --- | --- | --- |
| overlooked | 1 - `compute_overlooked_box_scores` (cleanlab scores only detections touching no label) | x the detection's score; for the detections cleanlab leaves unscored, score x (1 - best IoU with a label of its class) |
| wrong class | 1 - `compute_swap_box_scores` (a confident detection of another class on the box), damped by the model's own support for the label's class in that box: x (1 - that score) | the box head on the label's own box: p(preferred class) x (1 - p(label's class)) when it prefers another; the issue is the mean of the parts |
| bad location | 1 - `compute_badloc_box_scores` | 1 - mask IoU between the label's mask and the mask head's mask on the label's own box; the issue is the mean of the two, or the overlooked score of its nearest detection of its class when that matches no label (one mistake, one row) |
| spurious | — | 1 - the best support of any detection: score x min(1, box IoU / `match_iou`), x (1 - 0.5 x the mask head's IoU with the label's mask on its own box) |

cleanlab's per-image score (`get_label_quality_scores`, 1 - it) is kept with each row as
`image_score`. cleanlab is imported only here, inside `audit`, so the light CLI commands
never pay for it. Pure numpy, pycocotools and cleanlab: no torch, no Qt. The predictions come
from the caller (core/evaluation/audit_predict.py runs a model, or k models for k-fold).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from core.errors import CocoFormatError
from core.masks import to_rle
from core.records import BBox


class Issue(str, enum.Enum):
    OVERLOOKED = "overlooked"
    WRONG_CLASS = "wrong_class"
    BAD_LOCATION = "bad_location"
    SPURIOUS = "spurious"

    @property
    def label(self) -> str:
        """As a person reads it: "wrong class"."""
        return self.value.replace("_", " ")


@dataclass(frozen=True)
class LabelInstance:
    """One ground-truth label."""

    annotation_id: int
    category_id: int
    bbox: BBox  # [x, y, w, h]
    rle: dict[str, Any] | None  # compressed RLE; None for a box-only label
    checked: bool = False  # a person kept it as it is after an audit: never listed again


@dataclass(frozen=True)
class AuditImage:
    image_id: int
    file_name: str
    width: int
    height: int
    labels: tuple[LabelInstance, ...]


@dataclass(frozen=True)
class ModelInstance:
    """A detection, or the mask head's answer for a given box (then `score` is None)."""

    category_id: int
    score: float | None
    bbox: BBox
    rle: dict[str, Any] | None


@dataclass(frozen=True)
class ImagePredictions:
    """What the model says about one image."""

    detections: tuple[ModelInstance, ...]
    # annotation id -> the mask head's mask (compressed RLE) on that label's own box, for the
    # label's class; absent for a label the mask head was not run on.
    label_box_masks: Mapping[int, dict[str, Any]] = field(default_factory=dict)
    # annotation id -> the box head's probabilities on that label's own box: the label's class
    # and the head's top choices (ground-truth category id -> probability).
    label_box_classes: Mapping[int, Mapping[int, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditSettings:
    confident: float = 0.5  # a detection at least this sure is "confident"
    match_iou: float = 0.5  # box IoU at which a detection matches a label
    min_score: float = 0.3  # rows scoring less are not listed as suspected mistakes


@dataclass(frozen=True)
class AuditRow:
    """One suspected mistake."""

    image_id: int
    file_name: str
    annotation_id: int | None  # None for an overlooked object
    issue: Issue
    score: float  # 0..1, higher is more likely a mistake
    bbox: BBox  # the label's box, or the detection's for an overlooked object
    category_id: int  # the label's class, or the detection's
    model: ModelInstance | None  # what "take the model's instance" writes; None: nothing
    box_score: float | None = None  # cleanlab's box-level part (1 - its quality score)
    # MaskLoop's part: the mask IoU part (bad location, spurious), the box head's (wrong class)
    mask_score: float | None = None
    image_score: float | None = None  # 1 - cleanlab's label quality score of the whole image

    @property
    def model_category_id(self) -> int | None:
        return None if self.model is None else self.model.category_id


# The annotation field (kept in the project and in COCO exports, like any extra field) that
# marks a label a person has checked and kept; the audit still matches detections to it.
CHECKED_FIELD = "audit_checked"


# ---------------------------------------------------------------- inputs


def audit_images_from_coco(dataset: Mapping[str, Any]) -> list[AuditImage]:
    """The images and their labels of a COCO dataset (crowd regions are not labels to audit)."""
    try:
        by_image: dict[int, list[LabelInstance]] = {}
        images = list(dataset["images"])
        sizes = {int(img["id"]): (int(img["height"]), int(img["width"])) for img in images}
        for ann in dataset.get("annotations", []):
            if ann.get("iscrowd"):
                continue
            image_id = int(ann["image_id"])
            height, width = sizes[image_id]
            segmentation = ann.get("segmentation")
            rle = to_rle(segmentation, height, width) if segmentation else None
            x, y, w, h = (float(v) for v in ann["bbox"])
            checked = bool(ann.get(CHECKED_FIELD))
            by_image.setdefault(image_id, []).append(
                LabelInstance(int(ann["id"]), int(ann["category_id"]), (x, y, w, h), rle, checked)
            )
        return [
            AuditImage(
                int(img["id"]),
                str(img["file_name"]),
                int(img["width"]),
                int(img["height"]),
                tuple(by_image.get(int(img["id"]), ())),
            )
            for img in images
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise CocoFormatError(
            f"the ground truth is not a usable COCO dataset (images need id, file_name, width "
            f"and height; annotations id, image_id, category_id and bbox): {exc!r}"
        ) from exc


# ---------------------------------------------------------------- geometry


def _xyxy(bbox: BBox) -> list[float]:
    x, y, w, h = bbox
    return [x, y, x + w, y + h]


def box_ious(a: Sequence[BBox], b: Sequence[BBox]) -> np.ndarray:
    """len(a) x len(b) box IoUs (plain IoU, not cleanlab's overlap ratio)."""
    if not a or not b:
        return np.zeros((len(a), len(b)))
    return np.asarray(mask_utils.iou([list(x) for x in a], [list(y) for y in b], [0] * len(b)))


def rle_iou(a: dict[str, Any], b: dict[str, Any]) -> float:
    def coco(rle: dict[str, Any]) -> dict[str, Any]:
        counts = rle["counts"]
        return {
            "size": rle["size"],
            "counts": counts.encode() if isinstance(counts, str) else counts,
        }

    return float(mask_utils.iou([coco(a)], [coco(b)], [0])[0][0])


def _area(rle: dict[str, Any]) -> int:
    counts = rle["counts"]
    coco = {"size": rle["size"], "counts": counts.encode() if isinstance(counts, str) else counts}
    return int(mask_utils.area(coco))


# ---------------------------------------------------------------- cleanlab's part


@dataclass
class _CleanlabScores:
    overlooked: list[np.ndarray]  # per image, per detection (NaN: not scored)
    swap: list[np.ndarray]  # per image, per label
    badloc: list[np.ndarray]  # per image, per label
    image: np.ndarray  # per image


def _cleanlab_scores(
    images: Sequence[AuditImage],
    predictions: Sequence[ImagePredictions],
    class_index: Mapping[int, int],
    settings: AuditSettings,
) -> _CleanlabScores:
    from cleanlab.object_detection import rank  # heavy (pandas, sklearn): only when auditing

    labels = []
    preds = []
    for image, found in zip(images, predictions, strict=True):
        labels.append(
            {
                "bboxes": np.array([_xyxy(lab.bbox) for lab in image.labels], float).reshape(-1, 4),
                "labels": np.array([class_index[lab.category_id] for lab in image.labels], int),
            }
        )
        per_class: list[list[list[float]]] = [[] for _ in class_index]
        for det in found.detections:
            per_class[class_index[det.category_id]].append(
                [*_xyxy(det.bbox), float(det.score or 0)]
            )
        preds.append(
            np.array([np.array(rows, float).reshape(-1, 5) for rows in per_class], dtype=object)
        )
    kwargs: dict[str, Any] = {"labels": labels, "predictions": preds}
    return _CleanlabScores(
        overlooked=rank.compute_overlooked_box_scores(
            **kwargs, high_probability_threshold=settings.confident
        ),
        # Shapes may overlap: a label mostly inside another class's box is no double label.
        swap=rank.compute_swap_box_scores(
            **kwargs, high_probability_threshold=settings.confident, overlapping_label_check=False
        ),
        badloc=rank.compute_badloc_box_scores(
            **kwargs, low_probability_threshold=settings.confident
        ),
        image=rank.get_label_quality_scores(
            labels, preds, overlapping_label_check=False, verbose=False
        ),
    )


def _cleanlab_order(found: ImagePredictions, class_index: Mapping[int, int]) -> list[int]:
    """Detection indices in the order cleanlab flattens them (by class, then as given)."""
    return sorted(
        range(len(found.detections)), key=lambda i: class_index[found.detections[i].category_id]
    )


# ---------------------------------------------------------------- scoring


def _finite(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _clip(value: float) -> float:
    return float(min(1.0, max(0.0, value)))


def bad_location_score(box_part: float | None, mask_part: float | None) -> float:
    """The bad-location issue: the mean of cleanlab's box part and MaskLoop's mask part.

    Either alone when the other is missing. The mean, not the larger: cleanlab's box part
    alone is near 1 for a good label whose own detection scored under `confident` while a
    neighbour of its class touches it, and the mask head on the label's box then disagrees
    (benchmarks/label_audit.py: top-2x recall 0.67 with the larger, 0.80 with the mean).
    """
    parts = [p for p in (box_part, mask_part) if p is not None]
    return sum(parts) / len(parts)


def _head_prefers_another_class(
    label: LabelInstance, classes: Mapping[int, float] | None
) -> tuple[float, int] | None:
    """(MaskLoop's wrong-class part, the class the box head prefers) when the box head, run on
    the label's own box, gives another class more probability than the label's; else None.

    The part is p(that class) x (1 - p(label's class)): high only when the head both sees the
    other class and doubts the label's, whatever any detection scored.
    """
    if not classes:
        return None
    own = float(classes.get(label.category_id, 0.0))
    others = [(float(p), c) for c, p in classes.items() if c != label.category_id]
    if not others:
        return None
    best, category = max(others)
    if best <= own:
        return None
    return _clip(best * (1.0 - own)), category


def wrong_class_score(swap_part: float | None, head_part: float | None) -> float:
    """The wrong-class issue: the mean of cleanlab's swap part (damped by the model's support
    for the label's class) and the box head's part; either alone when the other is missing.

    The mean, as for bad location: on three models of benchmarks/label_audit.py it found as
    many or more mistakes in the top rows than the larger part (top-2x recall 0.80 / 0.87 /
    0.80 against 0.80 / 0.87 / 0.77)."""
    parts = [p for p in (swap_part, head_part) if p is not None]
    return sum(parts) / len(parts)


def spurious_score(support: float, mask_part: float | None) -> float:
    """1 - the best detection's support, less where the mask head, asked about the label's own
    box, draws the label's outline (`mask_part` = 1 - that IoU): the object is there, the
    detector only missed it."""
    if mask_part is None:
        return _clip(1.0 - support)
    return _clip((1.0 - support) * (1.0 - SPURIOUS_MASK_WEIGHT * (1.0 - mask_part)))


SPURIOUS_MASK_WEIGHT = 0.5


# A label and an unmatched detection of its class that overlap at least this much (box IoU) are
# one mistake: the label drawn beside its object. Less is a neighbour, maybe an overlooked one.
BESIDE_IOU = 0.1


def _beside(
    nearest: int, label_index: int, ious: np.ndarray, overlooked: Mapping[int, AuditRow]
) -> bool:
    return nearest in overlooked and float(ious[label_index, nearest]) >= BESIDE_IOU


def _score_labels(
    image: AuditImage,
    found: ImagePredictions,
    swap: np.ndarray,
    badloc: np.ndarray,
    overlooked: Mapping[int, AuditRow],
    image_score: float,
    settings: AuditSettings,
) -> tuple[list[AuditRow], set[int]]:
    """The labels' rows, and the overlooked detections that became a label's evidence."""
    dets = found.detections
    ious = box_ious([lab.bbox for lab in image.labels], [d.bbox for d in dets])
    rows = []
    explained: set[int] = set()
    for li, label in enumerate(image.labels):
        scores = [float(d.score or 0.0) for d in dets]
        same = [j for j, d in enumerate(dets) if d.category_id == label.category_id]
        other = [j for j, d in enumerate(dets) if d.category_id != label.category_id]
        candidates: dict[Issue, tuple[float, ModelInstance | None, float | None, float | None]] = {}

        # wrong class: cleanlab's swap score, when a confident detection of another class
        # sits on the label's box, damped by the model's support for the label's own class.
        over = [
            j
            for j in other
            if ious[li, j] >= settings.match_iou and scores[j] >= settings.confident
        ]
        swap_part = None
        take_other: ModelInstance | None = None
        if over:
            best_other = max(over, key=lambda j: scores[j])
            own = max((scores[j] for j in same if ious[li, j] >= settings.match_iou), default=0.0)
            swap_part = _clip(1.0 - float(swap[li])) * (1.0 - own)
            take_other = dets[best_other]
        head = _head_prefers_another_class(label, found.label_box_classes.get(label.annotation_id))
        if head is not None and take_other is None:
            take_other = ModelInstance(head[1], None, label.bbox, label.rle)
        if swap_part is not None or head is not None:
            candidates[Issue.WRONG_CLASS] = (
                wrong_class_score(swap_part, None if head is None else head[0]),
                take_other,
                swap_part,
                None if head is None else head[0],
            )

        # bad location: cleanlab's badloc on the box, our mask IoU on the label's own box.
        touching = [j for j in same if ious[li, j] > 0 and scores[j] > settings.confident]
        box_part_loc = _clip(1.0 - float(badloc[li])) if touching else None
        mask_part = None
        box_mask = found.label_box_masks.get(label.annotation_id)
        if box_mask is not None and not _area(box_mask):
            box_mask = None  # the mask head sees nothing in the box: no opinion on its outline
        if box_mask is not None and label.rle is not None:
            mask_part = _clip(1.0 - rle_iou(label.rle, box_mask))
        parts = [p for p in (box_part_loc, mask_part) if p is not None]
        nearest = max(touching, key=lambda j: ious[li, j]) if touching else None
        if parts:
            if nearest is not None:
                take: ModelInstance | None = dets[nearest]
            elif box_mask is not None:
                take = ModelInstance(label.category_id, None, label.bbox, box_mask)
            else:
                take = None
            located = bad_location_score(box_part_loc, mask_part)
            # The nearest detection of its class matches no label: the object this label
            # was meant for, drawn beside it. One mistake, reported once, on the label.
            if nearest is not None and _beside(nearest, li, ious, overlooked):
                located = max(located, overlooked[nearest].score)
            candidates[Issue.BAD_LOCATION] = (located, take, box_part_loc, mask_part)

        # spurious: nothing supports the label, whatever its class.
        support = max(
            (scores[j] * min(1.0, ious[li, j] / settings.match_iou) for j in range(len(dets))),
            default=0.0,
        )
        candidates[Issue.SPURIOUS] = (spurious_score(support, mask_part), None, None, mask_part)

        issue, (score, chosen, box_score, mask_score) = max(
            candidates.items(), key=lambda kv: kv[1][0]
        )
        if (
            issue is Issue.BAD_LOCATION
            and nearest is not None
            and _beside(nearest, li, ious, overlooked)
        ):
            explained.add(nearest)
        if score >= settings.min_score and not label.checked:
            rows.append(
                AuditRow(
                    image.image_id,
                    image.file_name,
                    label.annotation_id,
                    issue,
                    score,
                    label.bbox,
                    label.category_id,
                    chosen,
                    box_score,
                    mask_score,
                    image_score,
                )
            )
    return rows, explained


def _score_overlooked(
    image: AuditImage,
    found: ImagePredictions,
    overlooked: np.ndarray,
    order: list[int],
    image_score: float,
    settings: AuditSettings,
) -> dict[int, AuditRow]:
    """Detection index -> its overlooked row, for every confident detection matching no label."""
    dets = found.detections
    cleanlab_by_det = {det_index: _finite(overlooked[k]) for k, det_index in enumerate(order)}
    ious = box_ious([d.bbox for d in dets], [lab.bbox for lab in image.labels])
    rows = {}
    for j, det in enumerate(dets):
        score = float(det.score or 0.0)
        if score < settings.confident:
            continue
        if ious.shape[1] and float(ious[j].max()) >= settings.match_iou:
            continue  # matches a label: its own class (fine) or another (that label's wrong class)
        same = [i for i, lab in enumerate(image.labels) if lab.category_id == det.category_id]
        best_same = max((float(ious[j, i]) for i in same), default=0.0)
        box_part = cleanlab_by_det.get(j)
        # cleanlab gates by confidence only; the detection's score ranks among the confident.
        if box_part is not None:
            box_part = _clip(1.0 - box_part)
            value = score * box_part
        else:
            value = _clip(score * (1.0 - best_same))
        rows[j] = AuditRow(
            image.image_id,
            image.file_name,
            None,
            Issue.OVERLOOKED,
            value,
            det.bbox,
            det.category_id,
            det,
            box_part,
            None,
            image_score,
        )
    return rows


def audit(
    images: Sequence[AuditImage],
    predictions: Mapping[int, ImagePredictions],
    category_ids: Sequence[int],
    settings: AuditSettings | None = None,
) -> list[AuditRow]:
    """Suspected mistakes, most likely first; one row per label at most (its likeliest issue).

    `predictions` maps image id to what the model said; images without an entry are not
    audited. Detections of a category outside `category_ids` are ignored.
    """
    settings = settings or AuditSettings()
    class_index = {int(cid): i for i, cid in enumerate(sorted(set(category_ids)))}
    unknown = {lab.category_id for img in images for lab in img.labels} - set(class_index)
    if unknown:
        raise CocoFormatError(
            f"labels use categories {sorted(unknown)} that the category list does not have"
        )
    audited = [img for img in images if img.image_id in predictions]
    found = [
        ImagePredictions(
            tuple(d for d in predictions[img.image_id].detections if d.category_id in class_index),
            predictions[img.image_id].label_box_masks,
            predictions[img.image_id].label_box_classes,
        )
        for img in audited
    ]
    if not audited:
        return []
    cl = _cleanlab_scores(audited, found, class_index, settings)
    rows: list[AuditRow] = []
    for i, (image, image_found) in enumerate(zip(audited, found, strict=True)):
        image_score = _clip(1.0 - float(cl.image[i]))
        order = _cleanlab_order(image_found, class_index)
        overlooked = _score_overlooked(
            image, image_found, cl.overlooked[i], order, image_score, settings
        )
        label_rows, explained = _score_labels(
            image, image_found, cl.swap[i], cl.badloc[i], overlooked, image_score, settings
        )
        rows += label_rows
        rows += [
            row
            for j, row in overlooked.items()
            if j not in explained and row.score >= settings.min_score
        ]
    rows.sort(key=lambda r: (-r.score, r.image_id, r.annotation_id or 0))
    return rows
