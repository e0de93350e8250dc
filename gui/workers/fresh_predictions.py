"""Predictions of the project's current model, run fresh on the evaluated images.

Runs inside the evaluation's background task (gui/window/evaluation.py), never on the UI
thread. torch is imported only here, when the analyst asks for a fresh run, so opening the
Evaluation dock costs nothing. Nothing is stored: the stored proposals stay as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from core.categories import match_by_name
from core.errors import Cancelled, MaskLoopError
from core.files.images import read_image
from core.store import ProjectStore

FRESH_SCORE_THRESHOLD = 0.05  # COCOeval's curves need the low scores too
FRESH_MAX_DETECTIONS = 100  # COCOeval's maxDets


def predict_fresh(
    store: ProjectStore,
    project_ids: Mapping[int, int],
    *,
    spec: str | None = None,
    progress: Callable[[int, int], None],
    should_stop: Callable[[], bool],
) -> list[dict[str, Any]]:
    """A COCO results list of `spec` (default: the project's active model) on each image of
    `project_ids` (evaluation image id -> project image id), with the evaluation's image ids
    and the project's category ids (matched by name)."""
    from core.detection.detector import Detector

    if spec is None:
        spec = store.active_model(must_exist=True)
    if spec is None:
        raise MaskLoopError("No model is chosen: pick one with Model > Choose model… first.")
    detector = Detector.load(spec)
    to_project = match_by_name(
        ((c.id, c.name) for c in detector.categories),
        ((c.id, c.name) for c in store.categories()),
    )
    results: list[dict[str, Any]] = []
    items = list(project_ids.items())
    for done, (eval_id, project_id) in enumerate(items):
        if should_stop():
            raise Cancelled("Evaluation cancelled.")
        progress(done, len(items))
        pixels = read_image(store.image_path(project_id))
        (found,) = detector.predict(
            [pixels],
            score_threshold=FRESH_SCORE_THRESHOLD,
            max_detections=FRESH_MAX_DETECTIONS,
            batch_size=1,
        )
        for detection in found:
            category_id = to_project.get(detection.category_id)
            if category_id is not None:
                results.append(detection.coco_result(eval_id, category_id))
    progress(len(items), len(items))
    return results
