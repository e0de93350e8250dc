"""core.evaluation.metrics gives pycocotools' own numbers, for every prediction form it accepts."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
from _coco_reference import cocoeval_reference
from pycocotools import mask as mask_utils
from pycocotools.cocoeval import COCOeval

from core.errors import CocoFormatError
from core.evaluation.metrics import evaluate


def _rle(h: int, w: int, y0: int, y1: int, x0: int, x1: int) -> dict:
    mask = np.zeros((h, w), np.uint8)
    mask[y0:y1, x0:x1] = 1
    rle = mask_utils.encode(np.asfortranarray(mask))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def _ann(ann_id, image_id, category_id, rect, h=60, w=80, **extra) -> dict:
    y0, y1, x0, x1 = rect
    rle = _rle(h, w, y0, y1, x0, x1)
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": category_id,
        "segmentation": rle,
        "bbox": [float(v) for v in mask_utils.toBbox(rle)],
        "area": float(mask_utils.area(rle)),
        "iscrowd": 0,
        **extra,
    }


GROUND_TRUTH = {
    "images": [{"id": i, "file_name": f"{i}.png", "width": 80, "height": 60} for i in (1, 2, 3)],
    "categories": [{"id": 4, "name": "cat"}, {"id": 9, "name": "dog"}, {"id": 12, "name": "owl"}],
    "annotations": [
        _ann(1, 1, 4, (5, 30, 5, 40)),
        _ann(2, 1, 9, (30, 58, 40, 78)),
        _ann(3, 2, 4, (0, 20, 0, 20)),
        _ann(4, 3, 9, (10, 50, 10, 70)),
        _ann(5, 3, 12, (2, 8, 60, 75)),
    ],
}

# Hits, near misses, a wrong class and a false positive, with varied scores.
PREDICTIONS = [
    {"image_id": 1, "category_id": 4, "score": 0.9, "segmentation": _rle(60, 80, 6, 30, 5, 38)},
    {"image_id": 1, "category_id": 9, "score": 0.8, "segmentation": _rle(60, 80, 33, 58, 45, 78)},
    {"image_id": 1, "category_id": 9, "score": 0.3, "segmentation": _rle(60, 80, 0, 10, 0, 10)},
    {"image_id": 2, "category_id": 4, "score": 0.6, "segmentation": _rle(60, 80, 4, 20, 0, 14)},
    {"image_id": 3, "category_id": 9, "score": 0.95, "segmentation": _rle(60, 80, 10, 50, 10, 70)},
    {"image_id": 3, "category_id": 4, "score": 0.5, "segmentation": _rle(60, 80, 2, 8, 60, 75)},
]


def _reference(iou_type: str, predictions) -> COCOeval:
    return cocoeval_reference(GROUND_TRUTH, predictions, iou_type)


@pytest.mark.parametrize("iou_type", ["segm", "bbox"])
def test_figures_equal_cocoeval_run_directly(iou_type):
    reference = _reference(iou_type, PREDICTIONS)
    result = evaluate(GROUND_TRUTH, PREDICTIONS, iou_type=iou_type)
    assert result.stats == tuple(float(s) for s in reference.stats)
    assert (result.ap, result.ap50, result.ap75) == tuple(float(s) for s in reference.stats[:3])
    assert (result.ap_small, result.ap_medium, result.ap_large) == tuple(
        float(s) for s in reference.stats[3:6]
    )
    assert 0 < result.ap < 1  # the set is neither hopeless nor perfect
    precision = reference.eval["precision"]
    for k, cid in enumerate([4, 9, 12]):
        values = precision[:, :, k, 0, -1]
        assert result.per_class[cid] == pytest.approx(float(values[values > -1].mean()))
    assert result.per_class[12] == 0.0  # the owl was only predicted as a cat
    assert "Average Precision" in result.summary


def test_library_call_prints_nothing(capsys):
    evaluate(GROUND_TRUTH, PREDICTIONS)
    assert capsys.readouterr().out == ""


def test_dataset_with_scores_and_files_give_the_same_figures(tmp_path):
    dataset = {
        **GROUND_TRUTH,
        "annotations": [{**p, "id": i + 1, "iscrowd": 0} for i, p in enumerate(PREDICTIONS)],
    }
    (tmp_path / "gt.json").write_text(json.dumps(GROUND_TRUTH))
    (tmp_path / "pred.json").write_text(json.dumps(dataset))
    from_list = evaluate(GROUND_TRUTH, PREDICTIONS)
    from_files = evaluate(tmp_path / "gt.json", str(tmp_path / "pred.json"))
    assert from_files.stats == from_list.stats
    assert from_files.per_class == from_list.per_class


def test_inputs_are_not_modified():
    predictions = copy.deepcopy(PREDICTIONS)
    ground_truth = copy.deepcopy(GROUND_TRUTH)
    evaluate(ground_truth, predictions)
    assert predictions == PREDICTIONS and ground_truth == GROUND_TRUTH


def test_perfect_predictions_score_one_and_empty_ones_zero():
    perfect = [{**a, "score": 1.0} for a in GROUND_TRUTH["annotations"]]
    assert evaluate(GROUND_TRUTH, perfect).ap == pytest.approx(1.0)
    empty = evaluate(GROUND_TRUTH, [])
    assert empty.ap == 0.0 and empty.per_class == {4: 0.0, 9: 0.0, 12: 0.0}


def test_ground_truth_without_area_or_iscrowd_is_completed():
    bare = copy.deepcopy(GROUND_TRUTH)
    for ann in bare["annotations"]:
        del ann["area"], ann["iscrowd"]
    assert evaluate(bare, PREDICTIONS).stats == evaluate(GROUND_TRUTH, PREDICTIONS).stats


def test_category_without_ground_truth_reports_nan():
    with_extra = {
        **GROUND_TRUTH,
        "categories": [*GROUND_TRUTH["categories"], {"id": 50, "name": "yak"}],
    }
    assert math.isnan(evaluate(with_extra, PREDICTIONS).per_class[50])


def test_bad_predictions_raise_coco_format_error(tmp_path):
    with pytest.raises(CocoFormatError, match="no score"):
        evaluate(GROUND_TRUTH, [{k: v for k, v in PREDICTIONS[0].items() if k != "score"}])
    with pytest.raises(CocoFormatError, match="missing from the ground truth"):
        evaluate(GROUND_TRUTH, [{**PREDICTIONS[0], "image_id": 99}])
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(CocoFormatError, match="junk.json"):
        evaluate(GROUND_TRUTH, tmp_path / "junk.json")
    with pytest.raises(ValueError):
        evaluate(GROUND_TRUTH, PREDICTIONS, iou_type="keypoints")
