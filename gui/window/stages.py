"""The Stage view: Mask R-CNN's two stages of the current image on the canvas.

*View > Stage view* toggles it. While it is on, each image shown is inspected by the model
in the proposal worker's thread (gui/workers/stage_job.py; never the UI thread) and the
result is drawn by `StageOverlay`; the Stage dock picks the layers and a detection.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QObject, QThread
from PySide6.QtGui import QAction

from core.detection.stage_view import StageView
from gui.canvas.stage_overlay import StageOverlay
from gui.canvas.view import CanvasView
from gui.docks.model_dock import ModelDock
from gui.docks.stage_dock import StageDock
from gui.window.navigation import NavigationController
from gui.window.proposals import ProposalController
from gui.workers.proposal_worker import ProposalService
from gui.workers.stage_job import StageInspector, StageResult


class StageController(QObject):
    def __init__(
        self,
        *,
        dock: StageDock,
        canvas: CanvasView,
        navigation: NavigationController,
        proposals: ProposalController,
        model_dock: ModelDock,
        action: QAction,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._dock = dock
        self._canvas = canvas
        self._navigation = navigation
        self._proposals = proposals
        self._model_dock = model_dock
        self._action = action
        self.overlay = StageOverlay()
        self.overlay.setVisible(False)
        canvas.scene().addItem(self.overlay)
        self._service: ProposalService | None = None
        self._inspector: StageInspector | None = None
        self.last_result: StageResult | None = None  # read by tests
        dock.hide()
        action.toggled.connect(self.set_enabled)
        dock.closed.connect(lambda: action.setChecked(False))
        dock.visibilityChanged.connect(self._on_dock_visible)
        dock.layersChanged.connect(self.overlay.set_layers)
        dock.detectionSelected.connect(self._on_selected)
        model_dock.thresholdChanged.connect(self._on_threshold)
        navigation.imageShown.connect(self._on_image_shown)

    @property
    def enabled(self) -> bool:
        return self._action.isChecked()

    def set_enabled(self, on: bool) -> None:
        if self._action.isChecked() != on:
            self._action.setChecked(on)  # toggled comes back here
            return
        self._dock.setVisible(on)
        self.overlay.setVisible(on)
        if on:
            self.overlay.set_layers(self._dock.layers())
            self.refresh()

    def refresh(self) -> None:
        """Inspect the current image again (the model changed, or the view was turned on)."""
        image_id = self._navigation.current_image_id
        store = self._proposals.store
        if not self.enabled or image_id is None or store is None:
            return
        inspector = self._inspector_for(self._proposals.service)
        if inspector is None:
            self._dock.set_status("No model: open a project and choose a model first.")
            return
        self._dock.set_status("Running the model's two stages on this image…")
        inspector.request(image_id, str(store.image_path(image_id)), self._model_dock.threshold())

    def _inspector_for(self, service: ProposalService | None) -> StageInspector | None:
        if service is None:
            self._service = self._inspector = None
            return None
        if service is not self._service:
            inspector = StageInspector(service.worker)
            thread: QThread = service.worker_thread
            inspector.moveToThread(thread)
            thread.finished.connect(inspector.deleteLater)
            inspector.ready.connect(self._on_ready)
            inspector.failed.connect(self._on_failed)
            service.worker.modelLoaded.connect(self._on_model_loaded)
            self._service, self._inspector = service, inspector
        return self._inspector

    def _on_image_shown(self, _image_id: int, _following: list[int]) -> None:
        self._show(None)
        self.refresh()

    def _on_model_loaded(self, _key: str, _device: str) -> None:
        self.refresh()

    def _on_ready(self, result: StageResult) -> None:
        if result.request.image_id != self._navigation.current_image_id:
            return  # the user moved on while the model ran
        self.last_result = result
        view: StageView = result.view
        self._show(view)

    def _on_failed(self, image_id: int, message: str) -> None:
        if image_id == self._navigation.current_image_id:
            self._dock.set_status(message)

    def _show(self, view: StageView | None) -> None:
        if view is not None:
            view = replace(view, score_threshold=self._model_dock.threshold())
        self.overlay.set_view(view)
        self._dock.set_view(view)

    def _on_dock_visible(self, visible: bool) -> None:
        # A window layout restored with the dock open turns the view on with it.
        if visible and not self.enabled:
            self._action.setChecked(True)

    def _on_selected(self, row: int) -> None:
        self.overlay.select(row if row >= 0 else None)

    def _on_threshold(self, value: float) -> None:
        self.overlay.set_threshold(value)
        if self.overlay.view is not None:  # the list marks what is under the threshold
            selected = self.overlay.selected
            self._dock.set_view(self.overlay.view)
            if selected is not None:
                self._dock.list.setCurrentRow(selected)
