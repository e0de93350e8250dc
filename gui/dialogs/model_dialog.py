"""Model > Choose model…: a built-in architecture or a checkpoint file.

The answer is a model spec string as `Detector.load` takes it: an architecture name
("lite", "r50-fpn-v2", "r50-fpn") or the path of a MaskLoop checkpoint.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

BUILT_IN_MODELS = (
    ("lite", "lite — small and fast, trains in minutes on a CPU (no pretrained weights)"),
    ("r50-fpn-v2", "r50-fpn-v2 — ResNet-50 FPN v2, COCO weights when they are installed"),
    ("r50-fpn", "r50-fpn — ResNet-50 FPN, COCO weights when they are installed"),
)


class ModelDialog(QDialog):
    def __init__(self, current: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Choose model")
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Which detector proposes masks for this project?", self))
        self.group = QButtonGroup(self)
        self.radios: dict[str, QRadioButton] = {}
        for key, text in BUILT_IN_MODELS:
            radio = QRadioButton(text, self)
            radio.setObjectName(f"model_{key}")
            self.group.addButton(radio)
            self.radios[key] = radio
            layout.addWidget(radio)
        self.checkpoint_radio = QRadioButton("Checkpoint file:", self)
        self.group.addButton(self.checkpoint_radio)
        row = QHBoxLayout()
        self.checkpoint_edit = QLineEdit(self)
        self.checkpoint_edit.setPlaceholderText("a .pt file written by MaskLoop")
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse)
        row.addWidget(self.checkpoint_radio)
        row.addWidget(self.checkpoint_edit, 1)
        row.addWidget(browse)
        layout.addLayout(row)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.checkpoint_edit.textEdited.connect(lambda _t: self.checkpoint_radio.setChecked(True))
        self.set_spec(current or "lite")

    def set_spec(self, spec: str) -> None:
        if spec in self.radios:
            self.radios[spec].setChecked(True)
        else:
            self.checkpoint_radio.setChecked(True)
            self.checkpoint_edit.setText(spec)

    def spec(self) -> str:
        for key, radio in self.radios.items():
            if radio.isChecked():
                return key
        return self.checkpoint_edit.text().strip()

    def accept(self) -> None:
        if self.checkpoint_radio.isChecked() and not Path(self.spec()).is_file():
            self.checkpoint_edit.setFocus()
            self.checkpoint_edit.setStyleSheet("border: 1px solid #c62828;")
            self.checkpoint_edit.setToolTip("Choose an existing checkpoint file")
            return
        super().accept()

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose checkpoint", self.checkpoint_edit.text(), "Checkpoints (*.pt *.pth)"
        )
        if path:
            self.checkpoint_edit.setText(path)
            self.checkpoint_radio.setChecked(True)
