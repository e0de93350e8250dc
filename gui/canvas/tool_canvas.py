"""What a canvas tool may use of the canvas: a narrow, typed interface.

The tools (tools.py, polygon_tool.py, brush_tool.py) see the canvas only through
`ToolCanvas`, never the whole QGraphicsView, so what a tool can change is visible here and a
tool can be tested with a small stand-in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QColor, QUndoCommand

    from gui.canvas.items import AnnotationItem
    from gui.canvas.overlays import BrushCursor, PolygonItem, RubberBand, StrokeOverlay
    from gui.document import ImageDocument


class ToolCanvas(Protocol):
    # ---- what is shown --------------------------------------------------------------------
    @property
    def document(self) -> ImageDocument | None: ...

    @property
    def image_size(self) -> tuple[int, int]: ...

    @property
    def current_category_id(self) -> int: ...

    @property
    def brush_size(self) -> int: ...

    @property
    def last_drawn_id(self) -> int | None: ...

    def view_scale(self) -> float: ...

    def category_color(self, category_id: int) -> QColor: ...

    def clamp_to_image(self, pos: QPointF) -> QPointF: ...

    # ---- the items and overlays a tool works with -----------------------------------------
    def item_for(self, ann_id: int) -> AnnotationItem | None: ...

    def selected_items(self) -> list[AnnotationItem]: ...

    def clear_selection(self) -> None: ...

    @property
    def polygon_item(self) -> PolygonItem: ...

    @property
    def stroke_overlay(self) -> StrokeOverlay: ...

    @property
    def brush_cursor(self) -> BrushCursor: ...

    @property
    def rubber_band(self) -> RubberBand: ...

    # ---- what a tool may change -----------------------------------------------------------
    def push(self, command: QUndoCommand) -> None:
        """Push an undoable edit on the shown image's stack (nothing without an image)."""
        ...

    def remember_drawn(self, ann_id: int | None) -> None: ...

    def raise_small_brush(self) -> bool: ...

    def say_brush_size(self) -> None:
        """Put the brush size on the status bar."""
        ...
