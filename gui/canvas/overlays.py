"""Transient items the tools draw: the polygon being drawn or edited, the brush cursor,
the live brush stroke, and the rubber band of the box tool.

They live above the annotation items and never reach the store themselves; the tools turn
what they show into undoable commands on release.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QGraphicsRectItem

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

    The image covers only the stroke so far (it grows, in generous steps, as the stroke
    does): an image-sized buffer was 432 MB on a 12,000 x 9,000 photo, allocated and
    cleared on every press. Only the segment just painted is repainted.
    """

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(OVERLAY_Z - 1)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        # Gives paint() the exposed rect, so a repaint blits only that part of the image.
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)
        self._image: QImage | None = None
        self._rect = QRect()  # the image's place in the scene
        self._limits = QRect()  # the whole image: the stroke never grows beyond it
        self._active = False
        self._pen = QPen()

    def begin(self, width: int, height: int, color: QColor, *, erase: bool) -> None:
        self.prepareGeometryChange()
        self._image, self._rect = None, QRect()
        self._limits = QRect(0, 0, width, height)
        self._active = True
        paint_color = QColor(255, 255, 255, 150) if erase else with_alpha(color, 150)
        self._pen = QPen(paint_color)
        self._pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        self._pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)

    @property
    def buffer_rect(self) -> QRect:
        """The scene rectangle the stroke's image buffer covers (empty before painting)."""
        return QRect(self._rect)

    def _cover(self, needed: QRect) -> None:
        if self._image is not None and self._rect.contains(needed):
            return
        grown = needed if self._image is None else self._rect.united(needed)
        margin = max(128, grown.width() // 2, grown.height() // 2)
        grown = grown.adjusted(-margin, -margin, margin, margin).intersected(self._limits)
        image = QImage(grown.size(), QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        if self._image is not None:
            painter = QPainter(image)
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
            painter.drawImage(self._rect.topLeft() - grown.topLeft(), self._image)
            painter.end()
        self.prepareGeometryChange()
        self._image, self._rect = image, grown

    def add_segment(self, p0: QPointF, p1: QPointF, diameter: float) -> None:
        if not self._active:
            return
        r = diameter / 2 + 2
        needed = QRectF(p0, p1).normalized().adjusted(-r, -r, r, r).toAlignedRect()
        needed = needed.intersected(self._limits)
        if needed.isEmpty():
            return
        self._cover(needed)
        self._pen.setWidthF(max(1.0, diameter))
        assert self._image is not None  # _cover made one
        painter = QPainter(self._image)
        painter.translate(-QPointF(self._rect.topLeft()))
        # Source mode: overlapping segments do not darken each other.
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        painter.setPen(self._pen)
        painter.drawLine(p0, p1) if p0 != p1 else painter.drawPoint(p0)
        painter.end()
        self.update(QRectF(needed))

    def end(self) -> None:
        self.prepareGeometryChange()
        self._image, self._rect, self._active = None, QRect(), False
        self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(self._rect) if self._image is not None else QRectF()

    def paint(self, painter: QPainter, option, widget=None) -> None:
        if self._image is not None:
            exposed = option.exposedRect.intersected(self.boundingRect())
            source = exposed.translated(-QPointF(self._rect.topLeft()))
            painter.drawImage(exposed, self._image, source)


MIN_CURSOR_PX = 6.0  # the brush outline is never drawn smaller than this on screen
_CROSSHAIR_PX = 5.0  # arm length of the crosshair shown on small brushes


class BrushCursor(QGraphicsItem):
    """The brush outline at its real size (image pixels) following the mouse.

    On a zoomed-out huge image the real size can be a fraction of a screen pixel, so the
    circle is never drawn smaller than MIN_CURSOR_PX, and a small brush gets a crosshair to
    show exactly where it paints. Dark under light (two strokes) reads on any photo.
    """

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(OVERLAY_Z + 1)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._diameter = 1.0
        self._scale = 1.0
        self._halo = _cosmetic_pen(QColor(0, 0, 0, 180), 3.0)
        self._line = _cosmetic_pen(SELECTION_COLOR, 1.0)
        self.setVisible(False)

    def set_view_scale(self, scale: float) -> None:
        self.prepareGeometryChange()
        self._scale = max(scale, 1e-6)

    def place(self, centre: QPointF, diameter: float) -> None:
        if diameter != self._diameter:
            self.prepareGeometryChange()
            self._diameter = float(diameter)
        self.setPos(centre)
        self.setVisible(True)

    def centre(self) -> QPointF:
        return self.pos()

    def screen_diameter(self) -> float:
        """The outline's diameter as drawn, in screen pixels."""
        return max(self._diameter * self._scale, MIN_CURSOR_PX)

    def shows_crosshair(self) -> bool:
        return self._diameter * self._scale < 3 * MIN_CURSOR_PX

    def boundingRect(self) -> QRectF:
        r = max(self.screen_diameter() / 2, _CROSSHAIR_PX + 2) / self._scale
        pad = 3 / self._scale
        return QRectF(-r - pad, -r - pad, 2 * (r + pad), 2 * (r + pad))

    def paint(self, painter: QPainter, option, widget=None) -> None:
        r = self.screen_diameter() / 2 / self._scale
        arm = _CROSSHAIR_PX / self._scale
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for pen in (self._halo, self._line):
            painter.setPen(pen)
            painter.drawEllipse(QPointF(0, 0), r, r)
            if self.shows_crosshair():
                painter.drawLine(QPointF(-arm, 0), QPointF(arm, 0))
                painter.drawLine(QPointF(0, -arm), QPointF(0, arm))


class RubberBand(QGraphicsRectItem):
    """The box being drawn by the box tool."""

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(OVERLAY_Z)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setPen(_cosmetic_pen(SELECTION_COLOR, 1.5, Qt.PenStyle.DashLine))
        self.setVisible(False)
