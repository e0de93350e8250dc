"""The Evaluation dock's "Why did it miss?": a cause for every FN, in a background task.

Qt-free: `explain_request` reads the same sources as the evaluation (the dock's request),
matches at its settings, runs the model's two stages (core.detection.stages) on each image
with a miss and names each miss's cause (core.evaluation.miss_causes). The model is loaded
here, in the task's thread, so the proposal worker keeps proposing meanwhile.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.detection.stage_view import StageView
from core.errors import Cancelled
from core.evaluation.matching import EvaluationData, MatchSettings
from core.evaluation.miss_causes import MissCause, StagesOnDemand, cause_counts, explain_misses
from core.evaluation.sources import load_results, project_ground_truth, project_proposals
from core.store import ProjectStore
from gui.workers.evaluation_run import (
    MODEL_SOURCE_PREFIX,
    PRED_MODEL,
    PRED_PROPOSALS,
    EvaluationRequest,
)

Progress = Callable[[int, int], None]
ShouldStop = Callable[[], bool]


@dataclass
class CauseTable:
    """Every FN's cause at one setting, and their counts per class."""

    settings: MatchSettings
    model: str
    causes: dict[int, MissCause] = field(default_factory=dict)  # GT annotation id -> cause
    counts: dict[int, dict[str, int]] = field(default_factory=dict)  # category -> cause -> n
    category_names: dict[int, str] = field(default_factory=dict)

    def cause_of(self, annotation_id: int | None) -> str | None:
        miss = self.causes.get(annotation_id) if annotation_id is not None else None
        return miss.cause if miss is not None else None


def _sources(
    request: EvaluationRequest, store: ProjectStore, progress: Progress, should_stop: ShouldStop
) -> tuple[Any, list[dict[str, Any]], dict[int, int]]:
    """Ground truth, predictions and evaluation id -> project id, as the evaluation reads them."""
    if request.ground_truth_file is None:
        gt: Any = project_ground_truth(store)
        project_ids = {int(i["id"]): int(i["id"]) for i in gt["images"]}
    else:
        gt = request.ground_truth_file
        with open(gt, encoding="utf-8") as fh:
            images = json.load(fh).get("images", [])
        project_ids = {}
        for image in images:
            record = store.image_by_file_name(str(image.get("file_name", "")))
            if record is not None:
                project_ids[int(image["id"])] = record.id
    source = request.predictions
    if source == PRED_MODEL or source.startswith(MODEL_SOURCE_PREFIX):
        from gui.workers.fresh_predictions import predict_fresh

        spec = source[len(MODEL_SOURCE_PREFIX) :] if source != PRED_MODEL else None
        predictions = predict_fresh(
            store, project_ids, spec=spec, progress=progress, should_stop=should_stop
        )
    elif source == PRED_PROPOSALS:
        to_eval = {p: e for e, p in project_ids.items()}
        predictions = [
            {**r, "image_id": to_eval[int(r["image_id"])]}
            for r in project_proposals(store)
            if int(r["image_id"]) in to_eval
        ]
    else:
        predictions = load_results(source)
    return gt, predictions, project_ids


def explain_request(
    request: EvaluationRequest,
    model: str,
    settings: MatchSettings,
    progress: Progress,
    should_stop: ShouldStop,
) -> CauseTable:
    """The cause of every FN of `request`'s sources at `settings`, with `model`'s stages."""
    from core.detection.detector import Detector
    from core.detection.stages import inspect_detector
    from core.files.images import read_image

    with ProjectStore.open(request.project_path) as store:
        gt, predictions, project_ids = _sources(request, store, progress, should_stop)
        data = EvaluationData.from_coco(gt, predictions, iou_type=settings.iou_type)
        matched = data.match(settings)
        missed = sorted({g.image_id for g in matched.ground_truth if g.outcome == "fn"})
        detector = Detector.load(model)

        def make(image_id: int) -> StageView | None:
            if should_stop():
                raise Cancelled("Explaining the misses was cancelled.")
            progress(views.made, len(missed))
            project_id = project_ids.get(image_id)
            if project_id is None:
                return None  # an image the project lacks: prediction-only causes
            pixels = read_image(store.image_path(project_id))
            return inspect_detector(detector, pixels, score_threshold=settings.score_threshold)

        views = StagesOnDemand(missed, make)
        misses = explain_misses(data, matched, views)
        progress(len(missed), len(missed))
    return CauseTable(
        settings=settings,
        model=model,
        causes={m.annotation_id: m for m in misses},
        counts=cause_counts(misses),
        category_names=dict(data.category_names),
    )
