"""Model against model: per-class AP delta and the images where B got worse."""

from __future__ import annotations

import math

import pytest
from test_eval_matching import _dataset, _gt, _pred

from core.errors import CocoFormatError
from core.evaluation.compare import ImageChange, compare
from core.evaluation.matching import Counts, EvaluationData, MatchSettings
from core.evaluation.metrics import evaluate


@pytest.fixture
def ground_truth() -> dict:
    return _dataset(
        [
            _gt(1, 1, 1, (0, 10, 0, 10)),
            _gt(2, 1, 2, (20, 30, 20, 30)),
            _gt(3, 2, 1, (0, 10, 0, 10)),
            _gt(4, 2, 2, (20, 30, 20, 30)),
            _gt(5, 3, 1, (0, 10, 0, 10)),
        ],
        3,
    )


def test_b_better_on_a_class_worse_on_an_image(ground_truth: dict) -> None:
    model_a = [  # finds every cat, no dog
        _pred(1, 1, (0, 10, 0, 10), 0.9),
        _pred(2, 1, (0, 10, 0, 10), 0.9),
        _pred(3, 1, (0, 10, 0, 10), 0.9),
    ]
    model_b = [  # finds both dogs, loses the cat of image 2 and adds an FP there
        _pred(1, 1, (0, 10, 0, 10), 0.9),
        _pred(1, 2, (20, 30, 20, 30), 0.8),
        _pred(2, 2, (20, 30, 20, 30), 0.8),
        _pred(2, 1, (0, 10, 30, 40), 0.7),
        _pred(3, 1, (0, 10, 0, 10), 0.9),
    ]
    a = EvaluationData.from_coco(ground_truth, model_a)
    b = EvaluationData.from_coco(ground_truth, model_b)
    comparison = compare(a, b, MatchSettings(0.5, 0.5))

    ap_a = evaluate(ground_truth, model_a).per_class
    ap_b = evaluate(ground_truth, model_b).per_class
    assert comparison.ap_delta[1] == pytest.approx(ap_b[1] - ap_a[1])
    assert comparison.ap_delta[1] < 0 < comparison.ap_delta[2]
    assert comparison.ap_delta[2] == pytest.approx(ap_b[2] - ap_a[2])
    assert math.isnan(comparison.ap_delta[7])  # no GT of class 7
    assert comparison.overall[0].ap == pytest.approx(evaluate(ground_truth, model_a).ap)
    assert comparison.overall[1].ap == pytest.approx(evaluate(ground_truth, model_b).ap)
    assert comparison.worse_images == [
        ImageChange(2, tp_lost=1, fp_gained=1, before=Counts(1, 0, 1), after=Counts(1, 1, 1))
    ]


def test_worst_images_come_first(ground_truth: dict) -> None:
    perfect = [
        _pred(1, 1, (0, 10, 0, 10), 0.9),
        _pred(1, 2, (20, 30, 20, 30), 0.9),
        _pred(2, 1, (0, 10, 0, 10), 0.9),
        _pred(2, 2, (20, 30, 20, 30), 0.9),
        _pred(3, 1, (0, 10, 0, 10), 0.9),
    ]
    worse = [perfect[0], perfect[2], _pred(3, 1, (30, 40, 30, 40), 0.9)]
    comparison = compare(
        EvaluationData.from_coco(ground_truth, perfect),
        EvaluationData.from_coco(ground_truth, worse),
        MatchSettings(),
    )
    assert [(c.image_id, c.tp_lost, c.fp_gained) for c in comparison.worse_images] == [
        (3, 1, 1),
        (1, 1, 0),
        (2, 1, 0),
    ]


def test_different_ground_truths_are_refused(ground_truth: dict) -> None:
    other = _dataset([a for a in ground_truth["annotations"] if a["image_id"] < 3], 2)
    with pytest.raises(CocoFormatError, match="different ground truths"):
        compare(
            EvaluationData.from_coco(ground_truth, []),
            EvaluationData.from_coco(other, []),
            MatchSettings(),
        )
