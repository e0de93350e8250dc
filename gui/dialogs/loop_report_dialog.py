"""Model > Loop report…: what each model version's proposals cost the annotator.

One row per model version, oldest first (core.evaluation.loop_report): images reviewed, active
time, seconds per image and per instance, the share of instances accepted as proposed, and
how many instances went each way. The text under the table says how time is counted.

The report is read in the background with its own connection to the project: deriving the
outcomes reads every recorded instance, which takes seconds at a hundred thousand of them.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.evaluation.loop_report import HOW_TIME_IS_COUNTED, ModelEffort, loop_report
from core.store import ProjectStore
from core.store.effort import Outcome
from gui.workers.tasks import Progress, ShouldStop, Task, start_task

# (header, tooltip): short headers keep the table readable without scrolling.
HEADERS = (
    ("Model", "The model whose proposals the images held"),
    ("Images", "Images marked reviewed with time or instances under this model"),
    ("Active time", "Active time on those images (idle gaps over a minute left out)"),
    ("s / image", "Active seconds per reviewed image"),
    ("s / instance", "Active seconds per instance handled (every outcome counts)"),
    ("No edit", "Share of the instances handled that were proposals accepted without an edit"),
    ("Accepted", "Proposals accepted as the model gave them"),
    ("Edited", "Proposals accepted after their box or mask was changed"),
    ("Rejected", "Proposals rejected"),
    ("Drawn", "Instances drawn by hand (box, polygon, brush)"),
    ("Box-to-mask", "Instances made with the Box-to-mask tool"),
)
COLUMNS = tuple(header for header, _tip in HEADERS)
OUTCOME_COLUMNS = (
    Outcome.ACCEPTED,
    Outcome.EDITED,
    Outcome.REJECTED,
    Outcome.DRAWN,
    Outcome.BOX_TO_MASK,
)


EMPTY_TEXT = (
    "Nothing to report yet: time and instances count once their image is marked reviewed "
    "(Ctrl+M, or Ctrl+Enter to accept, mark and move on)."
)


class LoopReportDialog(QDialog):
    """Signal loaded() once the figures are on screen."""

    loaded = Signal()

    def __init__(self, project_path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Loop report")
        self._project_path = Path(project_path)
        self._task: Task | None = None
        self.entries: list[ModelEffort] = []
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        for column, (_header, tip) in enumerate(HEADERS):
            header_item = self.table.horizontalHeaderItem(column)
            if header_item is not None:
                header_item.setToolTip(tip)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.ResizeToContents
        )
        self.table.horizontalHeader().setStretchLastSection(True)
        self.empty_label = QLabel("Counting…")
        self.empty_label.setWordWrap(True)
        explanation = QLabel(HOW_TIME_IS_COUNTED)
        explanation.setWordWrap(True)
        explanation.setObjectName("howTimeIsCounted")
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.empty_label)
        layout.addWidget(explanation)
        layout.addLayout(buttons)
        self.resize(1000, 340)
        self.reload()

    def reload(self) -> None:
        """Read the report again, in the background."""
        if self._task is not None and not self._task.done:
            self._task.cancel()
        self.empty_label.setText("Counting…")
        self.empty_label.setVisible(True)
        path = self._project_path
        self._task = start_task(lambda _p, _s: _read_report(path, _p, _s), self)
        self._task.succeeded.connect(self._show)
        self._task.failed.connect(lambda error: self.empty_label.setText(str(error)))

    def close_when_idle(self) -> None:
        """Close now; go away once a report being read has come back (its project closed)."""
        self.close()
        if self._task is not None and not self._task.done:
            self._task.finished.connect(self.deleteLater)
        else:
            self.deleteLater()

    def _show(self, entries: list[ModelEffort]) -> None:
        self.entries = entries
        self.empty_label.setText(EMPTY_TEXT)
        self.empty_label.setVisible(not entries)
        self.table.setRowCount(len(entries))
        for row, entry in enumerate(entries):
            for column, text in enumerate(cells(entry)):
                item = QTableWidgetItem(text)
                if column > 0:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                else:
                    item.setToolTip(entry.model or "No model had run on these images.")
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()
        self.loaded.emit()


def _read_report(path: Path, _progress: Progress, _should_stop: ShouldStop) -> list[ModelEffort]:
    # A connection of this thread's own: SQLite connections stay on the thread that made them.
    with ProjectStore.open(path) as store:
        return loop_report(store)


def cells(entry: ModelEffort) -> list[str]:
    """One table row, as the dialog shows it."""
    return [
        entry.name,
        str(entry.images_reviewed),
        duration(entry.active_s),
        _seconds(entry.seconds_per_image),
        _seconds(entry.seconds_per_instance),
        "—" if entry.accepted_share is None else f"{100 * entry.accepted_share:.0f} %",
        *(str(entry.outcomes.get(outcome, 0)) for outcome in OUTCOME_COLUMNS),
    ]


def duration(seconds: float) -> str:
    """12 s, 4 min 05 s, 2 h 03 min."""
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"
