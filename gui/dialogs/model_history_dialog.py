"""Model > Model history…: every model the project has used, and a way back to any of them.

The list (core.store.model_history) holds the pretrained models and checkpoints that loaded,
the starting model included, and every fine-tuning run, with what is known about each: kind,
base model, date, training images, how long it trained, validation AP before → after, how
the run ended and whether its file is still there. "Use this model" switches the host's
proposal model, so an annotator can return to an earlier model when a newer one turned out
worse; it is disabled, with the reason as its tooltip, for a model that cannot be used.
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

from core.store.model_history import ModelEntry, model_history
from core.store.models_used import is_model_file
from gui.model_host import ModelHost

COLUMNS = (
    "Model",
    "Kind",
    "Base model",
    "Date (UTC)",
    "Train images",
    "Training",
    "AP before → after",
    "Status",
    "File",
)
MODEL_COLUMN = COLUMNS.index("Model")
NUMERIC_COLUMNS = (COLUMNS.index("Train images"), COLUMNS.index("AP before → after"))
IN_USE_REASON = "This model is in use now."


class ModelHistoryDialog(QDialog):
    """The project's models, newest first. Signal modelApplied(str) on a switch."""

    modelApplied = Signal(str)

    def __init__(self, host: ModelHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model history")
        self._host = host
        self.entries: list[ModelEntry] = []
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(
            MODEL_COLUMN, QHeaderView.ResizeMode.Stretch
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
        self.resize(1000, 380)
        self.reload()

    def reload(self) -> None:
        """Re-read the models from the project (newest first) and mark the one in use."""
        store = self._host.store
        self.entries = model_history(store) if store is not None else []
        current = self._host.active_model()
        self.current_label.setText(
            f"Proposals come from: {_model_name(current)}"
            if current
            else "Proposals come from the default model."
        )
        self.table.setRowCount(len(self.entries))
        for row, entry in enumerate(self.entries):
            for column, text in enumerate(_cells(entry)):
                item = QTableWidgetItem(text)
                if column in NUMERIC_COLUMNS:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                item.setToolTip(entry.unusable_reason() or entry.model)
                if current and entry.model == current:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()
        self._update_buttons()

    def selected_entry(self) -> ModelEntry | None:
        rows = self.table.selectionModel().selectedRows()
        return self.entries[rows[0].row()] if rows else None

    def select_model(self, model: str) -> None:
        for row, entry in enumerate(self.entries):
            if entry.model == model:
                self.table.selectRow(row)
                return

    def select_run(self, run_id: int) -> None:
        for row, entry in enumerate(self.entries):
            if entry.run is not None and entry.run.id == run_id:
                self.table.selectRow(row)
                return

    def unusable_reason(self, entry: ModelEntry | None) -> str | None:
        """Why "Use this model" is off for `entry`; None when it is on."""
        if entry is None:
            return "Select a model first."
        if entry.model == self._host.active_model():
            return IN_USE_REASON
        return entry.unusable_reason()

    def _update_buttons(self) -> None:
        reason = self.unusable_reason(self.selected_entry())
        self.use_button.setEnabled(reason is None)
        self.use_button.setToolTip(reason or "Propose with this model from now on.")

    @Slot()
    def use_selected(self) -> None:
        entry = self.selected_entry()
        if entry is None or self.unusable_reason(entry) is not None:
            return
        self._host.apply_model(entry.model)
        self.reload()
        self.select_model(entry.model)
        self.modelApplied.emit(entry.model)


def _cells(entry: ModelEntry) -> tuple[str, ...]:
    run = entry.run
    return (
        entry.name,
        entry.kind,
        _model_name(run.base_model) if run is not None else "",
        entry.date.replace("T", " ")[:19],
        str(run.train_images) if run is not None else "",
        entry.training,
        f"{_ap(run.ap_before)} → {_ap(run.ap_after)}" if run is not None else "",
        entry.status,
        ("present" if entry.file_present else "missing") if is_model_file(entry.model) else "—",
    )


def _model_name(model: str | None) -> str:
    if not model:
        return ""
    return Path(model).name if is_model_file(model) else model


def _ap(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
