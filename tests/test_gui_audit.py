"""The Audit queue: rows open their image and label; T, Delete, C and K fix through the
document (undoable, written to the store) and move the queue on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from core.evaluation.audit import CHECKED_FIELD, AuditRow, Issue, ModelInstance  # noqa: E402
from core.evaluation.audit_run import AuditReport  # noqa: E402
from core.masks import decode, encode_mask  # noqa: E402
from core.records import Annotation, ReviewState, Source  # noqa: E402
from core.store import ProjectStore  # noqa: E402
from tests._window_helpers import (  # noqa: E402
    make_lite_checkpoint,
    make_project,
    shown_window,
    wait_until,
)

W, H = 96, 80


def _rect(x: int, y: int, w: int, h: int) -> dict:
    mask = np.zeros((H, W), bool)
    mask[y : y + h, x : x + w] = True
    return encode_mask(mask)


def _box(x: int, y: int, w: int, h: int) -> tuple[float, float, float, float]:
    return (float(x), float(y), float(w), float(h))


@pytest.fixture
def audited(qtbot, tmp_path: Path):
    """A window on a project with three reviewed images, its Audit dock showing four rows:
    0 wrong class (image 1), 1 bad location (image 1), 2 spurious (image 2), 3 overlooked
    (image 3)."""
    project = make_project(tmp_path, count=4, size=(W, H))
    with ProjectStore.open(project) as store:
        circle, square, _triangle = (c.id for c in store.categories())
        ids = store.image_ids()
        labels = {}
        for key, image, category, place in (
            ("wrong", ids[0], circle, (5, 5, 20, 20)),
            ("moved", ids[0], square, (50, 40, 20, 20)),
            ("spurious", ids[1], circle, (10, 10, 15, 15)),
            ("kept", ids[2], square, (60, 10, 20, 20)),
        ):
            ann = Annotation(image, category, _box(*place), _rect(*place))
            labels[key] = store.add_annotation(ann).id
        for image in ids[:3]:
            store.set_reviewed(image)
    rows = [
        AuditRow(ids[0], "img_0000.png", labels["wrong"], Issue.WRONG_CLASS, 0.95,
                 _box(5, 5, 20, 20), circle,
                 ModelInstance(square, 0.97, _box(5, 5, 20, 20), _rect(5, 5, 20, 20))),
        AuditRow(ids[0], "img_0000.png", labels["moved"], Issue.BAD_LOCATION, 0.8,
                 _box(50, 40, 20, 20), square,
                 ModelInstance(square, 0.9, _box(60, 50, 22, 18), _rect(60, 50, 22, 18)), 0.6, 0.8),
        AuditRow(ids[1], "img_0001.png", labels["spurious"], Issue.SPURIOUS, 0.7,
                 _box(10, 10, 15, 15), circle, None),
        AuditRow(ids[2], "img_0002.png", None, Issue.OVERLOOKED, 0.6, _box(10, 40, 25, 25),
                 circle, ModelInstance(circle, 0.92, _box(10, 40, 25, 25), _rect(10, 40, 25, 25))),
    ]  # fmt: skip
    window = shown_window(qtbot, tmp_path)
    assert window.open_project(project)
    window.actions["audit"].trigger()
    window.audit.show_report(AuditReport(rows, "the model as is: test.pt", 3, 3))
    return window, labels, rows


def _stored(window, ann_id: int) -> Annotation:
    return window.store.get_annotation(ann_id)


def _open_row(qtbot, window, index: int) -> None:
    window.audit_dock.select_row(index)
    assert window.audit._current == index


def test_clicking_a_row_opens_its_image_and_selects_the_label(qtbot, audited):
    window, labels, rows = audited
    assert window.audit_dock.isVisible() and window.actions["audit"].isChecked()
    table = window.audit_dock.table
    assert table.rowCount() == 4
    assert [table.item(i, 0).text() for i in range(4)] == [
        "wrong class", "bad location", "spurious", "overlooked"
    ]  # fmt: skip
    rect = table.visualItemRect(table.item(2, 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.current_image_id == rows[2].image_id
    assert window.canvas.selected_ids() == [labels["spurious"]]
    assert window.audit_dock.fix_buttons["delete"].isEnabled()
    assert not window.audit_dock.fix_buttons["take"].isEnabled()  # nothing to take: no model


def test_t_takes_the_models_instance_undoably_and_advances(qtbot, audited):
    window, labels, _rows = audited
    before = _stored(window, labels["moved"])
    _open_row(qtbot, window, 1)
    qtbot.keyClick(window.audit_dock.table, Qt.Key.Key_T)
    after = _stored(window, labels["moved"])
    assert after.bbox == _box(60, 50, 22, 18)
    assert np.array_equal(decode(after.segmentation, H, W), decode(_rect(60, 50, 22, 18), H, W))
    assert (after.category_id, after.state) == (before.category_id, ReviewState.ACCEPTED)
    assert window.audit.done == {1: "took the model's"}
    assert window.audit._current == 2  # the queue moved on
    # The image of row 2 is open now; the fix is on the fixed image's own undo stack.
    document = window.navigation.document_for(before.image_id)
    document.undo_stack.undo()
    restored = _stored(window, labels["moved"])
    assert (restored.bbox, restored.segmentation) == (before.bbox, before.segmentation)


def test_delete_removes_the_label_undoably(qtbot, audited):
    window, labels, rows = audited
    _open_row(qtbot, window, 2)
    qtbot.keyClick(window.audit_dock.table, Qt.Key.Key_Delete)
    ids = {a.id for a in window.store.iter_annotations()}
    assert labels["spurious"] not in ids
    assert window.audit.done == {2: "deleted"}
    assert window.audit._current == 3
    window.navigation.document_for(rows[2].image_id).undo_stack.undo()
    assert labels["spurious"] in {a.id for a in window.store.iter_annotations()}


def test_c_gives_the_label_the_models_class_undoably(qtbot, audited):
    window, labels, rows = audited
    _open_row(qtbot, window, 0)
    qtbot.keyClick(window.audit_dock.table, Qt.Key.Key_C)
    assert _stored(window, labels["wrong"]).category_id == rows[0].model.category_id
    assert window.audit._current == 1
    window.current_document.undo_stack.undo()
    assert _stored(window, labels["wrong"]).category_id == rows[0].category_id


def test_k_marks_the_label_checked_undoably(qtbot, audited):
    window, labels, _rows = audited
    _open_row(qtbot, window, 0)
    before = _stored(window, labels["wrong"])
    qtbot.keyClick(window.audit_dock.table, Qt.Key.Key_K)
    after = _stored(window, labels["wrong"])
    assert after.extra.get(CHECKED_FIELD) is True
    assert (after.category_id, after.bbox, after.segmentation) == (
        before.category_id, before.bbox, before.segmentation
    )  # fmt: skip
    window.current_document.undo_stack.undo()
    assert CHECKED_FIELD not in _stored(window, labels["wrong"]).extra


def test_t_on_an_overlooked_object_adds_it_as_an_accepted_label(qtbot, audited):
    window, _labels, rows = audited
    image = rows[3].image_id
    before = {a.id for a in window.store.iter_annotations() if a.image_id == image}
    _open_row(qtbot, window, 3)
    qtbot.keyClick(window.audit_dock.table, Qt.Key.Key_T)
    added = [
        a for a in window.store.iter_annotations() if a.image_id == image and a.id not in before
    ]
    assert len(added) == 1
    (ann,) = added
    assert (ann.category_id, ann.bbox, ann.state, ann.source) == (
        rows[3].model.category_id, _box(10, 40, 25, 25), ReviewState.ACCEPTED, Source.MODEL
    )  # fmt: skip
    assert window.audit._current == 0  # the last row: the queue wraps to the first open one
    window.navigation.document_for(image).undo_stack.undo()
    assert {a.id for a in window.store.iter_annotations() if a.image_id == image} == before


def test_a_done_row_takes_no_second_fix(qtbot, audited):
    window, labels, _rows = audited
    _open_row(qtbot, window, 2)
    qtbot.keyClick(window.audit_dock.table, Qt.Key.Key_K)
    window.audit_dock.select_row(2)
    assert not any(b.isEnabled() for b in window.audit_dock.fix_buttons.values())
    assert window.audit.fix("delete") is False
    assert labels["spurious"] in {a.id for a in window.store.iter_annotations()}


@pytest.mark.slow  # a random lite model proposes 100 instances an image: tens of seconds on CPU
def test_audit_runs_in_the_background_on_the_reviewed_labels(qtbot, tmp_path):
    project = make_project(tmp_path, count=3, size=(W, H))
    with ProjectStore.open(project) as store:
        categories = store.categories()
        image = store.image_ids()[0]
        store.add_annotation(
            Annotation(image, categories[0].id, _box(5, 5, 20, 20), _rect(5, 5, 20, 20))
        )
        store.set_reviewed(image)
    checkpoint = make_lite_checkpoint(tmp_path / "lite.pt", categories)
    window = shown_window(qtbot, tmp_path)
    assert window.open_project(project)
    window.audit_dock.status.setText("")
    window.audit._active_model = lambda: str(checkpoint)
    task = window.audit.run()
    assert task is not None and window.audit_dock.cancel_button.isEnabled()
    wait_until(qtbot, lambda: task.done, 120_000)
    assert window.audit.report is not None, window.audit_dock.status.text()
    assert window.audit.report.images_audited == 1  # the reviewed image only
    assert window.audit.report.predicted_by == "the model as is: lite.pt"
    assert "Predictions from the model as is" in window.audit_dock.status.text()
    assert window.audit_dock.run_button.isEnabled()
