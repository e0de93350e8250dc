"""One-shot background work: superqt's thread worker, with progress and a cancel flag.

`start_task(fn, ...)` runs `fn(progress, should_stop)` on superqt's thread pool. `progress`
(done, total) and the result or error come back to the UI thread as queued signals; the
UI thread never waits. Long jobs that can crash (training) run in a process instead
(gui/workers/training_process.py), and the proposal worker keeps its own QThread because it
lives as long as the project.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal
from superqt.utils import create_worker

Progress = Callable[[int, int], None]
ShouldStop = Callable[[], bool]


class _ProgressRelay(QObject):
    """Lives in the UI thread; emitting from the worker thread queues the call there."""

    progressed = Signal(int, int)


class Task(QObject):
    """A running task. Signals: progressed(int, int), succeeded(object), failed(object)
    (the exception), finished() (after either)."""

    progressed = Signal(int, int)
    succeeded = Signal(object)
    failed = Signal(object)
    finished = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cancel = threading.Event()
        self._relay = _ProgressRelay(self)
        self._relay.progressed.connect(self.progressed)
        self.done = False
        self.worker: QObject | None = None  # superqt's worker, kept alive with the task

    def cancel(self) -> None:
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def _report(self, done: int, total: int) -> None:
        self._relay.progressed.emit(int(done), int(total))

    def _finish(self, outcome: str, value: Any) -> None:
        self.done = True
        (self.succeeded if outcome == "ok" else self.failed).emit(value)
        self.finished.emit()


def start_task(fn: Callable[[Progress, ShouldStop], Any], parent: QObject | None = None) -> Task:
    """Run `fn(progress, should_stop)` in the background; connect to the Task's signals."""
    task = Task(parent)
    # Errors reach `failed` only: superqt would otherwise also re-raise them on the UI thread.
    worker = create_worker(
        fn, task._report, task.is_cancelled, _start_thread=False, _ignore_errors=True
    )
    worker.returned.connect(lambda value: task._finish("ok", value))
    worker.errored.connect(lambda error: task._finish("error", error))
    task.worker = worker
    worker.start()
    return task
