"""The window's side of background proposals: model choice, focus/prefetch, Propose all.

The worker (gui/workers/proposal_worker.py) imports torch and owns the detector in its own
thread; this mixin only sends it requests and reacts to its signals on the UI thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gui.dialogs.errors import is_weights_error, show_error, show_weights_unavailable
from gui.dialogs.model_dialog import ModelDialog
from gui.workers.proposal_worker import DEFAULT_STORE_THRESHOLD, ProposalService

MODEL_SETTING = "model"
THRESHOLD_SETTING = "proposal_threshold"


class ProposalsMixin:
    """Needs the MainWindow attributes (store, proposals, model_dock, work_status, ...)."""

    def connect_proposals(self: Any) -> None:
        self.model_spec: str | None = None
        self.model_ready = False
        self.model_dock.thresholdChanged.connect(self.canvas.set_score_threshold)
        self.model_dock.thresholdChanged.connect(self.instances_dock.set_score_threshold)
        self.model_dock.thresholdCommitted.connect(self._store_threshold)
        self.model_dock.proposeCurrentRequested.connect(self.propose_current)
        self.model_dock.proposeAllRequested.connect(self.propose_all)
        self.model_dock.chooseModelRequested.connect(self.choose_model)
        self.work_status.cancelRequested.connect(self.cancel_work)
        self._show_model_state(None, "")

    # ---- lifecycle ---------------------------------------------------------------------
    def start_proposals(self: Any, project_path: str | Path) -> None:
        threshold = self.proposal_score_threshold
        self.proposals = ProposalService(
            project_path,
            score_threshold=DEFAULT_STORE_THRESHOLD if threshold is None else threshold,
            parent=self,
        )
        worker = self.proposals.worker
        worker.modelLoaded.connect(self._on_model_loaded)
        worker.modelFailed.connect(self._on_model_failed)
        worker.inferenceStarted.connect(self._on_inference_started)
        worker.proposalsReady.connect(self._on_proposals_ready)
        worker.imageFailed.connect(self._on_image_failed)
        worker.batchProgress.connect(self._on_batch_progress)
        worker.batchFinished.connect(self._on_batch_finished)
        worker.idle.connect(
            lambda: self.model_dock.set_state("idle" if self.model_ready else "no model")
        )
        spec = self.store.get_setting(MODEL_SETTING)
        self.model_ready = False
        self.model_spec = spec
        if spec:
            self._show_model_state(spec, "loading…")
            self.proposals.load_model(str(spec))
        else:
            self._show_model_state(None, "")

    def stop_proposals(self: Any) -> None:
        """Cancel queued work, let the current image finish, join the thread."""
        if self.proposals is None:
            return
        service, self.proposals = self.proposals, None
        service.worker.blockSignals(True)  # late results must not touch a closing window
        service.stop()
        service.deleteLater()
        self.work_status.hide_progress()
        self.model_ready = False

    # ---- model -------------------------------------------------------------------------
    def set_model(self: Any, spec: str) -> None:
        """Swap the detector (loaded in the worker thread) and remember it in the project."""
        if self.store is None:
            return
        self.store.set_setting(MODEL_SETTING, spec)
        self.model_spec = spec
        self.model_ready = False
        self._show_model_state(spec, "loading…")
        if self.proposals is not None:
            self.proposals.load_model(spec)

    def choose_model(self: Any) -> None:
        dialog = ModelDialog(self.model_spec, self)
        if dialog.exec():
            self.set_model(dialog.spec())

    def _on_model_loaded(self: Any, model_key: str, device: str) -> None:
        self.model_ready = True
        self.model_dock.set_model_info(_display_name(self.model_spec or model_key), device)
        self.model_dock.set_model_available(True)
        self.model_dock.set_state("ready")
        self.work_status.show_message(
            f"Model {_display_name(self.model_spec or model_key)} ready on {device}."
        )
        self.request_proposals(self.current_image_id, self._prefetch_ids())
        if getattr(self, "_refresh_when_loaded", False):
            self._refresh_when_loaded = False
            self.propose_all()

    def _on_model_failed(self: Any, spec: str, message: str, kind: str) -> None:
        self.model_ready = False
        self._refresh_when_loaded = False
        self._show_model_state(None, "")
        self.work_status.show_message("No model: label by hand or choose one under Model.")
        if is_weights_error(kind):
            show_weights_unavailable(self, message)
        else:
            show_error(self, message, "Cannot load the model")

    def _show_model_state(self: Any, spec: str | None, state: str) -> None:
        if spec is None:
            self.model_dock.set_model_info("no model", "—")
            self.model_dock.set_state("no model — label by hand, or Choose…")
            self.model_dock.set_model_available(False)
        else:
            self.model_dock.set_model_info(_display_name(spec), "—")
            self.model_dock.set_state(state)
            self.model_dock.set_model_available(False)

    # ---- requests ----------------------------------------------------------------------
    def request_proposals(self: Any, image_id: int | None, prefetch: list[int]) -> None:
        """The annotator is on `image_id`; supersedes requests for images they left."""
        if self.proposals is not None and self.model_ready:
            self.proposals.focus(image_id, prefetch)

    def propose_current(self: Any) -> None:
        if self.proposals is None or self.current_image_id is None or not self.model_ready:
            return
        self.proposals.focus(self.current_image_id, self._prefetch_ids(), force=True)

    def propose_all(self: Any) -> None:
        """Every unreviewed image, in list order, with progress and Cancel."""
        if self.proposals is None or self.store is None or not self.model_ready:
            return
        reviewed = set(self._reviewed_ids())
        ids = [i for i in self.image_list.model.image_ids() if i not in reviewed]
        if not ids:
            self.work_status.show_message("Every image is reviewed: nothing to propose.")
            return
        self.proposals.propose_all(ids)
        self.work_status.show_progress("Proposing", 0, len(ids))

    def refresh_unreviewed_proposals(self: Any) -> None:
        """Re-run the (new) model on every unreviewed image (fine-tune hook).

        Called right after set_model, while the worker is still loading: the refresh is then
        remembered and runs as soon as the model is ready.
        """
        if self.model_ready:
            self.propose_all()
        else:
            self._refresh_when_loaded = True

    def cancel_work(self: Any) -> None:
        if self.proposals is not None:
            self.proposals.cancel_batch()

    def _prefetch_ids(self: Any) -> list[int]:
        from gui.window.navigation import PREFETCH_IMAGES

        current = self.current_image_id
        return [] if current is None else self.image_list.following(current, PREFETCH_IMAGES)

    def _reviewed_ids(self: Any) -> list[int]:
        from core.records import ImageStatus

        return self.store.image_ids(status=ImageStatus.REVIEWED)

    # ---- worker signals ----------------------------------------------------------------
    def _on_inference_started(self: Any, image_id: int) -> None:
        if image_id == self.current_image_id:
            self.model_dock.set_state("proposing this image…")
        else:
            self.model_dock.set_state("working ahead…")

    def _on_proposals_ready(self: Any, image_id: int, count: int) -> None:
        if self.store is None:
            return
        if len(self.store.categories()) != self.labels_dock.list.count():
            self.labels_dock.reload()  # the model may have brought new category names
            self.refresh_categories()
        self.reload_document(image_id)
        self.image_list.refresh_images([image_id])
        if image_id == self.current_image_id:
            self.work_status.show_message(f"{count} proposals for this image.")

    def _on_worker_idle(self: Any) -> None:
        if self.model_ready:
            self.model_dock.set_state("idle")

    def _on_image_failed(self: Any, image_id: int, message: str) -> None:
        self.work_status.show_message(message)

    def _on_batch_progress(self: Any, done: int, total: int) -> None:
        self.work_status.show_progress("Proposing", done, total)

    def _on_batch_finished(self: Any, done: int, cancelled: bool) -> None:
        self.work_status.hide_progress()
        self.work_status.show_message(
            f"Propose all stopped after {done} images." if cancelled else f"Proposed {done} images."
        )

    def _store_threshold(self: Any, value: float) -> None:
        if self.store is not None:
            self.store.set_setting(THRESHOLD_SETTING, value)


def _display_name(spec: str) -> str:
    return Path(spec).name if ("/" in spec or spec.endswith((".pt", ".pth"))) else spec
