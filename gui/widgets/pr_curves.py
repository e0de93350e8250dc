"""Per-class precision-recall curves (QtCharts), each with its operating point marked.

The curves are COCOeval's (101 recall points at the IoU step nearest the threshold); the
operating point is where the current score threshold puts the class (recall, precision),
so the analyst sees how far the chosen threshold sits from the curve's knee.

Creating a class's chart series costs the UI thread several ms each (tens of ms under load),
so new classes are drawn when the chart is first shown or read, not when an evaluation
arrives while another tab is open.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCharts import QChart, QChartView, QLineSeries, QScatterSeries, QValueAxis
from PySide6.QtCore import QMargins, QPointF, Qt
from PySide6.QtGui import QColor, QPainter, QShowEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget

from core.evaluation.matching import ClassMetrics
from core.palette import PALETTE

OPERATING_POINT_SIZE = 11.0


class PrCurves(QWidget):
    """One chart: a line per class, a dot per class at its operating point."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.chart = QChart()
        self.chart.setMargins(QMargins(2, 2, 2, 2))
        self.chart.legend().setAlignment(Qt.AlignmentFlag.AlignRight)
        self.x_axis = QValueAxis()
        self.x_axis.setRange(0.0, 1.0)
        self.x_axis.setTitleText("recall")
        self.x_axis.setTickCount(6)
        self.x_axis.setLabelFormat("%.1f")
        self.y_axis = QValueAxis()
        self.y_axis.setRange(0.0, 1.0)
        self.y_axis.setTickCount(6)
        self.y_axis.setLabelFormat("%.1f")
        self.y_axis.setTitleText("precision")
        self.chart.addAxis(self.x_axis, Qt.AlignmentFlag.AlignBottom)
        self.chart.addAxis(self.y_axis, Qt.AlignmentFlag.AlignLeft)
        self.view = QChartView(self.chart, self)
        self.view.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.view.setMinimumHeight(180)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self._curves: dict[int, QLineSeries] = {}
        self._points: dict[int, QScatterSeries] = {}
        self._shown: list[tuple[int, str]] = []  # the classes the series are for
        self._pending: list[ClassMetrics] | None = None  # classes to draw once shown
        self._pending_points: dict[int, tuple[float, float] | None] = {}

    @property
    def curves(self) -> dict[int, QLineSeries]:
        self._draw_pending()
        return self._curves

    @property
    def points(self) -> dict[int, QScatterSeries]:
        self._draw_pending()
        return self._points

    def set_classes(self, classes: Sequence[ClassMetrics], iou: float) -> None:
        """Draw each class's curve (classes without ground truth have none)."""
        self.chart.setTitle(f"Precision-recall at IoU {iou:.2f}")
        shown = [(m.category_id, m.name) for m in classes]
        if shown != self._shown and not self.isVisible():
            self._pending, self._pending_points = list(classes), {}
            return
        self._pending = None
        self._draw(classes, shown)

    def showEvent(self, event: QShowEvent) -> None:
        self._draw_pending()
        super().showEvent(event)

    def _draw_pending(self) -> None:
        if self._pending is None:
            return
        classes, points = self._pending, self._pending_points
        self._pending, self._pending_points = None, {}
        self._draw(classes, [(m.category_id, m.name) for m in classes])
        for category_id, point in points.items():
            self.set_operating_point(category_id, point)

    def _draw(self, classes: Sequence[ClassMetrics], shown: list[tuple[int, str]]) -> None:
        if shown == self._shown:
            # The same classes (the IoU slider moved, or evaluated again): new points only.
            # Removing and re-adding series costs the UI thread tens of ms per class.
            for metrics in classes:
                self._curves[metrics.category_id].replace(_curve_points(metrics))
                self.set_operating_point(metrics.category_id, metrics.operating_point)
            return
        self.chart.removeAllSeries()
        self._curves, self._points = {}, {}
        self._shown = shown
        for n, metrics in enumerate(classes):
            color = QColor(PALETTE[n % len(PALETTE)])
            series = QLineSeries()
            series.setName(metrics.name)
            series.setColor(color)
            series.append(_curve_points(metrics))
            self._attach(series)
            self._curves[metrics.category_id] = series
            dot = QScatterSeries()
            dot.setColor(color)
            dot.setBorderColor(QColor("black"))
            dot.setMarkerSize(OPERATING_POINT_SIZE)
            self._attach(dot)
            self.chart.legend().markers(dot)[0].setVisible(False)
            self._points[metrics.category_id] = dot
            self.set_operating_point(metrics.category_id, metrics.operating_point)

    def set_operating_point(self, category_id: int, point: tuple[float, float] | None) -> None:
        """Move one class's dot (the score or IoU slider moved); None hides it."""
        if self._pending is not None:
            self._pending_points[category_id] = point
            return
        dot = self._points.get(category_id)
        if dot is None:
            return
        dot.clear()
        if point is not None:
            dot.append(float(point[0]), float(point[1]))

    def operating_point(self, category_id: int) -> tuple[float, float] | None:
        dot = self.points.get(category_id)  # (draws pending classes first)
        if dot is None or dot.count() == 0:
            return None
        p = dot.at(0)
        return p.x(), p.y()

    def _attach(self, series: QLineSeries | QScatterSeries) -> None:
        self.chart.addSeries(series)
        series.attachAxis(self.x_axis)
        series.attachAxis(self.y_axis)


def _curve_points(metrics: ClassMetrics) -> list[QPointF]:
    """The class's (recall, precision) points where COCOeval has a precision."""
    n = min(len(metrics.recall), len(metrics.precision))
    recall = np.asarray(metrics.recall[:n], dtype=float)
    precision = np.asarray(metrics.precision[:n], dtype=float)
    keep = ~np.isnan(precision) & (precision >= 0)
    return [
        QPointF(r, p) for r, p in zip(recall[keep].tolist(), precision[keep].tolist(), strict=True)
    ]
