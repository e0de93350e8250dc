"""Background work must not outlive the test that started it.

A QThread or a superqt worker still running after its test can emit into widgets that the
next test's teardown (or the interpreter's exit) has already deleted, which is the kind of
bug that shows up as a rare segmentation fault in a full run rather than as a failure of
the guilty test. `background_work_guard` (an autouse fixture in conftest.py) records every
QThread a test starts and, after the test's own fixtures have torn down, fails the test
if one of them or a thread-pool worker is still running after a grace period.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Long enough for a worker to finish the image or step it was on when asked to stop.
GRACE_MS = 10_000


@contextmanager
def background_work_guard(grace_ms: int = GRACE_MS) -> Iterator[None]:
    qtcore = sys.modules.get("PySide6.QtCore")
    if qtcore is None:  # a test session without Qt: nothing to watch
        yield
        return
    started: list[Any] = []
    original_start = qtcore.QThread.start

    def recording_start(thread: Any, *args: Any) -> None:
        started.append(thread)
        original_start(thread, *args)

    qtcore.QThread.start = recording_start
    try:
        yield
    finally:
        qtcore.QThread.start = original_start
    problems = _still_running(qtcore, started, grace_ms)
    started.clear()
    if problems:
        import pytest

        pytest.fail(
            "background work outlived its test (stop it in the test's teardown): "
            + "; ".join(problems),
            pytrace=False,
        )


def _still_running(qtcore: Any, started: list[Any], grace_ms: int) -> list[str]:
    import shiboken6

    problems = []
    pool = qtcore.QThreadPool.globalInstance()
    if not pool.waitForDone(grace_ms):
        problems.append(
            f"{pool.activeThreadCount()} thread-pool worker(s) (superqt create_worker) still "
            f"running {grace_ms / 1000:g} s after the test"
        )
    for thread in started:
        if not shiboken6.isValid(thread):
            continue  # deleted by its owner, which joined it first or Qt would have aborted
        if thread.isRunning() and not thread.wait(grace_ms):
            name = thread.objectName() or type(thread).__name__
            problems.append(
                f"QThread {name!r} still running {grace_ms / 1000:g} s after the test"
            )
    return problems
