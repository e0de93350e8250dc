"""The two-stage view's model run, in the proposal worker's thread.

The detector lives in the proposal worker (gui/workers/proposal_worker.py), so the stage
inspection (core.detection.stages) runs in that thread too: `StageInspector` is moved to
the worker's QThread and serves the newest request between two proposal jobs. Navigating
fast replaces the pending request, so images the user has left never reach the model.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from gui.workers.proposal_worker import ProposalWorker


@dataclass(frozen=True)
class StageRequest:
    image_id: int
    path: str  # the image file, resolved by the UI thread's store
    score_threshold: float


@dataclass(frozen=True)
class StageResult:
    request: StageRequest
    view: Any  # core.detection.stage_view.StageView
    model_key: str
    thread_id: int  # the thread that ran the model (tests check it is not the UI's)


class StageInspector(QObject):
    """Lives in the proposal worker's thread; `request` may be called from any thread."""

    ready = Signal(object)  # StageResult
    failed = Signal(int, str)  # image id, message
    _wake = Signal()

    def __init__(self, worker: ProposalWorker) -> None:
        super().__init__()
        self._worker = worker
        self._lock = threading.Lock()
        self._pending: StageRequest | None = None
        self._wake.connect(self._serve)

    def request(self, image_id: int, path: str, score_threshold: float) -> None:
        with self._lock:
            self._pending = StageRequest(image_id, path, score_threshold)
        self._wake.emit()  # queued: the inspector lives in the worker's thread

    def _take(self) -> StageRequest | None:
        with self._lock:
            request, self._pending = self._pending, None
            return request

    @Slot()
    def _serve(self) -> None:
        request = self._take()
        if request is None:
            return  # an earlier wake already served the newest request
        detector = self._worker.detector  # same thread as the worker: safe to use
        if detector is None:
            self.failed.emit(request.image_id, "No model is loaded yet.")
            return
        from core.detection.stages import inspect_detector
        from core.errors import MaskLoopError
        from core.files.images import read_image

        try:
            view = inspect_detector(
                detector, read_image(request.path), score_threshold=request.score_threshold
            )
        except MaskLoopError as exc:
            self.failed.emit(request.image_id, str(exc))
            return
        except Exception as exc:  # a failure must not end the worker thread
            self.failed.emit(request.image_id, f"Stage view failed: {exc}")
            return
        self.ready.emit(StageResult(request, view, str(detector.model_key), threading.get_ident()))
