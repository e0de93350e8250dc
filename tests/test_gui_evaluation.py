"""The analyst's view: Evaluate in the background, metrics, per-class table, live sliders,
TP/FP/FN on the canvas, the image list by errors, next/previous error, the confusion matrix."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QColor, QImage  # noqa: E402

from core.evaluation.matching import Counts  # noqa: E402
from core.records import ReviewState  # noqa: E402
from gui.canvas.match_overlay import MARK_COLORS  # noqa: E402
from gui.window.evaluation import REFRESH_AFTER_EDITS_MS  # noqa: E402
from tests._evaluation_helpers import (  # noqa: E402
    BACKGROUND_FP_BOX,
    CONFUSED_BOX,
    LOW_BOX,
    TP_BOX,
    make_evaluation_project,
)
from tests._window_helpers import shown_window, wait_until  # noqa: E402

CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier


@pytest.fixture
def evaluated(qtbot, tmp_path: Path):
    """A window on the project, View > Evaluate shown, Evaluate clicked and finished."""
    path, ids, cats = make_evaluation_project(tmp_path)
    window = shown_window(qtbot, tmp_path)
    assert window.open_project(path)
    window.go_to_image(ids[0])
    assert not window.evaluation_dock.isVisible()  # hidden until asked for
    with qtbot.waitActive(window):
        window.activateWindow()
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_E, CTRL_SHIFT)
    assert window.evaluation_dock.isVisible()
    qtbot.mouseClick(window.evaluation_dock.evaluate_button, Qt.MouseButton.LeftButton)
    wait_until(qtbot, lambda: window.evaluation.result is not None)
    return window, ids, cats


def _class_rows(window) -> list[tuple[str, ...]]:
    proxy = window.evaluation_dock.class_proxy
    return [
        tuple(proxy.index(r, c).data() for c in range(proxy.columnCount()))
        for r in range(proxy.rowCount())
    ]


def test_evaluate_shows_metrics_counts_and_a_table_that_sorts(qtbot, evaluated) -> None:
    window, _ids, _cats = evaluated
    dock = window.evaluation_dock
    assert window.evaluation.task is not None and window.evaluation.task.done
    assert window.evaluation.result.total() == Counts(tp=1, fp=2, fn=2)
    assert dock.counts_label.text().startswith("TP 1 · FP 2 · FN 2")
    assert "segm" in dock.metrics_label.text() and "bbox" in dock.metrics_label.text()
    rows = _class_rows(window)
    assert [r[0] for r in rows] == ["circle", "square", "triangle"]
    by_name = {r[0]: r for r in rows}
    # (Class, AP, AP50, TP, FP, FN, Instances)
    assert by_name["square"][3:] == ("1", "1", "0", "1")
    assert by_name["circle"][3:] == ("0", "1", "1", "1")
    assert by_name["triangle"][3:] == ("0", "0", "1", "1")
    # A click on the FP header sorts by it; a second click reverses.
    header = dock.class_table.horizontalHeader()
    x = header.sectionViewportPosition(4) + header.sectionSize(4) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    first = [r[4] for r in _class_rows(window)]
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    second = [r[4] for r in _class_rows(window)]
    assert first in (["0", "1", "1"], ["1", "1", "0"])
    assert second == list(reversed(first))


def test_pr_curves_have_an_operating_point_per_class(qtbot, evaluated) -> None:
    window, _ids, cats = evaluated
    curves = window.evaluation_dock.pr_curves
    assert set(curves.curves) == set(cats.values())
    assert curves.operating_point(cats["square"]) == pytest.approx((1.0, 0.5))
    assert curves.operating_point(cats["triangle"]) == pytest.approx((0.0, 1.0))


def test_pr_curves_follow_the_iou_slider_once_it_rests(qtbot, evaluated) -> None:
    from core.evaluation.matching import MatchSettings

    window, _ids, cats = evaluated
    dock = window.evaluation_dock
    curves = dock.pr_curves
    assert curves.chart.title() == "Precision-recall at IoU 0.50"
    dock.iou.slider.setFocus()
    for _ in range(8):  # 0.50 -> 0.90
        qtbot.keyClick(dock.iou.slider, Qt.Key.Key_Right)
    wait_until(qtbot, lambda: curves.chart.title() == "Precision-recall at IoU 0.90")
    # The expected curve, computed here (the view's data lives in the evaluation's process).
    from core.evaluation.matching import EvaluationData
    from core.evaluation.sources import project_ground_truth, project_proposals

    data = EvaluationData.from_coco(
        project_ground_truth(window.store), project_proposals(window.store)
    )
    _summary, classes = data.metrics(MatchSettings(0.9, 0.5))
    triangle = next(c for c in classes if c.category_id == cats["triangle"])
    shown = [(p.x(), p.y()) for p in curves.curves[cats["triangle"]].points()]
    expected = [
        (float(r), float(p))
        for r, p in zip(triangle.recall, triangle.precision, strict=True)
        if p == p and p >= 0
    ]
    assert shown == pytest.approx(expected)


def test_score_slider_rematches_live_without_the_model(qtbot, evaluated) -> None:
    window, _ids, cats = evaluated
    dock = window.evaluation_dock
    slider = dock.score.slider
    slider.setFocus()
    # 0.50 -> 0.20 with the arrow keys (0.05 a step): the 0.3 triangle proposal now
    # exists and matches its label.
    for _ in range(6):
        qtbot.keyClick(slider, Qt.Key.Key_Left)
    assert slider.value() == 20
    wait_until(qtbot, lambda: window.evaluation.result.settings.score_threshold == 0.2)
    assert window.evaluation.result.total() == Counts(tp=2, fp=2, fn=1)
    by_name = {r[0]: r for r in _class_rows(window)}
    assert by_name["triangle"][3:6] == ("1", "0", "0")
    # Above every score: nothing predicted, every label missed.
    for _ in range(10):
        qtbot.keyClick(slider, Qt.Key.Key_Right)
    wait_until(qtbot, lambda: window.evaluation.result.settings.score_threshold == 0.7)
    assert window.evaluation.result.total() == Counts(tp=1, fp=2, fn=2)
    for _ in range(5):
        qtbot.keyClick(slider, Qt.Key.Key_Right)
    wait_until(qtbot, lambda: window.evaluation.result.settings.score_threshold == 0.95)
    assert window.evaluation.result.total() == Counts(tp=0, fp=0, fn=3)
    assert dock.counts_label.text().startswith("TP 0 · FP 0 · FN 3")


def _near(color: QColor, hex_color: str, tolerance: int = 40) -> bool:
    other = QColor(hex_color)
    return (
        abs(color.red() - other.red())
        + abs(color.green() - other.green())
        + abs(color.blue() - other.blue())
        <= tolerance
    )


def _edge_has_color(window, box, hex_color: str) -> bool:
    """Any pixel of the colour on the middle of the box's top edge, on the grabbed canvas."""
    canvas = window.canvas
    image: QImage = canvas.viewport().grab().toImage()
    x, y, w, _h = box
    for n in range(40):
        scene = QPointF(x + w * (0.3 + 0.4 * n / 40), y)
        view = canvas.mapFromScene(scene)
        for dy in (-1, 0, 1):
            px = image.pixelColor(view.x(), view.y() + dy)
            if _near(px, hex_color):
                return True
    return False


def test_canvas_draws_tp_fp_fn_in_their_colours_with_a_legend(qtbot, evaluated) -> None:
    window, ids, _cats = evaluated
    canvas = window.canvas
    wait_until(qtbot, lambda: not canvas.pixmap_item.pixmap().isNull())
    assert canvas.match_legend.isVisible()
    assert _edge_has_color(window, TP_BOX, MARK_COLORS["tp"])
    window.go_to_image(ids[1])
    wait_until(qtbot, lambda: window.current_image_id == ids[1])
    qtbot.wait(50)
    marks = {m.kind: m for m in canvas.match_overlay.marks}
    assert set(marks) == {"fp", "fn"}
    assert "circle as square" in marks["fp"].label and "0.80" in marks["fp"].label
    assert "IoU 0.00" in marks["fp"].label  # no square label under it
    assert _edge_has_color(window, CONFUSED_BOX, MARK_COLORS["fp"])
    assert _edge_has_color(window, CONFUSED_BOX, MARK_COLORS["fn"])
    # Hiding the view takes the marks (and their colours) off the canvas.
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_E, CTRL_SHIFT)
    assert not window.evaluation_dock.isVisible()
    assert canvas.match_overlay.marks == []
    assert not canvas.match_legend.isVisible()
    assert not _edge_has_color(window, CONFUSED_BOX, MARK_COLORS["fn"])


def test_image_list_sorts_and_filters_by_errors_live(qtbot, evaluated) -> None:
    window, ids, _cats = evaluated
    dock = window.evaluation_dock
    listed = window.image_list.model.image_ids
    dock.errors_only_box.click()
    assert listed() == [ids[1], ids[2]]  # image 1 has only a TP
    dock.order.setCurrentIndex(dock.order.findData("fn"))
    assert listed()[:2] == [ids[1], ids[2]]
    dock.order.setCurrentIndex(dock.order.findData("f1"))
    assert listed() == [ids[1], ids[2]]  # F1 0 for both, id order breaks the tie
    dock.errors_only_box.click()
    assert listed() == [ids[1], ids[2], ids[0]]  # image 1 (only a TP, F1 1.0) last
    # At score 0.95 every image has an FN: all are listed under "with errors".
    dock.errors_only_box.click()
    dock.score.slider.setFocus()
    qtbot.keyClick(dock.score.slider, Qt.Key.Key_End)
    wait_until(qtbot, lambda: len(listed()) == 3)


def test_next_and_previous_error_walk_across_images(qtbot, evaluated) -> None:
    window, ids, cats = evaluated
    evaluation = window.evaluation
    errors = evaluation.result.errors()
    assert [(e.kind, e.image_id) for e in errors] == [
        ("fn", ids[1]),
        ("fp", ids[1]),
        ("fn", ids[2]),
        ("fp", ids[2]),
    ]
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_F8)
    assert window.current_image_id == ids[1] and evaluation.current_error == errors[0]
    current = [m for m in window.canvas.match_overlay.marks if m.current]
    assert [m.kind for m in current] == ["fn"]
    # The missed circle has no circle prediction near it: its label is selected, to fix.
    selected = window.canvas.selected_ids()
    assert len(selected) == 1
    assert window.current_document.annotation(selected[0]).category_id == cats["circle"]
    qtbot.keyClick(window.canvas, Qt.Key.Key_F8)
    assert evaluation.current_error == errors[1]
    qtbot.keyClick(window.canvas, Qt.Key.Key_F8)
    assert window.current_image_id == ids[2] and evaluation.current_error == errors[2]
    # The FN's best prediction is the low-score proposal: selected when it is visible.
    qtbot.keyClick(window.canvas, Qt.Key.Key_F8, Qt.KeyboardModifier.ShiftModifier)
    assert window.current_image_id == ids[1] and evaluation.current_error == errors[1]
    qtbot.keyClick(window.canvas, Qt.Key.Key_F8)
    qtbot.keyClick(window.canvas, Qt.Key.Key_F8)
    qtbot.keyClick(window.canvas, Qt.Key.Key_F8)
    assert evaluation.current_error == errors[0]  # wraps around


def test_at_an_fn_its_low_iou_proposal_is_selected_and_enter_accepts_it(qtbot, evaluated) -> None:
    window, ids, cats = evaluated
    evaluation, dock = window.evaluation, window.evaluation_dock
    dock.auto_refresh.click()
    # The canvas shows the 0.3 proposal. (Waiting for the commit: the model dock's debounced
    # signal would otherwise fire after this window is gone.)
    with qtbot.waitSignal(window.model_dock.thresholdCommitted, timeout=5000):
        window.model_dock.spin.setValue(0.2)
    wait_until(qtbot, lambda: window.canvas.score_threshold == pytest.approx(0.2))
    dock.score.slider.setValue(20)
    dock.iou.slider.setValue(90)  # the triangle proposal (IoU 0.85) no longer matches
    wait_until(
        qtbot,
        lambda: (
            evaluation.result.settings.iou_threshold == 0.9
            and evaluation.result.settings.score_threshold == 0.2
        ),
    )
    errors = evaluation.result.errors()
    miss = next(e for e in errors if e.kind == "fn" and e.image_id == ids[2])
    window.canvas.setFocus()
    for _ in range(errors.index(miss) + 1):
        qtbot.keyClick(window.canvas, Qt.Key.Key_F8)
    assert evaluation.current_error == miss
    assert "Enter accepts" in window.work_status.message()
    (selected,) = window.canvas.selected_ids()
    proposal = window.current_document.annotation(selected)
    assert tuple(proposal.bbox) == LOW_BOX and proposal.score == pytest.approx(0.3)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Return)
    assert window.current_document.annotation(selected).state is ReviewState.ACCEPTED


def test_at_an_fn_missed_below_the_score_cut_its_proposal_is_offered(qtbot, evaluated) -> None:
    window, ids, _cats = evaluated
    evaluation, dock = window.evaluation, window.evaluation_dock
    dock.auto_refresh.click()
    errors = evaluation.result.errors()
    miss = next(e for e in errors if e.kind == "fn" and e.image_id == ids[2])
    window.canvas.setFocus()
    for _ in range(errors.index(miss) + 1):
        qtbot.keyClick(window.canvas, Qt.Key.Key_F8)
    assert evaluation.current_error == miss
    # The triangle's 0.3 proposal is below the Model dock's 0.5 too: hidden, so said.
    assert window.canvas.selected_ids() == []
    assert "(0.30) is hidden below the proposal threshold" in window.work_status.message()
    with qtbot.waitSignal(window.model_dock.thresholdCommitted, timeout=5000):
        window.model_dock.spin.setValue(0.25)
    qtbot.keyClick(window.canvas, Qt.Key.Key_F8, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(window.canvas, Qt.Key.Key_F8)
    assert evaluation.current_error == miss
    (selected,) = window.canvas.selected_ids()
    proposal = window.current_document.annotation(selected)
    assert tuple(proposal.bbox) == LOW_BOX
    qtbot.keyClick(window.canvas, Qt.Key.Key_Return)
    assert window.current_document.annotation(selected).state is ReviewState.ACCEPTED


def test_rejecting_an_fp_there_and_evaluating_again_updates_the_counts(qtbot, evaluated) -> None:
    window, ids, _cats = evaluated
    evaluation = window.evaluation
    window.evaluation_dock.auto_refresh.click()  # off: the Evaluate button does it
    assert not window.evaluation_dock.auto_refresh.isChecked()
    window.canvas.setFocus()
    for _ in range(4):  # to the circle proposed on empty background (image 3's FP)
        qtbot.keyClick(window.canvas, Qt.Key.Key_F8)
    assert evaluation.current_error.kind == "fp" and window.current_image_id == ids[2]
    selected = window.canvas.selected_ids()
    assert len(selected) == 1  # the stored proposal that is this prediction
    assert tuple(window.current_document.annotation(selected[0]).bbox) == BACKGROUND_FP_BOX
    qtbot.keyClick(window.canvas, Qt.Key.Key_Delete)
    assert not window.current_document.has_annotation(selected[0])
    qtbot.wait(REFRESH_AFTER_EDITS_MS + 300)
    assert evaluation.result.total().fp == 2  # not refreshed on its own
    qtbot.mouseClick(window.evaluation_dock.evaluate_button, Qt.MouseButton.LeftButton)
    wait_until(qtbot, lambda: evaluation.result.total().fp == 1)
    assert evaluation.result.total() == Counts(tp=1, fp=1, fn=2)


def test_an_edit_refreshes_the_numbers_on_its_own(qtbot, evaluated) -> None:
    window, ids, _cats = evaluated
    evaluation = window.evaluation
    assert window.evaluation_dock.auto_refresh.isChecked()
    window.canvas.setFocus()
    for _ in range(4):
        qtbot.keyClick(window.canvas, Qt.Key.Key_F8)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Delete)
    wait_until(qtbot, lambda: evaluation.result.total().fp == 1)
    assert evaluation.result.total() == Counts(tp=1, fp=1, fn=2)
    # The error walk goes on from the same image: its FN is now the last error.
    assert [(e.kind, e.image_id) for e in evaluation.result.errors()][-1] == ("fn", ids[2])


def test_confusion_matrix_cell_lists_instances_and_goes_there(qtbot, evaluated) -> None:
    window, ids, cats = evaluated
    dock = window.evaluation_dock
    dock.tabs.setCurrentIndex(2)
    table = dock.confusion_table
    names = [table.verticalHeaderItem(r).text() for r in range(table.rowCount())]
    assert names == ["circle", "square", "triangle", "background"]
    # circle (row 0) predicted as square (column 1): the wrong-class detection.
    assert table.item(0, 1).text() == "1"
    assert table.item(3, 0).text() == "1"  # the circle on empty background
    assert table.item(2, 3).text() == "1"  # the triangle missed
    rect = table.visualItemRect(table.item(0, 1))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert dock.confusion_list.count() == 1
    assert "circle as square" in dock.confusion_list.item(0).text()
    item_rect = dock.confusion_list.visualItemRect(dock.confusion_list.item(0))
    # Qt's test double-click needs the click before it, as a real one has.
    qtbot.mouseClick(
        dock.confusion_list.viewport(), Qt.MouseButton.LeftButton, pos=item_rect.center()
    )
    qtbot.mouseDClick(
        dock.confusion_list.viewport(), Qt.MouseButton.LeftButton, pos=item_rect.center()
    )
    assert window.current_image_id == ids[1]
    current = [m for m in window.canvas.match_overlay.marks if m.current]
    assert [m.bbox for m in current] == [CONFUSED_BOX, CONFUSED_BOX]  # its FP and FN


def test_a_big_confusion_cell_lists_its_first_rows_and_says_how_many_more(
    qtbot, evaluated, monkeypatch
) -> None:
    from gui.window import evaluation as controller_module

    window, _ids, _cats = evaluated
    dock = window.evaluation_dock
    dock.tabs.setCurrentIndex(2)
    table = dock.confusion_table
    monkeypatch.setattr(controller_module, "CELL_ROWS_SHOWN", 0)  # as if the cell were huge
    rect = table.visualItemRect(table.item(0, 1))  # circle as square: one instance
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert [dock.confusion_list.item(n).text() for n in range(dock.confusion_list.count())] == [
        "… and 1 more"
    ]
    note = dock.confusion_list.item(0)
    rect = dock.confusion_list.visualItemRect(note)
    shown = window.current_image_id
    qtbot.mouseDClick(dock.confusion_list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.current_image_id == shown  # a note goes nowhere


def test_confusion_cells_take_the_canvas_colours(qtbot, evaluated) -> None:
    window, _ids, _cats = evaluated
    table = window.evaluation_dock.confusion_table

    def hue_of(row: int, column: int) -> str:
        color = table.item(row, column).background().color()
        return QColor(color.red(), color.green(), color.blue()).name()

    # rows/columns: circle, square, triangle, background
    assert hue_of(1, 1) == MARK_COLORS["tp"]  # the square found
    assert hue_of(0, 1) == MARK_COLORS["fp"]  # circle taken for a square
    assert hue_of(3, 0) == MARK_COLORS["fp"]  # a circle on empty background
    assert hue_of(2, 3) == MARK_COLORS["fn"]  # the triangle missed
    assert table.item(0, 0).background().style() == Qt.BrushStyle.NoBrush  # nothing there


def test_pr_curves_are_drawn_when_their_tab_is_first_shown(qtbot, evaluated) -> None:
    window, _ids, cats = evaluated
    dock = window.evaluation_dock
    chart = dock.pr_curves.chart
    assert dock.tabs.currentIndex() == 0 and not dock.pr_curves.isVisible()
    assert chart.series() == []  # not built while hidden: the outcome's arrival stays light
    assert chart.title() == "Precision-recall at IoU 0.50"
    dock.tabs.setCurrentIndex(1)
    assert dock.pr_curves.isVisible()
    assert len(chart.series()) == 2 * len(cats)  # a curve and an operating point per class
    assert dock.pr_curves.operating_point(cats["square"]) == pytest.approx((1.0, 0.5))
