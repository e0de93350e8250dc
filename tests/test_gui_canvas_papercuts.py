"""Canvas papercuts a new annotator hits: a freshly drawn shape is not left selected (so the
next digit key does not re-label it), score tags do not pile up, proposal outlines stand out,
the brush stays visible at any zoom, wheel zoom is smooth, decoding shows progress."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

import numpy as np  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402

from tests._gui_helpers import (  # noqa: E402
    CAT_A,
    CAT_B,
    click,
    drag,
    make_canvas,
    mask_annotation,
    rect_mask,
)


# ---- 1. a freshly drawn shape is not selected ------------------------------------------------
def test_box_drawn_with_the_mouse_is_not_left_selected(qtbot, tmp_path):
    canvas = make_canvas(qtbot, tmp_path, [mask_annotation(1, rect_mask(150, 100, 180, 140))])
    (old,) = canvas.stored()
    canvas.view.select_annotation(old.id)
    canvas.view.set_tool("box")
    drag(canvas.view, (20, 30), (120, 90))
    assert len(canvas.stored()) == 2
    assert canvas.view.selected_ids() == []
    # What a digit key does (window: set the current category, re-label the selection).
    canvas.view.set_current_category(CAT_B)
    canvas.view.set_category_of_selected(CAT_B)
    assert {a.category_id for a in canvas.stored()} == {CAT_A}


def test_polygon_drawn_is_not_left_selected(qtbot, tmp_path):
    canvas = make_canvas(qtbot, tmp_path)
    canvas.view.set_tool("polygon")
    for x, y in [(30, 20), (150, 35), (170, 120)]:
        click(canvas.view, x, y)
    qtbot.keyClick(canvas.view, Qt.Key.Key_Return)
    assert len(canvas.stored()) == 1
    assert canvas.view.selected_ids() == []


def test_brush_started_mask_is_not_selected_but_next_stroke_extends_it(qtbot, tmp_path):
    canvas = make_canvas(qtbot, tmp_path)
    canvas.view.set_tool("brush")
    canvas.view.set_brush_size(8)
    drag(canvas.view, (30.5, 30.5), (80.5, 30.5))
    (ann,) = canvas.stored()
    assert canvas.view.selected_ids() == []
    drag(canvas.view, (30.5, 60.5), (80.5, 60.5))  # same category: the same mask grows
    (grown,) = canvas.stored()
    mask = canvas.stored_mask(grown.id)
    assert grown.id == ann.id and mask[30, 50] and mask[60, 50]
    # After choosing another category the next stroke starts a mask of that category.
    canvas.view.set_current_category(CAT_B)
    drag(canvas.view, (30.5, 100.5), (80.5, 100.5))
    first, second = canvas.stored()
    assert (first.category_id, second.category_id) == (CAT_A, CAT_B)
    assert not canvas.stored_mask(first.id)[100, 50]
    assert np.array_equal(canvas.stored_mask(first.id), mask)
