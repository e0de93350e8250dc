"""Menus and actions of the main window: built from gui/actions.py, wired to behaviour here."""

from __future__ import annotations

from functools import partial
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QMessageBox

from core.errors import MaskLoopError
from gui.actions import ACTION_SPECS, MENU_ORDER, TOOL_NAMES, create_actions
from gui.dialogs.errors import show_error
from gui.dialogs.export_dialog import ExportDialog
from gui.dialogs.shortcuts_dialog import ShortcutsDialog

# Actions that make sense only with a project open.
PROJECT_ACTIONS = {
    spec.name
    for spec in ACTION_SPECS
    if spec.menu in ("Edit", "Image", "View", "Tools", "Model")
    or spec.name in ("export_coco", "close_project")
}
BRUSH_STEP = 1.25


class MenusMixin:
    """Needs the MainWindow attributes (canvas, docks, store, undo_group, ...)."""

    actions: dict[str, QAction]
    model_menu: QMenu

    def build_menus(self: Any) -> None:
        self.actions = create_actions(self)
        for action in self.actions.values():
            # Shortcuts work whichever dock has focus (single keys are still eaten by text fields).
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            self.addAction(action)
        menus: dict[str, QMenu] = {}
        for name in MENU_ORDER:
            menus[name] = self.menuBar().addMenu(f"&{name}")
        previous_menu = None
        for spec in ACTION_SPECS:
            menu = menus[spec.menu]
            if (
                spec.name
                in (
                    "export_coco",
                    "quit",
                    "accept",
                    "next_instance",
                    "fit",
                    "brush_smaller",
                    "category_1",
                    "cancel_work",
                    "accept_review_next",
                )
                and previous_menu == spec.menu
            ):
                menu.addSeparator()
            menu.addAction(self.actions[spec.name])
            previous_menu = spec.menu
        self.model_menu = menus["Model"]
        self.menus = menus
        self._connect_actions()

    def set_project_actions_enabled(self: Any, enabled: bool) -> None:
        for name in PROJECT_ACTIONS:
            self.actions[name].setEnabled(enabled)
        if enabled:
            self.actions["undo"].setEnabled(self.undo_group.canUndo())
            self.actions["redo"].setEnabled(self.undo_group.canRedo())

    def _connect_actions(self: Any) -> None:
        a = self.actions
        a["open_project"].triggered.connect(self.choose_project)
        a["open_folder"].triggered.connect(self.choose_folder)
        a["import_coco"].triggered.connect(self.choose_coco)
        a["export_coco"].triggered.connect(self.export_coco)
        a["close_project"].triggered.connect(self.close_project)
        a["quit"].triggered.connect(self.close)
        a["undo"].triggered.connect(self.undo_group.undo)
        a["redo"].triggered.connect(self.undo_group.redo)
        self.undo_group.canUndoChanged.connect(a["undo"].setEnabled)
        self.undo_group.canRedoChanged.connect(a["redo"].setEnabled)
        a["accept"].triggered.connect(self.canvas.accept_selected)
        a["reject"].triggered.connect(self.reject_or_delete_selected)
        a["accept_all"].triggered.connect(self.canvas.accept_all_above_threshold)
        a["fill_holes"].triggered.connect(self.canvas.fill_holes_selected)
        a["next_instance"].triggered.connect(lambda: self.canvas.select_next(False))
        a["prev_instance"].triggered.connect(lambda: self.canvas.select_next(True))
        a["next_image"].triggered.connect(self.next_image)
        a["prev_image"].triggered.connect(self.prev_image)
        a["accept_review_next"].triggered.connect(self.accept_review_next)
        a["toggle_reviewed"].triggered.connect(self.set_current_reviewed)
        a["fit"].triggered.connect(self.canvas.fit)
        a["zoom_100"].triggered.connect(self.canvas.zoom_100)
        a["zoom_in"].triggered.connect(lambda: self.canvas.zoom_by(1.25))
        a["zoom_out"].triggered.connect(lambda: self.canvas.zoom_by(0.8))
        for action_name, tool in TOOL_NAMES.items():
            a[action_name].triggered.connect(partial(self.canvas.set_tool, tool))
        a["tool_select"].setChecked(True)
        self.canvas.toolChanged.connect(self._on_tool_changed)
        a["brush_smaller"].triggered.connect(lambda: self._scale_brush(1 / BRUSH_STEP))
        a["brush_larger"].triggered.connect(lambda: self._scale_brush(BRUSH_STEP))
        for n in range(1, 10):
            a[f"category_{n}"].triggered.connect(partial(self.pick_category_number, n))
        a["choose_model"].triggered.connect(self.choose_model)
        a["propose_current"].triggered.connect(self.propose_current)
        a["propose_all"].triggered.connect(self.propose_all)
        a["cancel_work"].triggered.connect(self.cancel_work)
        a["shortcuts"].triggered.connect(self.show_shortcuts)
        a["about"].triggered.connect(self.show_about)

    # ---- behaviour behind actions ------------------------------------------------------
    def reject_or_delete_selected(self: Any) -> None:
        """Delete rejects proposals (kept as negatives) and deletes human annotations."""
        self.canvas.delete_selected()

    def pick_category_number(self: Any, number: int) -> None:
        """Digit keys: make category `number` current and give it to the selection."""
        category_id = self.labels_dock.category_id_at(number)
        if category_id is None:
            self.work_status.show_message(f"There is no category {number} yet.")
            return
        self.labels_dock.select_category(category_id, emit=False)
        self.canvas.set_current_category(category_id)
        if self.canvas.selected_ids():
            self.canvas.set_category_of_selected(category_id)

    def export_coco(self: Any) -> None:
        if self.store is None:
            return
        dialog = ExportDialog(self.store, self)
        if dialog.exec() and dialog.report is not None:
            self.work_status.show_message(f"Exported to {dialog.path_edit.text()}")

    def show_shortcuts(self: Any) -> None:
        ShortcutsDialog(self).exec()

    def show_about(self: Any) -> None:
        QMessageBox.about(
            self,
            "About MaskLoop",
            "<b>MaskLoop</b><br>Instance-mask annotation with Mask R-CNN proposals, "
            "COCO export and one-click fine-tuning.<br>MIT licence.",
        )

    def _scale_brush(self: Any, factor: float) -> None:
        size = max(1, round(self.canvas.brush_size * factor))
        if size == self.canvas.brush_size:
            size += 1 if factor > 1 else -1
        self.canvas.set_brush_size(max(1, size))
        self.work_status.show_message(f"Brush {self.canvas.brush_size} px")

    def _on_tool_changed(self: Any, tool: str) -> None:
        for action_name, name in TOOL_NAMES.items():
            if name == tool:
                self.actions[action_name].setChecked(True)

    def guarded(self: Any, title: str, fn: Any, *args: Any) -> Any:
        """Run fn; a MaskLoopError becomes a message box and None."""
        try:
            return fn(*args)
        except MaskLoopError as exc:
            show_error(self, exc, title)
            return None
