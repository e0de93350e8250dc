"""The window's side of an evaluation's own process (gui/workers/evaluation_server.py).

One `EvaluationSession` per Evaluate click: a child process (`python -m
gui.workers.evaluation_server FD`, like the trainer: a fresh interpreter that copies none of
the window's threads and never re-runs the caller's main script) that prepares the
evaluation and then answers re-matches and PR curves on its data for as long as the view
shows it. A thread here only reads the pipe (blocked in a system call, without Python's
lock) and forwards each small message to the UI thread as a queued signal; the UI thread
never waits for the child. Every answer is a `Job`, a `Task` (gui/workers/tasks.py) with
the same signals; cancelling the evaluation, closing the project or starting another
evaluation ends the process (terminate), which stops COCOeval mid-way at once.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from core.errors import Cancelled, MaskLoopError
from core.evaluation.matching import MatchSettings
from gui.workers.evaluation_run import EvaluationRequest
from gui.workers.evaluation_server import EVALUATION_JOB
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
        mine, theirs = socket.socketpair()
        root = str(Path(__file__).resolve().parents[2])  # so `gui` imports from a checkout
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "gui.workers.evaluation_server", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            env=env,
        )
        theirs.close()  # so the reader sees EOF when the child ends
        self._conn = Connection(mine.detach())
        self._conn.send(request)
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

    def is_alive(self) -> bool:
        return self._process.poll() is None

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
        if self.is_alive():
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
            if not self._forward(message):
                return
        self._forward(None)

    def _forward(self, message: Any) -> bool:
        try:
            self._relay.message.emit(message)
        except RuntimeError:  # the application is gone (interpreter shutting down)
            return False
        return True

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
            f"The evaluation's process ended unexpectedly (exit code {self._process.returncode})."
        )

    def _on_end(self) -> None:
        self._ended = True
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
        self._conn.close()
        jobs, self._jobs = list(self._jobs.values()), {}
        for job in jobs:
            job._finish("error", self._end_error())
        _LIVE.discard(self)
