"""The instances dock: the annotations of the open image, selection kept in step with the canvas.

Follows the document's signals, so an edit on the canvas (or an undo) updates the table
without the window having to tell it.
"""

from __future__ import annotations

import contextlib
from typing import Any

from PySide6.QtCore import QEvent, QItemSelectionModel, QObject, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QHeaderView,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from core.errors import ProjectError
from core.records import ReviewState, Source
from gui.colors import category_color

COLUMNS = ("#", "Category", "Score", "Source", "State")
CATEGORY_COLUMN = 1
# The category column takes the room the others leave, but never less than its longest name
# up to this many pixels; below that the table scrolls sideways instead of eliding names.
CATEGORY_MIN_PX = 140
# Texts a column can hold whatever the rows: source and state widths do not jump per image.
_FIXED_TEXTS = {3: [s.value for s in Source], 4: [s.value for s in ReviewState]}
STATE_COLORS = {
    ReviewState.PROPOSED: QColor("#b36b00"),
    ReviewState.ACCEPTED: QColor("#2e7d32"),
    ReviewState.REJECTED: QColor("#9e9e9e"),
}


class InstancesDock(QDockWidget):
    """Signals: selectionChanged(list[int]) with the annotation ids the user selected here."""

    selectionChanged = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Instances", parent)
        self.setObjectName("dock_instances")
        self._document: Any = None
        self._names: dict[int, Any] = {}
        self._syncing = False
        self._threshold = 0.0
        self._rows: dict[int, int] = {}  # annotation id -> its row
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("instances_table")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        # Widths are computed from every row's text (`_fit_columns`), not Qt's ResizeToContents:
        # a Stretch category column was squeezed to nothing by wide ids in a narrow dock.
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        self._category_min = CATEGORY_MIN_PX
        self.table.viewport().installEventFilter(self)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setMinimumHeight(140)
        self.table.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # keep single-key shortcuts alive
        self.setWidget(self.table)
        self.table.itemSelectionChanged.connect(self._on_table_selection)

    def set_categories(self, categories: list[Any]) -> None:
        self._names = {c.id: c for c in categories}
        self.reload()

    def set_document(self, document: Any) -> None:
        if self._document is not None:
            for signal, slot in self._connections(self._document):
                with contextlib.suppress(RuntimeError, TypeError):
                    signal.disconnect(slot)
        self._document = document
        if document is not None:
            for signal, slot in self._connections(document):
                signal.connect(slot)
        self.reload()

    def _connections(self, document: Any) -> list[tuple[Any, Any]]:
        # A changed annotation rewrites its own row: accepting an image's 2,000 proposals
        # emits 2,000 changes, and a whole reload for each was quadratic (minutes).
        return [
            (document.annotationAdded, self.reload),
            (document.annotationChanged, self.update_row),
            (document.annotationRemoved, self.reload),
            (document.reset, self.reload),
        ]

    def reload(self, *_args: Any) -> None:
        selected = set(self.selected_ids())
        annotations = self._document.annotations() if self._document is not None else []
        self._syncing = True
        try:
            self.table.setRowCount(len(annotations))
            self._rows = {}
            for row, ann in enumerate(annotations):
                self._fill_row(row, ann)
            self._select_rows(selected)
            self._hide_below_threshold(annotations)
            self._fit_columns()
        finally:
            self._syncing = False

    def update_row(self, ann_id: int) -> None:
        """Rewrite one annotation's row in place (a reload when it has none yet)."""
        row = self._rows.get(ann_id)
        try:
            ann = self._document.annotation(ann_id) if self._document is not None else None
        except ProjectError:
            ann = None
        if row is None or ann is None:
            self.reload()
            return
        model = self.table.selectionModel()
        was_selected = model.isRowSelected(row)
        self._syncing = True
        try:
            self._fill_row(row, ann)
            if was_selected:
                flags = (
                    QItemSelectionModel.SelectionFlag.Select
                    | QItemSelectionModel.SelectionFlag.Rows
                )
                model.select(self.table.model().index(row, 0), flags)
            self.table.setRowHidden(row, self._below_threshold(ann))
        finally:
            self._syncing = False

    def _fill_row(self, row: int, ann: Any) -> None:
        category = self._names.get(ann.category_id)
        name = category.name if category is not None else f"id {ann.category_id}"
        cells = (
            str(ann.id),
            name,
            "" if ann.score is None else f"{ann.score:.2f}",
            Source(ann.source).value,
            ReviewState(ann.state).value,
        )
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, ann.id)
            if column == 1:
                item.setForeground(category_color(category, ann.category_id).darker(130))
            if column == 4:
                item.setForeground(STATE_COLORS[ReviewState(ann.state)])
            self.table.setItem(row, column, item)
        self._rows[ann.id] = row

    def _fit_columns(self) -> None:
        """Each column as wide as its widest text (header included); category fills the rest."""
        metrics = self.table.fontMetrics()
        style = self.table.style()
        # The item delegate's text margins, plus a little air so text never touches the grid.
        pad = 2 * (style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin) + 1) + 8
        header = self.table.horizontalHeader()
        for column in range(len(COLUMNS)):
            cells = (self.table.item(r, column) for r in range(self.table.rowCount()))
            texts = {cell.text() for cell in cells if cell is not None}
            texts.update(_FIXED_TEXTS.get(column, ()))
            content = max((metrics.horizontalAdvance(t) for t in texts), default=0) + pad
            width = max(content, header.sectionSizeHint(column))
            if column == CATEGORY_COLUMN:
                self._category_min = max(
                    min(width, CATEGORY_MIN_PX), header.sectionSizeHint(column)
                )
            else:
                header.resizeSection(column, width)
        self._fit_category()

    def _fit_category(self) -> None:
        header = self.table.horizontalHeader()
        others = sum(header.sectionSize(c) for c in range(len(COLUMNS)) if c != CATEGORY_COLUMN)
        free = self.table.viewport().width() - others
        header.resizeSection(CATEGORY_COLUMN, max(self._category_min, free))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.table.viewport() and event.type() == QEvent.Type.Resize:
            self._fit_category()
        return super().eventFilter(watched, event)

    def set_score_threshold(self, threshold: float) -> None:
        """Hide the rows of proposals the canvas hides (score below the threshold)."""
        self._threshold = threshold
        if self._document is not None:
            self._hide_below_threshold(self._document.annotations())

    def _hide_below_threshold(self, annotations: list[Any]) -> None:
        for row, ann in enumerate(annotations):
            self.table.setRowHidden(row, self._below_threshold(ann))

    def _below_threshold(self, ann: Any) -> bool:
        return bool(
            ann.state == ReviewState.PROPOSED
            and ann.score is not None
            and ann.score < self._threshold
        )

    def selected_ids(self) -> list[int]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        ids = []
        for row in rows:
            item = self.table.item(row, 0)
            if item is not None:
                ids.append(int(item.data(Qt.ItemDataRole.UserRole)))
        return ids

    def show_selection(self, ann_ids: list[int]) -> None:
        """Mirror the canvas selection (does not emit selectionChanged)."""
        self._syncing = True
        try:
            self._select_rows(set(ann_ids))
        finally:
            self._syncing = False

    def _select_rows(self, ann_ids: set[int]) -> None:
        model = self.table.selectionModel()
        model.clearSelection()
        flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and int(item.data(Qt.ItemDataRole.UserRole)) in ann_ids:
                model.select(self.table.model().index(row, 0), flags)
                self.table.scrollToItem(item)

    def _on_table_selection(self) -> None:
        if not self._syncing:
            self.selectionChanged.emit(self.selected_ids())
