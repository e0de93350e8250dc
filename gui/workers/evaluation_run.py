"""The Evaluation dock's heavy work: read the sources, prepare, measure, match.

Qt-free functions that run in the evaluation's own process (gui/workers/evaluation_server.py,
started by gui/workers/evaluation_process.py), never in the window's: `prepare` reads the
ground truth and predictions (its own ProjectStore), prepares `EvaluationData` for both IoU
types, measures COCOeval's metrics and compares with a second source; `match_view`
re-matches at other thresholds. What goes back to the window is compact (`EvaluationOutcome`,
`MatchView`: numpy arrays from core.evaluation.compact and small dataclasses), so
receiving it costs the UI thread milliseconds, not the matching's time.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import Cancelled, CocoFormatError
from core.evaluation import DEFAULT_BACKEND
from core.evaluation.compact import InstanceTable, MatchArrays
from core.evaluation.compare import Comparison, compare
from core.evaluation.matching import (
    ClassMetrics,
    Counts,
    EvaluationData,
    IouType,
    MatchSettings,
)
from core.evaluation.metrics import EvalResult
from core.evaluation.sources import load_results, project_ground_truth, project_proposals
from core.store import ProjectStore

Progress = Callable[[int, int], None]
ShouldStop = Callable[[], bool]

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
    """One re-match and the small figures the view shows at once (made in the evaluation's
    process); everything per instance stays in `result`'s arrays."""

    result: MatchArrays
    total: Counts
    class_counts: dict[int, Counts]
    confusion_ids: list[int]  # the confusion matrix's categories, ending with BACKGROUND
    confusion_counts: list[list[int]]


def match_view(data: EvaluationData, settings: MatchSettings) -> MatchView:
    arrays = MatchArrays.from_result(data.match(settings))
    ids, counts = arrays.confusion_counts()
    return MatchView(arrays, arrays.total(), arrays.class_counts(), ids, counts)


@dataclass(frozen=True)
class EvaluationRequest:
    """What to evaluate, read from the dock on the UI thread and handed to the task."""

    project_path: Path
    ground_truth_file: str | None  # None: the project's reviewed labels
    predictions: str  # PRED_PROPOSALS or a results file's path
    compare_with: str | None  # None, PRED_PROPOSALS or a results file's path
    settings: MatchSettings
    backend: str = DEFAULT_BACKEND  # COCOeval's implementation (core.evaluation.BACKENDS)


@dataclass
class EvaluationOutcome:
    """What the window receives: per IoU type the instances' table and the metrics, the
    image ids, the first match and the optional comparison."""

    request: EvaluationRequest
    tables: dict[str, InstanceTable]
    metrics: dict[str, tuple[EvalResult, list[ClassMetrics]]]
    project_ids: dict[int, int]  # evaluation image id -> project image id
    view: MatchView | None = None  # the first match, at the request's settings
    comparison: Comparison | None = None


@dataclass
class Prepared:
    """What stays in the evaluation's process: the data every re-match works on."""

    data: dict[str, EvaluationData]
    outcome: EvaluationOutcome


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


def prepare(request: EvaluationRequest, progress: Progress, should_stop: ShouldStop) -> Prepared:
    """Read sources, prepare, measure, compare (in the evaluation's process)."""
    steps = 7 + (3 if request.compare_with is not None else 0)
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
            data[iou_type] = EvaluationData.from_coco(
                gt, predictions, iou_type=iou_type, backend=request.backend
            )
            step()
        metrics: dict[str, tuple[EvalResult, list[ClassMetrics]]] = {}
        for iou_type in IOU_TYPES:
            settings = MatchSettings(
                request.settings.iou_threshold, request.settings.score_threshold, iou_type
            )
            metrics[iou_type] = data[iou_type].metrics(settings)
            step()
        tables = {t: InstanceTable.from_data(d) for t, d in data.items()}
        outcome = EvaluationOutcome(request, tables, metrics, project_ids)
        outcome.view = match_view(data[request.settings.iou_type], request.settings)
        step()
        if request.compare_with is not None:
            predictions_b = _predictions(
                request.compare_with, store, project_ids, progress, should_stop
            )
            step()
            iou_type = request.settings.iou_type
            data_b = EvaluationData.from_coco(
                gt, predictions_b, iou_type=iou_type, backend=request.backend
            )
            step()
            outcome.comparison = compare(data[iou_type], data_b, request.settings)
            step()
    return Prepared(data, outcome)
