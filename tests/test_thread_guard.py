"""The autouse guard that fails a test whose background work outlives it (conftest.py)."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QThread
from superqt.utils import create_worker

from tests._thread_guard import background_work_guard


class _Blocked(QThread):
    def __init__(self, release: threading.Event) -> None:
        super().__init__()
        self.setObjectName("blocked-worker")
        self.release = release

    def run(self) -> None:
        self.release.wait(30)


def test_a_qthread_left_running_fails_the_test_and_names_the_thread(qapp):
    release = threading.Event()
    thread = _Blocked(release)
    try:
        expected = pytest.raises(pytest.fail.Exception, match="QThread 'blocked-worker' still")
        with expected, background_work_guard(grace_ms=50):
            thread.start()
    finally:
        release.set()
        thread.wait()


def test_a_thread_pool_worker_left_running_fails_the_test(qapp):
    release = threading.Event()
    worker = create_worker(lambda: release.wait(30), _start_thread=False)
    try:
        expected = pytest.raises(pytest.fail.Exception, match="1 thread-pool worker")
        with expected, background_work_guard(grace_ms=50):
            worker.start()
    finally:
        release.set()
        worker.await_workers(10_000)


def test_a_thread_joined_before_the_end_passes(qapp):
    release = threading.Event()
    thread = _Blocked(release)
    with background_work_guard(grace_ms=50):
        thread.start()
        release.set()
        assert thread.wait(10_000)
