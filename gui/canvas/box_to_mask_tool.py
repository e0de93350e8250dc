"""Box-to-mask (M): drag a box, the model's mask head draws the object's mask inside it.

While the box is dragged, every move asks the model (in the proposal worker's thread, see
gui/workers/box_mask_job.py) for the mask of the box as it is now; a request the box has
moved away from is dropped before it runs, and an answer for an old box is ignored, so the
preview follows the box. The image's backbone runs once; each move costs only the heads.
On release the mask of the final box becomes one annotation, as one undo step; brush and
eraser then edit it like any other mask. The worker sends the mask as its crop, so nothing
image-sized reaches the UI thread on a huge image.

The category is the one picked on this image (a digit or a click in the Labels list), else
the box head's top choice; the status bar names it with the model's next two choices.
The tool talks to the model through a `BoxMaskSource` the window sets (none: no model).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QKeyEvent, QMouseEvent, QPainter
from PySide6.QtWidgets import QGraphicsItem

from core.mask_edits import annotation_with_crop
from core.mask_pixels import MaskCrop
from core.records import Annotation, ReviewState, Source
from core.store.effort import Origin
from gui.canvas.mask_raster import overlay_image
from gui.canvas.overlays import OVERLAY_Z
from gui.canvas.tools import Tool
from gui.commands import AddAnnotation

if TYPE_CHECKING:
    from gui.canvas.tool_canvas import ToolCanvas
    from gui.workers.box_mask_job import BoxMaskResult

MIN_BOX = 2.0  # image px: a smaller drag is a click, not a box
NO_MODEL = (
    "Box-to-mask needs a model: choose one with Model > Choose model… (Ctrl+Shift+M) "
    "and wait until it has loaded."
)


class BoxMaskSource(Protocol):
    def segment_box(
        self,
        image_id: int,
        box: tuple[float, float, float, float],
        category_id: int | None,
        *,
        final: bool,
    ) -> int | None:
        """Send a request; its id, or None when no model is there to answer."""
        ...


class MaskPreview(QGraphicsItem):
    """The mask of the box being dragged, translucent, at its place in the image."""

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(OVERLAY_Z - 2)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._image: QImage | None = None
        self._rect = QRectF()

    def show_mask(self, crop: MaskCrop | None, color: QColor) -> None:
        """Show the mask (its tight crop; None: nothing)."""
        self.prepareGeometryChange()
        if crop is None:
            self._image, self._rect = None, QRectF()
        else:
            self._image = overlay_image(crop.mask, color, 140)
            self._rect = QRectF(crop.x, crop.y, crop.width, crop.height)
        self.update()

    @property
    def showing(self) -> bool:
        return self._image is not None

    def boundingRect(self) -> QRectF:
        return QRectF(self._rect)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        if self._image is not None:
            painter.drawImage(self._rect, self._image)


class BoxToMaskTool(Tool):
    name = "box_to_mask"
    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, canvas: ToolCanvas, category_picked: Callable[[], bool]) -> None:
        super().__init__(canvas)
        self._category_picked = category_picked
        self.source: BoxMaskSource | None = None
        self.say: Callable[[str], None] = lambda _message: None
        self.preview = MaskPreview()
        self._origin: QPointF | None = None
        self._latest: int | None = None  # the preview request whose answer counts
        self._finals: set[int] = set()  # released boxes waiting for their mask

    # ---- gestures -----------------------------------------------------------------------
    def press(self, event: QMouseEvent, pos: QPointF) -> bool:
        doc = self.canvas.document
        if event.button() != Qt.MouseButton.LeftButton or doc is None:
            return False
        if self.source is None:
            self.say(NO_MODEL)
            return True
        self.cancel()
        self._origin = self.canvas.clamp_to_image(pos)
        self.canvas.rubber_band.setRect(QRectF(self._origin, self._origin))
        self.canvas.rubber_band.setVisible(True)
        return True

    def move(self, event: QMouseEvent, pos: QPointF) -> bool:
        if self._origin is None:
            return False
        rect = QRectF(self._origin, self.canvas.clamp_to_image(pos)).normalized()
        self.canvas.rubber_band.setRect(rect)
        if rect.width() >= MIN_BOX and rect.height() >= MIN_BOX:
            self._ask(rect, final=False)
        return True

    def release(self, event: QMouseEvent, pos: QPointF) -> bool:
        if self._origin is None or event.button() != Qt.MouseButton.LeftButton:
            return False
        rect = QRectF(self._origin, self.canvas.clamp_to_image(pos)).normalized()
        self._origin = None
        if rect.width() < MIN_BOX or rect.height() < MIN_BOX:
            self.cancel()
            return True
        self.canvas.rubber_band.setRect(rect)
        self._ask(rect, final=True)  # the rubber band stays until the answer comes
        return True

    def _ask(self, rect: QRectF, *, final: bool) -> None:
        doc = self.canvas.document
        if doc is None or self.source is None:
            return
        box = (rect.left(), rect.top(), rect.right(), rect.bottom())
        picked = self.canvas.current_category_id if self._category_picked() else None
        request_id = self.source.segment_box(doc.image_id, box, picked, final=final)
        if request_id is None:
            self.cancel()
            self.say(NO_MODEL)
            return
        if final:
            self._finals.add(request_id)
            self._latest = None  # later previews of this box are stale
        else:
            self._latest = request_id

    # ---- answers from the worker ----------------------------------------------------------
    def show_result(self, result: BoxMaskResult) -> None:
        """The model answered: a released box becomes an annotation; a preview is shown only
        when it answers the newest box."""
        doc = self.canvas.document
        request = result.request
        wanted = self._finals if request.final else {self._latest}
        if request.request_id not in wanted:
            return
        self._finals.discard(request.request_id)
        if doc is None or doc.image_id != request.image_id:
            return  # the user moved to another image meanwhile
        category_id = result.category_id
        fallback = category_id is None
        if category_id is None:
            category_id = self.canvas.current_category_id
        if not request.final:
            self.preview.show_mask(result.crop, self.canvas.category_color(category_id))
            return
        if self._origin is None:  # no new box is being dragged: clear this one's overlays
            self.cancel()
        crop = result.crop
        if crop is None:
            self.say("The model sees no object in this box; nothing was added.")
            return
        ann = Annotation(
            image_id=doc.image_id,
            category_id=category_id,
            bbox=(0.0, 0.0, 0.0, 0.0),  # annotation_with_crop makes the box follow the mask
            source=Source.HUMAN,
            state=ReviewState.ACCEPTED,
        )
        w, h = self.canvas.image_size
        new = annotation_with_crop(ann, crop, h, w)
        command = AddAnnotation(doc, new, "Box to mask", origin=Origin.BOX_TO_MASK)
        self.canvas.push(command)
        self.canvas.remember_drawn(command.annotation_id)
        self.say(self._describe(result, fallback))

    def show_failure(self, request_id: int, message: str) -> None:
        if request_id == self._latest or request_id in self._finals:
            self._finals.discard(request_id)
            if self._origin is None:
                self.cancel()
            self.say(message)

    def _describe(self, result: BoxMaskResult, fallback: bool) -> str:
        scores = [f"{c.name} {c.score:.2f}" for c in result.choices]
        if result.request.category_id is not None:
            head = f"Box to mask with the category you picked (the model: {', '.join(scores)})"
        elif fallback:
            head = (
                f"Box to mask: the model says {scores[0]}, a category this project lacks, so "
                f"the current one was used (next: {', '.join(scores[1:])})"
            )
        else:
            tail = f" (next: {', '.join(scores[1:])})" if len(scores) > 1 else ""
            head = f"Box to mask: {scores[0]}{tail}"
        return f"{head}. Digits retag it once selected; Ctrl+Z removes it."

    # ---- lifecycle --------------------------------------------------------------------------
    def cancel(self) -> bool:
        """Drop the box being dragged and its preview; released boxes still get their mask."""
        active = self._origin is not None or self.preview.showing
        self._origin = None
        self._latest = None
        self.canvas.rubber_band.setVisible(False)
        self.preview.show_mask(None, QColor())
        return active

    def wants_key(self, event: QKeyEvent) -> bool:
        return self._origin is not None and event.key() == Qt.Key.Key_Escape
