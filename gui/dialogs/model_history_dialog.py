"""Model > Model history…: every fine-tuning run of the project, and a way back to any of them.

A table of the runs recorded in the project (store.model_runs) with their date, base model,
data size and validation AP before and after; "Use this model" switches the window's
proposal model to the selected run's checkpoint, so an annotator can return to an earlier
model when a newer one turned out worse.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
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

from core.records import ModelRun
from gui.model_host import ModelHost

COLUMNS = (
    "Date (UTC)",
    "Base model",
    "Train images",
    "Val images",
    "AP before",
    "AP after",
    "Checkpoint",
)
CHECKPOINT_COLUMN = COLUMNS.index("Checkpoint")


class ModelHistoryDialog(QDialog):
    """The project's fine-tuning runs, newest first. Signal modelApplied(str) on a switch."""

    modelApplied = Signal(str)

    def __init__(self, host: ModelHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model history")
        self._host = host
        self.runs: list[ModelRun] = []
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(
            CHECKPOINT_COLUMN, QHeaderView.ResizeMode.Stretch
        )
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.doubleClicked.connect(lambda _index: self.use_selected())
        self.current_label = QLabel()
        self.current_label.setWordWrap(True)
        self.use_button = QPushButton("Use this model")
        self.use_button.clicked.connect(self.use_selected)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addWidget(self.use_button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.current_label)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self.resize(860, 360)
        self.reload()

    def reload(self) -> None:
        """Re-read the runs from the project (newest first) and mark the model in use."""
        store = self._host.store
        runs = store.model_runs() if store is not None else []
        self.runs = sorted(runs, key=lambda r: (r.created_at, r.id), reverse=True)
        current = self._host.active_model()
        self.current_label.setText(
            f"Proposals come from: {current}"
            if current
            else "Proposals come from the default model."
        )
        self.table.setRowCount(len(self.runs))
        for row, run in enumerate(self.runs):
            exists = Path(run.checkpoint_path).is_file()
            cells = (
                run.created_at.replace("T", " ")[:19],
                run.base_model,
                str(run.train_images),
                str(run.val_images),
                _ap(run.ap_before),
                _ap(run.ap_after),
                run.checkpoint_path + ("" if exists else "  (missing)"),
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column in (2, 3, 4, 5):
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                if not exists:
                    item.setToolTip("The checkpoint file was moved or deleted.")
                if current and run.checkpoint_path == str(current):
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()
        self._update_buttons()

    def selected_run(self) -> ModelRun | None:
        rows = self.table.selectionModel().selectedRows()
        return self.runs[rows[0].row()] if rows else None

    def select_run(self, run_id: int) -> None:
        for row, run in enumerate(self.runs):
            if run.id == run_id:
                self.table.selectRow(row)
                return

    def _update_buttons(self) -> None:
        run = self.selected_run()
        self.use_button.setEnabled(run is not None and Path(run.checkpoint_path).is_file())

    @Slot()
    def use_selected(self) -> None:
        run = self.selected_run()
        if run is None or not Path(run.checkpoint_path).is_file():
            return
        self._host.apply_model(run.checkpoint_path)
        self.reload()
        self.select_run(run.id)
        self.modelApplied.emit(run.checkpoint_path)


def _ap(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
