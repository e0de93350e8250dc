"""The project's categories as one object: the only writer of categories from the window.

Docks, the canvas and the open documents listen to its fine-grained signals instead of
reloading everything, so renaming or recolouring a category leaves every image's undo history
alone. Merging is an undoable command (`MergeCategories`) pushed on the open image's stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from core.errors import MaskLoopError
from core.records import Category
from gui.store_command import StoreCommand

if TYPE_CHECKING:
    from core.store import ProjectStore

# The name a first shape drawn in a project without categories gets; renamable at once.
DEFAULT_CATEGORY_NAME = "object"


class ProjectCategories(QObject):
    """Signals:
    categoryAdded(int), categoryChanged(int) (name or colour), categoryRemoved(int),
    annotationsRecategorised(list): annotation ids whose category a merge (or its undo) changed.
    editFailed(str): an undoable category edit could not be written (it was dropped).
    notice(str): something the annotator should know (a category made for them).
    """

    categoryAdded = Signal(int)
    categoryChanged = Signal(int)
    categoryRemoved = Signal(int)
    annotationsRecategorised = Signal(list)
    editFailed = Signal(str)
    notice = Signal(str)

    def __init__(self, store: ProjectStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self._known_ids = {c.id for c in store.categories()}

    def report_error(self, error: MaskLoopError) -> None:
        self.editFailed.emit(str(error))

    def all(self) -> list[Category]:
        return self.store.categories()

    def get(self, category_id: int) -> Category:
        return self.store.get_category(category_id)

    def add(self, name: str) -> Category:
        category = self.store.add_category(name)
        self._added(category.id)
        return category

    def sync(self) -> None:
        """Announce categories another connection added (the proposal worker maps a model's
        category names into the project and creates the missing ones)."""
        for category in self.store.categories():
            if category.id not in self._known_ids:
                self._added(category.id)

    def _added(self, category_id: int) -> None:
        self._known_ids.add(category_id)
        self.categoryAdded.emit(category_id)

    def rename(self, category_id: int, name: str) -> None:
        self.store.rename_category(category_id, name)
        self.categoryChanged.emit(category_id)

    def set_color(self, category_id: int, color: str) -> None:
        self.store.set_category_color(category_id, color)
        self.categoryChanged.emit(category_id)

    def category_for_new_shape(self, wanted: int | None) -> int:
        """The category a new shape gets: `wanted` if it exists, else the first category, and
        in a project without categories a new one named DEFAULT_CATEGORY_NAME."""
        categories = self.all()
        if any(c.id == wanted for c in categories):
            assert wanted is not None
            return wanted
        if categories:
            return categories[0].id
        category = self.add(DEFAULT_CATEGORY_NAME)
        self.notice.emit(
            f"This project had no categories: the shape is “{category.name}”. "
            "Rename it or add others in the Labels dock."
        )
        return category.id

    # ---- merge, used by MergeCategories ---------------------------------------------------
    def merge(self, source_id: int, into_id: int) -> list[int]:
        moved = self.store.merge_categories(source_id, into_id)
        self._known_ids.discard(source_id)
        self.categoryRemoved.emit(source_id)
        self.annotationsRecategorised.emit(moved)
        return moved

    def unmerge(self, category: Category, annotation_ids: list[int]) -> None:
        self.store.unmerge_category(category, annotation_ids)
        self._added(category.id)
        self.annotationsRecategorised.emit(list(annotation_ids))


class MergeCategories(StoreCommand):
    """Move every annotation of one category into another and delete it; undo restores both."""

    def __init__(self, categories: ProjectCategories, source_id: int, into_id: int) -> None:
        source = categories.get(source_id)
        into = categories.get(into_id)
        super().__init__(f"Merge “{source.name}” into “{into.name}”", categories.report_error)
        self._categories = categories
        self._source = source
        self._into_id = into_id
        self._moved: list[int] = []

    @property
    def source_id(self) -> int:
        return self._source.id

    def concerns_proposals(self) -> bool:
        return False  # it changes categories, never which proposals exist

    def apply(self) -> None:
        self._moved = self._categories.merge(self._source.id, self._into_id)

    def revert(self) -> None:
        self._categories.unmerge(self._source, self._moved)
