"""The status bar: zoom, cursor position in image pixels, background work with Cancel."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QStatusBar


class WorkStatus(QObject):
    """Owns the permanent status bar widgets. Signals: cancelRequested()."""

    cancelRequested = Signal()

    def __init__(self, bar: QStatusBar, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bar = bar
        self.message_label = QLabel("", bar)
        self.cursor_label = QLabel("", bar)
        self.cursor_label.setMinimumWidth(110)
        self.zoom_label = QLabel("", bar)
        self.zoom_label.setMinimumWidth(60)
        self.progress = QProgressBar(bar)
        self.progress.setObjectName("work_progress")
        self.progress.setMinimumWidth(170)
        self.progress.setMaximumWidth(240)
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel", bar)
        self.cancel_button.setObjectName("work_cancel")
        self.cancel_button.setToolTip("Stop the background work (what is done is kept)")
        bar.addWidget(self.message_label, 1)
        for widget in (self.progress, self.cancel_button, self.cursor_label, self.zoom_label):
            bar.addPermanentWidget(widget)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self._about_image = False
        self.hide_progress()

    def show_message(self, text: str, *, about_image: bool = False) -> None:
        """Show `text`; a message `about_image` is cleared when the annotator changes image,
        so "10 proposals for this image" never stays up on another one."""
        self.message_label.setText(text)
        self._about_image = about_image

    def image_changed(self) -> None:
        if self._about_image:
            self.message_label.clear()
            self._about_image = False

    def message(self) -> str:
        return self.message_label.text()

    def set_zoom(self, factor: float) -> None:
        self.zoom_label.setText(f"{factor * 100:.0f} %")

    def set_cursor(self, x: float, y: float) -> None:
        self.cursor_label.setText(f"x {int(x)}, y {int(y)}")

    def show_progress(self, label: str, done: int, total: int) -> None:
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"{label} %v/%m")
        self.progress.show()
        self.cancel_button.show()

    def hide_progress(self) -> None:
        self.progress.hide()
        self.cancel_button.hide()

    def progress_visible(self) -> bool:
        return not self.progress.isHidden()
