"""The fine-tune live charts: readable legend, AP drawn as a line, step ticks that never repeat."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCharts import QLineSeries, QValueAxis  # noqa: E402
from PySide6.QtGui import QFontMetricsF  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from gui.widgets.training_charts import TrainingCharts  # noqa: E402

LOSSES = {"loss_classifier": 0.3, "loss_box_reg": 0.2, "loss_mask": 0.4, "loss_rpn_box_reg": 0.1}


def _charts(qtbot, steps: int) -> TrainingCharts:
    charts = TrainingCharts()
    qtbot.addWidget(charts)
    charts.resize(900, 300)  # three charts side by side, as in the fine-tune dialog
    charts.show()
    qtbot.waitExposed(charts)
    for step in range(steps + 1):
        event = {"event": "step", "step": step, "loss": 1.0, "losses": LOSSES}
        charts.add_event(event | {"images_per_s": 4.0})
    QApplication.processEvents()
    return charts


def _tick_labels(axis: QValueAxis) -> list[str]:
    """The labels Qt draws on the axis, formatted with the axis' own format (as Qt does)."""
    if axis.tickType() == QValueAxis.TickType.TicksFixed:
        count, low, high = axis.tickCount(), axis.min(), axis.max()
        values = [low + i * (high - low) / (count - 1) for i in range(count)]
        return [axis.labelFormat() % v for v in values]
    labels, value = [], axis.tickAnchor()
    while value <= axis.max() + 1e-9:
        if value >= axis.min() - 1e-9:
            labels.append(axis.labelFormat() % value)
        value += axis.tickInterval()
    return labels


@pytest.mark.parametrize("steps", [0, 1, 2, 3, 7, 45, 1234])
def test_step_axis_labels_are_distinct_integers(qtbot, steps):
    charts = _charts(qtbot, steps)
    for plot in (charts.loss_plot, charts.ap_plot, charts.speed_plot):
        labels = _tick_labels(plot.x_axis)
        assert len(labels) >= 2
        assert len(set(labels)) == len(labels), labels
        assert len(labels) <= 12  # readable, not a wall of numbers
    for plot in (charts.loss_plot, charts.speed_plot):  # the AP chart has no points yet
        assert plot.x_axis.max() >= steps


def test_validation_ap_is_a_line_through_point_markers(qtbot):
    charts = _charts(qtbot, 3)
    for step, ap in ((1, 0.2), (2, 0.35), (3, 0.4)):
        charts.add_event({"event": "eval", "step": step, "segm_ap": ap, "bbox_ap": ap + 0.1})
    series = charts.ap_plot.series["mask AP"]
    assert type(series) is QLineSeries
    assert series.pointsVisible()
    assert [(p.x(), p.y()) for p in series.points()] == [(1, 0.2), (2, 0.35), (3, 0.4)]


def test_loss_legend_has_room_for_every_name(qtbot):
    charts = _charts(qtbot, 3)
    legend = charts.loss_plot.chart.legend()
    labels = [marker.label() for marker in legend.markers()]
    assert len(labels) == 1 + len(LOSSES)
    assert all("…" not in label and label for label in labels)
    metrics = QFontMetricsF(legend.font())
    widest = max(metrics.horizontalAdvance(label) for label in labels)
    marker_and_gaps = 2 * metrics.height()
    if legend.alignment() in (legend.alignment().AlignLeft, legend.alignment().AlignRight):
        assert legend.geometry().width() >= widest + marker_and_gaps
    else:
        total = sum(metrics.horizontalAdvance(label) + marker_and_gaps for label in labels)
        assert legend.geometry().width() >= total


def test_a_narrow_chart_gets_as_many_step_labels_as_fit(qtbot):
    """The loss chart shares its width with its legend: its step labels must not elide."""
    charts = _charts(qtbot, 250)
    plot = charts.loss_plot
    width = plot.chart.plotArea().width()
    labels = _tick_labels(plot.x_axis)
    assert 2 <= len(labels) <= max(2, int(width // 40)) + 1
    metrics = QFontMetricsF(plot.x_axis.labelsFont())
    widest = max(metrics.horizontalAdvance(label) for label in labels)
    assert widest * len(labels) < width + widest  # every label has room beside the others
