"""Fine-tuning, the model history and the "unsure first" image order.

The dialogs see the proposal controller only as a `ModelHost`; the image list sees only a
sort key and the uncertainty of each image. The order is remembered in the project and
re-taken when proposals change (throttled, since Propose all stores one image at a time).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QObject, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget

from core.detection.uncertainty import unsure_first_ranking
from core.errors import MaskLoopError
from core.store import ProjectStore
from core.store.setting_keys import IMAGE_ORDER
from gui.categories import ProjectCategories
from gui.dialogs.finetune_dialog import FinetuneDialog
from gui.dialogs.model_history_dialog import ModelHistoryDialog
from gui.docks.image_list import ImageListDock
from gui.model_host import ModelHost

# (base model, new checkpoint, validation ground truth) -> open the Evaluate view on them
CompareModels = Callable[[str, str, str], object]

UNSURE_FIRST = "unsure_first"
ID_ORDER = "id"
RERANK_DELAY_MS = 1500  # proposals arriving one image at a time re-rank once they pause


class FinetuneController(QObject):
    """Owns the fine-tune dialog (kept while it trains in the background) and the history."""

    def __init__(
        self,
        *,
        dialog_parent: QWidget,
        host: ModelHost,
        image_list: ImageListDock,
        finetune_action: QAction,
        history_action: QAction,
        unsure_first_action: QAction,
        compare_models: CompareModels | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._dialog_parent = dialog_parent
        self._host = host
        self._image_list = image_list
        self.finetune_dialog: FinetuneDialog | None = None
        self.history_dialog: ModelHistoryDialog | None = None
        self.unsure_first_action = unsure_first_action
        self._compare_models = compare_models
        self._rank: dict[int, int] = {}
        self._rerank_timer = QTimer(self)
        self._rerank_timer.setSingleShot(True)
        self._rerank_timer.setInterval(RERANK_DELAY_MS)
        self._rerank_timer.timeout.connect(self._apply_order)
        finetune_action.triggered.connect(self.show_finetune)
        history_action.triggered.connect(self.show_history)
        unsure_first_action.toggled.connect(self.set_unsure_first)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # ---- project ---------------------------------------------------------------------------
    def open(self, store: ProjectStore, _categories: ProjectCategories) -> None:
        """Restore the project's image order (the toggle's signal re-sorts the list)."""
        unsure = store.get_setting(IMAGE_ORDER) == UNSURE_FIRST
        if self.unsure_first_action.isChecked() == unsure:
            self._apply_order()
        else:
            self.unsure_first_action.setChecked(unsure)

    def close(self) -> None:
        self._rerank_timer.stop()
        self._rank = {}
        self._image_list.set_sort_key(None)
        self._image_list.set_uncertainty(None)
        if self.history_dialog is not None:
            self.history_dialog.close()

    # ---- dialogs ---------------------------------------------------------------------------
    def show_finetune(self) -> FinetuneDialog | None:
        if self._host.store is None:
            return None
        dialog = self.finetune_dialog
        stale = dialog is not None and dialog.project_path is not None
        if (
            stale
            and dialog is not None
            and not dialog.is_running()
            and not dialog.project_is_open()
        ):
            # Another project is open now: its data and models differ.
            dialog.deleteLater()
            self.finetune_dialog = None
        if self.finetune_dialog is None:
            self.finetune_dialog = FinetuneDialog(self._host, self._dialog_parent)
            self.finetune_dialog.modelApplied.connect(self.model_changed)
            self.finetune_dialog.runRecorded.connect(self._refresh_history)
            self.finetune_dialog.compareRequested.connect(self._compare)
        self.finetune_dialog.show()
        self.finetune_dialog.raise_()
        self.finetune_dialog.activateWindow()
        return self.finetune_dialog

    def show_history(self) -> ModelHistoryDialog | None:
        if self._host.store is None:
            return None
        if self.history_dialog is None:
            self.history_dialog = ModelHistoryDialog(self._host, self._dialog_parent)
            self.history_dialog.modelApplied.connect(self.model_changed)
        else:
            self.history_dialog.reload()
        self.history_dialog.show()
        self.history_dialog.raise_()
        return self.history_dialog

    def train_first_model(self, *, architecture: str, seconds: float) -> FinetuneDialog | None:
        """Train a project's first model in the background (the demo): the fine-tune dialog
        with its live curves, and the model is put to use without a click when it is done."""
        dialog = self.show_finetune()
        if dialog is None:
            return None
        dialog.configure_run(architecture, minutes=seconds / 60.0)

        def use_it(_run: object) -> None:
            dialog.runRecorded.disconnect(use_it)
            dialog.use_trained_model()

        dialog.runRecorded.connect(use_it)
        dialog.start()
        return dialog

    def _compare(self, base_model: str, checkpoint: str, val_json: str) -> None:
        if self._compare_models is not None:
            self._compare_models(base_model, checkpoint, val_json)

    def model_changed(self, _spec: str = "") -> None:
        self._refresh_history()

    def _refresh_history(self, *_args: object) -> None:
        if self.history_dialog is not None:
            self.history_dialog.reload()

    # ---- unsure first ----------------------------------------------------------------------
    def set_unsure_first(self, enabled: bool) -> None:
        store = self._host.store
        if store is not None:
            with contextlib.suppress(MaskLoopError):  # a preference; not worth a dialog
                store.set_setting(IMAGE_ORDER, UNSURE_FIRST if enabled else ID_ORDER)
        self._apply_order()

    def proposals_changed(self, _image_id: int = 0) -> None:
        """New proposals change the ranking: re-take it once they stop arriving."""
        if self.unsure_first_action.isChecked():
            self._rerank_timer.start()

    def _apply_order(self) -> None:
        store = self._host.store
        if store is None or not self.unsure_first_action.isChecked():
            self._rank = {}
            self._image_list.set_sort_key(None)
            self._image_list.set_uncertainty(None)
            return
        order, scores = unsure_first_ranking(store)
        self._rank = {image_id: r for r, image_id in enumerate(order)}
        rank = self._rank
        self._image_list.set_sort_key(lambda image_id: rank.get(image_id, len(rank) + image_id))
        self._image_list.set_uncertainty(scores)

    def shutdown(self) -> None:
        if self.finetune_dialog is not None:
            self.finetune_dialog.shutdown()
