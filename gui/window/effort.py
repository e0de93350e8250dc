"""Active time on the open image, for the Loop report, and Model > Loop report….

The clock (core.store.effort.ActiveClock) starts when an image opens; every key press,
mouse press or release and wheel turn in the window counts as an action on that image, and
so does every edit (an undo stack change, whichever way it was made). The time is written to
the project when the annotator leaves the image, marks it reviewed (or not), or closes the
project: one small write per image rather than one per keystroke.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QEvent, QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget

from core.errors import MaskLoopError
from core.store import ProjectStore
from core.store.effort import ActiveClock
from gui.categories import ProjectCategories
from gui.document import ImageDocument
from gui.window.navigation import NavigationController

if TYPE_CHECKING:
    from gui.dialogs.loop_report_dialog import LoopReportDialog

# A key bound to a menu shortcut never arrives as a KeyPress; its ShortcutOverride does.
_ACTION_EVENTS = {
    QEvent.Type.ShortcutOverride,
    QEvent.Type.KeyPress,
    QEvent.Type.MouseButtonPress,
    QEvent.Type.MouseButtonRelease,
    QEvent.Type.MouseButtonDblClick,
    QEvent.Type.Wheel,
}


class EffortController(QObject):
    """Feeds the project's effort record from the window; opens the Loop report."""

    def __init__(
        self,
        *,
        window: QWidget,
        navigation: NavigationController,
        report_action: QAction,
        clock: Callable[[], float] = time.monotonic,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._window = window
        self.active = ActiveClock(clock)
        self._store: ProjectStore | None = None
        self._image_id: int | None = None
        self._document: ImageDocument | None = None
        self.dialog: LoopReportDialog | None = None
        navigation.documentChanged.connect(self._on_document_changed)
        navigation.currentReviewedChanged.connect(lambda _reviewed: self.flush())
        report_action.triggered.connect(self.show_report)
        app = QCoreApplication.instance()
        if app is not None:
            app.installEventFilter(self)

    def set_clock(self, clock: Callable[[], float]) -> None:
        """Tests drive time by hand."""
        self.active.clock = clock

    # ---- project ---------------------------------------------------------------------------
    def open(self, store: ProjectStore, categories: ProjectCategories) -> None:
        self._store = store

    def close(self) -> None:
        self._leave_image()
        if self.dialog is not None:
            self.dialog.close_when_idle()
            self.dialog = None
        self._store = None

    # ---- time ------------------------------------------------------------------------------
    def flush(self) -> None:
        """Write the open image's active time counted so far."""
        store, image_id = self._store, self._image_id
        if store is None or image_id is None:
            return
        self.active.action()
        seconds, actions = self.active.take()
        # Telemetry must never stand in the annotator's way: a failed write loses seconds only.
        with contextlib.suppress(MaskLoopError):
            store.add_active_time(image_id, store.image_proposals_model(image_id), seconds, actions)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            self._image_id is not None
            and event.type() in _ACTION_EVENTS
            and isinstance(watched, QWidget)
            and watched.window() is self._window
        ):
            self.active.action()
        return False

    def _on_document_changed(self, document: ImageDocument | None) -> None:
        self._leave_image()
        if document is None or self._store is None:
            return
        self._image_id = document.image_id
        self._document = document
        document.undo_stack.indexChanged.connect(self._on_edit)
        self.active.start()

    def _on_edit(self, _index: int) -> None:
        self.active.action()

    def _leave_image(self) -> None:
        if self._image_id is None:
            return
        self.flush()
        self.active.stop()
        self.active.take()  # stop() adds no time after flush's action; nothing is pending
        if self._document is not None:
            with contextlib.suppress(RuntimeError, TypeError):  # a deleted document
                self._document.undo_stack.indexChanged.disconnect(self._on_edit)
        self._image_id = None
        self._document = None

    # ---- the report ------------------------------------------------------------------------
    def show_report(self) -> None:
        """Open (or re-open) the Loop report, with the open image's time counted so far."""
        from gui.dialogs.loop_report_dialog import LoopReportDialog

        if self._store is None:
            return
        self.flush()
        if self.dialog is None:
            self.dialog = LoopReportDialog(self._store.path, self._window)
        else:
            self.dialog.reload()
        self.dialog.show()
        self.dialog.raise_()
