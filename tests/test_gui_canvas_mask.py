"""Masks on the canvas: brush, eraser, fill holes, polygon drawing and vertex editing, checked
pixel by pixel in the project file (decoded RLE) through a second connection."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402

from core import mask_pixels, masks  # noqa: E402
from tests._gui_helpers import (  # noqa: E402
    CAT_B,
    IMAGE_H,
    IMAGE_W,
    click,
    double_click,
    drag,
    iou,
    make_canvas,
    mask_annotation,
    rect_mask,
)


def _one_mask_canvas(qtbot, tmp_path, mask):
    canvas = make_canvas(qtbot, tmp_path, [mask_annotation(1, mask)])
    (ann,) = canvas.stored()
    canvas.view.select_annotation(ann.id)
    return canvas, ann


def test_brush_stroke_sets_pixels_under_it_only(qtbot, tmp_path):
    canvas, ann = _one_mask_canvas(qtbot, tmp_path, rect_mask(20, 20, 60, 60))
    canvas.view.set_tool("brush")
    canvas.view.set_brush_size(10)
    drag(canvas.view, (60.5, 40.5), (140.5, 40.5))

    mask = canvas.stored_mask(ann.id)
    assert mask[40, 60:141].all()  # along the stroke
    assert mask[36:45, 100].all()  # across it, inside the 10 px width
    assert not mask[30, 100] and not mask[50, 100]  # beyond the brush radius
    assert not mask[100:, :].any()  # far away
    assert mask[20:60, 20:60].all()  # what was there stays
    stored = canvas.stored_one(ann.id)
    assert tuple(stored.bbox) == masks.bbox_of(stored.segmentation, IMAGE_H, IMAGE_W)
    assert stored.area == mask.sum()


def test_undo_restores_brush_stroke_pixels_exactly_and_redo_reapplies(qtbot, tmp_path):
    canvas, ann = _one_mask_canvas(qtbot, tmp_path, rect_mask(20, 20, 60, 60))
    canvas.view.set_tool("brush")
    drag(canvas.view, (50, 50), (120, 110))
    painted = canvas.stored_one(ann.id)
    assert painted.segmentation != ann.segmentation

    canvas.doc.undo_stack.undo()
    assert canvas.stored_one(ann.id) == ann  # every field, the RLE string included
    canvas.doc.undo_stack.redo()
    assert canvas.stored_one(ann.id) == painted


def test_one_stroke_is_one_undo_step(qtbot, tmp_path):
    canvas, _ = _one_mask_canvas(qtbot, tmp_path, rect_mask(20, 20, 60, 60))
    canvas.view.set_tool("brush")
    drag(canvas.view, (50, 50), (120, 110), steps=20)
    assert canvas.doc.undo_stack.count() == 1


def test_brush_without_selection_starts_new_mask_of_current_category(qtbot, tmp_path):
    canvas = make_canvas(qtbot, tmp_path)
    canvas.view.set_current_category(CAT_B)
    canvas.view.set_tool("brush")
    canvas.view.set_brush_size(8)
    drag(canvas.view, (30.5, 30.5), (80.5, 30.5))
    (ann,) = canvas.stored()
    assert ann.category_id == CAT_B
    mask = canvas.stored_mask(ann.id)
    assert mask[30, 30:81].all() and not mask[40, 50]
    assert canvas.view.selected_ids() == []


def test_eraser_removes_pixels_and_box_follows_mask(qtbot, tmp_path):
    canvas, ann = _one_mask_canvas(qtbot, tmp_path, rect_mask(20, 20, 100, 60))
    canvas.view.set_tool("eraser")
    canvas.view.set_brush_size(20)
    # Erase the right end of the rectangle completely, top to bottom.
    for x in (85, 95, 105):
        drag(canvas.view, (x, 10), (x, 70))
    mask = canvas.stored_mask(ann.id)
    assert mask[20:60, 20:70].all()
    assert not mask[:, 80:].any()
    x, y, w, h = canvas.stored_one(ann.id).bbox
    assert (y, h) == (20, 40) and x == 20 and x + w <= 80


def test_erasing_a_mask_to_nothing_deletes_it_undoably(qtbot, tmp_path):
    canvas, ann = _one_mask_canvas(qtbot, tmp_path, rect_mask(40, 40, 46, 46))
    canvas.view.set_tool("eraser")
    canvas.view.set_brush_size(30)
    drag(canvas.view, (43, 43), (44, 44))
    assert canvas.stored(include_rejected=True) == []
    canvas.doc.undo_stack.undo()
    assert canvas.stored() == [ann]


def test_brush_and_bracket_keys_change_size(qtbot, tmp_path):
    canvas = make_canvas(qtbot, tmp_path)
    canvas.view.set_brush_size(20)
    qtbot.keyClick(canvas.view, Qt.Key.Key_BracketRight)
    assert canvas.view.brush_size == 25
    qtbot.keyClick(canvas.view, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(canvas.view, Qt.Key.Key_BracketLeft)
    assert canvas.view.brush_size == 16


def test_fill_holes_fills_a_ring(qtbot, tmp_path):
    ring = rect_mask(30, 30, 90, 90) & ~rect_mask(45, 45, 75, 75)
    canvas, ann = _one_mask_canvas(qtbot, tmp_path, ring)
    canvas.view.edits.fill_holes_selected()
    assert np.array_equal(canvas.stored_mask(ann.id), rect_mask(30, 30, 90, 90))
    canvas.doc.undo_stack.undo()
    assert np.array_equal(canvas.stored_mask(ann.id), ring)


def test_polygon_tool_mask_matches_fillpoly_of_same_vertices(qtbot, tmp_path):
    canvas = make_canvas(qtbot, tmp_path)
    canvas.view.set_tool("polygon")
    vertices = [(30, 20), (150, 35), (170, 120), (60, 130), (20, 80)]
    for x, y in vertices:
        click(canvas.view, x, y)
    qtbot.keyClick(canvas.view, Qt.Key.Key_Return)

    (ann,) = canvas.stored()
    expected = np.zeros((IMAGE_H, IMAGE_W), np.uint8)
    cv2.fillPoly(expected, [np.array(vertices, np.int32)], 1)
    assert iou(canvas.stored_mask(ann.id), expected.astype(bool)) > 0.98
    assert canvas.view.selected_ids() == []


def test_polygon_closes_on_first_vertex_click_and_on_double_click(qtbot, tmp_path):
    canvas = make_canvas(qtbot, tmp_path)
    canvas.view.set_tool("polygon")
    for x, y in [(10, 10), (60, 10), (60, 60)]:
        click(canvas.view, x, y)
    click(canvas.view, 11, 11)  # on the first vertex
    for x, y in [(100, 80), (180, 80)]:
        click(canvas.view, x, y)
    double_click(canvas.view, 180, 140)
    first, second = canvas.stored()
    assert (
        iou(
            canvas.stored_mask(first.id),
            mask_pixels.polygon_mask(np.array([(10, 10), (60, 10), (60, 60)]), IMAGE_H, IMAGE_W),
        )
        > 0.99
    )
    assert canvas.stored_mask(second.id)[110, 170]


def test_escape_abandons_unfinished_polygon(qtbot, tmp_path):
    canvas = make_canvas(qtbot, tmp_path)
    canvas.view.set_tool("polygon")
    for x, y in [(10, 10), (60, 10), (60, 60)]:
        click(canvas.view, x, y)
    qtbot.keyClick(canvas.view, Qt.Key.Key_Escape)
    qtbot.keyClick(canvas.view, Qt.Key.Key_Return)
    assert canvas.stored() == []


def test_dragging_an_outline_vertex_changes_the_mask(qtbot, tmp_path):
    canvas, ann = _one_mask_canvas(qtbot, tmp_path, rect_mask(40, 40, 100, 100))
    canvas.view.set_tool("polygon")
    points = canvas.view.polygon_item.points
    assert len(points) == 4
    corner = max(points, key=lambda p: p.x() + p.y())  # the bottom-right vertex
    drag(canvas.view, (corner.x(), corner.y()), (150, 140))

    mask = canvas.stored_mask(ann.id)
    assert mask[120, 125]  # gained, inside the stretched outline
    assert mask[45:95, 45:95].all()
    assert not mask[45, 140]  # outside it
    canvas.doc.undo_stack.undo()
    assert np.array_equal(canvas.stored_mask(ann.id), rect_mask(40, 40, 100, 100))


def test_inserted_vertex_can_be_dragged_and_deleted(qtbot, tmp_path):
    canvas, ann = _one_mask_canvas(qtbot, tmp_path, rect_mask(40, 40, 100, 100))
    canvas.view.set_tool("polygon")
    top = min(p.y() for p in canvas.view.polygon_item.points)
    double_click(canvas.view, 70, top)  # on the top edge
    assert len(canvas.view.polygon_item.points) == 5
    assert canvas.stored_one(ann.id) == ann  # inserting alone does not change the mask

    drag(canvas.view, (70, top), (70, 15))  # pull a spike up
    assert canvas.stored_mask(ann.id)[25, 70]
    # Shift-click the spike's vertex to remove it: the spike goes.
    click(canvas.view, 70, 15, modifiers=Qt.KeyboardModifier.ShiftModifier)
    assert len(canvas.view.polygon_item.points) == 4
    assert not canvas.stored_mask(ann.id)[25, 70]


def test_moving_a_mask_shifts_its_pixels(qtbot, tmp_path):
    canvas, ann = _one_mask_canvas(qtbot, tmp_path, rect_mask(40, 40, 60, 60))
    drag(canvas.view, (50, 50), (80, 60))
    assert np.array_equal(canvas.stored_mask(ann.id), rect_mask(70, 50, 90, 70))
    assert tuple(canvas.stored_one(ann.id).bbox) == (70, 50, 20, 20)
