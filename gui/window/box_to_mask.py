"""Connects the canvas's Box-to-mask tool to the model in the proposal worker.

The tool (gui/canvas/box_to_mask_tool.py) asks through this controller, which forwards to
the current `ProposalService` and routes the worker's answers back to the tool on the UI
thread. Without a loaded model it answers None, and the tool says so. While the tool is
chosen, each image shown has its backbone features computed ahead, so the first box costs
only the heads too.
"""

from __future__ import annotations

from PySide6.QtCore import QObject

from gui.canvas.view import CanvasView
from gui.window.navigation import NavigationController
from gui.window.proposals import ProposalController
from gui.window.status import WorkStatus
from gui.workers.box_mask_job import BoxMaskResult
from gui.workers.proposal_worker import ProposalService


class BoxToMaskController(QObject):
    def __init__(
        self,
        *,
        canvas: CanvasView,
        navigation: NavigationController,
        proposals: ProposalController,
        work_status: WorkStatus,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._proposals = proposals
        self._navigation = navigation
        self._canvas = canvas
        self._tool = canvas.box_to_mask
        self._service: ProposalService | None = None
        self.last_result: BoxMaskResult | None = None  # read by tests
        self._tool.source = self
        self._tool.say = lambda message: work_status.show_message(message, about_image=True)
        canvas.toolChanged.connect(lambda _name: self._prepare_ahead())
        navigation.imageShown.connect(lambda _image_id, _following: self._prepare_ahead())
        proposals.modelReady.connect(lambda _spec: self._prepare_ahead())

    def segment_box(
        self,
        image_id: int,
        box: tuple[float, float, float, float],
        category_id: int | None,
        *,
        final: bool,
    ) -> int | None:
        service = self._ready_service()
        if service is None:
            return None
        return service.segment_box(image_id, box, category_id, final=final)

    def _prepare_ahead(self) -> None:
        image_id = self._navigation.current_image_id
        service = self._ready_service()
        if self._canvas.tool_name == self._tool.name and image_id is not None and service:
            service.prepare_box_features(image_id)

    def _ready_service(self) -> ProposalService | None:
        service = self._proposals.service
        if service is None or not self._proposals.model_ready:
            return None
        if service is not self._service:  # a project (re)opened: a new worker to listen to
            service.worker.boxMaskReady.connect(self._on_ready)
            service.worker.boxMaskFailed.connect(self._tool.show_failure)
            self._service = service
        return service

    def _on_ready(self, result: BoxMaskResult) -> None:
        self.last_result = result
        self._tool.show_result(result)
