"""The Evaluation dock's background work: read the sources, prepare, measure, match.

Qt-free functions run by gui/window/evaluation.py through `start_task` (never on the UI
thread): `run_evaluation` reads the ground truth and predictions (its own ProjectStore:
SQLite connections are per thread), prepares `EvaluationData` for both IoU types, measures
COCOeval's metrics and compares with a second source; `match_view` re-matches at other
thresholds and derives everything the view shows from it (errors, counts, confusion), so a
slider move costs the UI thread only the drawing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import Cancelled, CocoFormatError
from core.evaluation.compare import Comparison, compare
from core.evaluation.matching import (
    ClassMetrics,
    ConfusionMatrix,
    Counts,
    ErrorRef,
    EvaluationData,
    GroundTruthMatch,
    IouType,
    MatchResult,
    MatchSettings,
    PredictionMatch,
)
from core.evaluation.metrics import EvalResult
from core.evaluation.sources import load_results, project_ground_truth, project_proposals
from core.store import ProjectStore
from gui.workers.tasks import Progress, ShouldStop

IOU_TYPES: tuple[IouType, ...] = ("segm", "bbox")
# Source choices (the dock's combos carry them; a file choice is replaced by its path).
GT_PROJECT, GT_FILE = "project", "file"
PRED_PROPOSALS, PRED_FILE, PRED_NONE = "proposals", "file", "none"
PRED_MODEL = "model"  # the current model, run now on the evaluated images
MODEL_SOURCE_PREFIX = "model:"  # "model:<spec>": that model, run now (the fine-tune dialog's link)


def model_source(spec: str) -> str:
    """The prediction source that runs the model `spec` (an architecture or checkpoint) now."""
    return MODEL_SOURCE_PREFIX + spec


@dataclass
class MatchView:
    """One re-match and what the view derives from it, computed off the UI thread."""

    result: MatchResult
    errors: list[ErrorRef]
    total: Counts
    class_counts: dict[int, Counts]
    image_counts: dict[int, Counts]  # by evaluation image id
    confusion: ConfusionMatrix
    predictions_by_image: dict[int, list[PredictionMatch]]
    misses_by_image: dict[int, list[GroundTruthMatch]]  # FNs
    error_index: dict[ErrorRef, int] = field(default_factory=dict)  # position in `errors`


def match_view(data: EvaluationData, settings: MatchSettings) -> MatchView:
    result = data.match(settings)
    predictions: dict[int, list[PredictionMatch]] = {}
    for p in result.predictions:
        if not p.ignored_by_crowd:
            predictions.setdefault(p.image_id, []).append(p)
    misses: dict[int, list[GroundTruthMatch]] = {}
    for g in result.ground_truth:
        if g.outcome == "fn":
            misses.setdefault(g.image_id, []).append(g)
    errors = result.errors()
    return MatchView(
        result,
        errors,
        result.total(),
        result.class_counts(),
        result.image_counts(),
        result.confusion(),
        predictions,
        misses,
        {error: n for n, error in enumerate(errors)},
    )


@dataclass(frozen=True)
class EvaluationRequest:
    """What to evaluate, read from the dock on the UI thread and handed to the task."""

    project_path: Path
    ground_truth_file: str | None  # None: the project's reviewed labels
    predictions: str  # PRED_PROPOSALS or a results file's path
    compare_with: str | None  # None, PRED_PROPOSALS or a results file's path
    settings: MatchSettings


@dataclass
class EvaluationOutcome:
    """What the task prepared: data for both IoU types, metrics, the optional comparison."""

    request: EvaluationRequest
    data: dict[str, EvaluationData]
    metrics: dict[str, tuple[EvalResult, list[ClassMetrics]]]
    project_ids: dict[int, int]  # evaluation image id -> project image id
    view: MatchView | None = None  # the first match, at the request's settings
    comparison: Comparison | None = None
    data_b: dict[str, EvaluationData] = field(default_factory=dict)


def _predictions(
    source: str,
    store: ProjectStore,
    project_ids: dict[int, int],
    progress: Progress,
    should_stop: ShouldStop,
) -> list[dict[str, Any]]:
    """Predictions on the evaluated images, with the evaluation's image ids."""
    if source == PRED_MODEL or source.startswith(MODEL_SOURCE_PREFIX):
        from gui.workers.fresh_predictions import predict_fresh

        spec = source[len(MODEL_SOURCE_PREFIX) :] if source != PRED_MODEL else None
        return predict_fresh(
            store, project_ids, spec=spec, progress=progress, should_stop=should_stop
        )
    if source != PRED_PROPOSALS:
        return load_results(source)
    # Ground truth from a file has its own image ids: proposals follow by file name.
    to_eval = {p: e for e, p in project_ids.items()}
    return [
        {**r, "image_id": to_eval[int(r["image_id"])]}
        for r in project_proposals(store)
        if int(r["image_id"]) in to_eval
    ]


def _project_ids_by_name(path: str, store: ProjectStore) -> dict[int, int]:
    """Ground truth from a file: its images are the project's images of the same name."""
    try:
        with open(path, encoding="utf-8") as fh:
            images = json.load(fh).get("images", [])
    except (OSError, ValueError, AttributeError) as exc:
        raise CocoFormatError(f"{path} is not a readable COCO file: {exc}") from exc
    ids = {}
    for image in images:
        record = store.image_by_file_name(str(image.get("file_name", "")))
        if record is not None:
            ids[int(image["id"])] = record.id
    return ids


def run_evaluation(
    request: EvaluationRequest, progress: Progress, should_stop: ShouldStop
) -> EvaluationOutcome:
    """The task's work (any thread): read sources, prepare, measure, compare."""
    steps = 6 + (3 if request.compare_with is not None else 0)
    done = 0

    def step() -> None:
        nonlocal done
        if should_stop():
            raise Cancelled("Evaluation cancelled.")
        done += 1
        progress(done, steps)

    with ProjectStore.open(request.project_path) as store:
        if request.ground_truth_file is None:
            gt: dict[str, Any] | str = project_ground_truth(store)
            assert isinstance(gt, dict)
            project_ids = {int(i["id"]): int(i["id"]) for i in gt["images"]}
        else:
            gt = request.ground_truth_file
            project_ids = _project_ids_by_name(gt, store)
        step()
        predictions = _predictions(request.predictions, store, project_ids, progress, should_stop)
        step()
        data: dict[str, EvaluationData] = {}
        for iou_type in IOU_TYPES:
            data[iou_type] = EvaluationData.from_coco(gt, predictions, iou_type=iou_type)
            step()
        metrics: dict[str, tuple[EvalResult, list[ClassMetrics]]] = {}
        for iou_type in IOU_TYPES:
            settings = MatchSettings(
                request.settings.iou_threshold, request.settings.score_threshold, iou_type
            )
            metrics[iou_type] = data[iou_type].metrics(settings)
            step()
        outcome = EvaluationOutcome(request, data, metrics, project_ids)
        outcome.view = match_view(data[request.settings.iou_type], request.settings)
        if request.compare_with is not None:
            predictions_b = _predictions(
                request.compare_with, store, project_ids, progress, should_stop
            )
            step()
            outcome.data_b = {
                t: EvaluationData.from_coco(gt, predictions_b, iou_type=t) for t in IOU_TYPES
            }
            step()
            iou_type = request.settings.iou_type
            outcome.comparison = compare(data[iou_type], outcome.data_b[iou_type], request.settings)
            step()
    return outcome
