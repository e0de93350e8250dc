"""Per-image matching equals pycocotools' COCOeval.evaluateImg, on constructed and random cases."""

from __future__ import annotations

import contextlib
import copy
import gc
import io
import math
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from _coco_reference import cocoeval_reference
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from core.evaluation.matching import (
    BACKGROUND,
    Counts,
    ErrorRef,
    EvaluationData,
    MatchSettings,
)

H, W = 40, 60


def _rle(rect: tuple[int, int, int, int], h: int = H, w: int = W) -> dict[str, Any]:
    y0, y1, x0, x1 = rect
    mask = np.zeros((h, w), np.uint8)
    mask[y0:y1, x0:x1] = 1
    rle = mask_utils.encode(np.asfortranarray(mask))
    return {"size": [h, w], "counts": rle["counts"].decode("ascii")}


def _gt(ann_id: int, image_id: int, category_id: int, rect: tuple, crowd: int = 0) -> dict:
    rle = _rle(rect)
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": category_id,
        "segmentation": rle,
        "bbox": [float(v) for v in mask_utils.toBbox(rle)],
        "area": float(mask_utils.area(rle)),
        "iscrowd": crowd,
    }


def _pred(image_id: int, category_id: int, rect: tuple, score: float) -> dict:
    return {
        "image_id": image_id,
        "category_id": category_id,
        "segmentation": _rle(rect),
        "score": score,
    }


def _dataset(annotations: list[dict], n_images: int) -> dict:
    return {
        "images": [
            {"id": i, "file_name": f"img{i}.png", "height": H, "width": W}
            for i in range(1, n_images + 1)
        ],
        "categories": [
            {"id": 1, "name": "cat"},
            {"id": 2, "name": "dog"},
            {"id": 7, "name": "ant"},
        ],
        "annotations": annotations,
    }


@pytest.fixture
def constructed() -> tuple[dict, list[dict]]:
    """One image per error kind, each with a known answer at IoU 0.5 and score 0.5."""
    gts = [
        _gt(10, 1, 1, (0, 10, 0, 10)),  # image 1: a clean hit
        _gt(20, 2, 1, (0, 10, 0, 10)),  # image 2: localisation miss (IoU 0.25)
        _gt(30, 3, 1, (0, 20, 0, 20)),  # image 3: predicted as class 2 (wrong class)
        _gt(40, 4, 2, (5, 25, 5, 25)),  # image 4: duplicate detection
        _gt(50, 5, 1, (0, 10, 0, 10)),  # image 5: the hit scores below the cut
        _gt(60, 6, 1, (0, 30, 0, 40), crowd=1),  # image 6: a crowd region ...
        _gt(61, 6, 1, (32, 40, 50, 60)),  # ... and a regular instance nobody found
    ]
    preds = [
        _pred(1, 1, (0, 10, 0, 10), 0.9),  # 0: TP
        _pred(2, 1, (0, 10, 5, 15), 0.8),  # 1: FP, IoU 50/150
        _pred(3, 2, (0, 20, 0, 20), 0.95),  # 2: FP of class 2 on a class-1 GT
        _pred(4, 2, (5, 25, 5, 25), 0.9),  # 3: TP
        _pred(4, 2, (5, 25, 6, 25), 0.7),  # 4: FP, the duplicate
        _pred(5, 1, (0, 10, 0, 10), 0.3),  # 5: below the cut: ignored
        _pred(6, 1, (2, 12, 2, 12), 0.9),  # 6: inside the crowd: ignored
        _pred(6, 1, (0, 5, 55, 60), 0.6),  # 7: on background: FP, no class
    ]
    return _dataset(gts, 7), preds


def test_constructed_cases_have_their_known_outcomes(constructed: tuple[dict, list]) -> None:
    gt, preds = constructed
    result = EvaluationData.from_coco(gt, preds).match(MatchSettings(0.5, 0.5))
    by_index = {p.index: p for p in result.predictions}
    assert 5 not in by_index  # below the score cut: it does not exist for the matching
    assert by_index[0].outcome == "tp" and by_index[0].matched_gt == 10
    assert by_index[0].best_iou == 1.0
    miss = by_index[1]
    assert (miss.outcome, miss.matched_gt, miss.confused_with) == ("fp", None, None)
    assert miss.best_iou == pytest.approx(50 / 150)
    wrong = by_index[2]
    assert (wrong.outcome, wrong.confused_with, wrong.best_iou) == ("fp", 1, 0.0)
    assert by_index[3].outcome == "tp" and by_index[3].matched_gt == 40
    assert by_index[4].outcome == "fp" and by_index[4].confused_with is None
    assert by_index[4].best_iou == pytest.approx(380 / 400)
    crowd = by_index[6]
    assert crowd.ignored_by_crowd and crowd.matched_gt is None
    assert by_index[7].outcome == "fp" and not by_index[7].ignored_by_crowd

    gts = {g.annotation_id: g for g in result.ground_truth}
    assert 60 not in gts  # crowd GT are not listed
    assert gts[20].outcome == "fn" and gts[20].best_prediction == 1
    assert gts[20].best_iou == pytest.approx(50 / 150)
    assert gts[30].outcome == "fn" and gts[30].best_prediction is None
    assert gts[50].outcome == "fn" and gts[50].best_prediction is None  # its hit was cut
    assert gts[61].outcome == "fn"
    assert (gts[61].best_iou, gts[61].best_prediction) == (0.0, None)  # nothing overlaps it

    assert result.image_counts() == {
        1: Counts(1, 0, 0),
        2: Counts(0, 1, 1),
        3: Counts(0, 1, 1),
        4: Counts(1, 1, 0),
        5: Counts(0, 0, 1),
        6: Counts(0, 1, 1),
        7: Counts(0, 0, 0),
    }
    assert result.class_counts() == {1: Counts(1, 2, 4), 2: Counts(1, 2, 0), 7: Counts(0, 0, 0)}
    assert result.total() == Counts(2, 4, 4)

    # The miss under the score cut still has its candidate, for the analyst to accept.
    data = EvaluationData.from_coco(gt, preds)
    assert data.candidates(50) == [(5, 1.0)]
    assert data.candidates(20, min_iou=0.5) == [] and data.candidates(12345) == []
    assert data.candidates(20) == [(1, pytest.approx(50 / 150))]
    # A lower score cut brings the low-score hit back as a TP; no IoU is recomputed for it.
    lower = EvaluationData.from_coco(gt, preds).match(MatchSettings(0.5, 0.2))
    assert {g.annotation_id: g.outcome for g in lower.ground_truth}[50] == "tp"


def test_counts_edge_values() -> None:
    assert (Counts(0, 0, 0).precision, Counts(0, 0, 0).recall, Counts(0, 0, 0).f1) == (1, 1, 1)
    assert Counts(0, 0, 3).precision == 1.0 and Counts(0, 0, 3).recall == 0.0
    assert Counts(0, 2, 0).recall == 1.0 and Counts(0, 2, 0).f1 == 0.0
    assert Counts(3, 1, 2).f1 == pytest.approx(6 / 9)


def test_confusion_matrix_of_constructed_cases(constructed: tuple[dict, list]) -> None:
    gt, preds = constructed
    matrix = EvaluationData.from_coco(gt, preds).match(MatchSettings(0.5, 0.5)).confusion()
    assert matrix.category_ids == [1, 2, 7, BACKGROUND]
    assert matrix.counts == [
        [1, 1, 0, 4],  # class 1: a TP, one taken as class 2, four missed
        [0, 1, 0, 0],
        [0, 0, 0, 0],
        [2, 1, 0, 0],  # background: the localisation miss and the lone FP; the duplicate
    ]
    assert matrix.cells[0, 0] == [(10, 0)]
    assert matrix.cells[0, 1] == [(30, 2)]
    assert matrix.cells[3, 0] == [ErrorRef("fp", 2, 1, None), ErrorRef("fp", 6, 7, None)]
    assert matrix.cells[3, 1] == [ErrorRef("fp", 4, 4, None)]
    assert sorted(ref.annotation_id for ref in matrix.cells[0, 3]) == [20, 30, 50, 61]


def test_errors_walk_images_in_order_fn_first(constructed: tuple[dict, list]) -> None:
    gt, preds = constructed
    errors = EvaluationData.from_coco(gt, preds).match(MatchSettings(0.5, 0.5)).errors()
    assert errors == [
        ErrorRef("fn", 2, None, 20),
        ErrorRef("fp", 2, 1, None),
        ErrorRef("fn", 3, None, 30),
        ErrorRef("fp", 3, 2, None),
        ErrorRef("fp", 4, 4, None),
        ErrorRef("fn", 5, None, 50),
        ErrorRef("fn", 6, None, 61),
        ErrorRef("fp", 6, 7, None),
    ]


def test_rematching_other_type_is_refused(constructed: tuple[dict, list]) -> None:
    gt, preds = constructed
    with pytest.raises(ValueError, match="bbox"):
        EvaluationData.from_coco(gt, preds).match(MatchSettings(iou_type="bbox"))


def _reference_counts(
    gt: dict, preds: list[dict], settings: MatchSettings
) -> tuple[dict[int, Counts], set[tuple[int, int]]]:
    """Per-image counts and (prediction position, GT id) matches from COCOeval.evaluateImg."""
    kept = [i for i, p in enumerate(preds) if p["score"] >= settings.score_threshold]
    counts = {img["id"]: [0, 0, 0] for img in gt["images"]}
    pairs: set[tuple[int, int]] = set()
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        if kept:
            coco_dt = coco_gt.loadRes([copy.deepcopy(preds[i]) for i in kept])
        else:
            coco_dt = COCO()
            coco_dt.dataset = {"images": gt["images"], "annotations": [], "categories": []}
            coco_dt.createIndex()
        evaluator = COCOeval(coco_gt, coco_dt, iouType=settings.iou_type)
        evaluator.params.iouThrs = np.array([settings.iou_threshold])
        evaluator.params.areaRng = [[0, 1e5**2]]
        evaluator.params.areaRngLbl = ["all"]
        evaluator.params.maxDets = [100]
        evaluator.evaluate()
    for entry in evaluator.evalImgs:
        if entry is None:
            continue
        tally = counts[entry["image_id"]]
        dt_matches, dt_ignore = entry["dtMatches"][0], entry["dtIgnore"][0].astype(bool)
        gt_matches, gt_ignore = entry["gtMatches"][0], entry["gtIgnore"].astype(bool)
        tally[0] += int(((dt_matches > 0) & ~dt_ignore).sum())
        tally[1] += int(((dt_matches == 0) & ~dt_ignore).sum())
        tally[2] += int(((gt_matches == 0) & ~gt_ignore).sum())
        for dt_id, gt_id, ignored in zip(entry["dtIds"], dt_matches, dt_ignore, strict=True):
            if gt_id > 0 and not ignored:
                pairs.add((kept[dt_id - 1], int(gt_id)))
    return {k: Counts(*v) for k, v in counts.items()}, pairs


def _random_case(seed: int, iou_type: str) -> tuple[dict, list[dict]]:
    """Random boxes (bbox) or rectangles-with-holes masks (segm), crowds, duplicates, near
    misses and class swaps, over a handful of images; one image gets over 100 predictions of a class."""
    rng = np.random.default_rng(seed)
    annotations, preds = [], []
    next_id = 1
    for image_id in range(1, 9):
        objects = []
        for _ in range(int(rng.integers(0, 7))):
            y0, x0 = int(rng.integers(0, H - 6)), int(rng.integers(0, W - 6))
            rect = (y0, int(rng.integers(y0 + 3, H + 1)), x0, int(rng.integers(x0 + 3, W + 1)))
            crowd = int(rng.random() < 0.15)
            annotations.append(_gt(next_id, image_id, int(rng.choice([1, 2, 7])), rect, crowd))
            objects.append((rect, annotations[-1]["category_id"]))
            next_id += 1
        many = 330 if image_id == 8 else int(rng.integers(0, 12))
        for _ in range(many):
            if objects and rng.random() < 0.7:
                (y0, y1, x0, x1), cat = objects[int(rng.integers(len(objects)))]
                jitter = rng.integers(-4, 5, size=4)
                y0, y1 = sorted(
                    (int(np.clip(y0 + jitter[0], 0, H - 1)), int(np.clip(y1 + jitter[1], 1, H)))
                )
                x0, x1 = sorted(
                    (int(np.clip(x0 + jitter[2], 0, W - 1)), int(np.clip(x1 + jitter[3], 1, W)))
                )
                rect = (y0, max(y1, y0 + 1), x0, max(x1, x0 + 1))
                if rng.random() < 0.2:
                    cat = int(rng.choice([1, 2, 7]))
            else:
                y0, x0 = int(rng.integers(0, H - 2)), int(rng.integers(0, W - 2))
                rect = (y0, int(rng.integers(y0 + 1, H + 1)), x0, int(rng.integers(x0 + 1, W + 1)))
                cat = int(rng.choice([1, 2, 7]))
            score = round(float(rng.random()), 2)  # rounded: ties in score happen
            pred = _pred(image_id, cat, rect, score)
            if iou_type == "bbox":
                pred = {**pred, "bbox": [float(v) for v in mask_utils.toBbox(pred["segmentation"])]}
                del pred["segmentation"]
            preds.append(pred)
    return _dataset(annotations, 9), preds


@pytest.mark.parametrize("iou_type", ["segm", "bbox"])
@pytest.mark.parametrize("seed", range(6))
def test_random_cases_equal_cocoeval_evaluate_img(seed: int, iou_type: str) -> None:
    gt, preds = _random_case(seed, iou_type)
    data = EvaluationData.from_coco(gt, preds, iou_type=iou_type)  # type: ignore[arg-type]
    for iou, score in [(0.5, 0.0), (0.5, 0.5), (0.75, 0.3), (0.3, 0.6), (0.95, 0.1)]:
        settings = MatchSettings(iou, score, iou_type)  # type: ignore[arg-type]
        result = data.match(settings)
        expected_counts, expected_pairs = _reference_counts(gt, preds, settings)
        assert result.image_counts() == expected_counts, (seed, iou, score)
        pairs = {(p.index, p.matched_gt) for p in result.predictions if p.outcome == "tp"}
        assert pairs == expected_pairs
        assert all(preds[p.index]["score"] >= score for p in result.predictions)


def test_random_cases_cover_what_they_claim() -> None:
    # The random comparison is only worth something if it meets every rule at least once.
    gt, preds = _random_case(0, "segm")
    result = EvaluationData.from_coco(gt, preds).match(MatchSettings(0.5, 0.0))
    assert any(p.ignored_by_crowd for p in result.predictions)
    assert any(p.confused_with is not None for p in result.predictions)
    assert sum(1 for p in preds if p["image_id"] == 8) > 100
    per_image = defaultdict(int)
    for p in result.predictions:
        per_image[p.image_id, p.category_id] += 1
    assert max(per_image.values()) == 100  # COCOeval's maxDets cut


def test_polygon_predictions_and_box_only_ground_truth() -> None:
    gt = _dataset([_gt(1, 1, 1, (0, 10, 0, 10))], 1)
    gt["annotations"].append(
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [30, 20, 10, 10], "iscrowd": 0}
    )
    polygon = {
        "image_id": 1,
        "category_id": 1,
        "segmentation": [[0, 0, 10, 0, 10, 10, 0, 10]],
        "score": 0.9,
    }
    on_box_only = _pred(1, 1, (20, 30, 30, 40), 0.8)
    result = EvaluationData.from_coco(gt, [polygon, on_box_only]).match(MatchSettings())
    assert [g.annotation_id for g in result.ground_truth] == [1]  # box-only: an ignored region
    assert result.predictions[0].outcome == "tp"
    assert result.predictions[1].ignored_by_crowd
    assert math.isclose(result.predictions[0].best_iou, 1.0, rel_tol=0.3)


@pytest.mark.parametrize("iou_type", ["segm", "bbox"])
def test_metrics_per_class_ap_and_pr_curve_equal_cocoeval(iou_type: str) -> None:
    gt, preds = _random_case(3, iou_type)
    data = EvaluationData.from_coco(gt, preds, iou_type=iou_type)  # type: ignore[arg-type]
    settings = MatchSettings(0.74, 0.4, iou_type)  # type: ignore[arg-type]
    result, per_class = data.metrics(settings)
    reference = cocoeval_reference(gt, preds, iou_type)
    precision = reference.eval["precision"]
    assert result.stats == tuple(float(s) for s in reference.stats)
    assert [m.name for m in per_class] == ["ant", "cat", "dog"]
    counts = data.match(settings).class_counts()
    for metrics in per_class:
        k = reference.params.catIds.index(metrics.category_id)
        every = precision[:, :, k, 0, 2]
        assert metrics.ap == pytest.approx(float(np.mean(every[every > -1])))
        at50 = precision[0, :, k, 0, 2]
        assert metrics.ap50 == pytest.approx(float(np.mean(at50[at50 > -1])))
        expected = precision[5, :, k, 0, 2].astype(float)  # 0.74 -> COCOeval's 0.75 step
        expected[expected == -1] = np.nan
        np.testing.assert_array_equal(metrics.precision, expected)
        np.testing.assert_array_equal(metrics.recall, reference.params.recThrs)
        assert metrics.counts == counts[metrics.category_id]
        assert metrics.instances == counts[metrics.category_id].tp + counts[metrics.category_id].fn
        assert metrics.operating_point == (metrics.counts.recall, metrics.counts.precision)


def test_metrics_of_a_class_without_ground_truth_is_nan() -> None:
    gt = _dataset([_gt(1, 1, 1, (0, 10, 0, 10))], 1)
    _, per_class = EvaluationData.from_coco(gt, [_pred(1, 1, (0, 10, 0, 10), 0.9)]).metrics(
        MatchSettings()
    )
    by_id = {m.category_id: m for m in per_class}
    assert by_id[1].ap == pytest.approx(1.0) and by_id[1].operating_point == (1.0, 1.0)
    assert math.isnan(by_id[2].ap) and math.isnan(by_id[2].ap50)
    assert by_id[2].operating_point is None and np.isnan(by_id[2].precision).all()


def test_metrics_with_no_predictions_are_zero() -> None:
    gt = _dataset([_gt(1, 1, 1, (0, 10, 0, 10))], 1)
    result, per_class = EvaluationData.from_coco(gt, []).metrics(MatchSettings())
    assert result.ap == 0.0
    cat = next(m for m in per_class if m.category_id == 1)
    assert (cat.ap, cat.counts, cat.operating_point) == (0.0, Counts(0, 0, 1), (0.0, 1.0))
    assert (cat.precision == 0).all()
    dog = next(m for m in per_class if m.category_id == 2)  # no GT: no AP, not a zero one
    assert math.isnan(dog.ap) and math.isnan(dog.ap50) and dog.operating_point is None


def test_repeated_settings_give_the_same_result(constructed: tuple[dict, list]) -> None:
    gt, preds = constructed
    data = EvaluationData.from_coco(gt, preds)
    first = data.match(MatchSettings(0.5, 0.5))
    other = data.match(MatchSettings(0.6, 0.5))
    assert data.match(MatchSettings(0.5, 0.5)) is first
    assert other.settings == MatchSettings(0.6, 0.5) and other is not first


def test_matching_leaves_the_garbage_collector_as_it_was(constructed: tuple[dict, list]) -> None:
    gt, preds = constructed
    data = EvaluationData.from_coco(gt, preds)
    assert gc.isenabled()
    data.match(MatchSettings(0.5, 0.5)).errors()
    assert gc.isenabled()
    gc.disable()
    try:
        data.match(MatchSettings(0.6, 0.5)).confusion()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_overlapping_rematches_from_threads_agree(constructed: tuple[dict, list]) -> None:
    gt, preds = constructed
    data = EvaluationData.from_coco(gt, preds)
    settings = [MatchSettings(iou / 20, score / 10) for iou in range(1, 20) for score in range(10)]
    expected = {s: EvaluationData.from_coco(gt, preds).match(s).image_counts() for s in settings}
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = list(pool.map(lambda s: (s, data.match(s).image_counts()), settings * 3))
    assert all(counts == expected[s] for s, counts in found)
