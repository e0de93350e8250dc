"""Live training curves drawn with QtCharts: losses, validation AP and throughput.

The widget is fed the trainer's JSON events (`add_event`) and knows nothing of processes;
the fine-tune dialog forwards them. Series are created on first sight of a loss name, so a
trainer that reports extra losses gets extra curves without changes here.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCharts import QChart, QChartView, QLineSeries, QValueAxis
from PySide6.QtCore import QMargins, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QHBoxLayout, QWidget

TOTAL_LOSS = "total"
MAX_STEP_TICKS = 8  # labels on the step axis, at most
MIN_TICK_SPACING_PX = 40  # room for a label such as "1500" and a gap
_LOSS_PREFIX = "loss_"  # torchvision's loss names; the chart title already says "loss"


def step_tick_interval(max_step: float, max_ticks: int = MAX_STEP_TICKS) -> int:
    """A whole, "nice" step between ticks (1, 2, 5, 10, 20, 50...) giving at most
    `max_ticks` ticks from 0 to `max_step`: every label is a distinct integer."""
    interval = 1
    while max_step / interval > max_ticks - 1:
        for factor in (2, 5 / 2, 2):  # 1 -> 2 -> 5 -> 10 -> 20 -> 50 ...
            interval = round(interval * factor)
            if max_step / interval <= max_ticks - 1:
                break
    return interval


def display_name(name: str) -> str:
    """The legend text of a curve: "loss_box_reg" reads "box reg" under "Training loss"."""
    if name.startswith(_LOSS_PREFIX) and len(name) > len(_LOSS_PREFIX):
        name = name[len(_LOSS_PREFIX) :]
    return name.replace("_", " ")


class _Plot:
    """One chart with a shared step axis and a value axis that grows to fit its points."""

    def __init__(
        self,
        title: str,
        y_title: str,
        *,
        y_floor: float | None = 0.0,
        legend: Qt.AlignmentFlag = Qt.AlignmentFlag.AlignBottom,
    ) -> None:
        self.chart = QChart()
        self.chart.setTitle(title)
        self.chart.setMargins(QMargins(2, 2, 2, 2))
        # A bottom legend lays its entries out in one row and elides them ("t… l… l…") when
        # they do not fit; on the right they stack, each name whole.
        self.chart.legend().setAlignment(legend)
        self.x_axis = QValueAxis()
        self.x_axis.setTitleText("step")
        self.x_axis.setLabelFormat("%d")
        # Ticks at whole multiples of a nice interval: fixed tick counts over a short range
        # put several ticks between two integers and "%d" printed "0 0 0 0 1".
        self.x_axis.setTickType(QValueAxis.TickType.TicksDynamic)
        self.x_axis.setTickAnchor(0.0)
        self.x_axis.setTickInterval(1.0)
        self.x_axis.setRange(0.0, 1.0)
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
            series = QLineSeries()
            if markers:  # few points (one per evaluation): show each, joined by the line
                series.setPointsVisible(True)
                series.setMarkerSize(8.0)
            series.setName(display_name(name))
            self.chart.addSeries(series)
            series.attachAxis(self.x_axis)
            series.attachAxis(self.y_axis)
            self.series[name] = series
        series.append(x, y)
        self._grow(x, y)

    def _grow(self, x: float, y: float) -> None:
        self._x_max = max(self._x_max, x)
        # As many labels as fit: a chart squeezed by its legend elides "100" to "...".
        width = self.chart.plotArea().width()
        fitting = int(width // MIN_TICK_SPACING_PX) if width > 0 else MAX_STEP_TICKS
        interval = step_tick_interval(self._x_max, max(2, min(MAX_STEP_TICKS, fitting)))
        self.x_axis.setTickInterval(float(interval))
        # End on a tick so the last label is not squeezed against the previous one.
        self.x_axis.setRange(0.0, float(math.ceil(self._x_max / interval) * interval))
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
        self.x_axis.setTickInterval(1.0)
        self.x_axis.setRange(0.0, 1.0)


class TrainingCharts(QWidget):
    """Loss curves (total and each loss), validation AP per evaluation, images per second."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loss_plot = _Plot("Training loss", "loss", legend=Qt.AlignmentFlag.AlignRight)
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
