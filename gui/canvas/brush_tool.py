"""The brush and the eraser: paint into (or erase from) a mask with a round brush.

The stroke is kept as its segments while the mouse moves and shown in a StrokeOverlay the
size of the stroke; on release it is rasterised into an array covering only the stroke's
bounding box, combined with the mask's decoded crop (the item already holds it) and
encoded straight from the crop (mask_crops.py). A stroke on a 12,000 x 9,000 image thus
costs what the stroke covers, not 108 MB of image-sized arrays. The result is pixel for
pixel (and RLE string for string) what rasterising on a whole-image array gives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QMouseEvent

from core.mask_edits import annotation_with_crop
from core.mask_pixels import MaskCrop
from core.records import Annotation
from gui.canvas import mask_raster
from gui.canvas.mask_crops import Box, paste, tight, union_box
from gui.canvas.tools import Tool, new_annotation
from gui.commands import AddAnnotation, DeleteAnnotation, EditAnnotation

if TYPE_CHECKING:
    from gui.canvas.items import AnnotationItem
    from gui.canvas.tool_canvas import ToolCanvas


@dataclass(frozen=True)
class Segment:
    p0: QPointF
    p1: QPointF
    diameter: float


def stroke_box(segments: list[Segment], width: int, height: int) -> Box | None:
    """Whole-pixel box holding every pixel the segments can touch, clipped to the image."""
    if not segments:
        return None
    margin = max(s.diameter for s in segments) / 2 + 2
    xs = [c for s in segments for c in (s.p0.x(), s.p1.x())]
    ys = [c for s in segments for c in (s.p0.y(), s.p1.y())]
    x0 = max(0, math.floor(min(xs) - margin))
    y0 = max(0, math.floor(min(ys) - margin))
    x1 = min(width, math.ceil(max(xs) + margin) + 1)
    y1 = min(height, math.ceil(max(ys) + margin) + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1 - x0, y1 - y0


def rasterise(segments: list[Segment], box: Box) -> np.ndarray:
    """The stroke's pixels inside `box` (bool), exactly as on a whole-image array."""
    x, y, w, h = box
    footprint = np.zeros((h, w), dtype=np.uint8)
    shift = QPointF(x, y)  # whole pixels: cv2's sub-pixel coordinates shift exactly
    for s in segments:
        mask_raster.paint_segment(footprint, s.p0 - shift, s.p1 - shift, s.diameter)
    return footprint.astype(bool)


def combine(base: MaskCrop | None, stroke: np.ndarray, box: Box, *, erase: bool) -> MaskCrop | None:
    """The mask after the stroke, tight (None: empty); `base` unchanged returns it as is."""
    x, y, w, h = box
    if base is None:
        return None if erase else tight(MaskCrop(x, y, stroke))
    base_box = (base.x, base.y, base.width, base.height)
    area = base_box if erase else union_box(base_box, box)
    pixels = paste(base, area)
    # The stroke's part inside `area` (all of it when painting).
    ax, ay, aw, ah = area
    sx0, sy0 = max(x, ax), max(y, ay)
    sx1, sy1 = min(x + w, ax + aw), min(y + h, ay + ah)
    if sx1 <= sx0 or sy1 <= sy0:
        return base
    part = stroke[sy0 - y : sy1 - y, sx0 - x : sx1 - x]
    region = pixels[sy0 - ay : sy1 - ay, sx0 - ax : sx1 - ax]
    changed = (part & region).any() if erase else (part & ~region).any()
    if not changed:
        return base
    if erase:
        region &= ~part
    else:
        region |= part
    return tight(MaskCrop(ax, ay, pixels))


class BrushTool(Tool):
    """Paint into the selected annotation's mask (or a new one); the eraser clears pixels."""

    name = "brush"
    cursor = Qt.CursorShape.BlankCursor
    erase = False

    def __init__(self, canvas: ToolCanvas) -> None:
        super().__init__(canvas)
        self._target: Annotation | None = None
        self._base: MaskCrop | None = None
        self._segments: list[Segment] | None = None
        self._last: QPointF | None = None

    def activate(self) -> None:
        if not self.canvas.raise_small_brush():
            self.canvas.say_brush_size()  # say the size anyway

    def _target_item(self) -> AnnotationItem | None:
        selected = self.canvas.selected_items()
        if selected:
            return selected[0] if len(selected) == 1 else None
        # The shape just drawn is left unselected; with nothing selected, strokes go on with
        # it (the brush only while its category is current), so painting one object takes
        # several strokes and the eraser can trim what was just drawn.
        drawn = self.canvas.last_drawn_id
        item = self.canvas.item_for(drawn) if drawn is not None else None
        if item is None or not item.isVisible() or not item.has_mask:
            return None
        same_category = item.annotation.category_id == self.canvas.current_category_id
        return item if self.erase or same_category else None

    def press(self, event: QMouseEvent, pos: QPointF) -> bool:
        if event.button() != Qt.MouseButton.LeftButton or self.canvas.document is None:
            return False
        item = self._target_item()
        if item is None and self.erase:
            return True  # nothing to erase from; swallow the click rather than select
        self._target = item.annotation if item is not None else None
        self._base = item.mask_crop if item is not None else None  # decoded once, by the item
        self._segments = []
        w, h = self.canvas.image_size
        color = self.canvas.category_color(
            self._target.category_id if self._target else self.canvas.current_category_id
        )
        self.canvas.stroke_overlay.begin(w, h, color, erase=self.erase)
        self._last = pos
        self._paint(pos, pos)
        return True

    def move(self, event: QMouseEvent, pos: QPointF) -> bool:
        self.canvas.brush_cursor.place(pos, self.canvas.brush_size)
        if self._segments is None or self._last is None:
            return False
        self._paint(self._last, pos)
        self._last = pos
        return True

    def _paint(self, p0: QPointF, p1: QPointF) -> None:
        size = self.canvas.brush_size
        if self._segments is None:
            return
        self._segments.append(Segment(QPointF(p0), QPointF(p1), float(size)))
        self.canvas.stroke_overlay.add_segment(p0, p1, size)

    def release(self, event: QMouseEvent, pos: QPointF) -> bool:
        if self._segments is None or event.button() != Qt.MouseButton.LeftButton:
            return False
        segments, target, base = self._segments, self._target, self._base
        self.cancel()
        w, h = self.canvas.image_size
        box = stroke_box(segments, w, h)
        if box is None:
            return True
        after = combine(base, rasterise(segments, box), box, erase=self.erase)
        doc = self.canvas.document
        if doc is None:
            return True
        if target is None:
            if after is not None:
                blank = new_annotation(doc, self.canvas, (0.0, 0.0, 0.0, 0.0))
                new = annotation_with_crop(blank, after, h, w)
                command = AddAnnotation(doc, new, "Paint new mask")
                self.canvas.push(command)
                self.canvas.clear_selection()
                self.canvas.remember_drawn(command.annotation_id)
            return True
        if after is base:
            return True  # the stroke changed no pixel
        text = "Erase" if self.erase else "Paint"
        if after is None:  # erased down to nothing: the annotation goes
            if target.id is not None:
                self.canvas.push(DeleteAnnotation(doc, target.id, text=f"{text} (removed)"))
        else:
            edited = annotation_with_crop(target, after, h, w)
            self.canvas.push(EditAnnotation(doc, target, edited, text))
        return True

    def cancel(self) -> bool:
        active = self._segments is not None
        self._target = self._base = self._segments = self._last = None
        self.canvas.stroke_overlay.end()
        return active

    def deactivate(self) -> None:
        self.cancel()
        self.canvas.brush_cursor.setVisible(False)

    def leave(self) -> None:
        self.canvas.brush_cursor.setVisible(False)

    def annotation_changed(self, ann_id: int) -> None:
        # An undo in the middle of a stroke would make the stroke's base mask stale.
        if self._target is not None and self._target.id == ann_id:
            self.cancel()


class EraserTool(BrushTool):
    name = "eraser"
    erase = True
