"""Canvas tools: select, box, brush and eraser (the polygon tool is in polygon_tool.py).

A tool receives the view's mouse and key events with the scene (image pixel) position and
answers whether it consumed them; what it does not consume goes to QGraphicsView's own
handling (item selection and dragging). Tools change annotations only by pushing commands
(gui/commands.py) onto the document's undo stack, so every edit is undoable and stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QKeyEvent, QMouseEvent

from core import masks
from core.records import Annotation, ReviewState, Source
from gui.canvas import mask_raster
from gui.commands import AddAnnotation, DeleteAnnotation, EditAnnotation, annotation_with_mask

if TYPE_CHECKING:
    from gui.canvas.items import AnnotationItem
    from gui.canvas.view import CanvasView

_MIN_NEW_BOX = 2.0  # image px: a smaller drag is a click, not a box

# A shape the user just drew is left unselected: the next digit key then picks the category
# of the next shape instead of silently re-labelling this one (select it to change it).


class Tool:
    """Base tool: consumes nothing."""

    name = ""
    cursor = Qt.CursorShape.ArrowCursor

    def __init__(self, canvas: CanvasView) -> None:
        self.canvas = canvas

    def activate(self) -> None:
        """Called when the tool becomes current."""

    def deactivate(self) -> None:
        """Called when another tool takes over: drop anything half-done."""
        self.cancel()

    def cancel(self) -> bool:
        """Abandon the operation in progress; True when there was one."""
        return False

    def selection_changed(self) -> None:
        """The selected annotations changed."""

    def annotation_changed(self, ann_id: int) -> None:
        """An annotation was changed, removed or re-added (edit, undo, redo)."""

    def press(self, event: QMouseEvent, pos: QPointF) -> bool:
        return False

    def move(self, event: QMouseEvent, pos: QPointF) -> bool:
        return False

    def release(self, event: QMouseEvent, pos: QPointF) -> bool:
        return False

    def double_click(self, event: QMouseEvent, pos: QPointF) -> bool:
        return False

    def wants_key(self, event: QKeyEvent) -> bool:
        """True for keys this tool needs now even though a window shortcut uses them."""
        return False

    def key_press(self, event: QKeyEvent) -> bool:
        return False

    def leave(self) -> None:
        """The mouse left the canvas."""


def new_annotation(canvas: CanvasView, bbox: tuple[float, float, float, float]) -> Annotation:
    """A human annotation of the current category on the open image."""
    return Annotation(
        image_id=canvas.document.image_id,
        category_id=canvas.current_category_id,
        bbox=bbox,
        source=Source.HUMAN,
        state=ReviewState.ACCEPTED,
    )


def full_mask(canvas: CanvasView, ann: Annotation) -> np.ndarray:
    """The annotation's mask at image size (all False for a box-only annotation)."""
    w, h = canvas.image_size
    if not ann.segmentation:
        return np.zeros((h, w), dtype=bool)
    return masks.decode(ann.segmentation, h, w)


def push_mask_edit(canvas: CanvasView, ann: Annotation, new_mask: np.ndarray, text: str) -> None:
    """Store a changed mask as one command; a mask edited down to nothing deletes its annotation."""
    if not new_mask.any():
        canvas.push(DeleteAnnotation(canvas.document, ann.id, text=f"{text} (removed)"))
    else:
        canvas.push(EditAnnotation(canvas.document, ann, annotation_with_mask(ann, new_mask), text))


class SelectTool(Tool):
    """Click to select, drag to move; handles resize boxes (all QGraphicsView machinery)."""

    name = "select"


class BoxTool(Tool):
    """Press, drag, release: a new box of the current category."""

    name = "box"
    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, canvas: CanvasView) -> None:
        super().__init__(canvas)
        self._origin: QPointF | None = None

    def press(self, event: QMouseEvent, pos: QPointF) -> bool:
        if event.button() != Qt.MouseButton.LeftButton or self.canvas.document is None:
            return False
        self._origin = self.canvas.clamp_to_image(pos)
        band = self.canvas.rubber_band
        band.setRect(QRectF(self._origin, self._origin))
        band.setVisible(True)
        return True

    def move(self, event: QMouseEvent, pos: QPointF) -> bool:
        if self._origin is None:
            return False
        rect = QRectF(self._origin, self.canvas.clamp_to_image(pos)).normalized()
        self.canvas.rubber_band.setRect(rect)
        return True

    def release(self, event: QMouseEvent, pos: QPointF) -> bool:
        if self._origin is None or event.button() != Qt.MouseButton.LeftButton:
            return False
        rect = QRectF(self._origin, self.canvas.clamp_to_image(pos)).normalized()
        self.cancel()
        if rect.width() < _MIN_NEW_BOX or rect.height() < _MIN_NEW_BOX:
            return True
        bbox = tuple(round(v, 2) for v in (rect.x(), rect.y(), rect.width(), rect.height()))
        command = AddAnnotation(self.canvas.document, new_annotation(self.canvas, bbox), "Add box")
        self.canvas.push(command)
        self.canvas.clear_selection()
        self.canvas.remember_drawn(command.annotation_id)
        return True

    def cancel(self) -> bool:
        active = self._origin is not None
        self._origin = None
        self.canvas.rubber_band.setVisible(False)
        return active

    def wants_key(self, event: QKeyEvent) -> bool:
        return self._origin is not None and event.key() == Qt.Key.Key_Escape


class BrushTool(Tool):
    """Paint into the selected annotation's mask (or a new one); the eraser clears pixels.

    During a stroke the full-size mask lives as a numpy array and the stroke is shown in a
    QImage overlay; on release the result is encoded once and stored as one command.
    """

    name = "brush"
    cursor = Qt.CursorShape.BlankCursor
    erase = False

    def __init__(self, canvas: CanvasView) -> None:
        super().__init__(canvas)
        self._target: Annotation | None = None
        self._mask: np.ndarray | None = None
        self._footprint: np.ndarray | None = None
        self._last: QPointF | None = None

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
        self._mask = full_mask(self.canvas, self._target) if self._target else None
        w, h = self.canvas.image_size
        self._footprint = np.zeros((h, w), dtype=np.uint8)
        color = self.canvas.category_color(
            self._target.category_id if self._target else self.canvas.current_category_id
        )
        self.canvas.stroke_overlay.begin(w, h, color, erase=self.erase)
        self._last = pos
        self._paint(pos, pos)
        return True

    def move(self, event: QMouseEvent, pos: QPointF) -> bool:
        self.canvas.brush_cursor.place(pos, self.canvas.brush_size)
        if self._footprint is None:
            return False
        self._paint(self._last, pos)
        self._last = pos
        return True

    def _paint(self, p0: QPointF, p1: QPointF) -> None:
        size = self.canvas.brush_size
        mask_raster.paint_segment(self._footprint, p0, p1, size)
        self.canvas.stroke_overlay.add_segment(p0, p1, size)

    def release(self, event: QMouseEvent, pos: QPointF) -> bool:
        if self._footprint is None or event.button() != Qt.MouseButton.LeftButton:
            return False
        stroke = self._footprint.astype(bool)
        target, before = self._target, self._mask
        self.cancel()
        if target is None:
            if stroke.any():
                blank = new_annotation(self.canvas, (0.0, 0.0, 0.0, 0.0))
                command = AddAnnotation(
                    self.canvas.document, annotation_with_mask(blank, stroke), "Paint new mask"
                )
                self.canvas.push(command)
                self.canvas.clear_selection()
                self.canvas.remember_drawn(command.annotation_id)
            return True
        after = before & ~stroke if self.erase else before | stroke
        if not np.array_equal(after, before):
            push_mask_edit(self.canvas, target, after, "Erase" if self.erase else "Paint")
        return True

    def cancel(self) -> bool:
        active = self._footprint is not None
        self._target = self._mask = self._footprint = self._last = None
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
