"""The Audit dock: the labels most likely wrong, ranked, with one-key fixes.

A view only: the AuditController (gui/window/audit.py) runs the audit and applies the fixes;
the dock shows the rows and says what the person asked for with signals. Its keys (T, Delete,
C, K) act while the list has the focus, so they never collide with the canvas's own Delete.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.evaluation.audit import AuditRow

MODE_AS_IS = "as_is"
MODE_KFOLD = "kfold"

# Fix name -> (button text, key, tooltip)
FIXES: dict[str, tuple[str, Qt.Key, str]] = {
    "take": (
        "Take model's (T)",
        Qt.Key.Key_T,
        "Replace the label with the model's instance (or add the overlooked object)",
    ),
    "delete": ("Delete (Del)", Qt.Key.Key_Delete, "Delete the label (or dismiss the detection)"),
    "change_class": ("Change class (C)", Qt.Key.Key_C, "Give the label the class the model sees"),
    "keep": (
        "Keep (K)",
        Qt.Key.Key_K,
        "Keep the label as it is and mark it checked: no audit lists it again",
    ),
}
COLUMNS = ("Issue", "Score", "Image", "Class", "Model says")
DONE_COLOUR = QColor("#9ca3af")


class _RowTable(QTableWidget):
    """A table whose fix keys win over the window's shortcuts while it has the focus."""

    fixKey = Signal(str)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and self._fix_for(event) is not None:
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        fix = self._fix_for(event)
        if fix is not None:
            self.fixKey.emit(fix)
            return
        super().keyPressEvent(event)

    @staticmethod
    def _fix_for(event: QEvent) -> str | None:
        if (
            not isinstance(event, QKeyEvent)
            or event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        ):
            return None
        for name, (_text, key, _tip) in FIXES.items():
            if event.key() == key or (
                key == Qt.Key.Key_Delete and event.key() == Qt.Key.Key_Backspace
            ):
                return name
        return None


class AuditDock(QDockWidget):
    """Signals: runRequested(), cancelRequested(), rowActivated(int), fixRequested(str)."""

    runRequested = Signal()
    cancelRequested = Signal()
    rowActivated = Signal(int)  # index into the rows given to `set_rows`
    fixRequested = Signal(str)  # a key of FIXES

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Audit", parent)
        self.setObjectName("audit_dock")
        body = QWidget(self)
        layout = QVBoxLayout(body)

        source = QHBoxLayout()
        self.mode = QComboBox(body)
        self.mode.addItem("Current model as is", MODE_AS_IS)
        self.mode.addItem("K-fold (train k models)", MODE_KFOLD)
        self.mode.setToolTip(
            "As is: fast, but a model that trained on these images agrees with their mistakes. "
            "K-fold: k models, each judging the images it did not train on (more honest, slower)."
        )
        self.k = QSpinBox(body)
        self.k.setRange(2, 10)
        self.k.setValue(3)
        self.k.setPrefix("k = ")
        self.minutes = QDoubleSpinBox(body)
        self.minutes.setRange(0.5, 120)
        self.minutes.setValue(2.0)
        self.minutes.setSuffix(" min per fold")
        self.run_button = QPushButton("Audit", body)
        self.run_button.setToolTip("Audit the reviewed labels in the background")
        self.cancel_button = QPushButton("Cancel", body)
        self.cancel_button.setEnabled(False)
        # Two short rows rather than one long one: the dock shares the right side with others.
        for widget in (self.mode, self.k, self.minutes):
            source.addWidget(widget)
        source.addStretch(1)
        layout.addLayout(source)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)

        self.progress = QProgressBar(body)
        self.progress.setVisible(False)
        layout.addWidget(self.progress)
        self.status = QLabel("Audit the reviewed labels against the model.", body)
        self.status.setWordWrap(True)
        layout.addWidget(self.status)

        self.table = _RowTable(0, len(COLUMNS), body)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMinimumHeight(160)
        layout.addWidget(self.table, 1)

        fixes = QGridLayout()
        self.fix_buttons: dict[str, QPushButton] = {}
        for i, (name, (text, _key, tip)) in enumerate(FIXES.items()):
            button = QPushButton(text, body)
            button.setToolTip(tip)
            button.setStatusTip(tip)
            button.clicked.connect(lambda _checked=False, n=name: self.fixRequested.emit(n))
            fixes.addWidget(button, i // 2, i % 2)
            self.fix_buttons[name] = button
        layout.addLayout(fixes)
        self.setWidget(body)

        self.mode.currentIndexChanged.connect(self._mode_changed)
        self.run_button.clicked.connect(self.runRequested)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.table.currentCellChanged.connect(self._current_changed)
        self.table.fixKey.connect(self.fixRequested)
        self._mode_changed()
        self.set_fixes_enabled({})

    # ---- what the controller reads and sets ----------------------------------------------
    def kfold_choice(self) -> tuple[int, float] | None:
        """(k, minutes per fold), or None for the model as is."""
        if self.mode.currentData() != MODE_KFOLD:
            return None
        return self.k.value(), self.minutes.value()

    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.mode.setEnabled(not running)
        self.progress.setVisible(running)
        if running:
            self.progress.setRange(0, 0)

    def set_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    def set_rows(self, rows: Sequence[AuditRow], category_names: Mapping[int, str]) -> None:
        self.table.blockSignals(True)
        self.table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            model = row.model
            said = ""
            if model is not None and model.category_id != row.category_id:
                said = category_names.get(model.category_id, str(model.category_id))
            if model is not None and model.score is not None:
                said = f"{said} {model.score:.2f}".strip()
            cells = (
                row.issue.label,
                f"{row.score:.2f}",
                row.file_name,
                category_names.get(row.category_id, str(row.category_id)),
                said,
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(_row_tip(row))
                self.table.setItem(i, column, item)
        self.table.blockSignals(False)

    def mark_done(self, index: int, what: str) -> None:
        """Grey a fixed row out and say what was done with it."""
        for column in range(self.table.columnCount()):
            item = self.table.item(index, column)
            if item is not None:
                item.setForeground(DONE_COLOUR)
        last = self.table.item(index, len(COLUMNS) - 1)
        if last is not None:
            last.setText(what)

    def select_row(self, index: int) -> None:
        self.table.setCurrentCell(index, 0)
        self.table.setFocus()

    def current_row(self) -> int | None:
        row = self.table.currentRow()
        return row if row >= 0 else None

    def set_fixes_enabled(self, enabled: Mapping[str, bool]) -> None:
        for name, button in self.fix_buttons.items():
            button.setEnabled(bool(enabled.get(name, False)))

    # ---- internals ---------------------------------------------------------------------------
    def _mode_changed(self) -> None:
        kfold = self.mode.currentData() == MODE_KFOLD
        self.k.setVisible(kfold)
        self.minutes.setVisible(kfold)

    def _current_changed(self, row: int, *_args: object) -> None:
        if row >= 0:
            self.rowActivated.emit(row)


def _row_tip(row: AuditRow) -> str:
    parts = [f"{row.issue.label}: {row.score:.2f}"]
    if row.box_score is not None:
        parts.append(f"box (cleanlab) {row.box_score:.2f}")
    if row.mask_score is not None:
        parts.append(f"mask (mask head on the label's box) {row.mask_score:.2f}")
    return " · ".join(parts)
