"""The window's side of an evaluation's own process (gui/workers/evaluation_server.py).

One `EvaluationSession` per Evaluate click: a "spawn" child process that prepares the
evaluation and then answers re-matches and PR curves on its data for as long as the view
shows it. A thread here only reads the pipe (blocked in a system call, without Python's
lock) and forwards each small message to the UI thread as a queued signal; the UI thread
never waits for the child. Every answer is a `Job`, a `Task` (gui/workers/tasks.py) with
the same signals; cancelling the evaluation, closing the project or starting another
evaluation ends the process (terminate), which stops COCOeval mid-way at once.
"""

from __future__ import annotations

import multiprocessing
import threading
from typing import Any

from PySide6.QtCore import QObject, Signal

from core.errors import Cancelled, MaskLoopError
from core.evaluation.matching import MatchSettings
from gui.workers.evaluation_run import EvaluationRequest
from gui.workers.evaluation_server import EVALUATION_JOB, serve
from gui.workers.tasks import Task

# Sessions whose reader thread still runs: each is released on the UI thread by its reader's
# last message, so no QObject is ever deleted by the reader thread.
_LIVE: set[EvaluationSession] = set()


class _Relay(QObject):
    """Lives in the UI thread; the reader thread's emits are queued to it."""

    message = Signal(object)


class Job(Task):
    """One answer expected from the process; cancelling the evaluation ends the process."""

    def __init__(self, session: EvaluationSession, job_id: int) -> None:
        super().__init__()
        self._session = session
        self.job_id = job_id

    def cancel(self) -> None:
        super().cancel()
        if self.job_id == EVALUATION_JOB and not self.done:
            self._session.terminate(Cancelled("Evaluation cancelled."))


class EvaluationSession(QObject):
    """An evaluation's process: `evaluation` is its first job (the EvaluationOutcome);
    `submit` asks it for a re-match ("match": MatchView) or PR curves ("curves": metrics)."""

    def __init__(self, request: EvaluationRequest) -> None:
        super().__init__()
        context = multiprocessing.get_context("spawn")  # no copy of the window's threads
        self._conn, child = context.Pipe(duplex=True)
        self._process = context.Process(
            target=serve, args=(child, request), name="maskloop-evaluation", daemon=True
        )
        self._process.start()
        child.close()  # so the reader sees EOF when the child ends
        self._jobs: dict[int, Job] = {}
        self._next_id = EVALUATION_JOB + 1
        self._ended = False
        self._stop_reason: BaseException | None = None
        self._send_lock = threading.Lock()
        self._relay = _Relay(self)
        self._relay.message.connect(self._on_message)
        self.evaluation = Job(self, EVALUATION_JOB)
        self._jobs[EVALUATION_JOB] = self.evaluation
        _LIVE.add(self)
        self._reader = threading.Thread(target=self._read, name="evaluation-pipe", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def is_alive(self) -> bool:
        return self._process.is_alive()

    def submit(self, kind: str, settings: MatchSettings) -> Job:
        """Ask the process for a "match" or "curves" at `settings`; answered in order."""
        job = Job(self, self._next_id)
        self._next_id += 1
        if self._ended:
            job._finish("error", self._end_error())
            return job
        self._jobs[job.job_id] = job
        try:
            with self._send_lock:
                self._conn.send((job.job_id, kind, settings))
        except (OSError, ValueError):  # the process is gone; the reader reports it
            pass
        return job

    def terminate(self, reason: BaseException | None = None) -> None:
        """End the process now; its unanswered jobs fail with `reason` (Cancelled)."""
        if self._stop_reason is None:
            self._stop_reason = reason or Cancelled("Evaluation cancelled.")
        if self._process.is_alive():
            self._process.terminate()

    # ---- the pipe --------------------------------------------------------------------------
    def _read(self) -> None:
        """The reader thread: forward each message, then None when the pipe closes."""
        while True:
            try:
                message = self._conn.recv()
            except (EOFError, OSError):
                break
            except Exception as exc:  # noqa: BLE001 - an answer that cannot be unpickled
                message = (None, "broken", exc)
            self._relay.message.emit(message)
        self._relay.message.emit(None)

    def _on_message(self, message: Any) -> None:
        if message is None:
            self._on_end()
            return
        job_id, kind, value = message
        if kind == "broken":
            self.terminate(MaskLoopError(f"An evaluation answer could not be read: {value}"))
            return
        job = self._jobs.get(job_id)
        if job is None:
            return
        if kind == "progress":
            job._report(*value)
            return
        del self._jobs[job_id]
        job._finish("ok" if kind == "ok" else "error", value)

    def _end_error(self) -> BaseException:
        if self._stop_reason is not None:
            return self._stop_reason
        return MaskLoopError(
            f"The evaluation's process ended unexpectedly (exit code {self._process.exitcode})."
        )

    def _on_end(self) -> None:
        self._ended = True
        self._process.join(timeout=5)
        self._conn.close()
        jobs, self._jobs = list(self._jobs.values()), {}
        for job in jobs:
            job._finish("error", self._end_error())
        _LIVE.discard(self)
