"""Transient items the tools draw: the polygon being drawn or edited, the brush cursor,
the live brush stroke, and the rubber band of the box tool.

They live above the annotation items and never reach the store themselves; the tools turn
what they show into undoable commands on release.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsItem, QGraphicsRectItem

from gui.colors import SELECTION_COLOR, with_alpha

OVERLAY_Z = 1000.0
VERTEX_PX = 7.0  # vertex marker size on screen


def _cosmetic_pen(color: QColor, width: float = 1.5, style=Qt.PenStyle.SolidLine) -> QPen:
    pen = QPen(color, width, style)
    pen.setCosmetic(True)
    return pen


class PolygonItem(QGraphicsItem):
    """A polygon with vertex markers: the one being drawn (open, with a rubber band to the
    cursor) or the editable contour of the selected mask (closed)."""

    def __init__(self, color: QColor) -> None:
        super().__init__()
        self.setZValue(OVERLAY_Z)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._color = QColor(color)
        self._points: list[QPointF] = []
        self._closed = False
        self._cursor: QPointF | None = None
        self._hovered: int | None = None
        self._scale = 1.0  # view scale, to size screen-constant markers in scene units

    @property
    def points(self) -> list[QPointF]:
        return list(self._points)

    def set_polygon(self, points: list[QPointF], *, closed: bool) -> None:
        self.prepareGeometryChange()
        self._points = [QPointF(p) for p in points]
        self._closed = closed
        if self._hovered is not None and self._hovered >= len(self._points):
            self._hovered = None
        self.update()

    def set_cursor_point(self, point: QPointF | None) -> None:
        self.prepareGeometryChange()
        self._cursor = QPointF(point) if point is not None else None
        self.update()

    def set_hovered(self, index: int | None) -> None:
        if index != self._hovered:
            self._hovered = index
            self.update()

    def set_color(self, color: QColor) -> None:
        self._color = QColor(color)
        self.update()

    def set_view_scale(self, scale: float) -> None:
        self.prepareGeometryChange()
        self._scale = max(scale, 1e-6)

    def boundingRect(self) -> QRectF:
        pts = self._points + ([self._cursor] if self._cursor is not None else [])
        if not pts:
            return QRectF()
        rect = QPolygonF(pts).boundingRect()
        margin = (VERTEX_PX + 4) / self._scale
        return rect.adjusted(-margin, -margin, margin, margin)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        if not self._points:
            return
        polygon = QPolygonF(self._points)
        if self._closed:
            painter.setPen(_cosmetic_pen(SELECTION_COLOR, 1.5))
            painter.setBrush(QBrush(with_alpha(self._color, 40)))
            painter.drawPolygon(polygon)
        else:
            painter.setPen(_cosmetic_pen(self._color, 2.0))
            painter.drawPolyline(polygon)
            if self._cursor is not None:
                painter.setPen(_cosmetic_pen(self._color, 1.0, Qt.PenStyle.DashLine))
                painter.drawLine(self._points[-1], self._cursor)
        half = VERTEX_PX / 2 / self._scale
        painter.setPen(_cosmetic_pen(QColor("#202020"), 1.0))
        for index, p in enumerate(self._points):
            hovered = index == self._hovered or (index == 0 and not self._closed)
            painter.setBrush(QBrush(QColor("#ffd400") if hovered else SELECTION_COLOR))
            painter.drawRect(QRectF(p.x() - half, p.y() - half, 2 * half, 2 * half))


class StrokeOverlay(QGraphicsItem):
    """The brush or eraser stroke in progress, painted into a QImage as the mouse moves.

    Only the segment just painted is repainted, so long strokes on large images stay
    smooth; the mask itself is computed once, on release.
    """

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(OVERLAY_Z - 1)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        # Gives paint() the exposed rect, so a repaint blits only that part of the image.
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)
        self._image: QImage | None = None
        self._pen = QPen()

    def begin(self, width: int, height: int, color: QColor, *, erase: bool) -> None:
        self.prepareGeometryChange()
        self._image = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
        self._image.fill(Qt.GlobalColor.transparent)
        paint_color = QColor(255, 255, 255, 150) if erase else with_alpha(color, 150)
        self._pen = QPen(paint_color)
        self._pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        self._pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)

    def add_segment(self, p0: QPointF, p1: QPointF, diameter: float) -> None:
        if self._image is None:
            return
        self._pen.setWidthF(max(1.0, diameter))
        painter = QPainter(self._image)
        # Source mode: overlapping segments do not darken each other.
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        painter.setPen(self._pen)
        painter.drawLine(p0, p1) if p0 != p1 else painter.drawPoint(p0)
        painter.end()
        r = diameter / 2 + 2
        self.update(QRectF(p0, p1).normalized().adjusted(-r, -r, r, r))

    def end(self) -> None:
        self.prepareGeometryChange()
        self._image = None
        self.update()

    def boundingRect(self) -> QRectF:
        if self._image is None:
            return QRectF()
        return QRectF(0, 0, self._image.width(), self._image.height())

    def paint(self, painter: QPainter, option, widget=None) -> None:
        if self._image is not None:
            exposed = option.exposedRect.intersected(self.boundingRect())
            painter.drawImage(exposed, self._image, exposed)


class BrushCursor(QGraphicsEllipseItem):
    """A circle the size of the brush (in image pixels) that follows the mouse."""

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(OVERLAY_Z + 1)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setPen(_cosmetic_pen(SELECTION_COLOR, 1.0))
        self.setVisible(False)

    def place(self, centre: QPointF, diameter: float) -> None:
        r = diameter / 2
        self.setRect(QRectF(centre.x() - r, centre.y() - r, 2 * r, 2 * r))
        self.setVisible(True)


class RubberBand(QGraphicsRectItem):
    """The box being drawn by the box tool."""

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(OVERLAY_Z)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setPen(_cosmetic_pen(SELECTION_COLOR, 1.5, Qt.PenStyle.DashLine))
        self.setVisible(False)
