"""Canvas tools: select, box, brush and eraser (the polygon tool is in polygon_tool.py).

A tool receives the view's mouse and key events with the scene (image pixel) position and
answers whether it consumed them; what it does not consume goes to QGraphicsView's own
handling (item selection and dragging). Tools change annotations only by pushing commands
(gui/commands.py) onto the document's undo stack, so every edit is undoable and stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QKeyEvent, QMouseEvent

from core.mask_crops import decode_tight
from core.mask_edits import annotation_with_crop
from core.mask_pixels import MaskCrop
from core.records import Annotation, ReviewState, Source
from gui.commands import AddAnnotation, DeleteAnnotation, EditAnnotation

if TYPE_CHECKING:
    from gui.canvas.tool_canvas import ToolCanvas
    from gui.document import ImageDocument

_MIN_NEW_BOX = 2.0  # image px: a smaller drag is a click, not a box

# A shape the user just drew is left unselected: the next digit key then picks the category
# of the next shape instead of silently re-labelling this one (select it to change it).


class Tool:
    """Base tool: consumes nothing."""

    name = ""
    cursor = Qt.CursorShape.ArrowCursor

    def __init__(self, canvas: ToolCanvas) -> None:
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


def new_annotation(
    document: ImageDocument, canvas: ToolCanvas, bbox: tuple[float, float, float, float]
) -> Annotation:
    """A human annotation of the current category on the open image."""
    return Annotation(
        image_id=document.image_id,
        category_id=canvas.current_category_id,
        bbox=bbox,
        source=Source.HUMAN,
        state=ReviewState.ACCEPTED,
    )


def mask_crop(canvas: ToolCanvas, ann: Annotation) -> MaskCrop | None:
    """The annotation's mask cut to its tight box (None: box-only or no pixel set), decoded
    from the RLE runs inside that box: a 20,000 px square image's mask is never held whole."""
    if not ann.segmentation:
        return None
    w, h = canvas.image_size
    return decode_tight(ann.segmentation, h, w)


def push_mask_edit(canvas: ToolCanvas, ann: Annotation, after: MaskCrop | None, text: str) -> None:
    """Store a changed mask (its tight crop) as one command; a mask edited down to nothing
    (None) deletes its annotation."""
    doc = canvas.document
    if doc is None or ann.id is None:
        return
    if after is None:
        canvas.push(DeleteAnnotation(doc, ann.id, text=f"{text} (removed)"))
    else:
        w, h = canvas.image_size
        canvas.push(EditAnnotation(doc, ann, annotation_with_crop(ann, after, h, w), text))


class SelectTool(Tool):
    """Click to select, drag to move; handles resize boxes (all QGraphicsView machinery)."""

    name = "select"


class BoxTool(Tool):
    """Press, drag, release: a new box of the current category."""

    name = "box"
    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, canvas: ToolCanvas) -> None:
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
        doc = self.canvas.document
        if doc is None or rect.width() < _MIN_NEW_BOX or rect.height() < _MIN_NEW_BOX:
            return True
        bbox = (
            round(rect.x(), 2),
            round(rect.y(), 2),
            round(rect.width(), 2),
            round(rect.height(), 2),
        )
        command = AddAnnotation(doc, new_annotation(doc, self.canvas, bbox), "Add box")
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
