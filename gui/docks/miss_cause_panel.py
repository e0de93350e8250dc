"""The Evaluation dock's "Why did it miss?" panel: miss causes counted per class, and which
errors F8 / Shift+F8 walk (every error, or only the misses of one cause)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from core.evaluation.miss_causes import ALL_CAUSES
from gui.workers.miss_cause_run import CauseTable

EVERY_ERROR = ""  # the walk filter's "no filter"


class MissCausePanel(QGroupBox):
    """Signals: explainRequested(), filterChanged(str: a cause, or EVERY_ERROR)."""

    explainRequested = Signal()
    filterChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Why did it miss?", parent)
        self.setObjectName("miss_cause_panel")
        layout = QFormLayout(self)
        self.explain = QPushButton("Explain misses", self)
        self.explain.setToolTip(
            "Run the current model's two stages on every image with a missed instance and "
            "name each miss's cause: not proposed, scored low, suppressed, wrong class, poor "
            "mask or poorly localised (README: Why did it miss?)"
        )
        layout.addRow(self.explain)
        self.table = QTableWidget(0, 0, self)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMinimumHeight(90)
        layout.addRow(self.table)
        self.walk = QComboBox(self)
        self.walk.addItem("every FP and FN", EVERY_ERROR)
        for cause in ALL_CAUSES:
            self.walk.addItem(f"FNs {cause}", cause)
        self.walk.setToolTip("Which errors Next error (F8) and Previous error (Shift+F8) visit")
        layout.addRow("F8 walks", self.walk)
        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        layout.addRow(self.status)
        self.explain.clicked.connect(self.explainRequested)
        self.walk.currentIndexChanged.connect(lambda _i: self.filterChanged.emit(self.cause()))

    def cause(self) -> str:
        return str(self.walk.currentData())

    def show_table(self, table: CauseTable | None) -> None:
        """Rows: classes with misses; columns: the causes that occur; cells: FN counts."""
        self.table.clear()
        if table is None:
            self.table.setRowCount(0)
            self.table.setColumnCount(0)
            return
        causes = [c for c in ALL_CAUSES if any(c in row for row in table.counts.values())]
        classes = sorted(table.counts, key=lambda c: table.category_names.get(c, str(c)))
        self.table.setColumnCount(len(causes) + 1)
        self.table.setRowCount(len(classes))
        self.table.setHorizontalHeaderLabels(["class", *causes])
        for row, category in enumerate(classes):
            name = table.category_names.get(category, str(category))
            self.table.setItem(row, 0, QTableWidgetItem(name))
            for column, cause in enumerate(causes, 1):
                count = table.counts[category].get(cause, 0)
                self.table.setItem(row, column, QTableWidgetItem(str(count)))
        total = sum(sum(row.values()) for row in table.counts.values())
        settings = table.settings
        self.status.setText(
            f"{total} misses at score ≥ {settings.score_threshold:.2f}, IoU ≥ "
            f"{settings.iou_threshold:.2f}, explained with {Path(table.model).name}; "
            "explain again after moving the sliders."
        )
