"""The canvas's edit actions on the selection: accept, reject, delete, fill holes,
change category, and the commits of item drags and handle resizes.

Each action pushes exactly one command (a macro when several annotations are involved) on
the document's undo stack, so one Ctrl+Z undoes one user action. Mask edits (fill holes,
move) work on each mask's crop (core/mask_edits.py), never on an image-sized array.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QUndoCommand

from core import mask_edits
from core.records import ReviewState
from gui.canvas.tools import mask_crop
from gui.commands import (
    DeleteAnnotation,
    EditAnnotation,
    SetReviewState,
    accept_all_above,
    push,
)
from gui.document import is_proposal

if TYPE_CHECKING:
    from gui.canvas.items import AnnotationItem
    from gui.canvas.view import CanvasView


class SelectionEdits:
    """The edit actions of one canvas: they read its document, selection and image size."""

    def __init__(self, view: CanvasView) -> None:
        self._view = view

    def accept_selected(self) -> None:
        """Accept the selected proposals (source and score are kept)."""
        doc = self._view.document
        if doc is None:
            return
        commands = [
            SetReviewState(doc, item.ann_id, ReviewState.ACCEPTED)
            for item in self._view.selected_items()
            if is_proposal(item.annotation)
        ]
        push(doc, commands, f"Accept {len(commands)} proposals")

    def reject_selected(self) -> None:
        """Reject the selected proposals: they stay in the store as REJECTED and are hidden."""
        doc = self._view.document
        if doc is None:
            return
        commands = [
            SetReviewState(doc, item.ann_id, ReviewState.REJECTED)
            for item in self._view.selected_items()
            if is_proposal(item.annotation)
        ]
        push(doc, commands, f"Reject {len(commands)} proposals")

    def delete_selected(self) -> None:
        """Delete the selection: a proposal is rejected (remembered), a label is deleted."""
        doc = self._view.document
        if doc is None:
            return
        commands = [
            SetReviewState(doc, item.ann_id, ReviewState.REJECTED)
            if is_proposal(item.annotation)
            else DeleteAnnotation(doc, item.ann_id)
            for item in self._view.selected_items()
        ]
        push(doc, commands, f"Delete {len(commands)} annotations")

    def accept_all_above_threshold(self) -> None:
        """Accept every proposal on this image whose score reaches the threshold, as one step."""
        doc = self._view.document
        if doc is None:
            return
        command = accept_all_above(doc, self._view.score_threshold)
        if command is not None:
            doc.undo_stack.push(command)

    def fill_holes_selected(self) -> None:
        """Fill the holes of the selected masks (background enclosed by the mask)."""
        doc = self._view.document
        if doc is None:
            return
        commands = []
        w, h = self._view.image_size
        for item in self._view.selected_items():
            ann = item.annotation
            before = mask_crop(self._view, ann)
            if before is None:
                continue
            after = mask_edits.fill_holes(before)
            if after is not before:
                new = mask_edits.annotation_with_crop(ann, after, h, w)
                commands.append(EditAnnotation(doc, ann, new, "Fill holes"))
        push(doc, commands, "Fill holes")

    def set_category_of_selected(self, category_id: int) -> None:
        """Give the selected annotations another category."""
        doc = self._view.document
        if doc is None:
            return
        commands = []
        for item in self._view.selected_items():
            old = item.annotation
            if old.category_id != category_id:
                new = copy.deepcopy(old)
                new.category_id = category_id
                commands.append(EditAnnotation(doc, old, new, "Change category"))
        push(doc, commands, "Change category")

    # ---- commits of direct manipulation -----------------------------------------------
    def on_box_edited(self, ann_id: int, rect: QRectF) -> None:
        """A handle resize ended: store the new box."""
        doc = self._view.document
        item = self._view.item_for(ann_id)
        if doc is None or item is None:
            return
        old = item.annotation
        new = copy.deepcopy(old)
        new.bbox = _rounded_bbox(rect.intersected(self._image_rect()))
        if new.bbox != tuple(old.bbox):
            doc.undo_stack.push(EditAnnotation(doc, old, new, "Resize box"))
        else:
            item.set_annotation(old)

    def commit_item_drags(self) -> None:
        """Turn the offsets of dragged items into one 'Move' command (masks move by whole px)."""
        doc = self._view.document
        if doc is None:
            return
        moved = [item for item in self._view.selected_items() if item.pos() != QPointF(0, 0)]
        commands = []
        for item in moved:
            command = self._move_command(item)
            if command is None:
                item.setPos(0, 0)
            else:
                commands.append(command)
        push(doc, commands, "Move")

    def _move_command(self, item: AnnotationItem) -> QUndoCommand | None:
        doc, old = self._view.document, item.annotation
        if doc is None or old.id is None:
            return None
        offset = item.pos()
        if item.has_mask:
            dx, dy = round(offset.x()), round(offset.y())
            if dx == 0 and dy == 0:
                return None
            width, height = self._view.image_size
            before = mask_crop(self._view, old)
            after = None if before is None else mask_edits.move(before, dx, dy, height, width)
            if after is None:
                return DeleteAnnotation(doc, old.id, "Move out of the image")
            new = mask_edits.annotation_with_crop(old, after, height, width)
            return EditAnnotation(doc, old, new, "Move")
        x, y, w, h = old.bbox
        width, height = self._view.image_size
        # Keep the whole box on the image: clamp the move, not the size.
        nx = min(max(x + offset.x(), 0.0), max(width - w, 0.0))
        ny = min(max(y + offset.y(), 0.0), max(height - h, 0.0))
        new = copy.deepcopy(old)
        new.bbox = _rounded_bbox(QRectF(nx, ny, w, h))
        if new.bbox == tuple(old.bbox):
            return None
        return EditAnnotation(doc, old, new, "Move")

    def _image_rect(self) -> QRectF:
        width, height = self._view.image_size
        return QRectF(0, 0, width, height)


def _rounded_bbox(rect: QRectF) -> tuple[float, float, float, float]:
    """A COCO box from a scene rect, rounded to 1/100 px so float noise does not leak in."""
    return (
        round(rect.x(), 2),
        round(rect.y(), 2),
        round(rect.width(), 2),
        round(rect.height(), 2),
    )
