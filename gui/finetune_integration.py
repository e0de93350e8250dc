"""Adds fine-tuning, the model history and the "unsure first" image order to the main window.

`install_finetune(window)` is the one call the window makes. It needs from the window only
what GUI_CONTRACT.md promises: `model_menu` (QMenu), `store`, `set_model(spec)`,
`refresh_unreviewed_proposals()`, and for the sort an `image_list` offering
`set_sort_key(fn | None)` (fn maps an image id to a sort key).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMessageBox

from core.detection.uncertainty import unsure_first_order
from gui.dialogs.finetune_dialog import FinetuneDialog
from gui.dialogs.model_history_dialog import ModelHistoryDialog


class FinetuneIntegration(QObject):
    """Owns the fine-tune dialog (one per window, kept while it trains in the background)."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.finetune_dialog: FinetuneDialog | None = None
        self.history_dialog: ModelHistoryDialog | None = None
        menu = window.model_menu
        menu.addSeparator()
        self.finetune_action = QAction("Fine-tune…", window)
        self.finetune_action.setStatusTip("Train the model on your reviewed labels")
        self.finetune_action.triggered.connect(self.show_finetune)
        self.history_action = QAction("Model history…", window)
        self.history_action.setStatusTip("Earlier fine-tuned models; switch back to one")
        self.history_action.triggered.connect(self.show_history)
        self.unsure_first_action = QAction("Unsure images first", window)
        self.unsure_first_action.setCheckable(True)
        self.unsure_first_action.setStatusTip(
            "Sort unreviewed images by how unsure the model is, most informative first"
        )
        self.unsure_first_action.toggled.connect(self.set_unsure_first)
        self.unsure_first_action.setEnabled(_sort_hook(window) is not None)
        for action in (self.finetune_action, self.history_action, self.unsure_first_action):
            menu.addAction(action)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    @Slot()
    def show_finetune(self) -> FinetuneDialog | None:
        if not self._project_open():
            return None
        dialog = self.finetune_dialog
        if (
            dialog is not None
            and not dialog.is_running()
            and dialog.project_path
            not in (
                None,
                Path(self.window.store.path),
            )
        ):
            # Another project is open now: its settings (current model) differ.
            dialog.deleteLater()
            self.finetune_dialog = None
        if self.finetune_dialog is None:
            self.finetune_dialog = FinetuneDialog(self.window, self.window)
            self.finetune_dialog.modelApplied.connect(self._after_model_change)
            self.finetune_dialog.runRecorded.connect(self._refresh_history)
        self.finetune_dialog.show()
        self.finetune_dialog.raise_()
        self.finetune_dialog.activateWindow()
        return self.finetune_dialog

    @Slot()
    def show_history(self) -> ModelHistoryDialog | None:
        if not self._project_open():
            return None
        if self.history_dialog is None:
            self.history_dialog = ModelHistoryDialog(self.window, self.window)
            self.history_dialog.modelApplied.connect(self._after_model_change)
        else:
            self.history_dialog.reload()
        self.history_dialog.show()
        self.history_dialog.raise_()
        return self.history_dialog

    def _project_open(self) -> bool:
        if getattr(self.window, "store", None) is not None:
            return True
        QMessageBox.information(self.window, "No project", "Open a project first.")
        return False

    @Slot(bool)
    def set_unsure_first(self, enabled: bool) -> None:
        """Order the image list by the current model's uncertainty (a snapshot, re-taken on
        each toggle and after a model switch)."""
        hook = _sort_hook(self.window)
        if hook is None:
            return
        if not enabled or getattr(self.window, "store", None) is None:
            hook(None)
            return
        hook(_UnsureFirstKey(self.window))

    def _after_model_change(self, _spec: str) -> None:
        if self.unsure_first_action.isChecked():
            self.set_unsure_first(True)
        self._refresh_history()

    def _refresh_history(self, *_args: Any) -> None:
        if self.history_dialog is not None:
            self.history_dialog.reload()

    @Slot()
    def shutdown(self) -> None:
        if self.finetune_dialog is not None:
            self.finetune_dialog.shutdown()


class _UnsureFirstKey:
    """Sort key for the image list: rank in unsure_first_order, taken once per project.

    The ranking is a snapshot; it is re-taken when the option is toggled, after a model
    switch, and when the window's project changes (the list re-sorts on reload).
    """

    def __init__(self, window: Any) -> None:
        self._window = window
        self._project: Path | None = None
        self._rank: dict[int, int] = {}

    def __call__(self, image_id: int) -> int:
        store = getattr(self._window, "store", None)
        if store is None:
            return image_id
        if self._project != Path(store.path):
            self._rank = {i: r for r, i in enumerate(unsure_first_order(store))}
            self._project = Path(store.path)
        return self._rank.get(image_id, len(self._rank) + image_id)


def _sort_hook(window: Any):
    image_list = getattr(window, "image_list", None)
    return getattr(image_list, "set_sort_key", None)


def install_finetune(window: Any) -> FinetuneIntegration:
    """Add Model > Fine-tune…, Model > Model history… and Model > Unsure images first."""
    integration = FinetuneIntegration(window)
    window.finetune = integration  # keeps it reachable (and alive) from the window
    return integration
