"""Help > Keyboard shortcuts: the actions table itself, then the canvas's own gestures."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.actions import shortcut_rows
from gui.canvas.gestures import CANVAS_GESTURES


def _table(rows: list[tuple[str, str, str]], headers: list[str], parent: QWidget) -> QTableWidget:
    table = QTableWidget(len(rows), len(headers), parent)
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(22)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    for row, cells in enumerate(rows):
        for column, text in enumerate(cells):
            table.setItem(row, column, QTableWidgetItem(text))
    table.resizeColumnsToContents()
    table.horizontalHeader().setStretchLastSection(True)
    return table


def _texts(table: QTableWidget) -> list[tuple[str, str, str]]:
    return [
        tuple(_cell(table, r, c) for c in range(table.columnCount()))  # type: ignore[misc]
        for r in range(table.rowCount())
    ]


class ShortcutsDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.table = _table(shortcut_rows(), ["Menu", "Command", "Keys"], self)
        self.table.setObjectName("shortcuts_table")
        gestures = [(g.context, g.what, g.keys) for g in CANVAS_GESTURES]
        self.gesture_table = _table(gestures, ["Where", "What", "Gesture"], self)
        self.gesture_table.setObjectName("gestures_table")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 3)
        layout.addWidget(QLabel("On the canvas (mouse and keys the canvas handles itself):", self))
        layout.addWidget(self.gesture_table, 2)
        layout.addWidget(buttons)
        self.resize(640, 760)

    def rows(self) -> list[tuple[str, str, str]]:
        """(menu, command, keys) of the menu actions."""
        return _texts(self.table)

    def gesture_rows(self) -> list[tuple[str, str, str]]:
        """(where, what, gesture) of the canvas gestures."""
        return _texts(self.gesture_table)


def _cell(table: QTableWidget, row: int, column: int) -> str:
    item = table.item(row, column)
    return item.text() if item is not None else ""
