"""What `maskloop` shows before a project is open: recent projects and ways to start."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class StartPage(QWidget):
    """Signals: openPathRequested(str) for a recent project; the three buttons' own signals."""

    openPathRequested = Signal(str)
    openProjectRequested = Signal()
    openFolderRequested = Signal()
    importCocoRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("start_page")
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        column = QVBoxLayout()
        outer.addLayout(column, 3)
        outer.addStretch(1)
        column.addStretch(1)
        title = QLabel("MaskLoop", self)
        font = QFont(title.font())
        font.setPointSize(font.pointSize() * 2 + 4)
        font.setBold(True)
        title.setFont(font)
        column.addWidget(title)
        subtitle = QLabel(
            "Label images with instance masks: the model proposes, you correct, "
            "export COCO, fine-tune, repeat.",
            self,
        )
        subtitle.setWordWrap(True)
        column.addWidget(subtitle)
        column.addSpacing(16)
        buttons = QHBoxLayout()
        self.open_project_button = QPushButton("Open project…", self)
        self.open_project_button.setToolTip("Open a .maskloop project (Ctrl+O)")
        self.open_folder_button = QPushButton("Open image folder…", self)
        self.open_folder_button.setToolTip("Start labelling a folder of images (Ctrl+Shift+O)")
        self.import_coco_button = QPushButton("Import COCO…", self)
        self.import_coco_button.setToolTip("Turn a COCO JSON file into a project (Ctrl+I)")
        for button in (self.open_project_button, self.open_folder_button, self.import_coco_button):
            button.setMinimumHeight(36)
            buttons.addWidget(button)
        column.addLayout(buttons)
        column.addSpacing(16)
        column.addWidget(QLabel("<b>Recent projects</b>", self))
        self.recent_list = QListWidget(self)
        self.recent_list.setObjectName("recent_projects")
        self.recent_list.setMinimumHeight(160)
        self.recent_list.setSpacing(3)
        self.recent_list.setAlternatingRowColors(True)
        column.addWidget(self.recent_list, 2)
        self.empty_label = QLabel("No recent projects yet.", self)
        self.empty_label.setStyleSheet("color: gray;")
        column.addWidget(self.empty_label)
        hint = QLabel(
            "New here? Run <code>maskloop demo</code> in a terminal: it makes a small "
            "labelled project with a trained model and opens it.",
            self,
        )
        hint.setObjectName("demo_hint")
        hint.setWordWrap(True)
        hint.setTextFormat(Qt.TextFormat.RichText)
        column.addSpacing(8)
        column.addWidget(hint)
        column.addStretch(2)
        self.open_project_button.clicked.connect(self.openProjectRequested)
        self.open_folder_button.clicked.connect(self.openFolderRequested)
        self.import_coco_button.clicked.connect(self.importCocoRequested)
        self.recent_list.itemActivated.connect(self._on_activated)

    def set_recent(self, paths: list[str]) -> None:
        self.recent_list.clear()
        for path in paths:
            name = path.rsplit("/", 1)[-1]
            item = QListWidgetItem(f"{name}\n{path}")
            item.setData(Qt.ItemDataRole.UserRole, path)
            item.setToolTip(path)
            self.recent_list.addItem(item)
        self.recent_list.setVisible(bool(paths))
        self.empty_label.setVisible(not paths)

    def _on_activated(self, item: QListWidgetItem) -> None:
        self.openPathRequested.emit(item.data(Qt.ItemDataRole.UserRole))
