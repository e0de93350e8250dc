"""The analyst's view with the current model run fresh on the evaluated images."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")
pytest.importorskip("torch")

from PySide6.QtCore import Qt  # noqa: E402

from core.store import ProjectStore  # noqa: E402
from gui.docks.evaluation_dock import PRED_MODEL  # noqa: E402
from tests._evaluation_helpers import make_evaluation_project  # noqa: E402
from tests._window_helpers import make_lite_checkpoint, shown_window, wait_until  # noqa: E402


def test_current_model_run_now_predicts_every_evaluated_image_and_stores_nothing(
    qtbot, tmp_path: Path
) -> None:
    from core.detection.detector import Detector
    from core.files.images import read_image
    from gui.workers.fresh_predictions import FRESH_SCORE_THRESHOLD

    path, ids, _cats = make_evaluation_project(tmp_path)
    with ProjectStore.open(path) as store:
        checkpoint = make_lite_checkpoint(tmp_path / "lite.pt", store.categories())
        store.set_active_model(str(checkpoint))
        stored_before = {i: len(store.annotations(i)) for i in ids}
        pixels = [read_image(store.image_path(i)) for i in ids]
    detector = Detector.load(str(checkpoint))
    expected = [
        len(found)
        for found in detector.predict(pixels, score_threshold=FRESH_SCORE_THRESHOLD, batch_size=1)
    ]
    assert sum(expected) > 0  # random weights score about 1/4 on every class
    window = shown_window(qtbot, tmp_path)
    assert window.open_project(path)
    window.actions["evaluate"].trigger()
    dock = window.evaluation_dock
    dock.predictions.set_choice(PRED_MODEL)
    qtbot.mouseClick(dock.evaluate_button, Qt.MouseButton.LeftButton)
    task = window.evaluation.task
    wait_until(qtbot, lambda: task.done, timeout_ms=120_000)
    assert window.evaluation.outcome is not None, dock.status.text()
    predictions = window.evaluation.outcome.data["segm"].predictions
    per_image = [sum(1 for p in predictions if p["image_id"] == i) for i in ids]
    assert per_image == expected
    assert all(p["score"] >= FRESH_SCORE_THRESHOLD for p in predictions)
    with ProjectStore.open(path) as store:
        assert {i: len(store.annotations(i)) for i in ids} == stored_before
