"""Every missed instance gets one cause, checked in the issue's order: not proposed, scored
low, suppressed, wrong class, poor mask, poorly localised (constructed two-stage cases)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from pycocotools import mask as mask_utils
from torchvision.models.detection.anchor_utils import AnchorGenerator

from core.detection.architectures import build_model
from core.detection.stage_view import StageDetection, StageView
from core.detection.stages import inspect_stages
from core.evaluation.matching import EvaluationData, MatchSettings
from core.evaluation.miss_causes import (
    NOT_DETECTED,
    NOT_PROPOSED,
    POOR_MASK,
    POORLY_LOCALISED,
    SCORED_LOW,
    SUPPRESSED,
    WRONG_CLASS,
    StagesOnDemand,
    cause_counts,
    explain_misses,
)

SIZE = (200, 200)
CIRCLE, SQUARE = 1, 2
NAMES = ("background", "circle", "square")


def _rle(mask: np.ndarray) -> dict[str, Any]:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def _box_mask(x: int, y: int, w: int, h: int, ring: int = 0) -> np.ndarray:
    mask = np.zeros(SIZE, dtype=bool)
    mask[y : y + h, x : x + w] = True
    if ring:  # only a frame `ring` pixels wide: the same box, a different mask
        mask[y + ring : y + h - ring, x + ring : x + w - ring] = False
    return mask


def _annotation(ann_id: int, image_id: int, category: int, box: tuple[int, ...]) -> dict:
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": category,
        "bbox": [float(v) for v in box],
        "area": float(box[2] * box[3]),
        "iscrowd": 0,
        "segmentation": _rle(_box_mask(*box)),
    }


def _prediction(image_id: int, category: int, box: tuple[int, ...], **kw: Any) -> dict:
    return {
        "image_id": image_id,
        "category_id": category,
        "score": kw.get("score", 0.9),
        "segmentation": _rle(_box_mask(*box, ring=kw.get("ring", 0))),
    }


def _corners(box: tuple[int, ...]) -> tuple[float, float, float, float]:
    x, y, w, h = (float(v) for v in box)
    return (x, y, x + w, y + h)


def _view(
    proposals: list[tuple[int, ...]],
    scores: list[list[float]],
    final: tuple[StageDetection, ...] = (),
    suppressed: tuple[StageDetection, ...] = (),
) -> StageView:
    return StageView(
        image_size=SIZE,
        label_names=NAMES,
        proposals=np.array([_corners(p) for p in proposals], dtype=np.float32).reshape(-1, 4),
        objectness=np.linspace(0.9, 0.5, len(proposals)),
        class_scores=np.array(scores, dtype=np.float32).reshape(-1, 3),
        final=final,
        suppressed=suppressed,
    )


def _detection(label: int, score: float, box: tuple[int, ...], proposal: int, **kw: Any):
    return StageDetection(
        label, score, _corners(box), proposal, _corners(box), (), suppressed_by=kw.get("by")
    )


def _explain(ground_truth: list[dict], predictions: list[dict], stages: Mapping[int, StageView]):
    image_ids = sorted({a["image_id"] for a in ground_truth})
    dataset = {
        "images": [
            {"id": i, "file_name": f"{i}.png", "height": 200, "width": 200} for i in image_ids
        ],
        "annotations": ground_truth,
        "categories": [{"id": CIRCLE, "name": "circle"}, {"id": SQUARE, "name": "square"}],
    }
    data = EvaluationData.from_coco(dataset, predictions)
    matched = data.match(MatchSettings(0.5, 0.5, "segm"))
    return {m.annotation_id: m.cause for m in explain_misses(data, matched, stages)}, matched


A_SQUARE, B_SQUARE = (50, 50, 40, 40), (58, 50, 40, 40)  # box IoU 0.67: NMS keeps one


def test_each_cause_in_the_order_of_checks() -> None:
    small, big = (20, 20, 10, 10), (0, 0, 200, 200)
    scored_low = (100, 100, 40, 40)
    ground_truth = [
        _annotation(1, 1, CIRCLE, small),  # only a whole-image proposal: not proposed
        _annotation(2, 2, CIRCLE, scored_low),  # proposed, circle scored 0.3
        _annotation(3, 3, SQUARE, A_SQUARE),  # found
        _annotation(4, 3, SQUARE, B_SQUARE),  # its detection lost NMS against 3's
        _annotation(5, 4, CIRCLE, (20, 120, 40, 40)),  # found as a square
        _annotation(6, 5, SQUARE, (120, 20, 40, 40)),  # right box, mask only a frame
        _annotation(7, 6, SQUARE, (120, 20, 40, 40)),  # found 20 px off
        _annotation(8, 7, CIRCLE, (20, 20, 40, 40)),  # no stages, nothing near it
    ]
    predictions = [
        _prediction(3, SQUARE, A_SQUARE),
        _prediction(4, SQUARE, (20, 120, 40, 40)),
        _prediction(5, SQUARE, (120, 20, 40, 40), ring=2),
        _prediction(6, SQUARE, (140, 20, 40, 40)),
    ]
    sure = [[0.05, 0.9, 0.9]]  # every class scores: the stage checks let it through
    square_a = _detection(SQUARE, 0.9, A_SQUARE, 0)
    stages = {
        1: _view([big], [[0.1, 0.8, 0.1]]),
        2: _view([scored_low], [[0.6, 0.3, 0.1]]),
        3: _view(
            [A_SQUARE, B_SQUARE],
            [[0.05, 0.05, 0.9], [0.1, 0.1, 0.8]],
            final=(square_a,),
            suppressed=(_detection(SQUARE, 0.8, B_SQUARE, 1, by=0),),
        ),
        4: _view([(20, 120, 40, 40)], sure),
        5: _view([(120, 20, 40, 40)], sure),
        6: _view([(120, 20, 40, 40)], sure),
    }
    causes, matched = _explain(ground_truth, predictions, stages)
    assert [g.annotation_id for g in matched.ground_truth if g.outcome == "tp"] == [3]
    assert causes == {
        1: NOT_PROPOSED,
        2: SCORED_LOW,
        4: SUPPRESSED,
        5: WRONG_CLASS,
        6: POOR_MASK,
        7: POORLY_LOCALISED,
        8: NOT_DETECTED,
    }


def test_an_earlier_check_wins_over_a_later_one() -> None:
    # A square found as a circle, but no proposal covers it: "not proposed" comes first.
    ground_truth = [_annotation(1, 1, SQUARE, (20, 120, 40, 40))]
    predictions = [_prediction(1, CIRCLE, (20, 120, 40, 40))]
    causes, _ = _explain(ground_truth, predictions, {1: _view([(0, 0, 200, 200)], [[0, 1, 0]])})
    assert causes == {1: NOT_PROPOSED}
    causes, _ = _explain(ground_truth, predictions, {})
    assert causes == {1: WRONG_CLASS}


def test_two_overlapping_squares_one_suppressed_and_counts_per_class() -> None:
    ground_truth = [
        _annotation(1, 1, SQUARE, A_SQUARE),
        _annotation(2, 1, SQUARE, B_SQUARE),
        _annotation(3, 1, CIRCLE, (150, 150, 30, 30)),
    ]
    view = _view(
        [A_SQUARE, B_SQUARE, (0, 0, 200, 200)],
        [[0.05, 0.05, 0.9], [0.1, 0.1, 0.8], [0.5, 0.4, 0.1]],
        final=(_detection(SQUARE, 0.9, A_SQUARE, 0),),
        suppressed=(_detection(SQUARE, 0.8, B_SQUARE, 1, by=0),),
    )
    data_causes, matched = _explain(ground_truth, [_prediction(1, SQUARE, A_SQUARE)], {1: view})
    assert data_causes == {2: SUPPRESSED, 3: NOT_PROPOSED}
    data = EvaluationData.from_coco(
        {
            "images": [{"id": 1, "file_name": "1.png", "height": 200, "width": 200}],
            "annotations": ground_truth,
            "categories": [{"id": CIRCLE, "name": "circle"}, {"id": SQUARE, "name": "square"}],
        },
        [_prediction(1, SQUARE, A_SQUARE)],
    )
    misses = explain_misses(data, data.match(MatchSettings()), {1: view})
    assert cause_counts(misses) == {SQUARE: {SUPPRESSED: 1}, CIRCLE: {NOT_PROPOSED: 1}}


def test_an_object_smaller_than_every_anchor_is_not_proposed_by_a_real_model() -> None:
    torch.manual_seed(0)
    model = build_model("lite", num_classes=3, min_size=200, max_size=200).eval()
    sizes = tuple((256 * 2**level,) for level in range(4))  # every anchor >= 256 px
    model.rpn.anchor_generator = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * 4)
    image = np.full((*SIZE, 3), 90, dtype=np.uint8)
    image[60:70, 60:70] = 250  # a 10 x 10 object
    view = inspect_stages(model, image, label_names=NAMES)
    assert len(view.proposals) > 0
    causes, _ = _explain([_annotation(1, 1, CIRCLE, (60, 60, 10, 10))], [], {1: view})
    assert causes == {1: NOT_PROPOSED}


def test_stages_on_demand_makes_each_images_view_once_and_keeps_only_the_latest() -> None:
    made: list[int] = []
    views = {
        1: _view([(0, 0, 200, 200)], [[0.1, 0.8, 0.1]]),
        2: _view([(20, 20, 10, 10)], [[0.7, 0.2, 0.1]]),
    }

    def make(image_id: int) -> StageView:
        made.append(image_id)
        return views[image_id]

    ground_truth = [
        _annotation(1, 1, CIRCLE, (20, 20, 10, 10)),
        _annotation(2, 2, CIRCLE, (20, 20, 10, 10)),
        _annotation(3, 1, SQUARE, (100, 100, 10, 10)),
        _annotation(4, 2, SQUARE, (100, 100, 10, 10)),
    ]
    lazy = StagesOnDemand([1, 2], make)
    causes, _ = _explain(ground_truth, [], lazy)
    assert made == [1, 2]  # misses of one image are explained together
    assert causes == {1: NOT_PROPOSED, 2: SCORED_LOW, 3: NOT_PROPOSED, 4: NOT_PROPOSED}
    assert lazy.get(3) is None and lazy.made == 2
