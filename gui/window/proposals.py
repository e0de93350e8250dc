"""The model that proposes: choosing, loading, swapping it, and asking it for proposals.

The worker (gui/workers/proposal_worker.py) imports torch and owns the detector in its own
thread; this controller only sends it requests and reacts to its signals on the UI thread.
It is the window's `ModelHost` (gui/model_host.py) for the fine-tune and history dialogs.

A model is remembered in the project only once it has loaded, so a model that cannot load
(a deleted checkpoint, missing weights) never comes back as a warning at every opening; when
one fails, the last model that worked is loaded again.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from core.errors import MaskLoopError, ModelFileMissing
from core.records import ImageStatus
from core.store import ProjectStore
from core.store.setting_keys import PROPOSAL_THRESHOLD
from gui.canvas.view import CanvasView
from gui.categories import ProjectCategories
from gui.dialogs.errors import is_weights_error, show_error, show_weights_unavailable
from gui.dialogs.model_dialog import ModelDialog
from gui.docks.image_list import ImageListDock
from gui.docks.instances import InstancesDock
from gui.docks.model_dock import ModelDock
from gui.window.navigation import NavigationController
from gui.window.status import WorkStatus
from gui.workers.proposal_worker import DEFAULT_STORE_THRESHOLD, ProposalService

DEFAULT_PROPOSAL_THRESHOLD = 0.5


class ProposalController(QObject):
    """Signals:
    modelApplied(str): a new model was chosen or swapped in (it is loading now).
    modelReady(str): the model finished loading (its spec).
    proposalsStored(int): the worker stored new proposals for this image.
    """

    modelApplied = Signal(str)
    modelReady = Signal(str)
    proposalsStored = Signal(int)

    def __init__(
        self,
        *,
        dialog_parent: QWidget,
        navigation: NavigationController,
        canvas: CanvasView,
        image_list: ImageListDock,
        instances_dock: InstancesDock,
        model_dock: ModelDock,
        work_status: WorkStatus,
        store_threshold: float | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._dialog_parent = dialog_parent
        self._navigation = navigation
        self._canvas = canvas
        self._image_list = image_list
        self._instances = instances_dock
        self._dock = model_dock
        self._status = work_status
        self._store_threshold = (
            DEFAULT_STORE_THRESHOLD if store_threshold is None else store_threshold
        )
        self._store: ProjectStore | None = None
        self._categories: ProjectCategories | None = None
        self.service: ProposalService | None = None
        self.model_spec: str | None = None  # the model loading or loaded now
        self.model_ready = False
        self._working_spec: str | None = None  # the last model that loaded in this project
        self._refresh_when_loaded = False
        self._announce_failure = True  # a dialog for a model the user chose; not at opening
        self._loading_note = ""  # why the model now loading is not the one asked for
        model_dock.thresholdChanged.connect(canvas.set_score_threshold)
        model_dock.thresholdChanged.connect(instances_dock.set_score_threshold)
        model_dock.thresholdCommitted.connect(self._store_threshold_setting)
        model_dock.proposeCurrentRequested.connect(self.propose_current)
        model_dock.proposeAllRequested.connect(self.propose_all)
        model_dock.chooseModelRequested.connect(self.choose_model)
        work_status.cancelRequested.connect(self.cancel_work)
        navigation.imageShown.connect(self._request)
        self._show_model_state(None, "")

    # ---- ModelHost -------------------------------------------------------------------------
    @property
    def store(self) -> ProjectStore | None:
        return self._store

    def active_model(self) -> str | None:
        return self.model_spec

    def apply_model(self, spec: str) -> None:
        """Swap the model and re-propose every unreviewed image once it has loaded.

        Reviewed images are never re-proposed, and a refresh replaces only pending model
        proposals, so accepted and hand-made labels are untouched.
        """
        self.set_model(spec)
        self.refresh_unreviewed_proposals()

    # ---- project ---------------------------------------------------------------------------
    def open(self, store: ProjectStore, categories: ProjectCategories) -> None:
        self._store = store
        self._categories = categories
        threshold = float(store.get_setting(PROPOSAL_THRESHOLD, DEFAULT_PROPOSAL_THRESHOLD))
        self._dock.set_threshold(threshold)
        self._canvas.set_score_threshold(self._dock.threshold())
        self._instances.set_score_threshold(self._dock.threshold())
        self.service = ProposalService(
            store.path,
            score_threshold=self._store_threshold,
            read_only=store.read_only_reason,
            parent=self,
        )
        worker = self.service.worker
        worker.modelLoaded.connect(self._on_model_loaded)
        worker.modelFailed.connect(self._on_model_failed)
        worker.inferenceStarted.connect(self._on_inference_started)
        worker.proposalsReady.connect(self._on_proposals_ready)
        worker.imageFailed.connect(self._on_image_failed)
        worker.batchProgress.connect(self._on_batch_progress)
        worker.batchFinished.connect(self._on_batch_finished)
        worker.idle.connect(self._on_idle)
        self.model_ready = False
        self._refresh_when_loaded = False
        try:
            spec = store.active_model(must_exist=True)
            note = ""
        except ModelFileMissing as exc:  # a moved project, a deleted checkpoint
            spec = store.last_working_model(exclude=store.active_model())
            note = str(exc) + (f" Using {display_name(spec)}." if spec else "")
        self._working_spec = spec
        if spec:
            self._load(spec, announce_failure=False)
            self._loading_note = note
        else:
            self.model_spec = None
            self._show_model_state(None, "")
        if note:
            self._status.show_message(note)

    def close(self) -> None:
        """Cancel queued work, let the current image finish, join the thread."""
        if self.service is not None:
            service, self.service = self.service, None
            service.worker.blockSignals(True)  # late results must not touch a closing window
            service.stop()
            service.deleteLater()
        self._status.hide_progress()
        self.model_ready = False
        self.model_spec = None
        self._store = None
        self._categories = None

    # ---- choosing a model ------------------------------------------------------------------
    def set_model(self, spec: str) -> None:
        """Load `spec` in the worker thread; it becomes the project's model once it loads."""
        if self._store is None:
            return
        self._load(spec, announce_failure=True)
        self.modelApplied.emit(spec)

    def choose_model(self) -> None:
        dialog = ModelDialog(self.model_spec, self._dialog_parent)
        if dialog.exec():
            self.set_model(dialog.spec())

    def _load(self, spec: str, *, announce_failure: bool) -> None:
        self.model_spec = spec
        self.model_ready = False
        self._announce_failure = announce_failure
        self._loading_note = ""
        self._show_model_state(spec, "loading…")
        if self.service is not None:
            self.service.load_model(spec)

    def _on_model_loaded(self, model_key: str, device: str) -> None:
        spec = self.model_spec or model_key
        self.model_ready = True
        self._working_spec = spec
        if self._store is not None:
            with contextlib.suppress(MaskLoopError):  # remembering is a convenience only
                self._store.record_model_loaded(spec)
        self._dock.set_model_info(display_name(spec), device)
        self._dock.set_model_available(True)
        self._dock.set_state("ready")
        ready = f"Model {display_name(spec)} ready on {device}."
        self._status.show_message(f"{self._loading_note} {ready}" if self._loading_note else ready)
        self._loading_note = ""
        self._request(self._navigation.current_image_id, self._navigation.prefetch_ids())
        self.modelReady.emit(spec)
        if self._refresh_when_loaded:
            self._refresh_when_loaded = False
            self.propose_all()

    def _on_model_failed(self, spec: str, message: str, kind: str) -> None:
        self.model_ready = False
        self._refresh_when_loaded = False
        announce = self._announce_failure
        fallback = self._working_spec if self._working_spec not in (None, spec) else None
        if fallback is None and self._store is not None:
            fallback = self._store.last_working_model(exclude=spec)
        if fallback is not None:
            note = (
                f"Model {display_name(spec)} could not be loaded ({first_line(message)}); "
                f"back to {display_name(fallback)}."
            )
            self._status.show_message(note)
            self._load(fallback, announce_failure=False)
            self._loading_note = note
        else:
            self._working_spec = None
            self.model_spec = None
            self._show_model_state(None, "")
            self._status.show_message(
                f"Model {display_name(spec)} could not be loaded ({first_line(message)}): "
                "label by hand or choose one under Model."
            )
        if not announce:
            return
        if is_weights_error(kind):
            show_weights_unavailable(self._dialog_parent, message)
        else:
            show_error(self._dialog_parent, message, "Cannot load the model")

    def _show_model_state(self, spec: str | None, state: str) -> None:
        if spec is None:
            self._dock.set_model_info("no model", "—")
            self._dock.set_state("no model — label by hand, or Choose…")
        else:
            self._dock.set_model_info(display_name(spec), "—")
            self._dock.set_state(state)
        self._dock.set_model_available(False)

    # ---- requests --------------------------------------------------------------------------
    def _request(self, image_id: int | None, prefetch: list[int]) -> None:
        """The annotator is on `image_id`; supersedes requests for images they left."""
        if self.service is not None and self.model_ready:
            self.service.focus(image_id, prefetch)

    def propose_current(self) -> None:
        current = self._navigation.current_image_id
        if self.service is None or current is None or not self.model_ready:
            return
        self.service.focus(current, self._navigation.prefetch_ids(), force=True)

    def propose_all(self) -> None:
        """Every unreviewed image, in list order, with progress and Cancel."""
        if self.service is None or self._store is None or not self.model_ready:
            return
        reviewed = set(self._store.image_ids(status=ImageStatus.REVIEWED))
        ids = [i for i in self._image_list.model.image_ids() if i not in reviewed]
        if not ids:
            self._status.show_message("Every image is reviewed: nothing to propose.")
            return
        self.service.propose_all(ids)
        self._status.show_progress("Proposing", 0, len(ids))

    def refresh_unreviewed_proposals(self) -> None:
        """Re-run the model on every unreviewed image, now or as soon as it has loaded."""
        if self.model_ready:
            self.propose_all()
        else:
            self._refresh_when_loaded = True

    def cancel_work(self) -> None:
        if self.service is not None:
            self.service.cancel_batch()

    # ---- worker signals --------------------------------------------------------------------
    def _on_inference_started(self, image_id: int) -> None:
        current = image_id == self._navigation.current_image_id
        self._dock.set_state("proposing this image…" if current else "working ahead…")

    def _on_idle(self) -> None:
        self._dock.set_state("idle" if self.model_ready else "no model")

    def _on_proposals_ready(self, image_id: int, count: int) -> None:
        if self._store is None or self._categories is None:
            return
        self._categories.sync()  # the model may have brought new category names
        self._navigation.reload_proposals(image_id)
        self._image_list.refresh_images([image_id])
        if image_id == self._navigation.current_image_id:
            self._status.show_message(f"{count} proposals for this image.", about_image=True)
        self.proposalsStored.emit(image_id)

    def _on_image_failed(self, image_id: int, message: str) -> None:
        self._status.show_message(
            message, about_image=image_id == self._navigation.current_image_id
        )

    def _on_batch_progress(self, done: int, total: int) -> None:
        self._status.show_progress("Proposing", done, total)

    def _on_batch_finished(self, done: int, cancelled: bool) -> None:
        self._status.hide_progress()
        self._status.show_message(
            f"Propose all stopped after {done} images." if cancelled else f"Proposed {done} images."
        )

    def _store_threshold_setting(self, value: float) -> None:
        if self._store is not None:
            with contextlib.suppress(MaskLoopError):
                self._store.set_setting(PROPOSAL_THRESHOLD, value)


def display_name(spec: str) -> str:
    return Path(spec).name if ("/" in spec or spec.endswith((".pt", ".pth"))) else spec


def first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "unknown error"
