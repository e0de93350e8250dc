"""The fine-tune dialog's one-shot background tasks, on superqt workers.

Both run on the global thread pool through `superqt.utils.create_worker`, the project's one
mechanism for one-shot background work: the measurement of the base model's validation AP
(it imports torch and runs a model) and the export of the project's labels into a run folder
(a 100,000-annotation project takes long enough to freeze the window). A worker outlives
a dialog destroyed while it runs: it finishes on its own and its signals go nowhere.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from superqt.utils import FunctionWorker, create_worker

from core.errors import Cancelled, MaskLoopError
from core.training.finetune_data import FinetuneData, export_finetune_run

ApEvaluator = Callable[..., float]
"""(model, val_json, images_dir, *, device, should_stop) -> mask AP; see
core.training.finetune_data.evaluate_model_ap."""


def error_message(exc: BaseException, what: str) -> str:
    """What to tell the user about a worker's exception: a MaskLoopError says it itself."""
    return str(exc) if isinstance(exc, MaskLoopError) else f"{what} failed: {exc}"


def start_evaluation(
    evaluator: ApEvaluator,
    model: str,
    data: FinetuneData,
    device: str,
    stop: threading.Event,
    *,
    on_result: Callable[[float | None], None],
    on_failed: Callable[[str], None],
) -> FunctionWorker:
    """Measure `model`'s validation AP on `data` in a worker; `stop` ends it between images."""
    worker = create_worker(
        evaluator,
        model,
        data.val_json,
        data.images_dir,
        device=device,
        should_stop=stop.is_set,
        _start_thread=False,
        _ignore_errors=True,  # errors go to on_failed, not re-raised on the UI thread
    )
    worker.returned.connect(on_result)
    worker.errored.connect(lambda exc: on_failed(error_message(exc, "Evaluation")))
    worker.start()
    return worker


class ExportTask(QObject):
    """Exports the project's labels for a fine-tuning run in a worker thread.

    The worker opens its own ProjectStore on the project file (an SQLite connection belongs
    to the thread that opened it). Signals, all delivered on the UI thread:
        progress(int, int): annotations exported so far, out of the total.
        exported(FinetuneData): the run folder is ready.
        failed(str): the export could not be done (the message says why); no folder is left.
        cancelled(): stopped on request; no folder is left.
    """

    progress = Signal(int, int)
    exported = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(
        self,
        project_path: Path,
        *,
        base_model: str,
        reviewed_only: bool,
        val_fraction: float,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._stop = threading.Event()
        self._running = False
        self._worker = create_worker(
            export_finetune_run,
            Path(project_path),
            base_model=base_model,
            reviewed_only=reviewed_only,
            val_fraction=val_fraction,
            progress=self.progress.emit,  # emitted from the worker, queued to the UI thread
            should_stop=self._stop.is_set,
            _start_thread=False,
            _ignore_errors=True,
        )
        self._worker.returned.connect(self._on_returned)
        self._worker.errored.connect(self._on_errored)

    def start(self) -> None:
        self._running = True
        self._worker.start()

    def cancel(self) -> None:
        """Ask the export to stop at its next progress step (it removes its run folder)."""
        self._stop.set()

    def is_running(self) -> bool:
        return self._running

    def _on_returned(self, data: FinetuneData) -> None:
        self._running = False
        self.exported.emit(data)

    def _on_errored(self, exc: BaseException) -> None:
        self._running = False
        if isinstance(exc, Cancelled):
            self.cancelled.emit()
        else:
            self.failed.emit(error_message(exc, "Exporting the labels"))
