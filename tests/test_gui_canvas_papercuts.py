"""Canvas papercuts a new annotator hits: a freshly drawn shape is not left selected (so the
next digit key does not re-label it), score tags do not pile up, proposal outlines stand out,
the brush stays visible at any zoom, wheel zoom is smooth, decoding shows progress."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

import math  # noqa: E402

import numpy as np  # noqa: E402
from PySide6.QtCore import QPointF, QRectF, Qt  # noqa: E402
from PySide6.QtGui import QColor, QImage  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from gui.canvas import mask_raster  # noqa: E402
from gui.canvas.overlays import MIN_CURSOR_PX  # noqa: E402
from gui.canvas.view import MIN_BRUSH_SCREEN_PX, PAN_TAG_LAYOUT_DELAY_MS  # noqa: E402
from gui.commands import annotation_with_mask  # noqa: E402
from tests._gui_helpers import (  # noqa: E402
    CAT_A,
    CAT_B,
    IMAGE_H,
    IMAGE_W,
    click,
    drag,
    make_canvas,
    mask_annotation,
    move,
    press,
    proposal,
    rect_mask,
    release,
    view_pos,
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
    canvas.view.edits.set_category_of_selected(CAT_B)
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


# ---- 2. score tags and proposal outlines -----------------------------------------------------
def _crowded(qtbot, tmp_path):
    boxes = [
        ((20, 20, 70, 50), 0.91),
        ((23, 22, 70, 50), 0.85),
        ((26, 25, 60, 45), 0.72),
        ((21, 24, 66, 40), 0.64),
        ((100, 60, 50, 40), 0.55),
        ((102, 61, 50, 40), 0.41),
    ]
    canvas = make_canvas(qtbot, tmp_path, [proposal(1, box, score) for box, score in boxes])
    QApplication.processEvents()  # the view lays tags out once per batch of changes
    return canvas


def _tag_rects(canvas) -> dict[int, QRectF]:
    scale = canvas.view.view_scale()
    rects = {}
    for ann in canvas.stored():
        rect = canvas.view.item_for(ann.id).label_scene_rect(scale)
        if rect is not None:
            rects[ann.id] = rect
    return rects


def _assert_disjoint(rects: dict[int, QRectF]) -> None:
    items = list(rects.items())
    for i, (a_id, a) in enumerate(items):
        for b_id, b in items[i + 1 :]:
            assert not a.intersects(b), (a_id, a, b_id, b)


@pytest.mark.parametrize("zoom", [1.0, 2.0, 0.8])
def test_score_tags_of_crowded_proposals_do_not_overlap(qtbot, tmp_path, zoom):
    canvas = _crowded(qtbot, tmp_path)
    canvas.view.zoom.zoom_by(zoom)
    rects = _tag_rects(canvas)
    _assert_disjoint(rects)
    best = max(canvas.stored(), key=lambda a: a.score)
    assert best.id in rects  # the highest score always keeps its tag at the corner
    assert rects[best.id].topLeft() == QPointF(20, 20)
    assert len(rects) >= 4  # others moved aside rather than all hidden
    for ann_id, rect in rects.items():  # every tag stays inside its own box
        assert QRectF(*canvas.stored_one(ann_id).bbox).contains(rect)
    # Tags are drawn above every annotation: no other box's outline crosses them.
    layer = canvas.view.tag_layer
    assert all(layer.zValue() > canvas.view.item_for(a.id).zValue() for a in canvas.stored())
    assert layer.boundingRect().contains(QRectF(0, 0, IMAGE_W, IMAGE_H))


def test_selected_tag_with_category_name_also_avoids_the_others(qtbot, tmp_path):
    canvas = _crowded(qtbot, tmp_path)
    second = sorted(canvas.stored(), key=lambda a: -a.score)[1]
    canvas.view.select_annotation(second.id)
    QApplication.processEvents()
    rects = _tag_rects(canvas)
    assert second.id in rects
    _assert_disjoint(rects)


def test_only_boxes_in_view_get_tags_and_a_scroll_lays_out_the_new_ones(qtbot, tmp_path):
    """With thousands of instances the layout looks at the boxes in view; scrolling brings
    the others' tags in."""
    boxes = [((10, 10, 40, 30), 0.9), ((IMAGE_W - 60, IMAGE_H - 50, 40, 30), 0.8)]
    canvas = make_canvas(qtbot, tmp_path, [proposal(1, box, score) for box, score in boxes])
    view = canvas.view
    view.zoom.zoom_100()
    view.zoom.zoom_by(4.0)  # the two boxes sit in opposite corners, never in view together
    view.horizontalScrollBar().setValue(view.horizontalScrollBar().minimum())
    view.verticalScrollBar().setValue(view.verticalScrollBar().minimum())
    first, second = sorted(canvas.stored(), key=lambda a: -a.score)
    qtbot.waitUntil(lambda: set(_tag_rects(canvas)) == {first.id}, timeout=2000)
    view.horizontalScrollBar().setValue(view.horizontalScrollBar().maximum())
    view.verticalScrollBar().setValue(view.verticalScrollBar().maximum())
    # Laid out once the pan pauses (PAN_TAG_LAYOUT_DELAY_MS), not in the scroll's frame.
    qtbot.waitUntil(lambda: set(_tag_rects(canvas)) == {second.id}, timeout=2000)
    assert _tag_rects(canvas)[second.id].topLeft() == QPointF(IMAGE_W - 60, IMAGE_H - 50)


def test_a_pan_lays_the_tags_out_once_it_pauses_not_at_each_step(qtbot, tmp_path, monkeypatch):
    """A layout at 50 % with 2,000 instances costs as much as a frame: the steps of a pan
    leave the tags as they are, and the pause after the last step lays them out once."""
    boxes = [((10, 10, 40, 30), 0.9), ((IMAGE_W - 60, IMAGE_H - 50, 40, 30), 0.8)]
    canvas = make_canvas(qtbot, tmp_path, [proposal(1, box, score) for box, score in boxes])
    view = canvas.view
    view.zoom.zoom_100()
    view.zoom.zoom_by(4.0)
    hbar, vbar = view.horizontalScrollBar(), view.verticalScrollBar()
    hbar.setValue(hbar.minimum())
    vbar.setValue(vbar.minimum())
    view.layout_tags()
    first, second = sorted(canvas.stored(), key=lambda a: -a.score)
    layouts: list[set[int]] = []
    placer = view._tag_placer
    place = placer.place
    monkeypatch.setattr(
        placer,
        "place",
        lambda requests: layouts.append({r.key for r in requests}) or place(requests),
    )
    # A pause longer than any step here, so that a slow machine cannot end the pan early.
    view._pan_tag_timer.setInterval(10 * PAN_TAG_LAYOUT_DELAY_MS)
    for step in range(1, 6):  # five steps, each shown before the next comes
        hbar.setValue(hbar.minimum() + (hbar.maximum() - hbar.minimum()) * step // 5)
        vbar.setValue(vbar.minimum() + (vbar.maximum() - vbar.minimum()) * step // 5)
        QApplication.processEvents()
        view.viewport().repaint()
    assert layouts == []
    assert set(_tag_rects(canvas)) == {first.id}  # the last layout's, scrolled out of view
    qtbot.waitUntil(lambda: bool(layouts), timeout=5000)
    qtbot.wait(50)
    assert layouts == [{second.id}]
    assert set(_tag_rects(canvas)) == {second.id}


def _dark_pixels_along(image, xs, ys) -> int:
    return sum(1 for x in xs for y in ys if image.pixelColor(x, y).lightness() < 60)


def test_proposal_outline_has_a_dark_halo_on_a_background_of_its_own_colour(qtbot, tmp_path):
    canvas = make_canvas(qtbot, tmp_path, [proposal(1, (40, 40, 100, 60), 0.2)])
    red = QImage(IMAGE_W, IMAGE_H, QImage.Format.Format_RGB32)
    red.fill(QColor("#ff0000"))  # the category's own colour: a plain red dash would vanish
    canvas.view.set_image(red)
    canvas.view.zoom.zoom_100()
    QApplication.processEvents()
    frame = canvas.view.viewport().grab().toImage()
    top = canvas.view.mapFromScene(QPointF(90, 40))
    left = canvas.view.mapFromScene(QPointF(40, 70))
    around_top = _dark_pixels_along(
        frame, range(top.x() - 20, top.x() + 20), range(top.y() - 2, top.y() + 3)
    )
    around_left = _dark_pixels_along(
        frame, range(left.x() - 2, left.x() + 3), range(left.y() - 10, left.y() + 10)
    )
    assert around_top >= 20 and around_left >= 10
    inside = canvas.view.mapFromScene(QPointF(90, 75))
    assert frame.pixelColor(inside).lightness() >= 60  # only the outline is dark
    # The halo is cosmetic: as thick on screen when zoomed in four times.
    canvas.view.zoom.zoom_by(4.0)
    canvas.view.centerOn(QPointF(40, 70))
    QApplication.processEvents()
    frame = canvas.view.viewport().grab().toImage()
    left = canvas.view.mapFromScene(QPointF(40, 70))
    row = [
        frame.pixelColor(x, left.y()).lightness() < 60 for x in range(left.x() - 8, left.x() + 9)
    ]
    assert 2 <= sum(row) <= 5


# ---- 5. brush: visible at any zoom, stroke work cut to the stroke ------------------------------
def _record_segments(view) -> list[tuple[QPointF, QPointF, float]]:
    """The segments the brush paints, as it hands them to the stroke overlay."""
    seen: list[tuple[QPointF, QPointF, float]] = []
    overlay = view.stroke_overlay
    original = overlay.add_segment

    def spy(p0, p1, diameter):
        seen.append((QPointF(p0), QPointF(p1), float(diameter)))
        original(p0, p1, diameter)

    overlay.add_segment = spy
    return seen


def _full_size_stroke(segments) -> np.ndarray:
    """The stroke rasterised the old way: on a whole-image array."""
    footprint = np.zeros((IMAGE_H, IMAGE_W), np.uint8)
    for p0, p1, diameter in segments:
        mask_raster.paint_segment(footprint, p0, p1, diameter)
    return footprint.astype(bool)


@pytest.mark.parametrize("zoom", [1.0, 1.7, 0.55])
def test_brush_stroke_pixels_equal_a_full_size_reference(qtbot, tmp_path, zoom):
    before = rect_mask(20, 20, 60, 60) | rect_mask(120, 90, 140, 120)
    canvas = make_canvas(qtbot, tmp_path, [mask_annotation(1, before)])
    (ann,) = canvas.stored()
    canvas.view.zoom.zoom_by(zoom)
    canvas.view.select_annotation(ann.id)
    canvas.view.set_tool("brush")
    canvas.view.set_brush_size(9)
    segments = _record_segments(canvas.view)
    # A bent stroke, leaving the image at the right edge, with a size change halfway.
    press(canvas.view, 50.3, 40.6)
    for x, y in [(70.2, 45.1), (95.7, 61.4), (130.4, 64.9)]:
        move(canvas.view, x, y)
    canvas.view.set_brush_size(14)
    for x, y in [(170.8, 70.2), (199.6, 80.3), (205.0, 83.0)]:
        move(canvas.view, x, y)
    release(canvas.view, 205.0, 83.0)

    expected = before | _full_size_stroke(segments)
    stored = canvas.stored_one(ann.id)
    assert np.array_equal(canvas.stored_mask(ann.id), expected)
    assert stored == annotation_with_mask(ann, expected)  # RLE string, box, area: every field


def test_eraser_and_new_mask_strokes_equal_full_size_references(qtbot, tmp_path):
    before = rect_mask(20, 20, 100, 80)
    canvas = make_canvas(qtbot, tmp_path, [mask_annotation(1, before)])
    (ann,) = canvas.stored()
    canvas.view.select_annotation(ann.id)
    canvas.view.set_tool("eraser")
    canvas.view.set_brush_size(11)
    segments = _record_segments(canvas.view)
    drag(canvas.view, (10.4, 50.2), (110.7, 35.9), steps=5)
    assert canvas.stored_one(ann.id) == annotation_with_mask(
        ann, before & ~_full_size_stroke(segments)
    )

    canvas.view.clear_selection()
    canvas.view.remember_drawn(None)
    canvas.view.set_tool("brush")
    segments.clear()
    drag(canvas.view, (150.2, 10.8), (190.6, 140.1), steps=6)
    new = [a for a in canvas.stored() if a.id != ann.id]
    assert len(new) == 1
    blank_reference = annotation_with_mask(new[0], _full_size_stroke(segments))
    assert new[0] == blank_reference


def test_brush_stroke_overlay_covers_the_stroke_not_the_image(qtbot, tmp_path):
    canvas = make_canvas(qtbot, tmp_path)
    canvas.view.set_tool("brush")
    canvas.view.set_brush_size(6)
    press(canvas.view, 30, 30)
    move(canvas.view, 40, 35)
    buffer = canvas.view.stroke_overlay.buffer_rect
    assert buffer.contains(QPointF(40, 35).toPoint()) and buffer.contains(QPointF(30, 30).toPoint())
    release(canvas.view, 40, 35)
    assert canvas.view.stroke_overlay.boundingRect().isEmpty()


def test_brush_cursor_stays_visible_and_small_brush_is_raised_when_zoomed_out(qtbot, tmp_path):
    canvas = make_canvas(qtbot, tmp_path)
    view = canvas.view
    view.set_brush_size(2)
    view.zoom.zoom_by(0.06)  # a 12,000 px photo fitted to the window is about this far out
    with qtbot.waitSignal(view.statusMessage) as message:
        view.set_tool("brush")
    minimum = math.ceil(MIN_BRUSH_SCREEN_PX / view.view_scale())
    assert view.brush_size == minimum  # raised: at least 4 screen px wide
    assert f"Brush {minimum} px" in message.args[0]
    move(view, 100, 75, buttons=Qt.MouseButton.NoButton)
    cursor = view.brush_cursor
    assert cursor.isVisible() and cursor.centre() == QPointF(
        view.to_scene(QPointF(view_pos(view, 100, 75)))
    )
    assert cursor.screen_diameter() >= MIN_CURSOR_PX and cursor.shows_crosshair()
    drawn = view.mapFromScene(cursor.mapRectToScene(cursor.boundingRect())).boundingRect()
    assert drawn.width() >= MIN_CURSOR_PX

    # A wheel notch further out raises it again; zooming back in never shrinks it.
    raised = view.brush_size
    view.zoom.zoom_by(0.5)
    assert view.brush_size > raised
    bigger = view.brush_size
    view.zoom.zoom_by(8.0)
    assert view.brush_size == bigger
    # At 100 % the outline is the real size; choosing the tool says the size.
    view.zoom.zoom_100()
    view.set_tool("select")
    with qtbot.waitSignal(view.statusMessage) as message:
        view.set_tool("eraser")
    assert message.args[0] == f"Brush {bigger} px ({bigger} px on screen at 100 %)"
    view.set_brush_size(40)
    move(view, 100, 75, buttons=Qt.MouseButton.NoButton)
    assert cursor.screen_diameter() == pytest.approx(40.0)
    assert not cursor.shows_crosshair()


def test_brush_tooltip_states_the_minimum_size_rule(qtbot):
    from PySide6.QtWidgets import QWidget

    from gui.actions import create_actions

    parent = QWidget()
    qtbot.addWidget(parent)
    tip = create_actions(parent)["tool_brush"].toolTip()
    assert f"{MIN_BRUSH_SCREEN_PX} screen pixels" in tip and "zooms out" in tip


# ---- 6. decoding progress ---------------------------------------------------------------------
def test_canvas_shows_a_centred_decoding_notice_until_the_pixels_arrive(qtbot, tmp_path):
    canvas = make_canvas(qtbot, tmp_path, [mask_annotation(1, rect_mask(20, 20, 60, 60))])
    view = canvas.view
    view.show_decoding()
    QApplication.processEvents()
    overlay = view.decoding_overlay
    assert view.is_decoding() and overlay.isVisible()
    assert overlay.label.text() == f"Decoding image… ({IMAGE_W} x {IMAGE_H})"
    assert overlay.busy.minimum() == overlay.busy.maximum() == 0  # a busy indicator
    centre = overlay.geometry().center() - view.viewport().rect().center()
    assert abs(centre.x()) <= 1 and abs(centre.y()) <= 1
    # The annotations show already; the previous image's pixels do not.
    frame = view.viewport().grab().toImage()
    inside_mask = view.mapFromScene(QPointF(25, 25))
    outside = view.mapFromScene(QPointF(190, 140))
    assert frame.pixelColor(outside) == view.backgroundBrush().color()
    assert frame.pixelColor(inside_mask) != view.backgroundBrush().color()
    # The notice lets clicks through to the canvas.
    click(view, IMAGE_W / 2, IMAGE_H / 2)
    assert view.selected_ids() == []

    pixels = QImage(IMAGE_W, IMAGE_H, QImage.Format.Format_RGB32)
    pixels.fill(QColor("#336699"))
    view.set_image(pixels)
    QApplication.processEvents()
    assert not view.is_decoding() and not overlay.isVisible()
    assert view.viewport().grab().toImage().pixelColor(outside) == QColor("#336699")


def test_decoding_notice_recentres_when_the_canvas_is_resized(qtbot, tmp_path):
    canvas = make_canvas(qtbot, tmp_path)
    view = canvas.view
    view.show_decoding((12000, 9000))
    assert view.decoding_overlay.label.text() == "Decoding image… (12000 x 9000)"
    view.resize(700, 500)
    QApplication.processEvents()
    centre = view.decoding_overlay.geometry().center() - view.viewport().rect().center()
    assert abs(centre.x()) <= 1 and abs(centre.y()) <= 1
    view.set_document(None)
    assert not view.is_decoding()


@pytest.mark.parametrize("zoom", [1.0, 1.37])
def test_polygon_rasterised_in_its_box_equals_the_full_size_mask(qtbot, tmp_path, zoom):
    from core import mask_pixels

    canvas = make_canvas(qtbot, tmp_path)
    canvas.view.zoom.zoom_by(zoom)
    canvas.view.set_tool("polygon")
    canvas.view.centerOn(QPointF(IMAGE_W / 2, IMAGE_H / 2))
    clicks = [(0.0, 3.3), (120.6, 0.0), (199.9, 80.2), (150.2, 149.9), (10.7, 120.4)]
    for x, y in clicks:
        click(canvas.view, x, y)
    drawn = [QPointF(p) for p in canvas.view.polygon_item.points]
    qtbot.keyClick(canvas.view, Qt.Key.Key_Return)
    (ann,) = canvas.stored()
    points = np.array([[p.x(), p.y()] for p in drawn])
    full = mask_pixels.polygon_mask(points, IMAGE_H, IMAGE_W)
    assert ann == annotation_with_mask(ann, full)  # RLE string, box and area from `full`
