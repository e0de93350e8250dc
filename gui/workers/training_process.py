"""Runs `maskloop train --progress jsonl` in its own process and turns its output into signals.

Training lives in a separate process (QProcess) so that a crash, a CUDA out-of-memory or a
hung data loader can never take the annotation session down with it, and so the GUI thread
never imports torch. The trainer prints one JSON event per line on stdout (the protocol in
ARCHITECTURE.md: start, step, eval, checkpoint, done, error); stderr is kept, bounded, for
the error message shown when the process dies without saying why.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

import core

# Keep only the end of stderr: a traceback's last lines say what went wrong, and a trainer
# that logs warnings for an hour must not grow the GUI's memory without bound.
STDERR_KEEP_CHARS = 20_000
# How long a cancelled trainer may take to save and exit before it is killed.
CANCEL_GRACE_MS = 15_000


@dataclass(frozen=True)
class TrainerCommand:
    """A program and its arguments, as QProcess.start takes them."""

    program: str
    arguments: list[str]
    working_dir: str | None = None


def maskloop_command(subcommand_args: Sequence[str]) -> TrainerCommand:
    """The command line that runs `maskloop <args>` with this interpreter: `python -m core.cli`.

    It starts in the folder that holds the `core` package this app runs, because `-m` puts
    the working folder first on sys.path: a checkout that is not installed works too, and the
    trainer always runs the same code as the app.
    """
    package_root = Path(core.__file__).resolve().parent.parent
    return TrainerCommand(
        sys.executable, ["-m", "core.cli", *subcommand_args], working_dir=str(package_root)
    )


@dataclass(frozen=True)
class TrainingOutcome:
    """How a training process ended, as the dialog reports it."""

    status: str  # "finished" | "cancelled" | "failed"
    checkpoint: str | None  # last good checkpoint the trainer reported (kept on cancel)
    best_segm_ap: float | None
    ap_before: float | None
    message: str  # for "failed": what went wrong, for the user
    exit_code: int | None


class TrainingProcess(QObject):
    """One `maskloop train` run. Not reusable: make a new one per run.

    Signals:
        trainerEvent(dict): every well-formed JSON event line, in order.
        outputLine(str): stdout lines that are not JSON events (kept for diagnostics).
        finished(TrainingOutcome): exactly once, after the process has exited.
    """

    trainerEvent = Signal(dict)
    outputLine = Signal(str)
    finished = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._process = QProcess(self)
        self._process.readyReadStandardOutput.connect(self._read_stdout)
        self._process.readyReadStandardError.connect(self._read_stderr)
        self._process.finished.connect(self._on_finished)
        self._process.errorOccurred.connect(self._on_error)
        self._stdout_buffer = b""
        self._stderr = ""
        self._cancel_requested = False
        self._reported = False
        self._done_event: dict[str, Any] | None = None
        self._error_message: str | None = None
        self._last_checkpoint: str | None = None
        self._last_checkpoint_ap: float | None = None
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._process.kill)

    # -- control ----------------------------------------------------------------------------
    def start(self, command: TrainerCommand) -> None:
        """Start the trainer; output arrives through the signals."""
        env = QProcessEnvironment.systemEnvironment()
        # Events must reach the GUI as they happen, not when a pipe buffer fills.
        env.insert("PYTHONUNBUFFERED", "1")
        self._process.setProcessEnvironment(env)
        if command.working_dir:
            self._process.setWorkingDirectory(command.working_dir)
        self._process.start(command.program, list(command.arguments))

    def cancel(self) -> None:
        """Ask the trainer to stop; it saves what it has and exits (SIGTERM is its cancel).

        A trainer that does not exit within CANCEL_GRACE_MS is killed; the last checkpoint it
        reported is still on disk either way, because checkpoints are written atomically.
        """
        if not self.is_running():
            return
        self._cancel_requested = True
        self._process.terminate()
        self._kill_timer.start(CANCEL_GRACE_MS)

    def kill(self) -> None:
        """Stop at once (used when the window closes)."""
        if self.is_running():
            self._cancel_requested = True
            self._process.kill()

    def is_running(self) -> bool:
        return self._process.state() != QProcess.ProcessState.NotRunning

    def wait_for_finished(self, msecs: int = 30_000) -> bool:
        return self._process.waitForFinished(msecs)

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested

    @property
    def last_checkpoint(self) -> str | None:
        return self._last_checkpoint

    @property
    def stderr_text(self) -> str:
        return self._stderr

    # -- reading ----------------------------------------------------------------------------
    def _read_stdout(self) -> None:
        self._stdout_buffer += bytes(self._process.readAllStandardOutput().data())
        *lines, self._stdout_buffer = self._stdout_buffer.split(b"\n")
        for raw in lines:
            self._handle_line(raw.decode("utf-8", errors="replace").strip())

    def _read_stderr(self) -> None:
        text = bytes(self._process.readAllStandardError().data()).decode("utf-8", errors="replace")
        self._stderr = (self._stderr + text)[-STDERR_KEEP_CHARS:]

    def _handle_line(self, line: str) -> None:
        if not line:
            return
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            event = None
        if not isinstance(event, dict) or "event" not in event:
            self.outputLine.emit(line)
            return
        kind = event["event"]
        if kind == "checkpoint" and event.get("path"):
            self._last_checkpoint = str(event["path"])
            self._last_checkpoint_ap = _float_or_none(event.get("segm_ap"))
        elif kind == "done":
            self._done_event = event
            if event.get("checkpoint"):
                self._last_checkpoint = str(event["checkpoint"])
        elif kind == "error":
            self._error_message = str(event.get("message") or "training failed")
        self.trainerEvent.emit(event)

    # -- ending -----------------------------------------------------------------------------
    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._error_message = (
                f"The trainer could not be started ({self._process.program()}): "
                f"{self._process.errorString()}"
            )
            self._report(exit_code=None)

    def _on_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        self._kill_timer.stop()
        self._read_stdout()
        if self._stdout_buffer.strip():  # a last line without a newline
            self._handle_line(self._stdout_buffer.decode("utf-8", errors="replace").strip())
            self._stdout_buffer = b""
        self._read_stderr()
        crashed = exit_status == QProcess.ExitStatus.CrashExit
        self._report(exit_code=None if crashed else exit_code)

    def _report(self, exit_code: int | None) -> None:
        if self._reported:
            return
        self._reported = True
        self.finished.emit(self._outcome(exit_code))

    def _outcome(self, exit_code: int | None) -> TrainingOutcome:
        done = self._done_event or {}
        checkpoint = self._existing(done.get("checkpoint")) or self._existing(self._last_checkpoint)
        best_ap = _float_or_none(done.get("best_segm_ap"))
        if best_ap is None and checkpoint is not None and checkpoint == self._last_checkpoint:
            best_ap = self._last_checkpoint_ap  # killed before "done": the checkpoint's own AP
        ap_before = _float_or_none(done.get("ap_before"))

        def outcome(status: str, message: str) -> TrainingOutcome:
            return TrainingOutcome(status, checkpoint, best_ap, ap_before, message, exit_code)

        if self._error_message is not None and not self._cancel_requested:
            return outcome("failed", self._failure_text())
        if self._cancel_requested or done.get("cancelled"):
            return outcome("cancelled", "Training was cancelled.")
        if self._done_event is not None:
            return outcome("finished", "Training finished.")
        return outcome("failed", self._failure_text())

    def _failure_text(self) -> str:
        if self._error_message:
            base = self._error_message
        else:
            base = "The trainer stopped without finishing"
            if self._process.exitStatus() == QProcess.ExitStatus.CrashExit:
                base += " (it crashed)"
        tail = _last_lines(self._stderr, 6)
        return f"{base}\n\n{tail}" if tail and tail not in base else base

    @staticmethod
    def _existing(path: Any) -> str | None:
        return str(path) if path and os.path.exists(str(path)) else None


def _float_or_none(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _last_lines(text: str, count: int) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[-count:])
