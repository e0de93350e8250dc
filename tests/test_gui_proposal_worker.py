"""The proposal worker thread: job order, stale requests, skips, Propose all, shutdown."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from _window_helpers import make_lite_checkpoint, make_project, wait_until  # noqa: E402

from core.store import ProjectStore  # noqa: E402
from gui.workers.proposal_worker import ProposalQueue, ProposalService  # noqa: E402


@pytest.fixture
def project_and_model(tmp_path: Path) -> tuple[Path, Path]:
    project = make_project(tmp_path, count=5)
    with ProjectStore.open(project) as store:
        checkpoint = make_lite_checkpoint(tmp_path / "lite.pt", store.categories())
    return project, checkpoint


@pytest.fixture
def service(qtbot, project_and_model):
    project, checkpoint = project_and_model
    service = ProposalService(project, score_threshold=0.01)
    with qtbot.waitSignal(service.worker.modelLoaded, timeout=60_000):
        service.load_model(str(checkpoint))
    yield service
    service.stop()


def test_new_focus_supersedes_pending_current_and_prefetch_jobs():
    queue = ProposalQueue()
    queue.set_batch([10, 11])
    queue.set_focus(3, [4, 5])
    generation = queue.set_focus(7, [8])
    jobs = []
    while (job := queue.take()) is not None:
        jobs.append((job.image_id, job.kind))
    assert jobs == [(7, "current"), (8, "prefetch"), (10, "batch"), (11, "batch")]
    assert queue.generation == generation


def test_cancel_batch_keeps_focus_jobs():
    queue = ProposalQueue()
    queue.set_batch([1, 2, 3])
    queue.set_focus(9, [])
    assert queue.cancel_batch() is True
    assert queue.take().image_id == 9
    assert queue.take() is None
    assert queue.cancel_batch() is False  # nothing running any more


def test_a_running_job_is_wanted_until_its_image_leaves_the_focus_or_its_batch_ends():
    queue = ProposalQueue()
    queue.set_focus(3, [4])
    current = queue.take()
    prefetch = queue.take()
    assert queue.still_wanted(current) and queue.still_wanted(prefetch)
    queue.set_focus(4, [5])  # the annotator moved on to the prefetched image
    assert not queue.still_wanted(current)
    assert queue.still_wanted(prefetch)  # the newest focus names its image again
    queue.set_batch([8, 9])
    batch_job = queue.take() and queue.take() and queue.take()  # 4 and 5, then the batch
    assert batch_job is not None and batch_job.kind == "batch"
    assert queue.still_wanted(batch_job)
    queue.cancel_batch()
    assert not queue.still_wanted(batch_job)
    queue.set_focus(4, [])
    fresh = queue.take()
    queue.stopping.set()  # closing the project stops everything
    assert not queue.still_wanted(fresh)


def test_moving_on_stops_a_long_tiled_image_between_batches_of_tiles(qtbot, service, monkeypatch):
    """A huge image takes minutes of tiles: leaving it stops its proposals at the next batch
    (core's `should_stop`), not only closing the project."""
    import threading

    import core.detection.proposals as proposals

    stopped = threading.Event()

    def tiles_until_told_to_stop(store, detector, image_ids, *, should_stop, **_kwargs):
        for _ in range(3000):  # at most 30 s of "batches of tiles"
            if should_stop():
                stopped.set()
                return None
            threading.Event().wait(0.01)
        return None

    monkeypatch.setattr(proposals, "propose_images", tiles_until_told_to_stop)
    with qtbot.waitSignal(service.worker.inferenceStarted, timeout=30_000) as started:
        service.focus(1, [])
    assert started.args == [1]
    assert not stopped.wait(0.3)  # still wanted: it keeps going
    with qtbot.waitSignal(service.worker.inferenceStarted, timeout=30_000) as moved:
        service.focus(2, [])
    assert moved.args == [2] and stopped.is_set()


def test_worker_stores_proposals_then_skips_images_it_already_proposed(
    qtbot, service, project_and_model
):
    project, _ = project_and_model
    with qtbot.waitSignal(service.worker.proposalsReady, timeout=30_000) as ready:
        service.focus(1, [])
    image_id, count = ready.args
    assert image_id == 1 and count > 0
    with ProjectStore.open(project) as store:
        assert store.proposals_model(1) is not None
        assert len(store.annotations(1)) == count
    before = service.worker.inference_count
    with qtbot.waitSignal(service.worker.idle, timeout=30_000):
        service.focus(1, [])  # stored proposals from this model: no inference
    assert service.worker.inference_count == before


def test_a_read_only_window_proposes_nothing_and_writes_nothing(qtbot, project_and_model):
    """A second window opens the project read-only: its worker must not store proposals
    behind the first window's back (the project file itself is writable)."""
    project, checkpoint = project_and_model
    service = ProposalService(project, score_threshold=0.01, read_only="open elsewhere")
    try:
        with qtbot.waitSignal(service.worker.modelLoaded, timeout=60_000):
            service.load_model(str(checkpoint))
        with qtbot.waitSignal(service.worker.idle, timeout=30_000):
            service.focus(1, [2])
        assert service.worker.inference_count == 0
    finally:
        service.stop()
    with ProjectStore.open(project) as store:
        assert store.proposals_model(1) is None and store.annotations(1) == []
        assert store.proposals_model(2) is None


def test_reviewed_images_are_never_proposed_automatically(qtbot, service, project_and_model):
    project, _ = project_and_model
    with ProjectStore.open(project) as store:
        store.set_reviewed(2)
    started: list[int] = []
    service.worker.inferenceStarted.connect(started.append)
    with qtbot.waitSignal(service.worker.idle, timeout=30_000):
        service.focus(2, [3])
    wait_until(qtbot, lambda: 3 in started)
    assert 2 not in started
    with ProjectStore.open(project) as store:
        assert store.annotations(2) == []


def test_propose_all_reports_progress_and_can_be_cancelled(qtbot, service):
    progress: list[tuple[int, int]] = []
    service.worker.batchProgress.connect(lambda d, t: progress.append((d, t)))
    with qtbot.waitSignal(service.worker.batchFinished, timeout=60_000) as finished:
        service.propose_all([1, 2, 3])
    assert finished.args == [3, False]
    assert progress == [(1, 3), (2, 3), (3, 3)]


def test_cancelled_propose_all_stops_early_and_keeps_what_was_done(
    qtbot, service, project_and_model
):
    project, _ = project_and_model
    with qtbot.waitSignal(service.worker.batchFinished, timeout=30_000) as cancelled:
        service.propose_all([1, 2, 3, 4, 5])  # about a second per image: cancel comes first
        service.cancel_batch()
    done, was_cancelled = cancelled.args
    assert was_cancelled is True and done < 5
    assert service.stop()  # waits for the image in flight
    with ProjectStore.open(project) as store:
        assert store.proposals_model(5) is None


def test_stop_joins_the_thread_and_closes_its_store(qtbot, service):
    service.propose_all([1, 2, 3, 4, 5])
    assert service.stop()
    assert service.worker_thread.isFinished()
    assert service.worker._store is None


def test_failed_model_load_reports_the_error_and_keeps_the_thread(
    qtbot, project_and_model, tmp_path
):
    project, _ = project_and_model
    service = ProposalService(project)
    try:
        with qtbot.waitSignal(service.worker.modelFailed, timeout=30_000) as failed:
            service.load_model(str(tmp_path / "missing.pt"))
        spec, message, kind = failed.args
        assert kind == "CheckpointError" and "missing.pt" in message
        assert service.worker_thread.isRunning()
    finally:
        service.stop()
