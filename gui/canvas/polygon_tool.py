"""The polygon tool: draw a new mask vertex by vertex, or edit the selected mask's outline.

Drawing: each click adds a vertex; Enter, a click on the first vertex or a double-click
closes the polygon into a new mask of the current category; Escape abandons it.

Editing: with one mask selected, its largest outline is simplified (cv2.approxPolyDP) into
a few vertices. Drag a vertex to move it, double-click an edge to insert one, Shift- or
Ctrl-click a vertex (or press Delete while hovering it) to remove it. Only the pixels
between the old and the new outline change, so holes and other parts survive an edit.
Both the outline and the edit work on the mask's crop (core/mask_edits.py): on a 20,000 px
square image an edit costs what the object and the moved vertices cover.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QKeyEvent, QMouseEvent

from core import mask_edits, mask_pixels
from core.mask_pixels import MaskCrop
from core.records import Annotation
from gui.canvas.mask_crops import tight
from gui.canvas.tools import Tool, mask_crop, new_annotation, push_mask_edit
from gui.commands import AddAnnotation

if TYPE_CHECKING:
    from gui.canvas.tool_canvas import ToolCanvas

_PICK_PX = 8.0  # how close (screen px) a click must be to a vertex or an edge
_CLOSE_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)
_DELETE_KEYS = (Qt.Key.Key_Delete, Qt.Key.Key_Backspace)


def _points_array(points: list[QPointF]) -> np.ndarray:
    return np.array([[p.x(), p.y()] for p in points], dtype=np.float64)


def _distance_to_segment(p: QPointF, a: QPointF, b: QPointF) -> tuple[float, QPointF]:
    """Distance from p to segment ab, and the closest point on it."""
    dx, dy = b.x() - a.x(), b.y() - a.y()
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else ((p.x() - a.x()) * dx + (p.y() - a.y()) * dy) / length2
    t = min(max(t, 0.0), 1.0)
    closest = QPointF(a.x() + t * dx, a.y() + t * dy)
    return math.hypot(p.x() - closest.x(), p.y() - closest.y()), closest


class PolygonTool(Tool):
    name = "polygon"
    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, canvas: ToolCanvas) -> None:
        super().__init__(canvas)
        self._drawing: list[QPointF] = []
        self._edit_ann: Annotation | None = None  # the mask whose outline is being edited
        self._edit_points: list[QPointF] = []
        # The outline the stored mask currently corresponds to: the "before" of the next edit.
        self._base_points = np.zeros((0, 2))
        self._drag_index: int | None = None
        self._hover_index: int | None = None
        self._own_edit = False  # True while our own command changes the edited annotation

    # ---- lifecycle -----------------------------------------------------------------------
    def activate(self) -> None:
        self.selection_changed()

    def deactivate(self) -> None:
        self.cancel()
        self._set_edit_target(None)

    def cancel(self) -> bool:
        active = bool(self._drawing) or self._drag_index is not None
        self._drawing = []
        if self._drag_index is not None:  # put the dragged vertex back
            self._drag_index = None
            self._set_edit_target(self._edit_ann)
        self._show()
        return active

    def selection_changed(self) -> None:
        if self._drawing:
            return
        selected = self.canvas.selected_items()
        item = selected[0] if len(selected) == 1 and selected[0].has_mask else None
        self._set_edit_target(item.annotation if item is not None else None)

    def annotation_changed(self, ann_id: int) -> None:
        if self._edit_ann is None or self._edit_ann.id != ann_id:
            return
        doc = self.canvas.document
        if doc is None or not doc.has_annotation(ann_id):
            self._set_edit_target(None)
        elif self._own_edit:  # keep the vertices the user placed, just take the new mask
            self._edit_ann = doc.annotation(ann_id)
        else:  # undo/redo or someone else's edit: start again from the mask
            self._set_edit_target(doc.annotation(ann_id))

    def _set_edit_target(self, ann: Annotation | None) -> None:
        self._edit_ann = ann
        self._edit_points = []
        self._drag_index = self._hover_index = None
        crop = mask_crop(self.canvas, ann) if ann is not None else None
        if crop is not None:
            contour = mask_edits.editable_contour(crop)
            if contour is not None:
                self._edit_points = [QPointF(x, y) for x, y in contour]
                self._base_points = contour
        if not self._edit_points:
            self._edit_ann = None
        self._show()

    def _show(self) -> None:
        item = self.canvas.polygon_item
        if self._drawing:
            item.set_color(self.canvas.category_color(self.canvas.current_category_id))
            item.set_polygon(self._drawing, closed=False)
        else:
            item.set_cursor_point(None)
            item.set_polygon(self._edit_points, closed=True)
            item.set_hovered(self._hover_index)
        item.setVisible(bool(self._drawing or self._edit_points))

    # ---- picking ---------------------------------------------------------------------------
    def _pick_radius(self) -> float:
        return _PICK_PX / self.canvas.view_scale()

    def _vertex_at(self, pos: QPointF, points: list[QPointF]) -> int | None:
        best, best_d = None, self._pick_radius()
        for index, p in enumerate(points):
            d = math.hypot(p.x() - pos.x(), p.y() - pos.y())
            if d <= best_d:
                best, best_d = index, d
        return best

    def _edge_at(self, pos: QPointF) -> tuple[int, QPointF] | None:
        pts, best = self._edit_points, None
        best_d = self._pick_radius()
        for i in range(len(pts)):
            d, closest = _distance_to_segment(pos, pts[i], pts[(i + 1) % len(pts)])
            if d <= best_d:
                best, best_d = (i + 1, closest), d
        return best

    # ---- mouse -----------------------------------------------------------------------------
    def press(self, event: QMouseEvent, pos: QPointF) -> bool:
        if event.button() != Qt.MouseButton.LeftButton or self.canvas.document is None:
            return False
        pos = self.canvas.clamp_to_image(pos)
        if self._drawing:
            if len(self._drawing) >= 3 and self._vertex_at(pos, self._drawing[:1]) == 0:
                self._close_polygon()
            else:
                self._drawing.append(pos)
                self._show()
            return True
        index = self._vertex_at(pos, self._edit_points)
        if index is not None:
            modifiers = event.modifiers()
            if modifiers & (
                Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.ControlModifier
            ):
                self._delete_vertex(index)
            else:
                self._drag_index = index
            return True
        if self._edge_at(pos) is not None:
            return True  # on the edited outline: the second click of a double-click inserts
        self._drawing = [pos]
        self._show()
        return True

    def move(self, event: QMouseEvent, pos: QPointF) -> bool:
        if self._drag_index is not None:
            self._edit_points[self._drag_index] = self.canvas.clamp_to_image(pos)
            self.canvas.polygon_item.set_polygon(self._edit_points, closed=True)
            return True
        if self._drawing:
            self.canvas.polygon_item.set_cursor_point(self.canvas.clamp_to_image(pos))
            return True
        hover = self._vertex_at(pos, self._edit_points)
        if hover != self._hover_index:
            self._hover_index = hover
            self.canvas.polygon_item.set_hovered(hover)
        return False

    def release(self, event: QMouseEvent, pos: QPointF) -> bool:
        if self._drag_index is None or event.button() != Qt.MouseButton.LeftButton:
            return bool(self._drawing)
        self._drag_index = None
        self._commit_outline("Move vertex")
        return True

    def double_click(self, event: QMouseEvent, pos: QPointF) -> bool:
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        if self._drawing:
            # The first click of the double-click already placed the last vertex.
            if len(self._drawing) >= 3:
                self._close_polygon()
            return True
        edge = self._edge_at(pos)
        if edge is not None and self._vertex_at(pos, self._edit_points) is None:
            index, point = edge
            self._edit_points.insert(index, point)  # on the edge: the mask is unchanged
            self._show()
            return True
        return self.press(event, pos)

    # ---- keys ------------------------------------------------------------------------------
    def wants_key(self, event: QKeyEvent) -> bool:
        key = event.key()
        if self._drawing:
            return key in (*_CLOSE_KEYS, Qt.Key.Key_Escape, Qt.Key.Key_Backspace)
        return key in _DELETE_KEYS and self._hover_index is not None

    def key_press(self, event: QKeyEvent) -> bool:
        key = event.key()
        if self._drawing and key in _CLOSE_KEYS:
            if len(self._drawing) >= 3:
                self._close_polygon()
            return True
        if self._drawing and key == Qt.Key.Key_Backspace:
            self._drawing.pop()  # undo the last vertex of the unfinished polygon
            self._show()
            return True
        if key in _DELETE_KEYS and self._hover_index is not None and not self._drawing:
            self._delete_vertex(self._hover_index)
            return True
        return False

    def leave(self) -> None:
        self.canvas.polygon_item.set_cursor_point(None)

    # ---- edits -------------------------------------------------------------------------------
    def _close_polygon(self) -> None:
        points, self._drawing = _points_array(self._drawing), []
        self.canvas.polygon_item.set_cursor_point(None)
        self._show()
        w, h = self.canvas.image_size
        # Rasterise in the polygon's box only (whole pixels, so cv2's sub-pixel coordinates
        # shift exactly): on a 12,000 x 9,000 image a whole-image mask is 108 MB.
        box = mask_edits.polygon_box(points, h, w)
        if box is None:
            return
        x0, y0, bw, bh = box
        pixels = mask_pixels.polygon_mask(points - (x0, y0), bh, bw)
        crop = tight(MaskCrop(x0, y0, pixels))
        if crop is None:
            return
        doc = self.canvas.document
        if doc is None:
            return
        blank = new_annotation(doc, self.canvas, (0.0, 0.0, 0.0, 0.0))
        new = mask_edits.annotation_with_crop(blank, crop, h, w)
        command = AddAnnotation(doc, new, "Add polygon")
        self.canvas.push(command)
        self.canvas.clear_selection()  # see tools.py: digits then pick the next category
        self.canvas.remember_drawn(command.annotation_id)

    def _delete_vertex(self, index: int) -> None:
        if len(self._edit_points) <= 3:
            return  # a polygon needs three vertices; delete the annotation instead
        del self._edit_points[index]
        self._hover_index = None
        self._commit_outline("Delete vertex")

    def _commit_outline(self, text: str) -> None:
        """Apply the outline edit to the mask as one undoable command."""
        ann = self._edit_ann
        if ann is None:
            return
        before = mask_crop(self.canvas, ann)
        if before is None:
            return
        new_points = _points_array(self._edit_points)
        w, h = self.canvas.image_size
        after = mask_edits.contour_edit(before, self._base_points, new_points, h, w)
        if after is before:
            self._show()
            return
        self._own_edit = True
        try:
            push_mask_edit(self.canvas, ann, after, text)
        finally:
            self._own_edit = False
        self._base_points = new_points
        self._show()
