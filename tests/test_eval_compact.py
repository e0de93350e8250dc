"""The arrays the analyst's view receives from the evaluation's process give the same answers
as the MatchResult they were made from: counts, errors, confusion, each image's marks."""

from __future__ import annotations

import pickle

import pytest
from test_eval_matching import _random_case, constructed  # noqa: F401 - a fixture

from core.evaluation.compact import InstanceTable, MatchArrays
from core.evaluation.matching import EvaluationData, MatchResult, MatchSettings

SETTINGS = [(0.5, 0.0), (0.5, 0.5), (0.75, 0.3), (0.3, 0.6), (0.95, 0.1)]


def _assert_same(arrays: MatchArrays, result: MatchResult) -> None:
    assert arrays.settings == result.settings
    assert arrays.total() == result.total()
    assert arrays.image_counts() == result.image_counts()
    assert list(arrays.image_counts()) == list(result.image_counts())  # the same order
    assert arrays.class_counts() == result.class_counts()
    ids, tp, fp, fn = arrays.image_count_arrays()
    counts = result.image_counts()
    assert [(i, t, p, f) for i, t, p, f in zip(ids, tp, fp, fn, strict=True)] == [
        (i, c.tp, c.fp, c.fn) for i, c in counts.items()
    ]
    errors = result.errors()
    assert arrays.errors() == errors
    assert [arrays.index_of(e) for e in errors] == list(range(len(errors)))
    matrix = result.confusion()
    assert arrays.confusion_counts() == (matrix.category_ids, matrix.counts)
    assert arrays.confusion() == matrix
    for image_id in result.image_ids:
        assert arrays.predictions_of(image_id) == [
            p for p in result.predictions if p.image_id == image_id and not p.ignored_by_crowd
        ]
        assert arrays.misses_of(image_id) == [
            g for g in result.ground_truth if g.image_id == image_id and g.outcome == "fn"
        ]
    for g in result.ground_truth:
        assert arrays.ground_truth_match(g.annotation_id) == g


@pytest.mark.parametrize("iou_type", ["segm", "bbox"])
@pytest.mark.parametrize("seed", range(3))
def test_match_arrays_answer_as_the_match_result_on_random_cases(seed: int, iou_type: str) -> None:
    gt, preds = _random_case(seed, iou_type)
    data = EvaluationData.from_coco(gt, preds, iou_type=iou_type)  # type: ignore[arg-type]
    for iou, score in SETTINGS:
        result = data.match(MatchSettings(iou, score, iou_type))  # type: ignore[arg-type]
        arrays = pickle.loads(pickle.dumps(MatchArrays.from_result(result)))  # as sent
        _assert_same(arrays, result)


def test_match_arrays_of_constructed_cases(constructed: tuple[dict, list]) -> None:  # noqa: F811
    data = EvaluationData.from_coco(*constructed)
    for iou, score in SETTINGS:
        result = data.match(MatchSettings(iou, score))
        _assert_same(MatchArrays.from_result(result), result)


def test_the_error_walk_starts_on_or_after_the_image_on_screen(
    constructed: tuple[dict, list],  # noqa: F811
) -> None:
    arrays = MatchArrays.from_result(EvaluationData.from_coco(*constructed).match(MatchSettings()))
    images = [e.image_id for e in arrays.errors()]
    assert images == [2, 2, 3, 3, 4, 5, 6, 6]  # images 1 and 7 have none
    assert arrays.first_error_from(3, 1) == 2  # the first error on image 3
    assert arrays.first_error_from(3, -1) == 3  # going back: the last on image 3
    assert arrays.first_error_from(1, 1) == 0  # none on image 1: the next image's
    assert arrays.first_error_from(7, 1) == 0  # after the last: wraps to the first
    assert arrays.first_error_from(1, -1) == len(images) - 1  # before the first: the last
    assert arrays.first_error_from(None, 1) == 0


def test_instance_table_boxes_and_best_candidate_at_any_score(
    constructed: tuple[dict, list],  # noqa: F811
) -> None:
    gt, preds = constructed
    data = EvaluationData.from_coco(gt, preds)
    table = InstanceTable.from_data(data)
    assert table.prediction_count == len(preds)
    for index in range(len(preds)):
        assert table.prediction_box(index) == pytest.approx(data.prediction_box(index))
        assert table.pred_score[index] == preds[index]["score"]
    for ann in gt["annotations"]:
        assert table.gt_box_of(ann["id"]) == pytest.approx(ann["bbox"])
        assert table.gt_of(ann["id"]) == (ann["image_id"], ann["category_id"])
        found = data.candidates(ann["id"])
        expected = max(found, key=lambda c: c[1])[0] if found else None
        assert table.candidate(ann["id"]) == expected
    assert table.candidate(50) == 5  # the hit below the score cut is still offered
    assert table.gt_box_of(999) is None and table.candidate(999) is None


def test_ids_beyond_32_bits_survive_the_compact_form(
    constructed: tuple[dict, list],  # noqa: F811
) -> None:
    gt, preds = constructed
    big = 2**40
    for ann in gt["annotations"]:
        ann["id"] += big
    data = EvaluationData.from_coco(gt, preds)
    table = InstanceTable.from_data(data)
    result = data.match(MatchSettings())
    arrays = MatchArrays.from_result(result)
    assert table.gt_of(big + 50) == (5, 1)
    assert arrays.errors() == result.errors()
    assert arrays.ground_truth_match(big + 61) == next(
        g for g in result.ground_truth if g.annotation_id == big + 61
    )
