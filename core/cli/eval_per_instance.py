"""`maskloop eval ... --per-instance OUT.csv [--model M --images DIR]`: one CSV row per
ground-truth instance and per prediction, with a cause for every miss.

Without `--model` the causes come from the predictions alone (wrong class, poor mask,
poorly localised, or "not detected"); with `--model` and `--images` the model's two stages
are inspected on each image that has a miss, which tells "not proposed", "scored low" and
"suppressed" apart (core.evaluation.miss_causes). torch is imported only then.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.detection.stage_view import StageView
    from core.evaluation.matching import EvaluationData, MatchResult

PER_INSTANCE_COLUMNS = (
    "file_name",
    "image_id",
    "kind",  # "gt" (an annotation) or "prediction"
    "id",  # the annotation id, or the prediction's position in PRED (from 0)
    "category",
    "outcome",  # TP, FP or FN
    "cause",  # for an FN
    "detail",
    "score",
    "iou",  # best IoU with the other side, same class
    "x",
    "y",
    "w",
    "h",
)


def stage_views(
    data: EvaluationData,
    matched: MatchResult,
    *,
    model: str,
    images_dir: Path,
    device: str | None = None,
) -> Mapping[int, StageView]:
    """The model's StageView of every image that has a false negative, made on demand."""
    from core.detection.detector import Detector
    from core.detection.stages import inspect_detector
    from core.evaluation.miss_causes import StagesOnDemand
    from core.files.images import read_image

    detector = Detector.load(model, device=device)
    missed = sorted({g.image_id for g in matched.ground_truth if g.outcome == "fn"})

    def make(image_id: int) -> StageView:
        path = images_dir / data.file_names[image_id]
        view = inspect_detector(
            detector, read_image(path), score_threshold=matched.settings.score_threshold
        )
        print(
            f"\rtwo stages: {views.made + 1}/{len(missed)} images with misses",
            end="",
            file=sys.stderr,
        )
        return view

    views = StagesOnDemand(missed, make)
    return views


def write_per_instance(
    path: Path,
    data: EvaluationData,
    matched: MatchResult,
    stages: Mapping[int, StageView] | None = None,
) -> None:
    """Ground-truth rows (TP/FN, by image then id), then prediction rows (TP/FP, by index)."""
    from core.evaluation.miss_causes import StagesOnDemand, explain_misses

    causes = {m.annotation_id: m for m in explain_misses(data, matched, stages)}
    if isinstance(stages, StagesOnDemand) and stages.made:
        print(file=sys.stderr)  # end the progress line
    annotations = {int(a["id"]): a for a in data.ground_truth.get("annotations", [])}
    names = data.category_names
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(PER_INSTANCE_COLUMNS)
        for gt in sorted(matched.ground_truth, key=lambda g: (g.image_id, g.annotation_id)):
            miss = causes.get(gt.annotation_id)
            score = ""
            if gt.matched_prediction is not None:
                score = f"{float(data.predictions[gt.matched_prediction]['score']):.6g}"
            writer.writerow(
                [
                    data.file_names.get(gt.image_id, ""),
                    gt.image_id,
                    "gt",
                    gt.annotation_id,
                    names.get(gt.category_id, str(gt.category_id)),
                    gt.outcome.upper(),
                    miss.cause if miss else "",
                    miss.detail if miss else "",
                    score,
                    f"{gt.best_iou:.6g}",
                    *(f"{float(v):.6g}" for v in annotations[gt.annotation_id]["bbox"]),
                ]
            )
        for p in matched.predictions:
            if p.ignored_by_crowd:
                continue
            detail = ""
            if p.confused_with is not None:
                detail = f"on a {names.get(p.confused_with, p.confused_with)}"
            writer.writerow(
                [
                    data.file_names.get(p.image_id, ""),
                    p.image_id,
                    "prediction",
                    p.index,
                    names.get(p.category_id, str(p.category_id)),
                    p.outcome.upper(),
                    "",
                    detail,
                    f"{p.score:.6g}",
                    f"{p.best_iou:.6g}",
                    *(f"{float(v):.6g}" for v in data.prediction_box(p.index)),
                ]
            )
