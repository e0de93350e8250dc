"""Opening and closing a project: the store, its categories, and the file choosers.

Opening hands the store to every part that works on a project (`ProjectParts`), in the order
they depend on each other; closing takes it back in reverse.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from core.errors import MaskLoopError
from core.store import ProjectStore
from core.store.project_lock import ProjectInUse, ProjectLock
from gui.canvas.view import CanvasView
from gui.categories import ProjectCategories
from gui.dialogs.errors import show_error
from gui.docks.image_list import ImageListDock
from gui.docks.instances import InstancesDock
from gui.docks.labels import LabelsDock
from gui.open_path import ProjectPreparer
from gui.settings import AppSettings
from gui.window.read_only import ReadOnlyBanner, ask_read_only


class ProjectPart(Protocol):
    """A controller that works on the open project."""

    def open(self, store: ProjectStore, categories: ProjectCategories) -> None: ...

    def close(self) -> None: ...


class ProjectController(QObject):
    """Signals: opened(), closed() — after the parts have been told; notice(str) — a line for
    the status bar from the project's categories."""

    opened = Signal()
    closed = Signal()
    notice = Signal(str)

    def __init__(
        self,
        *,
        dialog_parent: QWidget,
        settings: AppSettings,
        canvas: CanvasView,
        image_list: ImageListDock,
        labels_dock: LabelsDock,
        instances_dock: InstancesDock,
        parts: list[ProjectPart],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._dialog_parent = dialog_parent
        self._settings = settings
        self._canvas = canvas
        self._image_list = image_list
        self._labels = labels_dock
        self._instances = instances_dock
        self._parts = parts
        self.store: ProjectStore | None = None
        self.categories: ProjectCategories | None = None
        self._lock: ProjectLock | None = None
        self.read_only_banner = ReadOnlyBanner(dialog_parent)
        self.ask_read_only: Callable[[str], bool] = lambda message: ask_read_only(
            dialog_parent, message
        )
        """Asked when the project is open in another window: True opens it read-only."""
        self.preparer = ProjectPreparer(dialog_parent, self)
        self.preparer.ready.connect(self.open_project)
        self.preparer.notice.connect(self.notice)
        labels_dock.categorySelected.connect(canvas.pick_category)

    # ---- opening and closing ---------------------------------------------------------------
    def open_path(self, path: str | Path) -> bool:
        """Open a project, an image folder or a COCO file (see gui/open_path.py).

        A project opens at once; a folder or a COCO file is prepared in the background and
        opens when ready (`opened`). False when there is nothing to open (the user was told).
        """
        return self.preparer.prepare(Path(path))

    def open_project(self, project_path: str | Path) -> bool:
        """Open a project file; one open in another window is offered read-only."""
        lock, read_only = None, None
        try:
            lock = ProjectLock.acquire(project_path)
        except ProjectInUse as exc:
            if not self.ask_read_only(str(exc)):
                return False
            read_only = "it is open in another window; close it there to edit it here"
        except MaskLoopError:
            pass  # no lock can be written beside it: the project opens read-only anyway
        try:
            store = ProjectStore.open(Path(project_path), read_only=read_only)
        except MaskLoopError as exc:
            if lock is not None:
                lock.release()
            show_error(self._dialog_parent, exc, "Cannot open the project")
            self._settings.remove_recent_project(project_path)
            return False
        self.close_project()
        self._lock = lock
        self.read_only_banner.show_for(store.read_only_reason)
        self.store = store
        self.categories = ProjectCategories(store, self)
        for signal in (
            self.categories.categoryAdded,
            self.categories.categoryChanged,
            self.categories.categoryRemoved,
        ):
            signal.connect(self._show_categories)
        self.categories.notice.connect(self.notice)
        self._settings.add_recent_project(store.path)
        self._image_list.set_store(store)
        self._labels.set_categories(self.categories)
        self._show_categories()
        for part in self._parts:
            part.open(store, self.categories)
        self.opened.emit()
        return True

    def close_project(self) -> None:
        """Stop background work, drop documents. Nothing to save: every edit is stored."""
        if self.store is None:
            return
        for part in reversed(self._parts):
            part.close()
        self._image_list.set_store(None)
        self._labels.set_categories(None)
        if self.categories is not None:
            self.categories.deleteLater()
        self.categories = None
        self.store.close()
        self.store = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        self.read_only_banner.show_for(None)
        self.closed.emit()

    def _show_categories(self, *_changed: int) -> None:
        """Names and colours changed: repaint; no document is reloaded, no history touched."""
        categories = self.categories.all() if self.categories is not None else []
        self._canvas.set_categories(categories)
        self._instances.set_categories(categories)
        current = self._labels.current_category_id()
        if current is not None:
            self._canvas.set_current_category(current)

    # ---- file choosers ---------------------------------------------------------------------
    def choose_project(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self._dialog_parent,
            "Open project",
            self._settings.last_dir(),
            "MaskLoop projects (*.maskloop)",
        )
        if path:
            self._settings.set_last_dir(str(Path(path).parent))
            self.open_path(path)

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self._dialog_parent, "Open image folder", self._settings.last_dir()
        )
        if path:
            self._settings.set_last_dir(path)
            self.open_path(path)

    def choose_coco(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self._dialog_parent, "Import COCO", self._settings.last_dir(), "COCO JSON (*.json)"
        )
        if path:
            self._settings.set_last_dir(str(Path(path).parent))
            self.open_path(path)
