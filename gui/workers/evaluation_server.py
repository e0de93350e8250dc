"""The evaluation's own process: evaluate once, then answer re-matches on that data.

`serve` is the child's whole life (gui/workers/evaluation_process.py runs `python -m
gui.workers.evaluation_server FD`, FD its end of a socket pair; the first message is the
`EvaluationRequest`): it prepares the evaluation
(`evaluation_run.prepare`), sends the compact outcome, then keeps the prepared data and
answers requests, one at a time, until told to stop or its pipe closes:

    window -> process   (job id, "match" | "curves", MatchSettings)   or None: stop
    process -> window   (job id, "progress", (done, total))
                        (job id, "ok", value)      value: EvaluationOutcome, MatchView, metrics
                        (job id, "error", exception)

COCOeval, pycocotools and the matching hold Python's lock for seconds at a time; here they
hold this process's lock, never the window's. Qt-free: it must not import PySide6.
"""

from __future__ import annotations

import pickle
import sys
from multiprocessing.connection import Connection
from typing import Any

from core.errors import MaskLoopError
from core.evaluation.matching import MatchSettings
from gui.workers.evaluation_run import EvaluationRequest, match_view, prepare

EVALUATION_JOB = 0  # the job id of the evaluation itself; requests count up from 1


def _sendable(exc: BaseException) -> BaseException:
    """The exception itself when it survives pickling, else one that says the same."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any pickling failure: send its text instead
        return MaskLoopError(f"{type(exc).__name__}: {exc}")
    return exc


def serve(conn: Connection, request: EvaluationRequest) -> None:
    """The child's main function."""

    def send(job: int, kind: str, value: Any) -> None:
        conn.send((job, kind, value))

    try:
        prepared = prepare(request, lambda d, t: send(EVALUATION_JOB, "progress", (d, t)), _never)
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the window
        send(EVALUATION_JOB, "error", _sendable(exc))
        return
    send(EVALUATION_JOB, "ok", prepared.outcome)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the window closed its end: nothing left to answer
        if message is None:
            return
        job, kind, settings = message
        assert isinstance(settings, MatchSettings)
        try:
            data = prepared.data[settings.iou_type]
            value = match_view(data, settings) if kind == "match" else data.metrics(settings)
        except Exception as exc:  # noqa: BLE001
            send(job, "error", _sendable(exc))
            continue
        send(job, "ok", value)


def _never() -> bool:
    # Cancel ends the whole process (terminate), which no step needs to poll for.
    return False


def main(argv: list[str]) -> int:
    conn = Connection(int(argv[1]))
    try:
        request = conn.recv()
    except (EOFError, OSError):
        return 1
    assert isinstance(request, EvaluationRequest)
    serve(conn, request)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
