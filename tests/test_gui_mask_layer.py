"""The composited mask layer of crowded images: the same pixels as items painting themselves.

Above `view.composite_min_items` annotations one MaskLayer paints every unselected item from
cached tiles; these tests lower that count so a small image uses the layer, then compare the
viewport's pixels with the same document painted item by item.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from core.records import ReviewState, Source
from tests._gui_helpers import (
    CAT_B,
    IMAGE_H,
    IMAGE_W,
    Canvas,
    click,
    drag,
    make_canvas,
    mask_annotation,
    move,
    press,
    proposal,
    release,
)

PER_ITEM = 10**9  # composite_min_items that keeps every item painting itself


def _ellipse(cx: int, cy: int, rx: int, ry: int) -> np.ndarray:
    yy, xx = np.mgrid[:IMAGE_H, :IMAGE_W]
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1


def _crowd(image_id: int = 1):
    """Overlapping masks, accepted and proposed, of two categories; the last one (a proposal
    scoring 0.4) stands alone at the bottom right."""
    anns = []
    for i, (cx, cy, rx, ry) in enumerate(
        [(40, 40, 25, 18), (60, 50, 20, 30), (90, 35, 30, 12), (110, 60, 15, 15), (50, 100, 35, 20)]
    ):
        proposal = i % 2 == 1
        anns.append(
            mask_annotation(
                image_id,
                _ellipse(cx, cy, rx, ry),
                category_id=CAT_B if i % 3 == 0 else 1,
                source=Source.MODEL if proposal else Source.HUMAN,
                state=ReviewState.PROPOSED if proposal else ReviewState.ACCEPTED,
                score=0.9 if proposal else None,
            )
        )
    anns.append(
        mask_annotation(
            image_id,
            _ellipse(165, 120, 18, 14),
            source=Source.MODEL,
            state=ReviewState.PROPOSED,
            score=0.4,
        )
    )
    return anns


def _pixels(canvas: Canvas) -> np.ndarray:
    image = canvas.view.viewport().grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    bits = np.frombuffer(image.constBits(), dtype=np.uint8)
    rows = bits.reshape(image.height(), image.bytesPerLine())[:, : 4 * image.width()]
    return rows.reshape(image.height(), image.width(), 4).copy()


def _use_layer(canvas: Canvas, min_items: int) -> None:
    """Rebuild the items with the layer on (0) or off (PER_ITEM), keeping the selection."""
    selected = canvas.view.selected_ids()
    canvas.view.composite_min_items = min_items
    canvas.view.set_document(canvas.doc)
    canvas.view.build_pending_overlays()
    for ann_id in selected:
        canvas.view.select_annotation(ann_id)


def _layer_canvas(qtbot, tmp_path) -> Canvas:
    canvas = make_canvas(qtbot, tmp_path, _crowd())
    _use_layer(canvas, 0)
    return canvas


def _assert_same_as_per_item(canvas: Canvas) -> None:
    layered = _pixels(canvas)
    assert canvas.view.mask_layer.isVisible() and canvas.view.mask_layer.tiles_drawn > 0
    _use_layer(canvas, PER_ITEM)
    assert not canvas.view.mask_layer.isVisible()
    per_item = _pixels(canvas)
    differ = np.abs(layered.astype(int) - per_item.astype(int)).max(axis=2) > 2
    assert differ.sum() == 0, (
        f"{differ.sum()} pixels differ, at rows/cols {np.argwhere(differ)[:5]}"
    )


def test_layer_paints_the_same_pixels_as_the_items(qtbot, tmp_path):
    canvas = _layer_canvas(qtbot, tmp_path)
    assert all(item.composited for item in canvas.view._items.values())
    _assert_same_as_per_item(canvas)


def test_layer_matches_items_zoomed_in_at_a_fractional_offset(qtbot, tmp_path):
    canvas = _layer_canvas(qtbot, tmp_path)
    canvas.view.zoom.zoom_by(1.37)
    canvas.view.horizontalScrollBar().setValue(canvas.view.horizontalScrollBar().value() + 13)
    _assert_same_as_per_item(canvas)


def test_proposal_hidden_by_the_threshold_leaves_no_pixels(qtbot, tmp_path):
    canvas = _layer_canvas(qtbot, tmp_path)
    view = canvas.view
    inside = view.mapFromScene(165, 120)
    background = view.mapFromScene(190, 10)  # no annotation there
    before = _pixels(canvas)
    assert not np.array_equal(
        before[inside.y(), inside.x()], before[background.y(), background.x()]
    )

    view.set_score_threshold(0.5)  # the lone proposal scores 0.4
    after = _pixels(canvas)
    np.testing.assert_array_equal(
        after[inside.y(), inside.x()], after[background.y(), background.x()]
    )
    _assert_same_as_per_item(canvas)


def test_clicking_a_composited_mask_selects_it_and_draws_its_highlight(qtbot, tmp_path):
    canvas = _layer_canvas(qtbot, tmp_path)
    lone = canvas.stored()[-1]
    click(canvas.view, 165, 120)
    assert canvas.view.selected_ids() == [lone.id]
    item = canvas.view.item_for(lone.id)
    assert item is not None and not item.composited  # the selection paints itself, on top
    _assert_same_as_per_item(canvas)


def test_undoing_an_edit_repaints_the_layer(qtbot, tmp_path):
    canvas = _layer_canvas(qtbot, tmp_path)
    view = canvas.view
    _pixels(canvas)  # the tiles exist before the edit
    lone = canvas.stored()[-1]
    view.select_annotation(lone.id)
    drag(view, (165, 120), (140, 90))  # move it
    assert canvas.stored_one(lone.id).bbox != lone.bbox
    view.clear_selection()
    _pixels(canvas)
    canvas.doc.undo_stack.undo()  # back where it was, while the layer paints it
    assert canvas.stored_one(lone.id).bbox == lone.bbox
    assert view.item_for(lone.id).composited
    _assert_same_as_per_item(canvas)


def test_tab_moves_the_category_name_between_tags_without_overlap(qtbot, tmp_path):
    """Tag requests are kept per item and rebuilt only for the items whose tag changed: the
    old and the new selection must both be asked again."""
    boxes = [((20, 20, 90, 60), 0.9), ((24, 22, 90, 60), 0.8), ((28, 26, 90, 60), 0.7)]
    canvas = make_canvas(qtbot, tmp_path, [proposal(1, box, score) for box, score in boxes])
    view = canvas.view
    view.zoom.zoom_by(2.0)
    first, second, _ = sorted(canvas.stored(), key=lambda a: a.id)
    view.select_annotation(first.id)
    QApplication.processEvents()
    scale = view.view_scale()
    named = view.item_for(first.id).label_scene_rect(scale)
    view.select_next()
    QApplication.processEvents()
    assert view.selected_ids() == [second.id]
    rects = {a.id: r for a in canvas.stored() if (r := view.item_for(a.id).label_scene_rect(scale))}
    assert rects[first.id].width() < named.width()  # "0.90" again, not "cat 0.90"
    assert second.id in rects and rects[second.id].width() > rects[first.id].width()
    assert rects[second.id].topLeft() == QPointF(24, 22)  # the selection's tag goes first
    items = list(rects.values())
    assert not any(a.intersects(b) for i, a in enumerate(items) for b in items[i + 1 :])


def test_a_dragged_box_takes_its_tag_along_on_screen(qtbot, tmp_path):
    """The tag layer keeps its pixels cached; a drag must repaint the tag where the box
    leaves and where it goes, before the drop."""
    canvas = make_canvas(qtbot, tmp_path, [proposal(1, (40, 40, 100, 60), 0.2)])
    view = canvas.view
    QApplication.processEvents()
    background = _pixels(canvas)[view.mapFromScene(10, 10).y(), view.mapFromScene(10, 10).x()]
    old_tag = view.mapFromScene(43, 45)
    assert not np.array_equal(_pixels(canvas)[old_tag.y(), old_tag.x()], background)

    press(view, 90, 70)
    for step in range(1, 5):
        move(view, 90 + 15 * step, 70 + 10 * step)
    QApplication.processEvents()
    during = _pixels(canvas)
    np.testing.assert_array_equal(during[old_tag.y(), old_tag.x()], background)
    new_tag = view.mapFromScene(103, 85)
    assert not np.array_equal(during[new_tag.y(), new_tag.x()], background)
    release(view, 150, 110)


def test_threshold_moves_both_ways_show_exactly_the_proposals_at_or_above_it(qtbot, tmp_path):
    """A threshold move only touches the proposals scoring between the old and new value."""
    scores = [0.15, 0.3, 0.45, 0.5, 0.62, 0.8, 0.95]
    anns = [proposal(1, (5 + 20 * i, 10, 15, 15), s) for i, s in enumerate(scores)]
    anns += _crowd()[:2]  # an accepted mask (always shown) and a proposal scoring 0.9
    canvas = make_canvas(qtbot, tmp_path, anns)
    view = canvas.view
    for threshold in (0.5, 0.85, 0.2, 0.62, 0.0, 0.96, 0.45):
        view.set_score_threshold(threshold)
        for ann in canvas.stored():
            hidden = ann.state == ReviewState.PROPOSED and (ann.score or 0.0) < threshold
            assert view.item_for(ann.id).isVisible() == (not hidden), (threshold, ann.score)
