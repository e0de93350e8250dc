"""Boxes on the canvas: draw, move, resize by handle, change category, delete, each undone
and redone, all checked in the project file through a second connection."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPointF, Qt  # noqa: E402

from core.records import Annotation  # noqa: E402
from tests._gui_helpers import (  # noqa: E402
    CAT_A,
    CAT_B,
    click,
    drag,
    make_canvas,
    move,
    press,
    release,
)


def _box(image_id: int, x: float, y: float, w: float, h: float, **fields) -> Annotation:
    return Annotation(
        image_id=image_id, category_id=fields.pop("category_id", CAT_A), bbox=(x, y, w, h), **fields
    )


def _assert_bbox(actual, expected, tol: float = 1.0) -> None:
    assert len(actual) == 4
    for a, e in zip(actual, expected, strict=True):
        assert abs(a - e) <= tol, f"bbox {tuple(actual)} differs from {expected}"


def test_box_tool_drag_stores_box_with_dragged_corners(qtbot, tmp_path):
    canvas = make_canvas(qtbot, tmp_path)
    canvas.view.set_tool("box")
    drag(canvas.view, (20, 30), (120, 90))

    stored = canvas.stored()
    assert len(stored) == 1
    _assert_bbox(stored[0].bbox, (20, 30, 100, 60))
    assert stored[0].category_id == CAT_A
    assert stored[0].segmentation is None
    assert canvas.view.selected_ids() == []  # a digit key must not re-label it


def test_box_tool_click_without_drag_adds_nothing(qtbot, tmp_path):
    canvas = make_canvas(qtbot, tmp_path)
    canvas.view.set_tool("box")
    click(canvas.view, 50, 50)
    assert canvas.stored() == []


def test_undo_and_redo_of_new_box(qtbot, tmp_path):
    canvas = make_canvas(qtbot, tmp_path)
    canvas.view.set_tool("box")
    drag(canvas.view, (10, 10), (60, 40))
    ann_id = canvas.stored()[0].id

    canvas.doc.undo_stack.undo()
    assert canvas.stored() == []
    assert canvas.view.item_for(ann_id) is None
    canvas.doc.undo_stack.redo()
    assert [a.id for a in canvas.stored()] == [ann_id]
    assert canvas.view.item_for(ann_id) is not None


def test_dragging_a_box_moves_it_and_undo_moves_it_back(qtbot, tmp_path):
    canvas = make_canvas(qtbot, tmp_path)
    canvas.store.add_annotation(_box(canvas.image_id, 40, 40, 50, 30))
    canvas.doc.reload_proposals()  # re-reads what another connection stored
    (ann,) = canvas.stored()

    drag(canvas.view, (60, 50), (90, 70))
    _assert_bbox(canvas.stored_one(ann.id).bbox, (70, 60, 50, 30))
    canvas.doc.undo_stack.undo()
    assert tuple(canvas.stored_one(ann.id).bbox) == (40, 40, 50, 30)
    assert canvas.view.item_for(ann.id).pos() == QPointF(0, 0)
    canvas.doc.undo_stack.redo()
    _assert_bbox(canvas.stored_one(ann.id).bbox, (70, 60, 50, 30))


def test_resizing_a_box_by_its_corner_handle(qtbot, tmp_path):
    canvas = make_canvas(qtbot, tmp_path, [_box(1, 40, 40, 50, 30)])
    (ann,) = canvas.stored()
    canvas.view.select_annotation(ann.id)

    # The bottom-right handle sits on the corner (90, 70): drag it to (130, 100).
    drag(canvas.view, (90, 70), (130, 100))
    _assert_bbox(canvas.stored_one(ann.id).bbox, (40, 40, 90, 60))
    canvas.doc.undo_stack.undo()
    assert tuple(canvas.stored_one(ann.id).bbox) == (40, 40, 50, 30)
    canvas.doc.undo_stack.redo()
    _assert_bbox(canvas.stored_one(ann.id).bbox, (40, 40, 90, 60))


def test_resizing_by_left_edge_handle_keeps_right_edge(qtbot, tmp_path):
    canvas = make_canvas(qtbot, tmp_path, [_box(1, 40, 40, 50, 30)])
    (ann,) = canvas.stored()
    canvas.view.select_annotation(ann.id)
    drag(canvas.view, (40, 55), (20, 10))  # the left handle only moves the left edge
    _assert_bbox(canvas.stored_one(ann.id).bbox, (20, 40, 70, 30))


def test_change_category_of_selected_and_undo(qtbot, tmp_path):
    canvas = make_canvas(qtbot, tmp_path, [_box(1, 10, 10, 20, 20)])
    (ann,) = canvas.stored()
    canvas.view.select_annotation(ann.id)
    canvas.view.edits.set_category_of_selected(CAT_B)
    assert canvas.stored_one(ann.id).category_id == CAT_B
    canvas.doc.undo_stack.undo()
    assert canvas.stored_one(ann.id).category_id == CAT_A
    canvas.doc.undo_stack.redo()
    assert canvas.stored_one(ann.id).category_id == CAT_B


def test_delete_removes_label_and_undo_restores_it_with_same_id(qtbot, tmp_path):
    canvas = make_canvas(qtbot, tmp_path, [_box(1, 10, 10, 20, 20, extra={"note": "x"})])
    (ann,) = canvas.stored()
    canvas.view.select_annotation(ann.id)
    qtbot.keyClick(canvas.view, Qt.Key.Key_Delete)
    assert canvas.stored(include_rejected=True) == []
    canvas.doc.undo_stack.undo()
    assert canvas.stored() == [ann]
    canvas.doc.undo_stack.redo()
    assert canvas.stored(include_rejected=True) == []


def test_click_selects_the_box_under_the_cursor(qtbot, tmp_path):
    canvas = make_canvas(qtbot, tmp_path, [_box(1, 10, 10, 30, 30), _box(1, 100, 60, 30, 30)])
    first, second = canvas.stored()
    click(canvas.view, 110, 70)
    assert canvas.view.selected_ids() == [second.id]
    click(canvas.view, 190, 140)  # empty image: clears
    assert canvas.view.selected_ids() == []


def test_tab_cycles_selection_and_escape_clears_it(qtbot, tmp_path):
    boxes = [_box(1, 10 + 40 * i, 10, 30, 30) for i in range(3)]
    canvas = make_canvas(qtbot, tmp_path, boxes)
    ids = [a.id for a in canvas.stored()]
    seen = []
    for _ in range(4):
        qtbot.keyClick(canvas.view, Qt.Key.Key_Tab)
        seen.extend(canvas.view.selected_ids())
    assert seen == [ids[0], ids[1], ids[2], ids[0]]
    qtbot.keyClick(canvas.view, Qt.Key.Key_Backtab)
    assert canvas.view.selected_ids() == [ids[2]]
    qtbot.keyClick(canvas.view, Qt.Key.Key_Escape)
    assert canvas.view.selected_ids() == []


def test_selection_changed_signal_carries_ids(qtbot, tmp_path):
    canvas = make_canvas(qtbot, tmp_path, [_box(1, 10, 10, 30, 30)])
    (ann,) = canvas.stored()
    with qtbot.waitSignal(canvas.view.selectionChanged) as blocker:
        canvas.view.select_annotation(ann.id)
    assert blocker.args == [[ann.id]]


def test_wheel_zoom_keeps_image_point_under_cursor(qtbot, tmp_path):
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    canvas = make_canvas(qtbot, tmp_path)
    view = canvas.view
    view.zoom.zoom_by(4.0)  # large enough to scroll, so the anchor can be honoured
    anchor = view.mapFromScene(QPointF(120, 85))
    event = QWheelEvent(
        QPointF(anchor),
        QPointF(view.viewport().mapToGlobal(anchor)),
        QPoint(),
        QPoint(0, 240),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(view.viewport(), event)
    assert view.view_scale() == pytest.approx(4.0 * 1.0015**240)  # two ~1.2x wheel notches
    after = view.mapToScene(anchor)
    assert abs(after.x() - 120) <= 1 and abs(after.y() - 85) <= 1


def test_middle_button_drag_pans_without_editing(qtbot, tmp_path):
    canvas = make_canvas(qtbot, tmp_path, [_box(1, 10, 10, 30, 30)])
    view = canvas.view
    view.zoom.zoom_by(4.0)
    h_before = view.horizontalScrollBar().value()
    press(view, 100, 70, Qt.MouseButton.MiddleButton)
    move(view, 90, 70, Qt.MouseButton.MiddleButton)
    release(view, 90, 70, Qt.MouseButton.MiddleButton)
    assert view.horizontalScrollBar().value() != h_before
    assert tuple(canvas.stored()[0].bbox) == (10, 10, 30, 30)
