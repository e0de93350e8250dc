"""The canvas's score-tag layout: which tags of the boxes in view get a place, and where.

Functions of the `CanvasView`, whose tag state (`_tag_*`) they keep; split from view.py so
that the view holds events and items, and this module the layout it asks for after a change,
a zoom or a pause in a pan (tag_layout.py places the tags; tag_layer paints them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, QSizeF

from gui.canvas.tag_layout import TagRequest

if TYPE_CHECKING:
    from gui.canvas.view import CanvasView


def layout_tags(self: CanvasView) -> None:
    """Place the tags of the boxes in view so none overlaps another (the less important
    one hides). Boxes outside the viewport take no part: with 2,000 instances a layout
    of all of them took longer than a frame, and a scroll lays the tags out again."""
    self._tag_timer.stop()
    self._pan_tag_timer.stop()
    scale = self.view_scale()
    in_view = self.mapToScene(self.viewport().rect()).boundingRect()
    rebuilt = _update_tag_requests(self, scale)
    changed = rebuilt is None or bool(rebuilt)
    # Requests hold their boxes in screen pixels: test them against the view there, as
    # plain floats (QRectF calls for 600 tags were a third of a pan step's layout).
    left, top = in_view.left() * scale, in_view.top() * scale
    right, bottom = in_view.right() * scale, in_view.bottom() * scale
    requests = []
    sizes: dict[int, QSizeF] = {}
    made = self._tag_requests
    for ann_id, ((x, y, w, h), size, priority) in self._tag_info.items():
        item = self._items[ann_id]
        x0, y0, x1, y1 = x * scale, y * scale, (x + w) * scale, (y + h) * scale
        if ann_id in self._tag_selected:  # only a selected item can be dragged
            moved = item.pos() * scale
            x0, x1, y0, y1 = x0 + moved.x(), x1 + moved.x(), y0 + moved.y(), y1 + moved.y()
        if x0 < right and left < x1 and y0 < bottom and top < y1 and item.isVisible():
            request = made.get(ann_id)
            if request is None:  # made for the boxes in view only, once per zoom
                box = QRectF(x * scale, y * scale, w * scale, h * scale)
                request = made[ann_id] = TagRequest(ann_id, box, size, priority)
            sizes[ann_id] = size
            requests.append(request)
    # A pan that brings no tag in or out of view leaves the layout as it is.
    layout_key = frozenset(sizes)
    if not changed and layout_key == self._tag_layout_key:
        return
    self._tag_layout_key = layout_key
    offsets = self._tag_placer.place(requests)
    shown = []
    for ann_id in self._tagged.difference(offsets):  # tags that were placed before
        old = self._items.get(ann_id)
        if old is not None:
            old.set_label_offset(None)
    self._tagged = set(offsets)
    before = {} if rebuilt is None else self._tag_rects
    asked_again = rebuilt or set()
    rects: dict[int, tuple[QPointF | None, QRectF | None]] = {}
    for ann_id, offset in offsets.items():
        item = self._items[ann_id]
        kept = before.get(ann_id)
        if kept is not None and kept[0] == offset and ann_id not in asked_again:
            rect = kept[1]
        else:
            item.set_label_offset(offset)
            known = sizes.get(ann_id)
            rect = None if known is None else item.label_scene_rect(scale, known)
        rects[ann_id] = (offset, rect)
        if rect is not None:
            shown.append((item, rect))
    self._tag_rects = rects
    self.tag_layer.set_tags(self._scene.sceneRect(), shown)


def _update_tag_requests(self: CanvasView, scale: float) -> set[int] | None:
    """Keep what each item's tag needs (scene box, size, priority), asked again only of
    the items marked changed: asking 2,000 items on every Tab took 200 ms. The requests
    (boxes in screen pixels) are made at layout for the boxes in view, kept per zoom.
    Returns the ids asked again, None after a zoom (every request is new)."""
    rebuilt: set[int] | None = set(self._tag_stale)
    if scale != self._tag_scale:
        rebuilt = None
        if self._tag_scale == 0.0:  # new items: all asked
            self._tag_stale.update(self._items)
        self._tag_scale = scale
        self._tag_requests.clear()
    for ann_id in self._tag_stale:
        self._tag_requests.pop(ann_id, None)
        self._tag_info.pop(ann_id, None)
        item = self._items.get(ann_id)
        size = None if item is None else item.label_size()
        if item is None or size is None:
            continue
        r = item.box_rect
        score = item.annotation.score if item.annotation.score is not None else 1.0
        priority = score + (2.0 if item.isSelected() else 0.0)
        self._tag_info[ann_id] = ((r.x(), r.y(), r.width(), r.height()), size, priority)
    self._tag_stale.clear()
    return rebuilt
