"""The annotator window driven through its real actions and widgets (offscreen)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from _window_helpers import make_lite_checkpoint, make_project, shown_window, wait_until  # noqa: E402
from PySide6.QtGui import QKeySequence  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from core.records import ReviewState, Source  # noqa: E402
from core.store import ProjectStore  # noqa: E402
from gui.actions import ACTION_SPECS, shortcut_rows  # noqa: E402
from gui.dialogs.shortcuts_dialog import ShortcutsDialog  # noqa: E402
from gui.main_window import MainWindow  # noqa: E402


def _window(qtbot, tmp_path: Path) -> MainWindow:
    return shown_window(qtbot, tmp_path, proposal_score_threshold=0.01)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path, count=6)


@pytest.fixture
def model_project(tmp_path: Path) -> Path:
    """A project whose settings name a tiny random lite checkpoint."""
    path = make_project(tmp_path, count=6)
    with ProjectStore.open(path) as store:
        checkpoint = make_lite_checkpoint(tmp_path / "lite.pt", store.categories())
        store.set_setting("model", str(checkpoint))
    return path


def _proposals(window: MainWindow) -> list:
    return [
        a
        for a in window.current_document.annotations()
        if a.source == Source.MODEL and a.state == ReviewState.PROPOSED
    ]


def test_window_opens_project_with_title_and_first_image(qtbot, tmp_path, project):
    window = _window(qtbot, tmp_path)
    assert window.windowTitle() == "MaskLoop"
    assert window.open_project(project)
    assert window.windowTitle() == "MaskLoop — test.maskloop — img_0000.png"
    assert window.stack.currentWidget() is window.canvas
    wait_until(qtbot, lambda: window.canvas.image_size == (96, 80))
    assert window.settings.recent_projects() == [str(project.resolve())]


def test_next_and_previous_actions_change_the_canvas_image(qtbot, tmp_path, project):
    window = _window(qtbot, tmp_path)
    window.open_project(project)
    window.actions["next_image"].trigger()
    window.actions["next_image"].trigger()
    assert window.current_document.image.file_name == "img_0002.png"
    assert window.canvas.document is window.current_document
    assert window.image_list.current_image_id() == window.current_image_id
    window.actions["prev_image"].trigger()
    assert window.current_document.image.file_name == "img_0001.png"
    assert window.navigation.undo_group.activeStack() is window.current_document.undo_stack
    assert window.windowTitle().endswith("img_0001.png")


def test_accept_and_reject_proposals_of_a_real_lite_model(qtbot, tmp_path, model_project):
    window = _window(qtbot, tmp_path)
    window.open_project(model_project)
    wait_until(qtbot, lambda: len(_proposals(window)) >= 2)
    table = window.instances_dock.table
    window.instances_dock.set_score_threshold(1.01)  # proposals below it leave the table
    assert all(table.isRowHidden(r) for r in range(table.rowCount()))
    window.instances_dock.set_score_threshold(0.0)
    assert not any(table.isRowHidden(r) for r in range(table.rowCount()))
    window.model_dock.set_threshold(0.0)
    window.canvas.set_score_threshold(0.0)
    first, second = _proposals(window)[:2]
    window.canvas.select_annotation(first.id)
    window.actions["accept"].trigger()
    window.canvas.select_annotation(second.id)
    window.actions["reject"].trigger()
    store = window.store
    assert store.get_annotation(first.id).state == ReviewState.ACCEPTED
    assert store.get_annotation(second.id).state == ReviewState.REJECTED
    window.actions["undo"].trigger()
    assert store.get_annotation(second.id).state == ReviewState.PROPOSED
    image_id = window.current_image_id
    window.actions["accept_review_next"].trigger()
    assert store.get_image(image_id).reviewed
    assert window.current_image_id != image_id
    states = {a.state for a in store.annotations(image_id) if a.source == Source.MODEL}
    assert states == {ReviewState.ACCEPTED}  # threshold 0: every proposal accepted


def test_navigation_uses_prefetched_proposals_without_new_inference(qtbot, tmp_path, model_project):
    window = _window(qtbot, tmp_path)
    window.open_project(model_project)
    worker = window.proposals.service.worker
    started: list[int] = []
    worker.inferenceStarted.connect(started.append)
    ids = window.image_list.model.image_ids()
    # The current image and the next three are proposed ahead of the annotator.
    wait_until(qtbot, lambda: all(window.store.proposals_model(i) for i in ids[:4]))
    assert ids[1] in started  # image 1 was inferred as a prefetch, before the annotator got there
    started.clear()
    count_before = worker.inference_count
    window.actions["next_image"].trigger()
    assert window.current_image_id == ids[1]
    assert len(_proposals(window)) > 0  # shown at once, from the store
    # Arriving on image 1 prefetches image 4; image 1 itself is never inferred again.
    wait_until(qtbot, lambda: window.store.proposals_model(ids[4]) is not None)
    assert started == [ids[4]]
    assert worker.inference_count == count_before + 1


def test_closing_the_window_during_inference_stops_the_worker_cleanly(
    qtbot, tmp_path, model_project
):
    window = _window(qtbot, tmp_path)
    window.open_project(model_project)
    service = window.proposals.service
    wait_until(qtbot, lambda: window.proposals.model_ready)
    with qtbot.waitSignal(service.worker.inferenceStarted, timeout=30_000):
        window.actions["propose_all"].trigger()
    window.close()  # the worker is inside predict() now
    assert service.worker_thread.isFinished()
    assert window.store is None
    with ProjectStore.open(model_project) as store:  # the project is intact and readable
        assert store.image_count() == 6


def test_missing_weights_shows_a_dialog_and_the_app_stays_usable(
    qtbot, tmp_path, project, monkeypatch
):
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(
        QMessageBox,
        "warning",
        staticmethod(lambda _p, title, text, *a, **k: shown.append((title, text))),
    )
    from core.errors import WeightsUnavailableError

    def fail(spec, **_kwargs):
        raise WeightsUnavailableError("r50-fpn-v2 COCO weights are not in /hub/checkpoints.")

    monkeypatch.setattr("core.detection.detector.Detector.load", fail)
    window = _window(qtbot, tmp_path)
    window.open_project(project)
    window.proposals.set_model("r50-fpn-v2")
    wait_until(qtbot, lambda: bool(shown))
    title, text = shown[0]
    assert title == "Model weights not available"
    assert "/hub/checkpoints" in text and "Choose model" in text
    assert window.model_dock.model_label.text() == "no model"
    # A model that never loaded is not remembered: reopening brings no dialog back.
    assert window.store.active_model() is None
    window.actions["next_image"].trigger()  # still usable
    assert window.current_document.image.file_name == "img_0001.png"
    window.close_project()
    shown.clear()
    window.open_project(project)
    qtbot.wait(200)
    assert shown == []
    assert window.model_dock.model_label.text() == "no model"


def test_a_model_that_stops_loading_falls_back_to_the_last_one_that_worked(
    qtbot, tmp_path, model_project, monkeypatch
):
    shown: list[str] = []
    monkeypatch.setattr(
        QMessageBox, "warning", staticmethod(lambda _p, title, *a, **k: shown.append(title))
    )
    window = _window(qtbot, tmp_path)
    window.open_project(model_project)
    wait_until(qtbot, lambda: window.proposals.model_ready)
    working = window.proposals.active_model()
    missing = str(tmp_path / "gone.pt")
    window.proposals.set_model(missing)
    wait_until(qtbot, lambda: bool(shown))  # the user chose it: a dialog says why it failed
    wait_until(qtbot, lambda: window.proposals.model_ready)
    assert window.proposals.active_model() == working
    assert "gone.pt" in window.work_status.message() and "back to" in window.work_status.message()
    assert window.store.active_model() == working


def test_keyboard_shortcuts_reach_the_window_while_the_canvas_has_focus(qtbot, tmp_path, project):
    from PySide6.QtCore import Qt

    window = _window(qtbot, tmp_path)
    window.open_project(project)
    with qtbot.waitActive(window):
        window.activateWindow()
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_D)
    assert window.current_document.image.file_name == "img_0001.png"
    qtbot.keyClick(window.canvas, Qt.Key.Key_PageDown)
    assert window.current_document.image.file_name == "img_0002.png"
    qtbot.keyClick(window.canvas, Qt.Key.Key_A)
    assert window.current_document.image.file_name == "img_0001.png"
    qtbot.keyClick(window.canvas, Qt.Key.Key_B)
    assert window.canvas.tool_name == "box" and window.actions["tool_box"].isChecked()
    qtbot.keyClick(window.canvas, Qt.Key.Key_3)
    assert window.canvas.current_category_id == window.store.categories()[2].id
    qtbot.keyClick(window.canvas, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    assert window.store.get_image(window.current_image_id).reviewed


def test_export_dialog_writes_a_file_pycocotools_loads(qtbot, tmp_path, project):
    from pycocotools.coco import COCO

    from core.records import Annotation
    from gui.dialogs.export_dialog import ExportDialog

    window = _window(qtbot, tmp_path)
    window.open_project(project)
    window.store.add_annotation(
        Annotation(image_id=window.current_image_id, category_id=1, bbox=(5, 5, 20, 10))
    )
    window.store.set_reviewed(window.current_image_id)
    dialog = ExportDialog(window.store, window)
    assert dialog.path_edit.text() == str(project.with_name("test-export.json"))
    out = tmp_path / "out" / "labels.json"
    out.parent.mkdir()
    dialog.path_edit.setText(str(out))
    dialog.reviewed_only.setChecked(True)
    dialog.accept()
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=20_000)
    coco = COCO(str(out))
    assert len(coco.getImgIds()) == 1
    (ann,) = coco.loadAnns(coco.getAnnIds())
    assert ann["bbox"] == [5, 5, 20, 10] and ann["category_id"] == 1
    assert json.loads(out.read_text())["images"][0]["file_name"] == "img_0000.png"


def test_digit_key_picks_category_and_threshold_is_stored_in_project(qtbot, tmp_path, project):
    window = _window(qtbot, tmp_path)
    window.open_project(project)
    window.actions["category_2"].trigger()
    assert window.canvas.current_category_id == window.store.categories()[1].id
    window.model_dock.spin.setValue(0.3)
    wait_until(qtbot, lambda: window.store.get_setting("proposal_threshold") == 0.3, 3000)
    assert window.canvas.score_threshold == pytest.approx(0.3)


def test_shortcut_sheet_lists_every_action_shortcut(qtbot):
    dialog = ShortcutsDialog()
    qtbot.addWidget(dialog)
    rows = dialog.rows()
    assert rows == [tuple(r) for r in shortcut_rows()]
    assert len(rows) == sum(1 for s in ACTION_SPECS if s.shortcuts)
    assert ("Image", "Next image", "D, PgDown") in rows


def test_every_action_tooltip_names_its_shortcut(qtbot, tmp_path):
    window = _window(qtbot, tmp_path)
    for spec in ACTION_SPECS:
        if spec.shortcuts:
            tip = window.actions[spec.name].toolTip()
            keys = QKeySequence(spec.shortcuts[0]).toString(QKeySequence.SequenceFormat.NativeText)
            assert tip.endswith(")") and keys in tip, (spec.name, tip)


def test_reopening_a_project_starts_at_the_image_last_shown(qtbot, tmp_path):
    project = make_project(tmp_path, count=80)
    window = _window(qtbot, tmp_path)
    window.resize(900, 500)
    window.open_project(project)
    listed = window.image_list
    target = listed.model.image_id_at(70)
    window.go_to_image(target)
    window.close_project()

    window.open_project(project)
    assert window.current_image_id == target
    assert listed.current_image_id() == target
    view = listed.view
    row_rect = view.visualRect(view.currentIndex())
    assert view.viewport().rect().contains(row_rect)  # scrolled to it, not left at the top


def test_the_image_shown_is_remembered_once_the_annotator_stays_on_it(qtbot, tmp_path):
    from core.store.setting_keys import LAST_IMAGE
    from gui.window.navigation import REMEMBER_DELAY_MS

    project = make_project(tmp_path, count=6)
    window = _window(qtbot, tmp_path)
    window.open_project(project)
    ids = window.image_list.model.image_ids()

    def remembered() -> object:
        with ProjectStore.open(project) as other:
            return other.get_setting(LAST_IMAGE)

    for image_id in ids[1:5]:
        window.go_to_image(image_id)
    assert remembered() is None  # no write per move
    qtbot.waitUntil(lambda: remembered() == ids[4], timeout=5 * REMEMBER_DELAY_MS)


def test_a_project_whose_last_image_is_gone_starts_at_the_first(qtbot, tmp_path, project):
    with ProjectStore.open(project) as store:
        store.set_setting("last_image", 10_000)
    window = _window(qtbot, tmp_path)
    window.open_project(project)
    assert window.current_document.image.file_name == "img_0000.png"
