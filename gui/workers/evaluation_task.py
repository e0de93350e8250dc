"""Measures a model's validation AP on a pool thread, for the fine-tune dialog's "before".

Evaluation imports torch and runs a model, so it never runs on the GUI thread. It is a
QThreadPool task rather than a QThread owned by the dialog: if the dialog is destroyed
while the task runs, the task finishes on its own and its signals go nowhere.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, QRunnable, Signal

from core.errors import MaskLoopError
from core.training.finetune_data import FinetuneData

ApEvaluator = Callable[..., float]
"""(model, val_json, images_dir, *, device, should_stop) -> mask AP; see
core.training.finetune_data.evaluate_model_ap."""


class EvaluationSignals(QObject):
    result = Signal(object)  # float | None
    failed = Signal(str)


class EvaluationTask(QRunnable):
    """Computes a model's validation AP off the GUI thread (it loads torch and a model).

    A pool task rather than a QThread owned by the dialog: if the dialog is destroyed while
    the task runs, the task finishes on its own and its signals go nowhere.
    """

    def __init__(
        self,
        evaluator: ApEvaluator,
        model: str,
        data: FinetuneData,
        device: str,
        stop: threading.Event,
    ) -> None:
        super().__init__()
        self.signals = EvaluationSignals()
        self._evaluator, self._model, self._data, self._device = evaluator, model, data, device
        self._stop = stop

    def run(self) -> None:
        try:
            ap = self._evaluator(
                self._model,
                self._data.val_json,
                self._data.images_dir,
                device=self._device,
                should_stop=self._stop.is_set,
            )
        except MaskLoopError as exc:
            self.signals.failed.emit(str(exc))
        except Exception as exc:  # a bug in evaluation must not crash the app
            self.signals.failed.emit(f"Evaluation failed: {exc}")
        else:
            self.signals.result.emit(ap)
