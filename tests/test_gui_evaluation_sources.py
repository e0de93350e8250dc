"""The analyst's view with COCO files as sources, Cancel, the IoU slider, and model
against model (stored proposals as A, a results file as B)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from core.evaluation.matching import Counts  # noqa: E402
from core.store import ProjectStore  # noqa: E402
from gui.docks.evaluation_dock import GT_FILE, PRED_FILE  # noqa: E402
from tests._evaluation_helpers import coco_files, make_evaluation_project  # noqa: E402
from tests._window_helpers import shown_window, wait_until  # noqa: E402


@pytest.fixture
def opened(qtbot, tmp_path: Path):
    path, ids, cats = make_evaluation_project(tmp_path)
    with ProjectStore.open(path) as store:
        gt, results = coco_files(store, tmp_path)
    window = shown_window(qtbot, tmp_path)
    assert window.open_project(path)
    window.actions["evaluate"].trigger()
    assert window.evaluation_dock.isVisible()
    return window, ids, cats, gt, results


def _evaluate(qtbot, window) -> None:
    qtbot.mouseClick(window.evaluation_dock.evaluate_button, Qt.MouseButton.LeftButton)
    task = window.evaluation.task
    assert task is not None
    wait_until(qtbot, lambda: task.done)


def _hold_ground_truth(window, folder: Path) -> None:
    """Ground truth from a named pipe nobody writes to: the evaluation's process waits there
    (opening it blocks) until it is ended."""
    fifo = folder / "held.json"
    os.mkfifo(fifo)
    window.evaluation_dock.ground_truth.set_choice(GT_FILE, str(fifo))


def test_coco_files_as_ground_truth_and_predictions_give_the_project_s_numbers(
    qtbot, opened
) -> None:
    window, ids, _cats, gt, results = opened
    dock = window.evaluation_dock
    dock.ground_truth.set_choice(GT_FILE, str(gt))
    dock.predictions.set_choice(PRED_FILE, str(results))
    _evaluate(qtbot, window)
    assert window.evaluation.result.total() == Counts(tp=1, fp=2, fn=2)
    counts = window.evaluation.image_counts()  # by project image id, through file names
    assert counts[ids[0]] == Counts(1, 0, 0)
    assert counts[ids[1]] == Counts(0, 1, 1)


def test_the_faster_backend_shows_the_same_figures(qtbot, opened) -> None:
    pytest.importorskip("faster_coco_eval")
    window, _ids, _cats, _gt, _results = opened
    dock = window.evaluation_dock
    _evaluate(qtbot, window)
    default = (dock.metrics_label.text(), window.evaluation.result.total())
    curves = {k: [(p.x(), p.y()) for p in v.points()] for k, v in dock.pr_curves.curves.items()}
    dock.backend.setCurrentIndex(dock.backend.findData("faster"))
    _evaluate(qtbot, window)
    assert window.evaluation.outcome.request.backend == "faster"
    assert (dock.metrics_label.text(), window.evaluation.result.total()) == default
    shown = {k: [(p.x(), p.y()) for p in v.points()] for k, v in dock.pr_curves.curves.items()}
    assert shown.keys() == curves.keys()
    for key, points in curves.items():  # equal to the last bit but for float rounding
        assert [c for p in shown[key] for c in p] == pytest.approx(
            [c for p in points for c in p], abs=1e-12
        )


def test_a_missing_file_is_said_in_the_dock_not_raised(qtbot, opened, tmp_path) -> None:
    window, _ids, _cats, _gt, _results = opened
    dock = window.evaluation_dock
    dock.predictions.set_choice(PRED_FILE, str(tmp_path / "nowhere.json"))
    _evaluate(qtbot, window)
    assert window.evaluation.result is None
    assert "nowhere.json" in dock.status.text()
    assert dock.evaluate_button.isEnabled()


def test_cancel_stops_the_background_evaluation(qtbot, opened, tmp_path) -> None:
    window, _ids, _cats, _gt, _results = opened
    _hold_ground_truth(window, tmp_path)
    dock = window.evaluation_dock
    qtbot.mouseClick(dock.evaluate_button, Qt.MouseButton.LeftButton)
    task, session = window.evaluation.task, window.evaluation._running
    assert task is not None and session is not None and session.is_alive()
    qtbot.wait(200)
    # The UI thread is free while the process works: the dock still takes clicks.
    assert not task.done
    assert dock.cancel_button.isEnabled() and not dock.evaluate_button.isEnabled()
    qtbot.mouseClick(dock.cancel_button, Qt.MouseButton.LeftButton)
    wait_until(qtbot, lambda: task.done)
    assert not session.is_alive()  # ended, not left waiting
    assert window.evaluation.result is None
    assert dock.status.text() == "Evaluation cancelled."
    assert dock.evaluate_button.isEnabled() and not dock.cancel_button.isEnabled()


def test_iou_slider_turns_a_loose_hit_into_an_fp_and_an_fn(qtbot, opened) -> None:
    window, ids, _cats, _gt, _results = opened
    dock = window.evaluation_dock
    dock.score.slider.setValue(20)  # the 0.3 triangle proposal (IoU 0.85) counts
    _evaluate(qtbot, window)
    assert window.evaluation.image_counts()[ids[2]] == Counts(1, 1, 0)
    dock.iou.slider.setFocus()
    for _ in range(8):  # 0.50 -> 0.90
        qtbot.keyClick(dock.iou.slider, Qt.Key.Key_Right)
    wait_until(qtbot, lambda: window.evaluation.result.settings.iou_threshold == 0.9)
    assert window.evaluation.image_counts()[ids[2]] == Counts(0, 2, 1)


def test_model_against_model_lists_ap_delta_and_the_images_b_made_worse(
    qtbot, opened, tmp_path
) -> None:
    window, ids, cats, _gt, results = opened
    # B: lost the square on image 1 and saw a circle there that is not.
    b = [r for r in json.loads(results.read_text()) if r["image_id"] != ids[0]]
    b.append(
        {
            "image_id": ids[0],
            "category_id": cats["circle"],
            "bbox": [60, 50, 15, 15],
            "segmentation": [[60, 50, 75, 50, 75, 65, 60, 65]],
            "score": 0.95,
        }
    )
    b_path = tmp_path / "b.json"
    b_path.write_text(json.dumps(b))
    dock = window.evaluation_dock
    dock.compare_with.set_choice(PRED_FILE, str(b_path))
    _evaluate(qtbot, window)
    table = dock.delta_table
    rows = {
        table.item(r, 0).text(): [table.item(r, c).text() for c in range(1, 4)]
        for r in range(table.rowCount())
    }
    assert rows["square"] == ["1.000", "0.000", "-1.000"]
    assert dock.worse_list.count() == 1
    assert "TP lost 1" in dock.worse_list.item(0).text()
    assert "FP gained 1" in dock.worse_list.item(0).text()
    window.go_to_image(ids[2])
    rect = dock.worse_list.visualItemRect(dock.worse_list.item(0))
    dock.tabs.setCurrentIndex(3)
    qtbot.mouseClick(dock.worse_list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.current_image_id == ids[0]


def test_a_task_s_error_reaches_failed_and_is_not_raised_again_on_the_ui_thread(qtbot) -> None:
    from core.errors import Cancelled
    from gui.workers.tasks import start_task

    def stop_at_once(_progress, _should_stop):
        raise Cancelled("stopped")

    failures: list[object] = []
    task = start_task(stop_at_once)
    task.failed.connect(failures.append)
    # pytest-qt fails a test on any exception raised in the Qt event loop.
    wait_until(qtbot, lambda: task.done)
    assert [str(f) for f in failures] == ["stopped"]


def test_a_window_saved_with_the_dock_open_starts_without_it(qtbot, tmp_path) -> None:
    from PySide6.QtCore import QSettings

    from gui.main_window import MainWindow
    from gui.settings import AppSettings

    path, _ids, _cats = make_evaluation_project(tmp_path)
    window = shown_window(qtbot, tmp_path)
    assert window.open_project(path)
    window.actions["evaluate"].trigger()
    assert window.evaluation_dock.isVisible()
    window.close()  # saves the window state, dock open
    settings = AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    again = MainWindow(settings)
    qtbot.addWidget(again)
    again.show()
    qtbot.waitExposed(again)
    assert not again.evaluation_dock.isVisible()
    assert not again.actions["evaluate"].isChecked()
    assert again.open_project(path)
    again.actions["evaluate"].trigger()
    assert again.evaluation_dock.isVisible()


def test_closing_the_project_mid_evaluation_ends_its_process(qtbot, opened, tmp_path) -> None:
    from gui.window import evaluation as controller_module

    window, _ids, _cats, _gt, _results = opened
    _hold_ground_truth(window, tmp_path)
    qtbot.mouseClick(window.evaluation_dock.evaluate_button, Qt.MouseButton.LeftButton)
    task, session = window.evaluation.task, window.evaluation._running
    assert task is not None and session is not None
    window.close_project()
    assert window.evaluation.task is None and task in controller_module._DETACHED
    wait_until(qtbot, lambda: task.done)
    qtbot.waitUntil(lambda: task not in controller_module._DETACHED)
    assert not session.is_alive()
    assert window.evaluation.outcome is None  # its result went nowhere
    assert not window.evaluation_dock.isVisible()


def test_evaluate_sources_opens_the_view_on_a_file_against_the_stored_proposals(
    qtbot, tmp_path
) -> None:
    from gui.docks.evaluation_dock import PRED_PROPOSALS

    path, ids, _cats = make_evaluation_project(tmp_path)
    with ProjectStore.open(path) as store:
        _gt, results = coco_files(store, tmp_path)
    before = [r for r in json.loads(results.read_text()) if r["image_id"] != ids[0]]
    before_path = tmp_path / "before.json"
    before_path.write_text(json.dumps(before))  # "before": missed image 1's square
    window = shown_window(qtbot, tmp_path)
    assert window.open_project(path)
    assert not window.evaluation_dock.isVisible()
    task = window.evaluation.evaluate_sources(str(before_path), PRED_PROPOSALS)
    assert task is not None
    assert window.evaluation_dock.isVisible() and window.actions["evaluate"].isChecked()
    wait_until(qtbot, lambda: task.done)
    dock = window.evaluation_dock
    assert dock.predictions.path.text() == str(before_path)
    assert window.evaluation.result.total() == Counts(tp=0, fp=2, fn=3)
    rows = {
        dock.delta_table.item(r, 0).text(): dock.delta_table.item(r, 3).text()
        for r in range(dock.delta_table.rowCount())
    }
    assert rows["square"] == "+1.000"  # B (the proposals) found the square
    assert dock.worse_list.count() == 0  # B lost nothing and gained no FP
    assert dock.tabs.currentIndex() == dock.tabs.count() - 1


def test_a_project_with_nothing_reviewed_says_what_to_do(qtbot, tmp_path) -> None:
    from tests._window_helpers import make_project

    window = shown_window(qtbot, tmp_path)
    assert window.open_project(make_project(tmp_path, 2))
    window.actions["evaluate"].trigger()
    _evaluate(qtbot, window)
    assert window.evaluation.result.total() == Counts(0, 0, 0)
    assert "Mark the images you checked reviewed (Ctrl+M)" in window.evaluation_dock.status.text()


def test_reviewed_images_without_stored_proposals_point_to_running_the_model(
    qtbot, tmp_path
) -> None:
    from tests._evaluation_helpers import TP_BOX, label
    from tests._window_helpers import make_project

    path = make_project(tmp_path, 2)
    with ProjectStore.open(path) as store:
        cats = {c.name: c.id for c in store.categories()}
        for image_id in store.image_ids():
            store.add_annotation(label(image_id, cats["square"], TP_BOX))
            store.set_reviewed(image_id)
    window = shown_window(qtbot, tmp_path)
    assert window.open_project(path)
    window.actions["evaluate"].trigger()
    _evaluate(qtbot, window)
    assert window.evaluation.result.total() == Counts(0, 0, 2)
    status = window.evaluation_dock.status.text()
    assert status.startswith("2 images, 0 predictions.")
    assert "'Current model, run now'" in status


def test_showing_the_evaluation_dock_keeps_the_window_on_a_768_pixel_screen(qtbot, opened) -> None:
    window = opened[0]
    window.actions["evaluate"].trigger()  # hidden again (the fixture showed it)
    window.resize(1300, 700)
    qtbot.wait(50)
    window.actions["evaluate"].trigger()
    assert window.evaluation_dock.isVisible()
    qtbot.wait(100)
    assert window.minimumSizeHint().height() <= 700
    assert window.height() <= 700
