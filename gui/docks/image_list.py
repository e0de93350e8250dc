"""The image list dock: every image with its status, a status filter and a name search.

Virtualised for very large projects: the model holds only the ordered list of image ids
(one SQLite query, ints only) and reads file names and statuses page by page, when the view
first paints those rows. 100,000 images open at once; scrolling reads one page (256 rows)
at a time and keeps at most `MAX_CACHED_PAGES` pages.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from core.records import ImageStatus

PAGE_SIZE = 256
MAX_CACHED_PAGES = 64
SEARCH_DELAY_MS = 250
"""The name search runs once typing pauses this long (or on Enter): one search of 100,000
names takes ~0.15 s, too long to repeat on every keystroke."""

STATUS_COLORS = {
    ImageStatus.UNLABELLED: "#9e9e9e",  # grey: nothing yet
    ImageStatus.PROPOSED: "#f0a30a",  # amber: proposals wait for review
    ImageStatus.REVIEWED: "#3aa655",  # green: done
}
STATUS_ROLE = Qt.ItemDataRole.UserRole + 1
IMAGE_ID_ROLE = Qt.ItemDataRole.UserRole + 2
UNCERTAINTY_ROLE = Qt.ItemDataRole.UserRole + 3  # float 0..1, or None when not shown
UNCERTAINTY_BAR_COLOR = "#d9534f"
UNCERTAINTY_TRACK_COLOR = "#e6e6e6"
_BAR_W, _BAR_H, _BAR_MARGIN = 36, 6, 4  # px

SortKey = Callable[[int], Any]
ImagePredicate = Callable[[int], bool]


def _status_icon(color: str) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor(color))
    painter.setPen(QColor(color).darker(140))
    painter.drawEllipse(1, 1, 10, 10)
    painter.end()
    return QIcon(pixmap)


class ImageListModel(QAbstractListModel):
    """Rows are image ids in display order; names and statuses are read lazily by page."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._store: Any = None
        self._ids: list[int] = []
        self._row_of: dict[int, int] | None = None  # built on first lookup
        self._pages: OrderedDict[int, list[tuple[str, ImageStatus]]] = OrderedDict()
        self._status_filter: ImageStatus | None = None
        self._search = ""
        self._sort_key: SortKey | None = None
        self._predicate: ImagePredicate | None = None
        self._icons: dict[ImageStatus, QIcon] = {}
        # Images that left the filtered list since the last reload, with the row they held,
        # so "next image" from one of them still goes to the row that followed it.
        self._departed: dict[int, int] = {}
        self._dropping = False
        self._uncertainty: dict[int, float] | None = None

    # ---- configuration -----------------------------------------------------------------
    def set_store(self, store: Any) -> None:
        self._store = store
        self.reload()

    def set_filter(self, status: ImageStatus | None, search: str) -> None:
        self._status_filter = None if status is None else ImageStatus(status)
        self._search = search
        self.reload()

    def set_sort_key(self, key: SortKey | None) -> None:
        self._sort_key = key
        self.reload()

    def set_predicate(self, predicate: ImagePredicate | None) -> None:
        self._predicate = predicate
        self.reload()

    def set_uncertainty(self, scores: dict[int, float] | None) -> None:
        """Per-image uncertainty (0..1) to show beside each row; None shows none."""
        self._uncertainty = None if scores is None else dict(scores)
        if self._ids:
            self.dataChanged.emit(
                self.index(0),
                self.index(len(self._ids) - 1),
                [Qt.ItemDataRole.ToolTipRole, UNCERTAINTY_ROLE],
            )

    def uncertainty_of(self, image_id: int) -> float | None:
        return None if self._uncertainty is None else self._uncertainty.get(image_id)

    def reload(self) -> None:
        """Re-read which images match (after a filter change or images being added)."""
        self.beginResetModel()
        self._pages.clear()
        self._row_of = None
        self._departed.clear()
        if self._store is None:
            self._ids = []
        else:
            self._ids = self._store.image_ids(
                status=self._status_filter, search=self._search or None
            )
            if self._predicate is not None:
                self._ids = [i for i in self._ids if self._predicate(i)]
            if self._sort_key is not None:
                self._ids.sort(key=self._sort_key)
        self.endResetModel()

    # ---- lookups -----------------------------------------------------------------------
    def image_ids(self) -> list[int]:
        return list(self._ids)

    def image_id_at(self, row: int) -> int | None:
        return self._ids[row] if 0 <= row < len(self._ids) else None

    def row_of(self, image_id: int) -> int | None:
        if self._row_of is None:
            self._row_of = {image_id: row for row, image_id in enumerate(self._ids)}
        return self._row_of.get(image_id)

    def status_of(self, image_id: int) -> ImageStatus | None:
        row = self.row_of(image_id)
        return None if row is None else self._row_entry(row)[1]

    def departed_row(self, image_id: int) -> int | None:
        """The row an image held before its new status took it out of the filtered list."""
        return self._departed.get(image_id)

    def is_dropping_rows(self) -> bool:
        """True while rows whose status left the filter are being removed."""
        return self._dropping

    def refresh_images(self, image_ids: list[int]) -> None:
        """Re-read the status of these images (after an edit, a review, new proposals).

        With a status filter, an image whose new status no longer matches leaves the list and
        one that now matches joins it, so each filter shows exactly its status.
        """
        if self._store is None or not image_ids:
            return
        statuses = self._store.image_statuses(image_ids)
        for image_id in image_ids:
            status = statuses.get(image_id)
            if status is None:
                continue
            matches = self._status_filter is None or status is self._status_filter
            row = self.row_of(image_id)
            if row is None:
                if (
                    matches
                    and self._status_filter is not None
                    and self._search_matches(image_id)
                    and (self._predicate is None or self._predicate(image_id))
                ):
                    self._insert_row(image_id)
                continue
            if not matches:
                self._remove_row(row)
                continue
            page = self._pages.get(row // PAGE_SIZE)
            if page is not None:
                name = page[row % PAGE_SIZE][0]
                page[row % PAGE_SIZE] = (name, status)
            index = self.index(row)
            self.dataChanged.emit(index, index)

    def _search_matches(self, image_id: int) -> bool:
        if not self._search:
            return True
        name = self._store.get_image(image_id).file_name
        return self._search.casefold() in name.casefold()

    def _insert_row(self, image_id: int) -> None:
        if self._sort_key is None:
            row = bisect.bisect_left(self._ids, image_id)
        else:
            row = bisect.bisect_left(self._ids, self._sort_key(image_id), key=self._sort_key)
        self.beginInsertRows(QModelIndex(), row, row)
        self._ids.insert(row, image_id)
        self._pages.clear()  # rows shifted: pages are cheap to read again
        self._row_of = None
        self._departed.pop(image_id, None)
        self._departed = {i: r + (r >= row) for i, r in self._departed.items()}
        self.endInsertRows()

    def _remove_row(self, row: int) -> None:
        image_id = self._ids[row]
        self._dropping = True
        try:
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._ids[row]
            self._pages.clear()
            self._row_of = None
            self._departed = {i: r - (r > row) for i, r in self._departed.items()}
            self._departed[image_id] = row
            self.endRemoveRows()
        finally:
            self._dropping = False

    # ---- QAbstractListModel ------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._ids)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._ids):
            return None
        row = index.row()
        if role == IMAGE_ID_ROLE:
            return self._ids[row]
        if role == UNCERTAINTY_ROLE:
            return self.uncertainty_of(self._ids[row])
        if role not in (
            Qt.ItemDataRole.DisplayRole,
            Qt.ItemDataRole.DecorationRole,
            Qt.ItemDataRole.ToolTipRole,
            STATUS_ROLE,
        ):
            return None
        name, status = self._row_entry(row)
        if role == Qt.ItemDataRole.DisplayRole:
            return name
        if role == Qt.ItemDataRole.DecorationRole:
            if status not in self._icons:
                self._icons[status] = _status_icon(STATUS_COLORS[status])
            return self._icons[status]
        if role == STATUS_ROLE:
            return status
        tip = f"{name}\n{status.value}"
        score = self.uncertainty_of(self._ids[row])
        if score is not None:
            tip += f"\nuncertainty {score:.2f} (mean score margin of pending proposals)"
        return tip

    def _row_entry(self, row: int) -> tuple[str, ImageStatus]:
        page_index = row // PAGE_SIZE
        page = self._pages.get(page_index)
        if page is None:
            page = self._read_page(page_index)
            self._pages[page_index] = page
            while len(self._pages) > MAX_CACHED_PAGES:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(page_index)
        return page[row % PAGE_SIZE]

    def _read_page(self, page_index: int) -> list[tuple[str, ImageStatus]]:
        ids = self._ids[page_index * PAGE_SIZE : (page_index + 1) * PAGE_SIZE]
        statuses = self._store.image_statuses(ids)
        # By id, never by LIMIT/OFFSET: under a status filter an offset query re-tests every
        # row before the page, which took 50 ms a page deep in a 100,000-image list.
        names = self._store.image_names(ids)
        return [(names.get(i, f"#{i}"), statuses.get(i, ImageStatus.UNLABELLED)) for i in ids]


class _UncertaintyDelegate(QStyledItemDelegate):
    """The usual row, plus a small bar at its right end as long as the image's uncertainty."""

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        score = index.data(UNCERTAINTY_ROLE)
        if score is None:
            super().paint(painter, option, index)
            return
        # Keep the name clear of the bar: it elides before reaching it.
        text_option = QStyleOptionViewItem(option)
        text_option.rect = option.rect.adjusted(0, 0, -(_BAR_W + 2 * _BAR_MARGIN), 0)
        super().paint(painter, text_option, index)
        rect = option.rect
        x = rect.right() - _BAR_MARGIN - _BAR_W
        y = rect.center().y() - _BAR_H // 2
        painter.save()
        painter.fillRect(x, y, _BAR_W, _BAR_H, QColor(UNCERTAINTY_TRACK_COLOR))
        filled = round(_BAR_W * min(max(float(score), 0.0), 1.0))
        if filled > 0:
            painter.fillRect(x, y, filled, _BAR_H, QColor(UNCERTAINTY_BAR_COLOR))
        painter.restore()


class ImageListDock(QDockWidget):
    """Signals: imageActivated(int image_id) when the user picks an image."""

    imageActivated = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Images", parent)
        self.setObjectName("dock_images")
        self.model = ImageListModel(self)
        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        self.status_filter = QComboBox(body)
        self.status_filter.setObjectName("image_status_filter")
        self.status_filter.addItem("All images", None)
        for status in ImageStatus:
            self.status_filter.addItem(status.value.capitalize(), status)
        self.status_filter.setToolTip("Show only images with this status")
        self.search = QLineEdit(body)
        self.search.setObjectName("image_search")
        self.search.setPlaceholderText("Search file names")
        self.search.setClearButtonEnabled(True)
        row.addWidget(self.status_filter)
        row.addWidget(self.search, 1)
        layout.addLayout(row)
        self.view = QListView(body)
        self.view.setObjectName("image_list_view")
        self.view.setUniformItemSizes(True)  # lets QListView skip measuring 100k rows
        self.view.setLayoutMode(QListView.LayoutMode.Batched)
        self.view.setModel(self.model)
        self.view.setItemDelegate(_UncertaintyDelegate(self.view))
        # A light selection keeps the status marker of the current row readable.
        self.view.setStyleSheet("QListView::item:selected { background: #cfe3f7; color: black; }")
        layout.addWidget(self.view, 1)
        self.count_label = QLabel(body)
        layout.addWidget(self.count_label)
        body.setMinimumWidth(220)
        self.setWidget(body)
        self.status_filter.currentIndexChanged.connect(self._apply_filter)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._apply_filter)
        self.search.textChanged.connect(self._search_timer.start)  # each keystroke restarts it
        self.search.returnPressed.connect(self._apply_filter)
        self.view.selectionModel().currentChanged.connect(self._on_current_changed)
        self.model.modelReset.connect(self._update_count)
        self.model.rowsInserted.connect(self._update_count)
        self.model.rowsRemoved.connect(self._after_rows_dropped)
        self._selecting = False
        self._current_dropped = False
        # The row select_image last scrolled to, until it is on screen: the batched layout
        # places rows over several event-loop turns, so a row beyond the first batch has no
        # place yet when a project opens on it (unsure first puts it anywhere); each batch
        # grows the scroll range, and the scroll is repeated then.
        self._scroll_target: QPersistentModelIndex | None = None
        self.view.verticalScrollBar().rangeChanged.connect(self._scroll_again)

    def set_store(self, store: Any) -> None:
        self.model.set_store(store)

    def set_sort_key(self, key: SortKey | None) -> None:
        """Order hook for the fine-tune helper ("unsure first"); None restores id order."""
        current = self.current_image_id()
        self.model.set_sort_key(key)
        if current is not None:
            self.select_image(current)

    def set_predicate(self, predicate: ImagePredicate | None) -> None:
        """Filter hook ("images with errors" of an evaluation): only images for which
        `predicate(image_id)` is true are listed, on top of the status filter and search;
        None lists all. Call again (or `reload`) when what it reads changes."""
        current = self.current_image_id()
        self.model.set_predicate(predicate)
        if current is not None:
            self.select_image(current)

    def set_uncertainty(self, scores: dict[int, float] | None) -> None:
        """Show each image's uncertainty (0..1, by image id) as a bar beside its row and in
        its tooltip; images missing from `scores` show none; None hides it everywhere."""
        self.model.set_uncertainty(scores)
        self.view.viewport().update()

    def set_status_filter(self, status: ImageStatus | None) -> None:
        self.status_filter.setCurrentIndex(self.status_filter.findData(status))

    def current_image_id(self) -> int | None:
        index = self.view.currentIndex()
        return self.model.image_id_at(index.row()) if index.isValid() else None

    def select_image(self, image_id: int) -> bool:
        """Make `image_id` the current row without emitting imageActivated."""
        row = self.model.row_of(image_id)
        if row is None:
            self.view.clearSelection()
            return False
        self._selecting = True
        try:
            index = self.model.index(row)
            self.view.setCurrentIndex(index)
            self.view.scrollTo(index)
        finally:
            self._selecting = False
        # Right after the list is filled (a project just opened) the view has not laid out its
        # rows yet and the scroll above lands nowhere: repeat it once the layout has run.
        # A persistent index, made now: the model may be reset or replaced before the timer
        # fires, and a plain index would then point at freed memory.
        target = QPersistentModelIndex(index)
        self._scroll_target = target
        QTimer.singleShot(0, self, lambda: self._scroll_to(target))
        return True

    def _scroll_to(self, index: QPersistentModelIndex) -> None:
        if index.isValid():
            self.view.scrollTo(self.model.index(index.row()))

    def _scroll_again(self, *_range: int) -> None:
        target = self._scroll_target
        if target is None or not target.isValid() or target.row() != self.view.currentIndex().row():
            self._scroll_target = None  # gone, or the user moved on
            return
        index = self.model.index(target.row())
        self.view.scrollTo(index)
        if self.view.viewport().rect().contains(self.view.visualRect(index)):
            self._scroll_target = None

    def neighbour(self, image_id: int | None, step: int) -> int | None:
        """The image `step` rows away in display order (the first one when not listed).

        An image that just left the filtered list (marked reviewed under "Unlabelled", say)
        still has neighbours: the rows that were around it.
        """
        if self.model.rowCount() == 0:
            return None
        row = self.model.row_of(image_id) if image_id is not None else None
        if row is not None:
            return self.model.image_id_at(row + step)
        departed = self.model.departed_row(image_id) if image_id is not None else None
        if departed is None:
            return self.model.image_id_at(0)
        # The row that followed the departed image now holds its old index.
        return self.model.image_id_at(departed + step - 1 if step > 0 else departed + step)

    def following(self, image_id: int, count: int) -> list[int]:
        """Up to `count` images after `image_id` in display order (for prefetching)."""
        listed = self.model.row_of(image_id) is not None
        departed = self.model.departed_row(image_id) is not None
        first = self.neighbour(image_id, 1) if listed or departed else None
        if first is None:
            return []
        row = self.model.row_of(first)
        if row is None:
            return []
        ids = (self.model.image_id_at(r) for r in range(row, row + count))
        return [i for i in ids if i is not None]

    def refresh_images(self, image_ids: list[int]) -> None:
        self.model.refresh_images(image_ids)

    def reload(self) -> None:
        current = self.current_image_id()
        self.model.reload()
        if current is not None:
            self.select_image(current)

    def _apply_filter(self) -> None:
        self._search_timer.stop()  # the filter below reads the search text as it is now
        current = self.current_image_id()
        self.model.set_filter(self.status_filter.currentData(), self.search.text().strip())
        if current is not None:
            self.select_image(current)

    def _update_count(self) -> None:
        self.count_label.setText(f"{self.model.rowCount():,} images")

    def _after_rows_dropped(self) -> None:
        self._update_count()
        if self._current_dropped:
            # The window still shows the image that left; no other row should look current.
            self._current_dropped = False
            self._selecting = True
            try:
                self.view.selectionModel().clear()
            finally:
                self._selecting = False

    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self.model.is_dropping_rows():
            self._current_dropped = True  # Qt moved the current row off a removed one
            return
        if self._selecting or not current.isValid():
            return
        image_id = self.model.image_id_at(current.row())
        if image_id is not None:
            self.imageActivated.emit(image_id)
