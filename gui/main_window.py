"""The annotator window: canvas in the middle, docks around it, start page when nothing is open.

The window only builds widgets and composes the controllers of gui/window/, each typed and
owning its state: `project` (open/close), `navigation` (documents, moving, review),
`proposals` (the model and its worker), `menus` (actions, menus, toolbar) and `finetune`
(fine-tuning, model history, unsure-first order). It connects them and holds no logic.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QMainWindow, QStackedWidget, QWidget

from core.store import ProjectStore
from gui.canvas.view import CanvasView
from gui.categories import MergeCategories
from gui.docks.audit_dock import AuditDock
from gui.docks.evaluation_dock import EvaluationDock
from gui.docks.image_list import ImageListDock
from gui.docks.instances import InstancesDock
from gui.docks.labels import LabelsDock
from gui.docks.miss_cause_panel import MissCausePanel
from gui.docks.model_dock import ModelDock
from gui.docks.stage_dock import StageDock
from gui.document import ImageDocument
from gui.image_loader import ImageLoader
from gui.settings import AppSettings
from gui.start_page import StartPage
from gui.window.audit import AuditController
from gui.window.box_to_mask import BoxToMaskController
from gui.window.effort import EffortController
from gui.window.evaluation import EvaluationController
from gui.window.finetune import FinetuneController
from gui.window.menus import MenuController
from gui.window.miss_causes import MissCauseController
from gui.window.navigation import NavigationController
from gui.window.project import ProjectController
from gui.window.proposals import ProposalController
from gui.window.stages import StageController
from gui.window.status import WorkStatus

APP_NAME = "MaskLoop"


class MainWindow(QMainWindow):
    """One window, at most one open project."""

    def __init__(
        self,
        settings: AppSettings | None = None,
        *,
        proposal_score_threshold: float | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings or AppSettings()
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
        for dock in (self.labels_dock, self.instances_dock, self.model_dock):
            self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.work_status = WorkStatus(self.statusBar(), self)
        self.image_loader = ImageLoader(parent=self)

        self.navigation = NavigationController(
            dialog_parent=self,
            canvas=self.canvas,
            image_list=self.image_list,
            instances_dock=self.instances_dock,
            image_loader=self.image_loader,
            work_status=self.work_status,
            parent=self,
        )
        self.proposals = ProposalController(
            dialog_parent=self,
            navigation=self.navigation,
            canvas=self.canvas,
            image_list=self.image_list,
            instances_dock=self.instances_dock,
            model_dock=self.model_dock,
            work_status=self.work_status,
            store_threshold=proposal_score_threshold,
            parent=self,
        )
        self.menus = MenuController(
            self,
            canvas=self.canvas,
            labels_dock=self.labels_dock,
            undo_group=self.navigation.undo_group,
            work_status=self.work_status,
        )
        self.evaluation_dock = EvaluationDock(self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.evaluation_dock)
        self.evaluation = EvaluationController(
            dock=self.evaluation_dock,
            canvas=self.canvas,
            image_list=self.image_list,
            navigation=self.navigation,
            work_status=self.work_status,
            evaluate_action=self.actions["evaluate"],
            next_error_action=self.actions["next_error"],
            prev_error_action=self.actions["prev_error"],
            dialog_parent=self,
            parent=self,
        )
        self.miss_cause_panel = MissCausePanel(self.evaluation_dock)
        self.evaluation_dock.tabs.addTab(self.miss_cause_panel, "Why missed")
        self.miss_causes = MissCauseController(
            evaluation=self.evaluation,
            proposals=self.proposals,
            panel=self.miss_cause_panel,
            parent=self,
        )
        self.stage_dock = StageDock(self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.stage_dock)
        self.stages = StageController(
            dock=self.stage_dock,
            canvas=self.canvas,
            navigation=self.navigation,
            proposals=self.proposals,
            model_dock=self.model_dock,
            action=self.actions["stage_view"],
            parent=self,
        )
        self.audit_dock = AuditDock(self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.audit_dock)
        self.audit = AuditController(
            dock=self.audit_dock,
            canvas=self.canvas,
            navigation=self.navigation,
            active_model=self.proposals.active_model,
            work_status=self.work_status,
            audit_action=self.actions["audit"],
            parent=self,
        )
        self.finetune = FinetuneController(
            dialog_parent=self,
            host=self.proposals,
            image_list=self.image_list,
            finetune_action=self.actions["finetune"],
            history_action=self.actions["model_history"],
            unsure_first_action=self.actions["unsure_first"],
            compare_models=self.evaluation.compare_models,
            parent=self,
        )
        self.effort = EffortController(
            window=self,
            navigation=self.navigation,
            report_action=self.actions["loop_report"],
            parent=self,
        )
        self.box_to_mask = BoxToMaskController(
            canvas=self.canvas,
            navigation=self.navigation,
            proposals=self.proposals,
            work_status=self.work_status,
            parent=self,
        )
        self.project = ProjectController(
            dialog_parent=self,
            settings=self.settings,
            canvas=self.canvas,
            image_list=self.image_list,
            labels_dock=self.labels_dock,
            instances_dock=self.instances_dock,
            parts=[
                self.navigation,
                self.proposals,
                self.finetune,
                self.evaluation,
                self.audit,
                self.effort,
            ],
            parent=self,
        )
        self._connect()
        self._restore_window()
        self._show_start_page()

    # ---- what tests and scripts reach for ------------------------------------------------
    @property
    def store(self) -> ProjectStore | None:
        return self.project.store

    @property
    def actions(self) -> dict:  # type: ignore[override]  # QWidget.actions() lists them too
        return self.menus.actions

    @property
    def current_document(self) -> ImageDocument | None:
        return self.navigation.current_document

    @property
    def current_image_id(self) -> int | None:
        return self.navigation.current_image_id

    def open_path(self, path: str | Path) -> bool:
        return self.project.open_path(path)

    def open_project(self, path: str | Path) -> bool:
        return self.project.open_project(path)

    def close_project(self) -> None:
        self.project.close_project()

    def go_to_image(self, image_id: int) -> None:
        self.navigation.go_to_image(image_id)

    # ---- wiring ----------------------------------------------------------------------------
    def _connect(self) -> None:
        a = self.actions
        project, navigation, proposals = self.project, self.navigation, self.proposals
        a["open_project"].triggered.connect(project.choose_project)
        a["open_folder"].triggered.connect(project.choose_folder)
        a["import_coco"].triggered.connect(project.choose_coco)
        a["export_coco"].triggered.connect(self._export_coco)
        a["close_project"].triggered.connect(project.close_project)
        a["next_image"].triggered.connect(navigation.next_image)
        a["prev_image"].triggered.connect(navigation.prev_image)
        a["accept_review_next"].triggered.connect(navigation.accept_review_next)
        a["toggle_reviewed"].triggered.connect(navigation.toggle_current_reviewed)
        a["choose_model"].triggered.connect(proposals.choose_model)
        a["propose_current"].triggered.connect(proposals.propose_current)
        a["propose_all"].triggered.connect(proposals.propose_all)
        a["cancel_work"].triggered.connect(proposals.cancel_work)
        proposals.modelApplied.connect(self.finetune.model_changed)
        proposals.proposalsStored.connect(self.finetune.proposals_changed)
        navigation.documentChanged.connect(self._on_document_changed)
        navigation.currentReviewedChanged.connect(a["toggle_reviewed"].setChecked)
        self.labels_dock.mergeRequested.connect(self._merge_categories)
        self.canvas.zoomChanged.connect(self.work_status.set_zoom)
        self.canvas.cursorMoved.connect(self.work_status.set_cursor)
        project.opened.connect(self._on_project_opened)
        project.closed.connect(self._show_start_page)
        project.notice.connect(self.work_status.show_message)
        self.start_page.openPathRequested.connect(project.open_path)
        self.start_page.openProjectRequested.connect(project.choose_project)
        self.start_page.openFolderRequested.connect(project.choose_folder)
        self.start_page.importCocoRequested.connect(project.choose_coco)

    def _on_project_opened(self) -> None:
        self.stack.setCurrentWidget(self.canvas)
        self._set_project_ui_visible(True)
        start = self.navigation.start_image()
        if start is not None:
            self.navigation.go_to_image(start)
        self._update_title()
        self.canvas.setFocus()

    def _on_document_changed(self, document: ImageDocument | None) -> None:
        self.actions["toggle_reviewed"].setChecked(document is not None and document.image.reviewed)
        self._update_title()

    def _merge_categories(self, source_id: int, into_id: int) -> None:
        categories = self.project.categories
        if categories is not None:
            self.navigation.push_project_command(MergeCategories(categories, source_id, into_id))

    def _export_coco(self) -> None:
        from gui.dialogs.export_dialog import ExportDialog

        if self.store is None:
            return
        dialog = ExportDialog(self.store, self)
        if dialog.exec() and dialog.report is not None:
            self.work_status.show_message(f"Exported to {dialog.path_edit.text()}")

    def _update_title(self) -> None:
        parts = [APP_NAME]
        if self.store is not None:
            parts.append(Path(self.store.path).name)
            if self.current_document is not None:
                parts.append(self.current_document.image.file_name)
        self.setWindowTitle(" — ".join(parts))

    # ---- window lifecycle ------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        """Quitting during inference waits for the current image, then stops the thread."""
        self.settings.save_window(self.saveGeometry(), self.saveState())
        self.project.close_project()
        super().closeEvent(event)

    def _show_start_page(self) -> None:
        self.start_page.set_recent(self.settings.recent_projects())
        self.stack.setCurrentWidget(self.start_page)
        self._set_project_ui_visible(False)
        self._update_title()

    def _set_project_ui_visible(self, visible: bool) -> None:
        for dock in (self.image_list, self.labels_dock, self.instances_dock, self.model_dock):
            dock.setVisible(visible)
        if visible and self._needs_first_layout:
            QTimer.singleShot(200, self._apply_first_layout)  # once the docks are laid out
        self.menus.set_project_actions_enabled(visible)

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
