"""The "Decoding image…" notice the canvas shows while an image's pixels are being decoded.

A 12,000 x 9,000 JPEG takes seconds to decode; without a word the canvas looked blank (or
showed the previous image's pixels under the new annotations). The notice sits centred on
the viewport, above the scene, with a busy bar; it lets mouse events through. While a huge
JPEG's reduced preview is shown and its tiles are built, the notice moves to the bottom
edge (`show_preview_note`) so it does not hide the middle of the picture.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QProgressBar, QVBoxLayout, QWidget


class DecodingOverlay(QFrame):
    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("decoding_overlay")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setStyleSheet(
            "#decoding_overlay { background: rgba(20, 20, 20, 200); border-radius: 8px; }"
            "QLabel { color: white; }"
        )
        self.label = QLabel(self)
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.busy = QProgressBar(self)
        self.busy.setRange(0, 0)  # no known end: Qt draws a busy indicator
        self.busy.setTextVisible(False)
        self.busy.setFixedHeight(8)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 12, 18, 14)
        layout.addWidget(self.label)
        layout.addWidget(self.busy)
        self._at_bottom = False
        self.hide()

    def show_for(self, width: int, height: int) -> None:
        self._at_bottom = False
        self._show(f"Decoding image… ({width} x {height})")

    def show_preview_note(self, width: int, height: int, factor: float) -> None:
        """Say that the picture is a preview at 1/`factor` while the tiles are built."""
        self._at_bottom = True
        self._show(
            f"Preview at 1/{factor:.0f} — building full-resolution tiles… ({width} x {height})"
        )

    def _show(self, text: str) -> None:
        self.label.setText(text)
        self.adjustSize()
        self.recentre()
        self.show()
        self.raise_()

    def recentre(self) -> None:
        parent = self.parentWidget()
        if parent is not None:
            rect = self.rect()
            rect.moveCenter(parent.rect().center())
            if self._at_bottom:
                rect.moveBottom(parent.rect().bottom() - 12)
            self.move(rect.topLeft())
