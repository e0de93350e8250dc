"""Live training curves drawn with QtCharts: losses, validation AP and throughput.

The widget is fed the trainer's JSON events (`add_event`) and knows nothing of processes;
the fine-tune dialog forwards them. Series are created on first sight of a loss name, so a
trainer that reports extra losses gets extra curves without changes here.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCharts import QChart, QChartView, QLineSeries, QScatterSeries, QValueAxis
from PySide6.QtCore import QMargins, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QHBoxLayout, QWidget

TOTAL_LOSS = "total"


class _Plot:
    """One chart with a shared step axis and a value axis that grows to fit its points."""

    def __init__(self, title: str, y_title: str, *, y_floor: float | None = 0.0) -> None:
        self.chart = QChart()
        self.chart.setTitle(title)
        self.chart.setMargins(QMargins(2, 2, 2, 2))
        self.chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        self.x_axis = QValueAxis()
        self.x_axis.setTitleText("step")
        self.x_axis.setLabelFormat("%d")
        self.y_axis = QValueAxis()
        self.y_axis.setTitleText(y_title)
        self.chart.addAxis(self.x_axis, Qt.AlignmentFlag.AlignBottom)
        self.chart.addAxis(self.y_axis, Qt.AlignmentFlag.AlignLeft)
        self.view = QChartView(self.chart)
        self.view.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.view.setMinimumSize(220, 180)
        self.series: dict[str, QLineSeries] = {}
        self._y_floor = y_floor
        self._x_max = 1.0
        self._y_min = math.inf
        self._y_max = -math.inf

    def add_point(self, name: str, x: float, y: float, *, markers: bool = False) -> None:
        if not math.isfinite(y):
            return  # a NaN loss is reported by the trainer as an error; don't break the axes
        series = self.series.get(name)
        if series is None:
            series = QScatterSeries() if markers else QLineSeries()
            if markers:
                series.setMarkerSize(8.0)
            series.setName(name)
            self.chart.addSeries(series)
            series.attachAxis(self.x_axis)
            series.attachAxis(self.y_axis)
            self.series[name] = series
        series.append(x, y)
        self._grow(x, y)

    def _grow(self, x: float, y: float) -> None:
        self._x_max = max(self._x_max, x)
        self.x_axis.setRange(0.0, self._x_max)
        self._y_min = min(self._y_min, y)
        self._y_max = max(self._y_max, y)
        low = self._y_min if self._y_floor is None else min(self._y_floor, self._y_min)
        high = self._y_max if self._y_max > low else low + 1.0
        self.y_axis.setRange(low, high + 0.05 * (high - low))

    def clear(self) -> None:
        self.chart.removeAllSeries()
        self.series.clear()
        self._x_max = 1.0
        self._y_min, self._y_max = math.inf, -math.inf


class TrainingCharts(QWidget):
    """Loss curves (total and each loss), validation AP per evaluation, images per second."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loss_plot = _Plot("Training loss", "loss")
        self.ap_plot = _Plot("Validation AP", "AP")
        self.speed_plot = _Plot("Throughput", "images/s")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for plot in (self.loss_plot, self.ap_plot, self.speed_plot):
            layout.addWidget(plot.view)

    def add_event(self, event: dict[str, Any]) -> None:
        """Plot one trainer event; events that carry no curve data are ignored."""
        kind = event.get("event")
        step = _number(event.get("step"))
        if step is None:
            return
        if kind == "step":
            loss = _number(event.get("loss"))
            if loss is not None:
                self.loss_plot.add_point(TOTAL_LOSS, step, loss)
            for name, value in sorted((event.get("losses") or {}).items()):
                number = _number(value)
                if number is not None:
                    self.loss_plot.add_point(name, step, number)
            speed = _number(event.get("images_per_s"))
            if speed is not None:
                self.speed_plot.add_point("images/s", step, speed)
        elif kind == "eval":
            for key, label in (("segm_ap", "mask AP"), ("bbox_ap", "box AP")):
                value = _number(event.get(key))
                if value is not None:
                    self.ap_plot.add_point(label, step, value, markers=True)

    def point_count(self, plot: str, series: str) -> int:
        """How many points a curve holds ("loss"/"ap"/"speed", series name); 0 if absent."""
        target = {"loss": self.loss_plot, "ap": self.ap_plot, "speed": self.speed_plot}[plot]
        found = target.series.get(series)
        return 0 if found is None else found.count()

    def series_names(self, plot: str) -> list[str]:
        target = {"loss": self.loss_plot, "ap": self.ap_plot, "speed": self.speed_plot}[plot]
        return list(target.series)

    def clear(self) -> None:
        for plot in (self.loss_plot, self.ap_plot, self.speed_plot):
            plot.clear()


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)
