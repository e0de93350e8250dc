"""View > Stage view: the model's two stages of the current image on the canvas, computed in
the proposal worker's thread, drawn as real pixels, layers chosen in the Stage dock."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from _window_helpers import make_lite_checkpoint, make_project, shown_window, wait_until  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402

from core.store import ProjectStore  # noqa: E402


@pytest.fixture
def model_project(tmp_path: Path) -> Path:
    path = make_project(tmp_path, count=3, size=(160, 128))
    with ProjectStore.open(path) as store:
        checkpoint = make_lite_checkpoint(tmp_path / "lite.pt", store.categories())
        store.set_setting("model", str(checkpoint))
    return path


def _grab(window) -> QImage:
    return window.canvas.viewport().grab().toImage()


def _stage_window(qtbot, tmp_path: Path, project: Path):
    window = shown_window(qtbot, tmp_path)
    window.open_project(project)
    wait_until(qtbot, lambda: window.proposals.model_ready)
    window.actions["fit"].trigger()
    return window


def test_stage_view_draws_the_rpn_proposals_computed_in_the_worker_thread(
    qtbot, tmp_path, model_project
):
    window = _stage_window(qtbot, tmp_path, model_project)
    action = window.actions["stage_view"]
    assert action.shortcut().toString() == "Ctrl+Shift+S" and action.statusTip()
    window.stage_dock.detections.setChecked(False)  # only proposals: their pixels alone
    action.trigger()
    stages = window.stages
    wait_until(qtbot, lambda: stages.last_result is not None)
    result = stages.last_result
    assert result.thread_id != threading.get_ident()  # never the UI thread
    assert result.request.image_id == window.current_image_id
    assert window.stage_dock.isVisible() and stages.overlay.isVisible()
    boxes, _ = result.view.top_proposals(30)
    assert len(boxes) > 0
    assert stages.overlay.drawn()["proposals"] == [tuple(float(v) for v in b) for b in boxes]
    shown = _grab(window)
    stages.overlay.setVisible(False)
    hidden = _grab(window)
    stages.overlay.setVisible(True)
    assert shown != hidden  # the proposal outlines are real pixels on the canvas
    # A pixel on the best proposal's left edge has its objectness colour, not the image's.
    x0, y0, x1, y1 = boxes[0]
    point = window.canvas.mapFromScene((x0 + 0.0), (y0 + y1) / 2)
    assert shown.pixelColor(point.x(), point.y()) != hidden.pixelColor(point.x(), point.y())

    window.stage_dock.top_n.setValue(2)
    assert len(stages.overlay.drawn()["proposals"]) == 2
    action.trigger()  # off again: nothing of the stages is painted
    assert not stages.overlay.isVisible() and not window.stage_dock.isVisible()


def test_a_selected_detection_shows_its_proposal_regressed_box_and_scores(
    qtbot, tmp_path, model_project
):
    window = _stage_window(qtbot, tmp_path, model_project)
    window.actions["stage_view"].trigger()
    stages = window.stages
    wait_until(qtbot, lambda: stages.last_result is not None)
    view = stages.last_result.view
    assert view.final, "a random lite model detects something at its 0.05 cut"
    dock = window.stage_dock
    assert dock.list.count() == len(view.final)
    dock.list.setCurrentRow(0)
    chosen = view.final[0]
    assert stages.overlay.drawn()["selected"] == [chosen.proposal_box, chosen.box]
    assert f"Proposal #{chosen.proposal_index}" in dock.details.text()
    name, score = view.label_name(chosen.top_classes[0][0]), chosen.top_classes[0][1]
    assert f"{name} {score:.2f}" in dock.details.text()
    # Moving to another image asks the worker again, for that image.
    window.actions["next_image"].trigger()
    wait_until(qtbot, lambda: stages.last_result.request.image_id == window.current_image_id)
    assert stages.overlay.selected is None


def test_moving_the_proposal_threshold_moves_detections_under_it_without_a_rerun(
    qtbot, tmp_path, model_project
):
    window = _stage_window(qtbot, tmp_path, model_project)
    window.actions["stage_view"].trigger()
    stages = window.stages
    wait_until(qtbot, lambda: stages.last_result is not None)
    result = stages.last_result
    top = max(d.score for d in result.view.final)
    window.model_dock.thresholdChanged.emit(top + 1e-3)  # what the slider emits
    assert stages.overlay.view.detections == []
    assert stages.overlay.drawn()["detections"] == []
    assert all(
        "under threshold" in window.stage_dock.list.item(r).text()
        for r in range(window.stage_dock.list.count())
    )
    window.model_dock.thresholdChanged.emit(0.0)
    assert len(stages.overlay.drawn()["detections"]) == len(result.view.final)
    assert stages.last_result is result  # the model did not run again
