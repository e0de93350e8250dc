"""The mask layer's sprites, repairs and stand-in tiles: what a crowded canvas shows after a
threshold step, a selection change or a zoom is what a fresh render of it shows.

The layer draws each item once per zoom into a sprite and repairs only the tiles a change
touches; after a zoom it may show the earlier zoom's tiles scaled until it has drawn the
sharp ones between events. These tests compare the viewport with the same state rendered
from scratch (the items built again), and check which work was or was not done again.
"""

from __future__ import annotations

import numpy as np
import shiboken6
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from gui.canvas.items import AnnotationItem
from tests._gui_helpers import Canvas, make_canvas
from tests.test_gui_mask_layer import _crowd, _pixels, _use_layer


def _layer_canvas(qtbot, tmp_path) -> Canvas:
    canvas = make_canvas(qtbot, tmp_path, _crowd())
    _use_layer(canvas, 0)
    return canvas


def _fresh_pixels(canvas: Canvas) -> np.ndarray:
    """The same document, selection, threshold and zoom, rendered by a layer built anew."""
    _use_layer(canvas, 0)
    canvas.view.mask_layer.frame_budget_s = None  # every tile drawn in the paint
    return _pixels(canvas)


def _assert_same(shown: np.ndarray, fresh: np.ndarray) -> None:
    differ = np.abs(shown.astype(int) - fresh.astype(int)).max(axis=2) > 0
    assert differ.sum() == 0, f"{differ.sum()} pixels differ, e.g. at {np.argwhere(differ)[:5]}"


def test_a_threshold_step_repaints_the_tiles_from_sprites_as_a_fresh_render(qtbot, tmp_path):
    canvas = _layer_canvas(qtbot, tmp_path)
    layer = canvas.view.mask_layer
    _pixels(canvas)
    sprites = layer.sprites_drawn
    canvas.view.set_score_threshold(0.5)  # hides the lone proposal (0.4)
    shown = _pixels(canvas)
    # Its neighbours were blitted again from their sprites, not drawn again.
    assert layer.sprites_drawn == sprites
    canvas.view.set_score_threshold(0.3)  # and back
    back = _pixels(canvas)
    assert layer.sprites_drawn == sprites
    _assert_same(back, _fresh_pixels(canvas))
    canvas.view.set_score_threshold(0.5)
    _assert_same(shown, _fresh_pixels(canvas))


def test_selection_moves_one_item_out_of_the_layer_and_back_as_a_fresh_render(qtbot, tmp_path):
    canvas = _layer_canvas(qtbot, tmp_path)
    view, layer = canvas.view, canvas.view.mask_layer
    _pixels(canvas)
    sprites = layer.sprites_drawn
    first, second = sorted(canvas.stored(), key=lambda a: a.id)[:2]
    view.select_annotation(first.id)
    view.select_next()  # Tab: the first goes back into the layer, the second leaves it
    QApplication.processEvents()
    assert view.selected_ids() == [second.id]
    shown = _pixels(canvas)
    assert layer.sprites_drawn == sprites  # the first item's sprite was kept while selected
    _assert_same(shown, _fresh_pixels(canvas))


def test_a_zoom_shows_the_earlier_tiles_then_draws_sharp_ones_between_events(qtbot, tmp_path):
    canvas = _layer_canvas(qtbot, tmp_path)
    view, layer = canvas.view, canvas.view.mask_layer
    _pixels(canvas)
    layer.frame_budget_s = 0.0  # nothing new drawn in a paint where a stand-in can show
    stand_ins = layer.stand_in_paints
    view.zoom.zoom_by(1.37)
    blurred = _pixels(canvas)
    assert layer.stand_in_paints > stand_ins and not layer.settled
    qtbot.waitUntil(lambda: layer.settled, timeout=5000)
    QApplication.processEvents()  # the paint of the last sharp tiles
    sharp = _pixels(canvas)
    fresh = _fresh_pixels(canvas)
    _assert_same(sharp, fresh)
    assert not np.array_equal(blurred, fresh)  # the stand-in was the scaled earlier zoom


def test_a_change_under_a_stand_in_tile_shows_at_once(qtbot, tmp_path):
    """A stand-in is the earlier zoom's pixels: a proposal hidden meanwhile must not linger
    in it until the sharp tile comes."""
    canvas = _layer_canvas(qtbot, tmp_path)
    view, layer = canvas.view, canvas.view.mask_layer
    _pixels(canvas)
    layer.frame_budget_s = 0.0
    view.zoom.zoom_by(1.37)
    _pixels(canvas)
    assert not layer.settled
    view.set_score_threshold(0.5)  # hides the lone proposal (0.4) at (165, 120)
    shown = _pixels(canvas)
    inside, background = view.mapFromScene(165, 120), view.mapFromScene(190, 10)
    np.testing.assert_array_equal(
        shown[inside.y(), inside.x()], shown[background.y(), background.x()]
    )


def test_the_index_lists_items_in_the_scenes_stacking_order(qtbot, tmp_path):
    canvas = _layer_canvas(qtbot, tmp_path)
    rect = QRectF(0, 0, 200, 150)
    scene_order = [
        item
        for item in canvas.view.scene().items(
            rect, Qt.ItemSelectionMode.IntersectsItemBoundingRect, Qt.SortOrder.AscendingOrder
        )
        if isinstance(item, AnnotationItem)
    ]
    assert canvas.view.mask_layer._index.items_in(rect) == scene_order


def test_closing_the_view_while_tiles_wait_to_be_drawn_raises_nothing(qtbot, tmp_path):
    """The layer draws between events from a timer; the view (and with it the layer) may be
    gone before the timer fires."""
    canvas = _layer_canvas(qtbot, tmp_path)
    layer = canvas.view.mask_layer
    _pixels(canvas)
    layer.frame_budget_s = 0.0
    canvas.view.zoom.zoom_by(1.37)
    _pixels(canvas)
    assert not layer.settled  # a slice is due
    # What closing the window does to the layer: its scene deletes it, the timer lives on.
    canvas.view.scene().removeItem(layer)
    shiboken6.delete(layer)
    qtbot.wait(50)  # the slice's timer fires on a deleted layer: pytest-qt fails on any raise


def test_a_new_image_size_keeps_the_masks_the_layer_was_given(qtbot, tmp_path):
    """The view may take the document before the image's pixels (or the image's size may
    change under it): a new scene rectangle drops the layer's pixels, not its items."""
    canvas = make_canvas(qtbot, tmp_path, _crowd())
    _use_layer(canvas, 0)
    view = canvas.view
    image = QImage(400, 300, QImage.Format.Format_RGB32)
    image.fill(Qt.GlobalColor.darkGray)
    view.set_image(image)  # another scene rectangle
    view.zoom.zoom_100()
    shown = _pixels(canvas)
    # Inside the first, accepted mask (no score tag there), against bare image.
    inside, background = view.mapFromScene(40, 45), view.mapFromScene(190, 10)
    assert not np.array_equal(shown[inside.y(), inside.x()], shown[background.y(), background.x()])
