"""Menus, toolbar and actions: built from gui/actions.py, each wired to the part that does it."""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QUndoGroup
from PySide6.QtWidgets import QMainWindow, QMenu, QMessageBox, QToolBar

from gui.actions import ACTION_SPECS, MENU_ORDER, TOOL_NAMES, create_actions
from gui.canvas.view import CanvasView
from gui.dialogs.shortcuts_dialog import ShortcutsDialog
from gui.docks.labels import LabelsDock
from gui.window.status import WorkStatus

# Actions that make sense only with a project open.
PROJECT_ACTIONS = {
    spec.name
    for spec in ACTION_SPECS
    if spec.menu in ("Edit", "Image", "View", "Tools", "Model")
    or spec.name in ("export_coco", "close_project")
}
# A separator goes before these when they follow another item of their menu.
SEPARATED = {
    "export_coco",
    "quit",
    "accept",
    "next_instance",
    "fit",
    "brush_smaller",
    "category_1",
    "cancel_work",
    "finetune",
    "accept_review_next",
}
TOOLBAR = (
    "prev_image",
    "next_image",
    None,
    "tool_select",
    "tool_box",
    "tool_polygon",
    "tool_brush",
    "tool_eraser",
    "box_to_mask",
    None,
    "undo",
    "redo",
    None,
    "fit",
    "zoom_100",
    None,
    "accept_review_next",
    None,
    "finetune",
)
BRUSH_STEP = 1.25


class MenuController(QObject):
    """Creates every QAction once, the menus and the toolbar; connects what needs no other part.

    The other controllers are connected to `actions` by the window (gui/main_window.py), so
    this class knows only the widgets it manages.
    """

    def __init__(
        self,
        window: QMainWindow,
        *,
        canvas: CanvasView,
        labels_dock: LabelsDock,
        undo_group: QUndoGroup,
        work_status: WorkStatus,
    ) -> None:
        super().__init__(window)
        self._window = window
        self._canvas = canvas
        self._labels = labels_dock
        self._undo_group = undo_group
        self._status = work_status
        self.actions: dict[str, QAction] = create_actions(window)
        for action in self.actions.values():
            # Shortcuts work whichever dock has focus (single keys are still eaten by text fields).
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            window.addAction(action)
        self.menus: dict[str, QMenu] = {}
        for name in MENU_ORDER:
            menu = window.menuBar().addMenu(f"&{name}")
            menu.setToolTipsVisible(True)
            self.menus[name] = menu
        previous_menu = None
        for spec in ACTION_SPECS:
            menu = self.menus[spec.menu]
            if spec.name in SEPARATED and previous_menu == spec.menu:
                menu.addSeparator()
            menu.addAction(self.actions[spec.name])
            previous_menu = spec.menu
        self.toolbar = self._build_toolbar()
        self._connect()

    @property
    def model_menu(self) -> QMenu:
        return self.menus["Model"]

    def set_project_actions_enabled(self, enabled: bool) -> None:
        for name in PROJECT_ACTIONS:
            self.actions[name].setEnabled(enabled)
        if enabled:
            self.actions["undo"].setEnabled(self._undo_group.canUndo())
            self.actions["redo"].setEnabled(self._undo_group.canRedo())
        self.toolbar.setVisible(enabled)

    def _build_toolbar(self) -> QToolBar:
        toolbar = self._window.addToolBar("Tools")
        toolbar.setObjectName("toolbar_main")
        toolbar.setMovable(False)
        # Icons with the name beside them: a newcomer learns the tools, the tooltip adds the key.
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for name in TOOLBAR:
            if name is None:
                toolbar.addSeparator()
            else:
                toolbar.addAction(self.actions[name])
        return toolbar

    def _connect(self) -> None:
        a = self.actions
        a["quit"].triggered.connect(self._window.close)
        a["undo"].triggered.connect(self._undo_group.undo)
        a["redo"].triggered.connect(self._undo_group.redo)
        self._undo_group.canUndoChanged.connect(a["undo"].setEnabled)
        self._undo_group.canRedoChanged.connect(a["redo"].setEnabled)
        canvas = self._canvas
        a["accept"].triggered.connect(canvas.edits.accept_selected)
        a["reject"].triggered.connect(canvas.edits.delete_selected)
        a["accept_all"].triggered.connect(canvas.edits.accept_all_above_threshold)
        a["fill_holes"].triggered.connect(canvas.edits.fill_holes_selected)
        a["next_instance"].triggered.connect(lambda: canvas.select_next(False))
        a["prev_instance"].triggered.connect(lambda: canvas.select_next(True))
        a["fit"].triggered.connect(canvas.zoom.fit)
        a["zoom_100"].triggered.connect(canvas.zoom.zoom_100)
        a["zoom_in"].triggered.connect(lambda: canvas.zoom.zoom_by(1.25))
        a["zoom_out"].triggered.connect(lambda: canvas.zoom.zoom_by(0.8))
        for action_name, tool in TOOL_NAMES.items():
            a[action_name].triggered.connect(partial(canvas.set_tool, tool))
        a["tool_select"].setChecked(True)
        canvas.toolChanged.connect(self._on_tool_changed)
        canvas.statusMessage.connect(self._status.show_message)
        a["brush_smaller"].triggered.connect(lambda: self._scale_brush(1 / BRUSH_STEP))
        a["brush_larger"].triggered.connect(lambda: self._scale_brush(BRUSH_STEP))
        for n in range(1, 10):
            a[f"category_{n}"].triggered.connect(partial(self.pick_category_number, n))
        a["shortcuts"].triggered.connect(lambda: ShortcutsDialog(self._window).exec())
        a["about"].triggered.connect(self._show_about)

    # ---- behaviour behind actions ----------------------------------------------------------
    def pick_category_number(self, number: int) -> None:
        """Digit keys: make category `number` current; it retags only an explicit selection
        (a shape just drawn is not selected, so choosing the next category never changes it)."""
        category_id = self._labels.category_id_at(number)
        if category_id is None:
            self._status.show_message(f"There is no category {number} yet.")
            return
        self._labels.select_category(category_id, emit=False)
        self._canvas.pick_category(category_id)
        name = self._labels.category_name(category_id)
        if self._canvas.selected_ids():
            self._canvas.edits.set_category_of_selected(category_id)
            self._status.show_message(
                f"Selected shapes are now “{name}”; new shapes too. "
                "(Digits retag only what you selected.)"
            )
        else:
            self._status.show_message(
                f"New shapes are “{name}”. (Select a shape first to change its category.)"
            )

    def _scale_brush(self, factor: float) -> None:
        size = max(1, round(self._canvas.brush_size * factor))
        if size == self._canvas.brush_size:
            size += 1 if factor > 1 else -1
        self._canvas.set_brush_size(max(1, size))  # the canvas says the size (statusMessage)

    def _on_tool_changed(self, tool: str) -> None:
        for action_name, name in TOOL_NAMES.items():
            if name == tool:
                self.actions[action_name].setChecked(True)

    def _show_about(self) -> None:
        QMessageBox.about(
            self._window,
            "About MaskLoop",
            "<b>MaskLoop</b><br>Instance-mask annotation with Mask R-CNN proposals, "
            "COCO export and one-click fine-tuning.<br>MIT licence.",
        )
