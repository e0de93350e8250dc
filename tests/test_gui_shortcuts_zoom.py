"""The shortcut sheet lists the canvas gestures too, menu items explain themselves in a
tooltip, and the mouse wheel zooms in small steps (also with touchpad deltas)."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QKeySequence, QWheelEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from gui.actions import ACTION_SPECS, create_actions, shortcut_label  # noqa: E402
from gui.dialogs.shortcuts_dialog import ShortcutsDialog  # noqa: E402
from tests._gui_helpers import make_canvas  # noqa: E402


def _wheel(view, delta: int, *, pixels: int = 0, at: QPointF | None = None) -> None:
    pos = QPointF(view.viewport().rect().center()) if at is None else at
    event = QWheelEvent(
        pos,
        QPointF(view.viewport().mapToGlobal(pos.toPoint())),
        QPoint(0, pixels),
        QPoint(0, delta),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(view.viewport(), event)


def test_three_wheel_notches_zoom_less_than_twice(qtbot, tmp_path):
    view = make_canvas(qtbot, tmp_path).view
    start = view.view_scale()
    for _ in range(3):
        _wheel(view, 120)
    total = view.view_scale() / start
    assert 1.3 < total < 2.0
    for _ in range(3):
        _wheel(view, -120)
    assert view.view_scale() == pytest.approx(start)


def test_touchpad_deltas_zoom_smoothly(qtbot, tmp_path):
    view = make_canvas(qtbot, tmp_path).view
    view.zoom.zoom_100()
    for _ in range(12):  # a high-resolution wheel or touchpad: many small deltas
        _wheel(view, 10)
    in_small_steps = view.view_scale()
    view.zoom.zoom_100()
    _wheel(view, 120)  # the same amount in one notch
    assert in_small_steps > 1.0
    assert in_small_steps == pytest.approx(view.view_scale(), rel=1e-6)
    # A touchpad that only reports pixels (macOS) still zooms, a little.
    view.zoom.zoom_100()
    _wheel(view, 0, pixels=30)
    assert 1.0 < view.view_scale() < 1.2


def test_shortcut_sheet_lists_canvas_gestures(qtbot):
    dialog = ShortcutsDialog()
    qtbot.addWidget(dialog)
    rows = dialog.rows() + dialog.gesture_rows()
    keys = {keys for _menu, _command, keys in rows}
    text = "\n".join(" | ".join(row) for row in rows)
    assert "Esc" in keys
    assert any("Space" in k for k in keys)
    for needle in ("Middle", "Wheel", "[", "]", "Shift+click", "Double-click"):
        assert needle in text, needle
    assert any("pan" in command.lower() for _m, command, _k in rows)
    assert any("deselect" in command.lower() for _m, command, _k in rows)
    # The menu actions are still listed, generated from the same table as the menus.
    assert ("Edit", "Undo", "Ctrl+Z") in dialog.rows()


def test_every_menu_action_has_a_tooltip_with_its_tip_and_shortcut(qtbot):
    parent = QWidget()
    qtbot.addWidget(parent)
    actions = create_actions(parent)
    for spec in ACTION_SPECS:
        tooltip = actions[spec.name].toolTip()
        assert spec.tip and spec.tip in tooltip, spec.name
        if spec.shortcuts:
            first = QKeySequence(spec.shortcuts[0]).toString(QKeySequence.SequenceFormat.NativeText)
            assert first in tooltip and shortcut_label(spec) in tooltip, spec.name
