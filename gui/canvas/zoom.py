"""Zoom for CanvasView: wheel around the cursor, fit, 100 %, programmatic steps."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QTransform

MIN_ZOOM, MAX_ZOOM = 0.01, 64.0
# Zoom per unit of wheel delta: one 120-unit notch is about 1.2x, and the many small deltas
# of a high-resolution wheel or touchpad add up to the same, smoothly.
WHEEL_ZOOM_BASE = 1.0015


class ZoomMixin:
    """Mixed into CanvasView (a QGraphicsView with `polygon_item`, `_pixmap_item`, `_scene`)."""

    def fit(self) -> None:
        rect = self._scene.sceneRect()
        if rect.isEmpty():
            return
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self._after_zoom()

    def zoom_100(self) -> None:
        centre = self._to_scene(QPointF(self.viewport().rect().center()))
        self.setTransform(QTransform())
        self.centerOn(centre)
        self._after_zoom()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Scale by `factor`, keeping the scene point under `anchor` (viewport px) in place."""
        anchor = QPointF(self.viewport().rect().center()) if anchor is None else anchor
        current = self.view_scale()
        factor = min(max(current * factor, MIN_ZOOM), MAX_ZOOM) / current
        if abs(factor - 1.0) < 1e-9:
            return
        scene_point = self._to_scene(anchor)
        self.scale(factor, factor)
        shift = self.viewportTransform().map(scene_point) - anchor
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + round(shift.x()))
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + round(shift.y()))
        self._after_zoom()

    def _after_zoom(self) -> None:
        scale = self.view_scale()
        self.polygon_item.set_view_scale(scale)
        self.brush_cursor.set_view_scale(scale)
        if self.tool_name in ("brush", "eraser"):
            self.raise_small_brush()
        # Smooth when shrinking the photo; crisp pixels when zoomed in to edit them.
        mode = Qt.TransformationMode
        self._pixmap_item.setTransformationMode(
            mode.SmoothTransformation if scale < 1.0 else mode.FastTransformation
        )
        self.layout_tags()  # tags keep their screen size: who fits where changes with zoom
        self.zoomChanged.emit(scale)

    def wheelEvent(self, event) -> None:
        """Wheel (with or without Ctrl) zooms around the cursor."""
        delta = event.angleDelta().y()
        if not delta:
            delta = event.pixelDelta().y()  # touchpads that report pixels only
        if delta:
            self.zoom_by(WHEEL_ZOOM_BASE**delta, event.position())
        event.accept()
