"""Zoom for the canvas: wheel around the cursor, fit, 100 %, programmatic steps."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QTransform, QWheelEvent
from PySide6.QtWidgets import QGraphicsItem

if TYPE_CHECKING:
    from gui.canvas.view import CanvasView

MIN_ZOOM, MAX_ZOOM = 0.01, 64.0
# Zoom per unit of wheel delta: one 120-unit notch is about 1.2x, and the many small deltas
# of a high-resolution wheel or touchpad add up to the same, smoothly.
WHEEL_ZOOM_BASE = 1.0015


class CanvasZoom:
    """The view's scale and scroll position; tells the view's overlays when it changes."""

    def __init__(self, view: CanvasView) -> None:
        self._view = view

    def fit(self) -> None:
        view = self._view
        rect = view.scene_rect()
        if rect.isEmpty():
            return
        view.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self._after_zoom()

    def zoom_100(self) -> None:
        view = self._view
        centre = view.to_scene(QPointF(view.viewport().rect().center()))
        view.setTransform(QTransform())
        view.centerOn(centre)
        self._after_zoom()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Scale by `factor`, keeping the scene point under `anchor` (viewport px) in place."""
        view = self._view
        anchor = QPointF(view.viewport().rect().center()) if anchor is None else anchor
        current = view.view_scale()
        factor = min(max(current * factor, MIN_ZOOM), MAX_ZOOM) / current
        if abs(factor - 1.0) < 1e-9:
            return
        scene_point = view.to_scene(anchor)
        view.scale(factor, factor)
        shift = view.viewportTransform().map(scene_point) - anchor
        view.horizontalScrollBar().setValue(view.horizontalScrollBar().value() + round(shift.x()))
        view.verticalScrollBar().setValue(view.verticalScrollBar().value() + round(shift.y()))
        self._after_zoom()

    def wheel(self, event: QWheelEvent) -> None:
        """Wheel (with or without Ctrl) zooms around the cursor."""
        delta = event.angleDelta().y()
        if not delta:
            delta = event.pixelDelta().y()  # touchpads that report pixels only
        if delta:
            self.zoom_by(WHEEL_ZOOM_BASE**delta, event.position())
        event.accept()

    def _after_zoom(self) -> None:
        view = self._view
        scale = view.view_scale()
        view.polygon_item.set_view_scale(scale)
        view.brush_cursor.set_view_scale(scale)
        if view.tool_name in ("brush", "eraser"):
            view.raise_small_brush()
        # Smooth when shrinking the photo; crisp pixels when zoomed in to edit them.
        mode = Qt.TransformationMode
        view.pixmap_item.setTransformationMode(
            mode.SmoothTransformation if scale < 1.0 else mode.FastTransformation
        )
        # Shrunk smoothly, the photo is worth keeping in device pixels (a pan then scrolls
        # it); at 100 % and above a plain blit costs less than keeping the cache.
        cache = QGraphicsItem.CacheMode
        view.pixmap_item.setCacheMode(
            cache.DeviceCoordinateCache if scale < 1.0 else cache.NoCache
        )
        rect, viewport = view.scene_rect(), view.viewport()
        view.tag_layer.set_cached(  # nothing scrolls while the whole image is in view
            rect.width() * scale <= viewport.width() + 1
            and rect.height() * scale <= viewport.height() + 1
        )
        view.layout_tags()  # tags keep their screen size: who fits where changes with zoom
        view.zoomChanged.emit(scale)
