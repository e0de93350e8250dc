"""A read-only project: the banner across the window, and the question a second window asks.

The store refuses every write of a read-only project with a message (core.store), which
the window shows like any refused edit; the banner says so before the first try.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMessageBox,
    QSizePolicy,
    QToolBar,
    QWidget,
)

BANNER_STYLE = "QLabel { background: #fff3cd; color: #664d03; padding: 6px 10px; }"


class ReadOnlyBanner:
    """A strip across the top of the main window, shown only while a project is read-only."""

    def __init__(self, window: QWidget) -> None:
        self.label = QLabel()
        self.label.setObjectName("read_only_banner")
        self.label.setStyleSheet(BANNER_STYLE)
        self.label.setWordWrap(True)
        # Across the whole window, not squeezed to the width a toolbar gives a widget.
        self.label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.bar = QToolBar("Read-only project", window)
        self.bar.setObjectName("read_only_bar")
        self.bar.setMovable(False)
        self.bar.setFloatable(False)
        self.bar.toggleViewAction().setVisible(False)  # not a toolbar the user can hide
        self.bar.addWidget(self.label)
        if isinstance(window, QMainWindow):
            window.addToolBarBreak(Qt.ToolBarArea.TopToolBarArea)
            window.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.bar)
        self.bar.hide()

    def show_for(self, reason: str | None) -> None:
        """Show the banner for a read-only project (`reason`), hide it for a writable one."""
        if reason is None:
            self.label.clear()
            self.bar.hide()
            return
        self.label.setText(
            f"This project is read-only: {reason}. You can look at it and export it; "
            "edits are not saved."
        )
        self.bar.show()

    def text(self) -> str:
        """What the banner says; empty while it is hidden."""
        return "" if self.bar.isHidden() else self.label.text()


def ask_read_only(parent: QWidget, message: str) -> bool:
    """'The project is open in another window': True when the user opens it read-only."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Information)
    box.setWindowTitle("Project already open")
    box.setText(message)
    box.setInformativeText(
        "Two windows editing one project would each show what the other changes too late. "
        "Open it read-only here, or close it in the other window first."
    )
    read_only = box.addButton("Open read-only", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is read_only
