"""The labels dock: the project's categories with their colours; add, rename, merge.

The first nine categories that are not background-like (`_background_` from labelme, say)
are what the digit keys 1-9 pick, so the list shows that digit beside their names. Every
change goes through the project's `ProjectCategories`; a merge is asked for with
`mergeRequested` so that the window can make it one undoable step.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QColorDialog,
    QDockWidget,
    QHBoxLayout,
    QInputDialog,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.categories import is_background_name
from core.errors import MaskLoopError
from core.records import Category
from gui.categories import ProjectCategories
from gui.colors import category_color
from gui.dialogs.errors import show_error


def digit_categories(categories: list[Category]) -> list[Category]:
    """The categories the digit keys 1-9 pick, in list order."""
    return [c for c in categories if not is_background_name(c.name)][:9]


def _swatch(color: QColor) -> QIcon:
    pixmap = QPixmap(14, 14)
    pixmap.fill(color)
    return QIcon(pixmap)


class LabelsDock(QDockWidget):
    """Signals:
    categorySelected(int): the user picked a category (click or digit key).
    mergeRequested(int, int): the user confirmed merging the first category into the second.
    """

    categorySelected = Signal(int)
    mergeRequested = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Labels", parent)
        self.setObjectName("dock_labels")
        self._categories: ProjectCategories | None = None
        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        self.list = QListWidget(body)
        self.list.setObjectName("labels_list")
        layout.addWidget(self.list, 1)
        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add…", body)
        self.add_button.setToolTip("Add a category")
        self.rename_button = QPushButton("Rename…", body)
        self.rename_button.setToolTip("Rename the selected category")
        self.color_button = QPushButton("Colour…", body)
        self.color_button.setToolTip("Change the selected category's colour")
        self.merge_button = QPushButton("Merge…", body)
        self.merge_button.setToolTip("Move all annotations of one category into another")
        for button in (self.add_button, self.rename_button, self.color_button, self.merge_button):
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self.setWidget(body)
        self.add_button.clicked.connect(self.add_category)
        self.rename_button.clicked.connect(self.rename_category)
        self.color_button.clicked.connect(self.recolor_category)
        self.merge_button.clicked.connect(self.merge_categories)
        self.list.currentRowChanged.connect(self._on_row_changed)
        self._filling = False

    def set_categories(self, categories: ProjectCategories | None) -> None:
        if self._categories is not None:
            for signal in (
                self._categories.categoryAdded,
                self._categories.categoryChanged,
                self._categories.categoryRemoved,
            ):
                signal.disconnect(self._on_category_signal)
        self._categories = categories
        if categories is not None:
            for signal in (
                categories.categoryAdded,
                categories.categoryChanged,
                categories.categoryRemoved,
            ):
                signal.connect(self._on_category_signal)
        self.reload()

    def categories(self) -> list[Category]:
        return self._categories.all() if self._categories is not None else []

    def _on_category_signal(self, _category_id: int) -> None:
        self.reload()

    def reload(self) -> None:
        """Re-read categories from the store, keeping the selected one."""
        current = self.current_category_id()
        self._filling = True
        try:
            self.list.clear()
            categories = self.categories()
            digits = {c.id: n for n, c in enumerate(digit_categories(categories), start=1)}
            for category in categories:
                n = digits.get(category.id)
                prefix = f"{n}  " if n is not None else "   "
                item = QListWidgetItem(_swatch(category_color(category)), prefix + category.name)
                item.setData(Qt.ItemDataRole.UserRole, category.id)
                item.setToolTip(f"id {category.id}" + (f" — press {n}" if n is not None else ""))
                self.list.addItem(item)
            if current is not None:
                self.select_category(current, emit=False)
            elif self.list.count():
                self.list.setCurrentRow(0)
        finally:
            self._filling = False

    def current_category_id(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None else int(item.data(Qt.ItemDataRole.UserRole))

    def category_name(self, category_id: int) -> str:
        return next((c.name for c in self.categories() if c.id == category_id), str(category_id))

    def category_id_at(self, number: int) -> int | None:
        """The category the digit key `number` (1-9) stands for."""
        digits = digit_categories(self.categories())
        return digits[number - 1].id if 1 <= number <= len(digits) else None

    def select_category(self, category_id: int, *, emit: bool = True) -> None:
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == category_id:
                previous = self._filling
                self._filling = previous or not emit
                try:
                    self.list.setCurrentRow(row)
                finally:
                    self._filling = previous
                return

    # ---- editing -----------------------------------------------------------------------
    def add_category(self) -> None:
        if self._categories is None:
            return
        name, ok = QInputDialog.getText(self, "Add category", "Name:")
        if not ok or not name.strip():
            return
        try:
            category = self._categories.add(name.strip())
        except MaskLoopError as exc:
            show_error(self, exc, "Cannot add the category")
            return
        self.select_category(category.id)

    def rename_category(self) -> None:
        category_id = self.current_category_id()
        if category_id is None or self._categories is None:
            return
        old = self._categories.get(category_id).name
        name, ok = QInputDialog.getText(self, "Rename category", "New name:", text=old)
        if not ok or not name.strip() or name.strip() == old:
            return
        try:
            self._categories.rename(category_id, name.strip())
        except MaskLoopError as exc:
            show_error(self, exc, "Cannot rename the category")

    def recolor_category(self) -> None:
        category_id = self.current_category_id()
        if category_id is None or self._categories is None:
            return
        initial = category_color(self._categories.get(category_id))
        color = QColorDialog.getColor(initial, self, "Category colour")
        if not color.isValid():
            return
        try:
            self._categories.set_color(category_id, color.name())
        except MaskLoopError as exc:
            show_error(self, exc, "Cannot change the colour")

    def merge_categories(self) -> None:
        """Ask which category goes into which, confirm, then ask the window to merge (undoably)."""
        categories = self.categories()
        if len(categories) < 2:
            return
        names = [f"{c.name} (id {c.id})" for c in categories]
        current = self.current_category_id()
        start = next((i for i, c in enumerate(categories) if c.id == current), 0)
        source_name, ok = QInputDialog.getItem(
            self, "Merge categories", "Merge this category…", names, start, False
        )
        if not ok:
            return
        source = categories[names.index(source_name)]
        others = [n for n in names if n != source_name]
        into_name, ok = QInputDialog.getItem(self, "Merge categories", "…into:", others, 0, False)
        if not ok:
            return
        into = categories[names.index(into_name)]
        answer = QMessageBox.question(
            self,
            "Merge categories",
            f"Move every “{source.name}” annotation to “{into.name}” and delete “{source.name}”?",
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.mergeRequested.emit(source.id, into.id)
        self.select_category(into.id)

    def _on_row_changed(self, _row: int) -> None:
        if self._filling:
            return
        category_id = self.current_category_id()
        if category_id is not None:
            self.categorySelected.emit(category_id)
