"""TP, FP and FN of an evaluation drawn over the canvas, with a small legend.

The evaluation controller (gui/window/evaluation.py) turns one image's `MatchResult` into
`MatchMark`s; the canvas shows them with `CanvasView.set_match_overlay(marks)`. Each kind has
its own colour *and* line style, so the three stay apart for colour-blind analysts and on
images whose own colours resemble one of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QStyleOptionGraphicsItem,
    QWidget,
)

MarkKind = Literal["tp", "fp", "fn"]

MARK_COLORS: dict[str, str] = {"tp": "#22c55e", "fp": "#ef4444", "fn": "#f59e0b"}
MARK_STYLES: dict[str, Qt.PenStyle] = {
    "tp": Qt.PenStyle.SolidLine,
    "fp": Qt.PenStyle.DashLine,
    "fn": Qt.PenStyle.DotLine,
}
MARK_NAMES = {"tp": "TP", "fp": "FP", "fn": "FN"}
PEN_WIDTH_PX = 3.0  # screen pixels, whatever the zoom
OVERLAY_Z = 50.0  # above annotations and their tags


@dataclass(frozen=True)
class MatchMark:
    """One instance to outline: a prediction (TP/FP) or a missed ground truth (FN)."""

    kind: MarkKind
    bbox: tuple[float, float, float, float]  # COCO [x, y, w, h] in image pixels
    label: str = ""  # e.g. "FP 0.87 · IoU 0.32 · as square"
    current: bool = False  # the error "next error" went to: drawn thicker


class MatchOverlay(QGraphicsItem):
    """Outlines every mark's box; not selectable, never takes the mouse."""

    def __init__(self) -> None:
        super().__init__()
        self._marks: list[MatchMark] = []
        self._rect = QRectF()
        self.setZValue(OVERLAY_Z)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setAcceptHoverEvents(False)

    @property
    def marks(self) -> list[MatchMark]:
        return list(self._marks)

    def set_marks(self, marks: list[MatchMark]) -> None:
        self.prepareGeometryChange()
        self._marks = list(marks)
        rect = QRectF()
        for mark in self._marks:
            x, y, w, h = mark.bbox
            rect = rect.united(QRectF(x, y, w, h))
        # Room for the tags above boxes at any zoom: a generous margin in image pixels.
        self._rect = rect.adjusted(-400, -400, 400, 400) if self._marks else QRectF()
        self.update()

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(
        self,
        painter: QPainter,
        _option: QStyleOptionGraphicsItem,
        _widget: QWidget | None = None,
    ) -> None:
        font = QFont(painter.font())
        font.setPixelSize(11)
        metrics = QFontMetricsF(font)
        to_device = painter.worldTransform()
        placed: list[QRectF] = []
        for mark in sorted(self._marks, key=lambda m: m.current):
            color = QColor(MARK_COLORS[mark.kind])
            pen = QPen(color, PEN_WIDTH_PX * (2 if mark.current else 1))
            pen.setCosmetic(True)
            pen.setStyle(MARK_STYLES[mark.kind])
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            x, y, w, h = mark.bbox
            painter.drawRect(QRectF(x, y, w, h))
        # Tags in screen pixels (readable at any zoom), stacked upwards where an FP and the
        # FN it missed share a corner, so neither hides the other.
        painter.save()
        painter.resetTransform()
        painter.setFont(font)
        for mark in self._marks:
            if not mark.label:
                continue
            anchor = to_device.map(QPointF(mark.bbox[0], mark.bbox[1]))
            height = metrics.height() + 2
            tag = QRectF(
                anchor.x(),
                anchor.y() - height - 2,
                metrics.horizontalAdvance(mark.label) + 6,
                height,
            )
            while any(tag.intersects(other) for other in placed):
                tag.translate(0, -(height + 1))
            placed.append(tag)
            painter.fillRect(tag, QColor(0, 0, 0, 170))
            painter.setPen(QColor(MARK_COLORS[mark.kind]))
            painter.drawText(tag.adjusted(3, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter, mark.label)
        painter.restore()


class MatchLegend(QWidget):
    """A small key in the canvas corner: what each colour and line means."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("match_legend")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 3, 6, 3)
        layout.setSpacing(10)
        words = {"tp": "TP solid", "fp": "FP dashed", "fn": "FN dotted"}
        for kind, text in words.items():
            label = QLabel(f"<span style='color:{MARK_COLORS[kind]}'>■</span> {text}", self)
            label.setStyleSheet("color: white;")
            layout.addWidget(label)
        self.setStyleSheet("MatchLegend, QWidget#match_legend { background: rgba(0,0,0,170); }")
        self.setAutoFillBackground(False)
        self.hide()

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(0, 0, 0, 170))
        painter.end()

    def place(self) -> None:
        self.adjustSize()
        self.move(8, 8)
