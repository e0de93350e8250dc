"""Mask R-CNN's two stages drawn over the canvas (the Stage view).

`StageOverlay` paints one `core.detection.stage_view.StageView`: the RPN's top proposals
coloured by objectness (blue = low, red = high), the final detections, the ones NMS removed
and the ones under the score threshold; and for the selected detection its source proposal
(cyan dashed), its regressed box (yellow), the mask logits as a heat map inside that box and
its top three class scores. What is drawn is listed in `drawn` so tests can check it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from core.detection.stage_view import Corners, StageDetection, StageView

STAGE_Z = 45.0  # above annotations, under the evaluation's TP/FP/FN marks
DETECTION_COLOR = "#f8fafc"
SUPPRESSED_COLOR = "#d946ef"
UNDER_COLOR = "#94a3b8"
PROPOSAL_SOURCE_COLOR = "#22d3ee"
REGRESSED_COLOR = "#facc15"


@dataclass(frozen=True)
class StageLayers:
    """Which parts of the view are shown."""

    proposals: bool = True
    top_n: int = 30
    detections: bool = True
    suppressed: bool = False
    under_threshold: bool = False


def objectness_color(objectness: float) -> QColor:
    """Blue (0) through green to red (1): the RPN's confidence at a glance."""
    value = min(max(float(objectness), 0.0), 1.0)
    return QColor.fromHsvF((1.0 - value) * 240.0 / 360.0, 0.9, 1.0)


def heat_image(logits: np.ndarray) -> QImage:
    """Mask logits as a translucent heat map: sigmoid probability in alpha and hue."""
    probs = 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float32)))
    rgba = np.zeros((*probs.shape, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[..., 1] = (probs * 220).astype(np.uint8)  # red (unsure) to yellow (sure)
    rgba[..., 3] = (40 + probs * 170).astype(np.uint8)
    height, width = probs.shape
    image = QImage(rgba.data, width, height, width * 4, QImage.Format.Format_RGBA8888)
    return image.copy()  # own the pixels: the numpy buffer dies with this function


def _rect(box: Corners) -> QRectF:
    return QRectF(QPointF(box[0], box[1]), QPointF(box[2], box[3]))


class StageOverlay(QGraphicsItem):
    """Paints a StageView; not selectable, never takes the mouse."""

    def __init__(self) -> None:
        super().__init__()
        self.view: StageView | None = None
        self.layers = StageLayers()
        self.selected: int | None = None  # index into view.final
        self._rect = QRectF()
        self.setZValue(STAGE_Z)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setAcceptHoverEvents(False)

    def set_view(self, view: StageView | None, selected: int | None = None) -> None:
        self.prepareGeometryChange()
        self.view = view
        self.selected = selected
        height, width = view.image_size if view is not None else (0, 0)
        self._rect = QRectF(-400, -400, width + 800, height + 800) if view else QRectF()
        self.update()

    def set_threshold(self, threshold: float) -> None:
        if self.view is not None and self.view.score_threshold != threshold:
            self.view = replace(self.view, score_threshold=threshold)
            self.update()

    def set_layers(self, layers: StageLayers) -> None:
        self.layers = layers
        self.update()

    def select(self, index: int | None) -> None:
        self.selected = index
        self.update()

    def selected_detection(self) -> StageDetection | None:
        if self.view is None or self.selected is None:
            return None
        if 0 <= self.selected < len(self.view.final):
            return self.view.final[self.selected]
        return None

    def drawn(self) -> dict[str, list[Corners]]:
        """The boxes each layer paints now (what `paint` draws), by layer name."""
        result: dict[str, list[Corners]] = {}
        view, layers = self.view, self.layers
        if view is None:
            return result
        if layers.proposals:
            boxes, _ = view.top_proposals(layers.top_n)
            result["proposals"] = [tuple(float(v) for v in row) for row in boxes]  # type: ignore[misc]
        if layers.detections:
            result["detections"] = [d.box for d in view.detections]
        if layers.suppressed:
            result["suppressed"] = [
                d.box for d in view.suppressed if d.score >= view.score_threshold
            ]
        if layers.under_threshold:
            result["under_threshold"] = [d.box for d in view.under_threshold]
        chosen = self.selected_detection()
        if chosen is not None:
            result["selected"] = [chosen.proposal_box, chosen.box]
        return result

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(
        self,
        painter: QPainter,
        _option: QStyleOptionGraphicsItem,
        _widget: QWidget | None = None,
    ) -> None:
        view = self.view
        if view is None:
            return
        painter.setBrush(Qt.BrushStyle.NoBrush)
        drawn = self.drawn()
        if "proposals" in drawn:
            _, objectness = view.top_proposals(self.layers.top_n)
            # Lowest first, so the most confident proposals are drawn on top.
            for box, score in sorted(
                zip(drawn["proposals"], objectness.tolist(), strict=True), key=lambda p: p[1]
            ):
                painter.setPen(_pen(objectness_color(score), 1.5))
                painter.drawRect(_rect(box))
        styles = (
            ("under_threshold", UNDER_COLOR, Qt.PenStyle.DotLine, 1.5),
            ("suppressed", SUPPRESSED_COLOR, Qt.PenStyle.DashLine, 1.5),
            ("detections", DETECTION_COLOR, Qt.PenStyle.SolidLine, 2.0),
        )
        for layer, color, style, width in styles:
            painter.setPen(_pen(QColor(color), width, style))
            for box in drawn.get(layer, []):
                painter.drawRect(_rect(box))
        chosen = self.selected_detection()
        if chosen is not None:
            self._paint_selected(painter, view, chosen)

    def _paint_selected(self, painter: QPainter, view: StageView, chosen: StageDetection) -> None:
        box = _rect(chosen.box)
        if chosen.mask_logits is not None and box.width() > 0 and box.height() > 0:
            painter.drawImage(box, heat_image(chosen.mask_logits))
        painter.setPen(_pen(QColor(PROPOSAL_SOURCE_COLOR), 2.0, Qt.PenStyle.DashLine))
        painter.drawRect(_rect(chosen.proposal_box))
        painter.setPen(_pen(QColor(REGRESSED_COLOR), 3.0))
        painter.drawRect(box)
        text = "  ".join(f"{view.label_name(label)} {p:.2f}" for label, p in chosen.top_classes)
        font = QFont(painter.font())
        font.setPixelSize(12)
        metrics = QFontMetricsF(font)
        anchor = painter.worldTransform().map(QPointF(chosen.box[0], chosen.box[3]))
        painter.save()
        painter.resetTransform()
        painter.setFont(font)
        tag = QRectF(anchor.x(), anchor.y() + 3, metrics.horizontalAdvance(text) + 8, 18)
        painter.fillRect(tag, QColor(0, 0, 0, 190))
        painter.setPen(QColor(REGRESSED_COLOR))
        painter.drawText(tag.adjusted(4, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter, text)
        painter.restore()


def _pen(color: QColor, width: float, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
    pen = QPen(color, width)
    pen.setCosmetic(True)  # screen pixels, whatever the zoom
    pen.setStyle(style)
    return pen
