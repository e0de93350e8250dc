"""The annotator window: canvas in the middle, docks around it, start page when nothing is open.

Responsibilities are split over mixins in gui/window/: menus and actions (menus.py), moving
between images and the per-image documents (navigation.py), the proposal worker and the
model (proposals.py). This file builds the widgets and opens/closes projects.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent, QUndoGroup
from PySide6.QtWidgets import QFileDialog, QMainWindow, QStackedWidget, QWidget

from core.errors import MaskLoopError
from gui.canvas.view import CanvasView
from gui.dialogs.errors import show_error
from gui.docks.image_list import ImageListDock
from gui.docks.instances import InstancesDock
from gui.docks.labels import LabelsDock
from gui.docks.model_dock import ModelDock
from gui.image_loader import ImageLoader
from gui.open_path import prepare_project
from gui.settings import AppSettings
from gui.start_page import StartPage
from gui.window.menus import MenusMixin
from gui.window.navigation import NavigationMixin
from gui.window.proposals import ProposalsMixin
from gui.window.status import WorkStatus

APP_NAME = "MaskLoop"


class MainWindow(MenusMixin, NavigationMixin, ProposalsMixin, QMainWindow):
    """One window, at most one open project.

    Public surface used by the fine-tune helper (GUI_CONTRACT.md): `store`, `model_menu`,
    `set_model(spec)`, `refresh_unreviewed_proposals()`, `image_list.set_sort_key(fn)`.
    """

    def __init__(
        self,
        settings: AppSettings | None = None,
        *,
        proposal_score_threshold: float | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings or AppSettings()
        self.store: Any = None
        self.proposals: Any = None
        self.proposal_score_threshold = proposal_score_threshold
        self.documents: OrderedDict[int, Any] = OrderedDict()
        self.current_document: Any = None
        self.undo_group = QUndoGroup(self)
        self.image_loader = ImageLoader(parent=self)
        self.resize(1400, 900)
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks
        )

        self.stack = QStackedWidget(self)
        self.start_page = StartPage(self.stack)
        self.canvas = CanvasView()
        self.canvas.setObjectName("canvas")
        self.stack.addWidget(self.start_page)
        self.stack.addWidget(self.canvas)
        self.setCentralWidget(self.stack)

        self.image_list = ImageListDock(self)
        self.labels_dock = LabelsDock(self)
        self.instances_dock = InstancesDock(self)
        self.model_dock = ModelDock(self)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.image_list)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.labels_dock)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.instances_dock)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.model_dock)
        self.work_status = WorkStatus(self.statusBar(), self)

        self.build_menus()
        self.connect_navigation()
        self.connect_proposals()
        self.start_page.openPathRequested.connect(self.open_path)
        self.start_page.openProjectRequested.connect(self.choose_project)
        self.start_page.openFolderRequested.connect(self.choose_folder)
        self.start_page.importCocoRequested.connect(self.choose_coco)
        self._build_toolbar()
        self._install_finetune()
        self._restore_window()
        self._show_start_page()

    # ---- opening and closing -----------------------------------------------------------
    def open_path(self, path: str | Path) -> bool:
        """Open a project, an image folder or a COCO file (see gui/open_path.py)."""
        project = prepare_project(self, Path(path))
        return project is not None and self.open_project(project)

    def open_project(self, project_path: str | Path) -> bool:
        from core.store import ProjectStore

        try:
            store = ProjectStore.open(Path(project_path))
        except MaskLoopError as exc:
            show_error(self, exc, "Cannot open the project")
            self.settings.remove_recent_project(project_path)
            return False
        self.close_project()
        self.store = store
        self.settings.add_recent_project(store.path)
        self.image_list.set_store(store)
        self.labels_dock.set_store(store)
        self.refresh_categories()
        self.model_dock.set_threshold(float(store.get_setting("proposal_threshold", 0.5)))
        self.canvas.set_score_threshold(self.model_dock.threshold())
        self.instances_dock.set_score_threshold(self.model_dock.threshold())
        self.stack.setCurrentWidget(self.canvas)
        self._set_project_ui_visible(True)
        self.start_proposals(store.path)
        start = self.start_image()
        if start is not None:
            self.go_to_image(start)
        self.update_title()
        self.canvas.setFocus()
        return True

    def close_project(self) -> None:
        """Stop background work, drop documents, back to the start page. Nothing to save."""
        if self.store is None:
            return
        self.stop_proposals()
        self.image_loader.wait_idle()
        self.image_loader.clear()
        self.canvas.set_document(None)
        self.instances_dock.set_document(None)
        for document in self.documents.values():
            self.undo_group.removeStack(document.undo_stack)
            document.deleteLater()
        self.documents.clear()
        self.current_document = None
        self.image_list.set_store(None)
        self.labels_dock.set_store(None)
        self.store.close()
        self.store = None
        self._show_start_page()

    def refresh_categories(self) -> None:
        categories = self.store.categories() if self.store is not None else []
        self.canvas.set_categories(categories)
        self.instances_dock.set_categories(categories)
        current = self.labels_dock.current_category_id()
        if current is not None:
            self.canvas.set_current_category(current)

    def update_title(self) -> None:
        parts = [APP_NAME]
        if self.store is not None:
            parts.append(Path(self.store.path).name)
            if self.current_document is not None:
                parts.append(self.current_document.image.file_name)
        self.setWindowTitle(" — ".join(parts))

    # ---- file choosers -----------------------------------------------------------------
    def choose_project(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open project", self.settings.last_dir(), "MaskLoop projects (*.maskloop)"
        )
        if path:
            self.settings.set_last_dir(str(Path(path).parent))
            self.open_path(path)

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open image folder", self.settings.last_dir())
        if path:
            self.settings.set_last_dir(path)
            self.open_path(path)

    def choose_coco(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import COCO", self.settings.last_dir(), "COCO JSON (*.json)"
        )
        if path:
            self.settings.set_last_dir(str(Path(path).parent))
            self.open_path(path)

    # ---- window lifecycle --------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        """Quitting during inference waits for the current image, then stops the thread."""
        self.settings.save_window(self.saveGeometry(), self.saveState())
        self.close_project()
        super().closeEvent(event)

    def _show_start_page(self) -> None:
        self.start_page.set_recent(self.settings.recent_projects())
        self.stack.setCurrentWidget(self.start_page)
        self._set_project_ui_visible(False)
        self.update_title()

    def _set_project_ui_visible(self, visible: bool) -> None:
        for dock in (self.image_list, self.labels_dock, self.instances_dock, self.model_dock):
            dock.setVisible(visible)
        self.toolbar.setVisible(visible)
        if visible and self._needs_first_layout:
            QTimer.singleShot(200, self._apply_first_layout)  # once the docks are laid out
        self.set_project_actions_enabled(visible)

    def _build_toolbar(self) -> None:
        toolbar = self.addToolBar("Tools")
        toolbar.setObjectName("toolbar_main")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        names = (
            "prev_image",
            "next_image",
            None,
            "tool_select",
            "tool_box",
            "tool_polygon",
            "tool_brush",
            "tool_eraser",
            None,
            "fit",
            "zoom_100",
            None,
            "accept_review_next",
        )
        for name in names:
            if name is None:
                toolbar.addSeparator()
            else:
                toolbar.addAction(self.actions[name])
        self.toolbar = toolbar

    def _restore_window(self) -> None:
        geometry = self.settings.window_geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.settings.window_state()
        self._needs_first_layout = state is None or not self.restoreState(state)

    def _apply_first_layout(self) -> None:
        """First run: a short labels list, room for the instances, the model at the bottom.

        Done once the docks are visible (resizeDocks ignores hidden ones).
        """
        if not self._needs_first_layout:
            return
        self._needs_first_layout = False
        self.resizeDocks(
            [self.labels_dock, self.instances_dock, self.model_dock],
            [170, 420, 170],
            Qt.Orientation.Vertical,
        )
        self.resizeDocks([self.image_list, self.labels_dock], [260, 340], Qt.Orientation.Horizontal)

    def _install_finetune(self) -> None:
        """Model > Fine-tune… and friends, when that part of the app is installed."""
        try:
            from gui.finetune_integration import install_finetune
        except ImportError:
            return
        install_finetune(self)
