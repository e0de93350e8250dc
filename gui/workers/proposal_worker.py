"""Model proposals in a background thread, current image first, the next ones prefetched.

`ProposalWorker` lives in its own QThread. It owns the Detector (torch is imported there,
never on the UI thread) and its own ProjectStore on the project file (SQLite connections
belong to one thread). The UI and the worker share a `ProposalQueue` guarded by a lock:

* the window calls `focus(current, next_ids)` on every navigation; that *replaces* the
  pending current/prefetch jobs, so requests for images the annotator has left are dropped
  without ever reaching the model (a generation counter tells stale results apart);
* "Propose all" adds a batch that runs after the focus jobs, with progress and cancel;
* the worker takes one job per turn of its event loop, so a model swap, a shutdown or a
  new focus is seen between two images, never in the middle of one.

An image is skipped when it is reviewed or already holds proposals from the current model
(unless the user forces a re-run), so revisiting an image never repeats inference.

Box-to-mask requests (gui/workers/box_mask_job.py) run here too, since the model is here:
`segment_box` serves the newest one between two proposal jobs.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer, Signal, Slot

from gui.workers.box_mask_job import BoxMaskRequests

DEFAULT_STORE_THRESHOLD = 0.05  # proposals are stored down to this score; the UI filters above
DEFAULT_PREFETCH = 3
SHUTDOWN_WAIT_MS = 30_000


@dataclass(frozen=True)
class ProposalJob:
    image_id: int
    kind: str  # "current" | "prefetch" | "batch"
    force: bool = False  # re-run even when proposals from this model are stored
    generation: int = 0


class ProposalQueue:
    """The pending jobs, shared by the UI thread (writes) and the worker (takes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._focus: deque[ProposalJob] = deque()
        self._batch: deque[ProposalJob] = deque()
        self.generation = 0
        self.batch_total = 0
        self.batch_done = 0
        self._batch_active = False
        self.stopping = threading.Event()

    def set_focus(self, current: int | None, prefetch: list[int], *, force: bool = False) -> int:
        with self._lock:
            self.generation += 1
            jobs = []
            if current is not None:
                jobs.append(ProposalJob(current, "current", force, self.generation))
            jobs += [ProposalJob(i, "prefetch", False, self.generation) for i in prefetch]
            self._focus = deque(jobs)
            return self.generation

    def set_batch(self, image_ids: list[int]) -> None:
        with self._lock:
            self._batch = deque(ProposalJob(i, "batch") for i in image_ids)
            self.batch_total = len(image_ids)
            self.batch_done = 0
            self._batch_active = bool(image_ids)

    def cancel_batch(self) -> bool:
        """Drop the batch's remaining jobs; True when a batch was running."""
        with self._lock:
            was_active = self._batch_active
            self._batch.clear()
            self._batch_active = False
            return was_active

    def finish_batch_job(self) -> tuple[int, int, bool]:
        """Count one batch job done: (done, total, whether the batch just completed)."""
        with self._lock:
            self.batch_done += 1
            completed = self._batch_active and not self._batch
            if completed:
                self._batch_active = False
            return self.batch_done, self.batch_total, completed

    def take(self) -> ProposalJob | None:
        with self._lock:
            if self._focus:
                return self._focus.popleft()
            if self._batch:
                return self._batch.popleft()
            return None

    def still_wanted(self, job: ProposalJob) -> bool:
        """Whether a running job still serves anyone: a batch job while its batch runs; a focus
        job while its focus is the newest or the newest focus names its image again."""
        with self._lock:
            if self.stopping.is_set():
                return False
            if job.kind == "batch":
                return self._batch_active
            if job.generation == self.generation:
                return True
            return any(pending.image_id == job.image_id for pending in self._focus)

    def is_current(self, job: ProposalJob) -> bool:
        return job.kind != "batch" and job.generation == self.generation


class ProposalWorker(QObject):
    """Runs in the worker thread. Talk to it through `ProposalService`, not directly."""

    modelLoaded = Signal(str, str)  # model key, device
    modelFailed = Signal(str, str, str)  # spec, message, error class name
    inferenceStarted = Signal(int)  # image id
    proposalsReady = Signal(int, int)  # image id, number stored
    imageFailed = Signal(int, str)  # image id (-1: about no image), message
    batchProgress = Signal(int, int)  # done, total
    batchFinished = Signal(int, bool)  # done, cancelled
    idle = Signal()
    stopped = Signal()
    boxMaskReady = Signal(object)  # BoxMaskResult
    boxMaskFailed = Signal(int, str)  # request id, message

    def __init__(
        self,
        queue: ProposalQueue,
        project_path: str,
        score_threshold: float,
        box_requests: BoxMaskRequests | None = None,
        read_only: str | None = None,
    ) -> None:
        super().__init__()
        self._read_only = read_only  # the window's reason; None: the project is writable
        self._queue = queue
        self._box_requests = box_requests if box_requests is not None else BoxMaskRequests()
        self.segmenter: Any = None  # a BoxSegmenter on the current detector (made on demand)
        self._project_path = project_path
        self._score_threshold = score_threshold
        self._store: Any = None
        self._detector: Any = None
        self._running = False
        self.inference_count = 0  # read by tests and the benchmark

    @property
    def detector(self) -> Any:
        """The Detector in use (None without one). Only objects living in this worker's
        thread may use it (the Stage view's inspector does): the model is swapped here."""
        return self._detector

    # ---- slots (queued from the UI thread) --------------------------------------------
    @Slot(str)
    def load_model(self, spec: str) -> None:
        """Load a detector; failure keeps the worker usable without one."""
        from core.errors import MaskLoopError

        try:
            from core.detection.detector import Detector

            detector = Detector.load(spec)
        except MaskLoopError as exc:
            self._detector = None
            self.modelFailed.emit(spec, str(exc), type(exc).__name__)
            return
        except Exception as exc:  # a broken file must not end the thread
            self._detector = None
            self.modelFailed.emit(spec, f"Cannot load model {spec!r}: {exc}", type(exc).__name__)
            return
        self._detector = detector
        # Out of GPU memory: smaller batches, then the CPU; the window says so (image -1).
        detector.on_fallback = lambda message: self.imageFailed.emit(-1, message)
        self.segmenter = None
        self.modelLoaded.emit(str(detector.model_key), str(detector.device))
        self.wake()

    @Slot()
    def unload_model(self) -> None:
        self._detector = None
        self.segmenter = None

    @Slot()
    def segment_box(self) -> None:
        """Serve the next box-to-mask request, else compute the features asked for ahead."""
        if self._queue.stopping.is_set():
            return
        request = self._box_requests.take()
        if request is None:  # an earlier call already answered the newest box
            self._prepare_box_features()
            return
        if self._detector is None:
            self.boxMaskFailed.emit(request.request_id, "No model is loaded yet.")
            return
        from core.errors import MaskLoopError
        from gui.workers.box_mask_job import run_request

        try:
            result = run_request(self._box_segmenter(), self._open_store(), request)
        except MaskLoopError as exc:
            self.boxMaskFailed.emit(request.request_id, str(exc))
            return
        except Exception as exc:  # a failure must not end the worker thread
            self.boxMaskFailed.emit(request.request_id, f"Box-to-mask failed: {exc}")
            return
        self.boxMaskReady.emit(result)

    def _box_segmenter(self) -> Any:
        if self.segmenter is None:
            from core.detection.box_to_mask import BoxSegmenter

            self.segmenter = BoxSegmenter(self._detector)
        return self.segmenter

    def _prepare_box_features(self) -> None:
        image_id = self._box_requests.take_prepare()
        if image_id is None or self._detector is None:
            return
        from gui.workers.box_mask_job import prepare_image

        try:
            prepare_image(self._box_segmenter(), self._open_store(), image_id)
        except Exception:  # only a head start: the first box reports any real failure
            return

    @Slot()
    def wake(self) -> None:
        if not self._running and not self._queue.stopping.is_set():
            self._running = True
            QTimer.singleShot(0, self._process_next)

    @Slot()
    def shutdown(self) -> None:
        """Close the store and detector in this thread, then end the thread's event loop."""
        self._queue.stopping.set()
        self._running = False
        self._detector = None
        self.segmenter = None
        if self._store is not None:
            self._store.close()
            self._store = None
        self.stopped.emit()
        thread = QThread.currentThread()
        if thread is not None:
            thread.quit()

    # ---- the job loop ----------------------------------------------------------------
    def _process_next(self) -> None:
        if self._queue.stopping.is_set():
            self._running = False
            return
        job = self._queue.take()
        if job is None:
            self._running = False
            self.idle.emit()
            return
        try:
            self._run(job)
        finally:
            if job.kind == "batch":
                done, total, completed = self._queue.finish_batch_job()
                self.batchProgress.emit(done, total)
                if completed:
                    self.batchFinished.emit(done, False)
            QTimer.singleShot(0, self._process_next)

    def _run(self, job: ProposalJob) -> None:
        if self._detector is None:
            return
        from core.errors import MaskLoopError

        store = self._open_store()
        if store.read_only_reason is not None:
            return  # proposals live in the project, and a read-only one takes no writes
        try:
            image = store.get_image(job.image_id)
            if not job.force and (
                image.reviewed or store.proposals_model(job.image_id) == self._detector.model_key
            ):
                return  # reviewed, or proposals from this model already stored: nothing to do
            self.inference_count += 1
            self.inferenceStarted.emit(job.image_id)
            count = self._propose(store, job)
        except MaskLoopError as exc:
            self.imageFailed.emit(job.image_id, str(exc))
            return
        except Exception as exc:  # one bad image must not stop the queue
            self.imageFailed.emit(job.image_id, f"Proposals failed: {exc}")
            return
        self.proposalsReady.emit(job.image_id, count)

    def _propose(self, store: Any, job: ProposalJob) -> int:
        from core.detection.proposals import propose_images

        # A huge image is thousands of tiles (minutes on a CPU): moving on to another image,
        # cancelling Propose all or closing the project stops it between two batches of tiles,
        # storing nothing for it; it is proposed again when someone comes back to it.
        result = propose_images(
            store,
            self._detector,
            [job.image_id],
            score_threshold=self._score_threshold,
            should_stop=lambda: not self._queue.still_wanted(job),
        )
        return _stored_count(result, job.image_id, store)

    def _open_store(self) -> Any:
        if self._store is None:
            from core.store import ProjectStore

            self._store = ProjectStore.open(Path(self._project_path), read_only=self._read_only)
        return self._store


def _stored_count(result: Any, image_id: int, store: Any) -> int:
    """How many proposals the image now holds, whatever shape propose_images reports in."""
    if isinstance(result, dict) and image_id in result:
        value = result[image_id]
        return len(value) if hasattr(value, "__len__") else int(value)
    from core.records import ReviewState, Source

    return sum(
        1
        for ann in store.annotations(image_id)
        if ann.source == Source.MODEL and ann.state == ReviewState.PROPOSED
    )


class ProposalService(QObject):
    """UI-side handle: starts the worker thread, forwards requests, stops it cleanly.

    The worker's signals are exposed as `service.worker.<signal>`; connections made from
    the UI thread are queued automatically, so slots run on the UI thread.
    """

    _loadRequested = Signal(str)
    _unloadRequested = Signal()
    _wakeRequested = Signal()
    _shutdownRequested = Signal()
    _segmentRequested = Signal()

    def __init__(
        self,
        project_path: str | Path,
        *,
        score_threshold: float = DEFAULT_STORE_THRESHOLD,
        read_only: str | None = None,
        parent: QObject | None = None,
    ) -> None:
        """`read_only`: why the window opened the project read-only (another window has it);
        the worker then opens it read-only too and proposes nothing."""
        super().__init__(parent)
        self.queue = ProposalQueue()
        self.worker_thread = QThread()
        self.worker_thread.setObjectName("proposal-worker")
        self.box_requests = BoxMaskRequests()
        self.worker = ProposalWorker(
            self.queue, str(project_path), score_threshold, self.box_requests, read_only
        )
        self.worker.moveToThread(self.worker_thread)
        self._segmentRequested.connect(self.worker.segment_box)
        self._loadRequested.connect(self.worker.load_model)
        self._unloadRequested.connect(self.worker.unload_model)
        self._wakeRequested.connect(self.worker.wake)
        self._shutdownRequested.connect(self.worker.shutdown)
        self._stopped = False
        app = QCoreApplication.instance()
        if app is not None:  # quitting without closing the window must still join the thread
            app.aboutToQuit.connect(self.stop)
        self.worker_thread.start()

    def load_model(self, spec: str) -> None:
        self._loadRequested.emit(spec)

    def unload_model(self) -> None:
        self._unloadRequested.emit()

    def focus(self, current: int | None, prefetch: list[int], *, force: bool = False) -> int:
        """The annotator is on `current`; `prefetch` come next. Supersedes earlier focus."""
        generation = self.queue.set_focus(current, prefetch, force=force)
        self._wakeRequested.emit()
        return generation

    def propose_all(self, image_ids: list[int]) -> None:
        self.queue.set_batch(image_ids)
        self._wakeRequested.emit()

    def segment_box(
        self,
        image_id: int,
        box: tuple[float, float, float, float],
        category_id: int | None,
        *,
        final: bool,
    ) -> int:
        """Ask for the mask of `box` (x0, y0, x1, y1); replaces any request not yet taken.

        Returns the request id; the answer comes as worker.boxMaskReady / boxMaskFailed.
        """
        request = self.box_requests.submit(image_id, box, category_id, final=final)
        self._segmentRequested.emit()
        return request.request_id

    def prepare_box_features(self, image_id: int) -> None:
        """Have the image's features ready before the first box-to-mask box."""
        self.box_requests.ask_prepare(image_id)
        self._segmentRequested.emit()

    def cancel_batch(self) -> None:
        if self.queue.cancel_batch():
            self.worker.batchFinished.emit(self.queue.batch_done, True)

    def stop(self, wait_ms: int = SHUTDOWN_WAIT_MS) -> bool:
        """Stop after the image being processed, close the worker's store, join the thread."""
        if self._stopped:
            return True
        self._stopped = True
        self.queue.cancel_batch()
        self.queue.set_focus(None, [])
        self._shutdownRequested.emit()  # runs after the current job, then quits the loop
        finished = self.worker_thread.wait(wait_ms)
        if not finished:  # a job longer than wait_ms: stop taking new ones, then give up
            self.queue.stopping.set()
            self.worker_thread.quit()
            finished = self.worker_thread.wait(wait_ms)
        return finished
