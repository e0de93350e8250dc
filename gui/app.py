"""`run_app(path)`: the QApplication, the main window, and the event loop."""

from __future__ import annotations

import os
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from gui.icons import app_icon
from gui.settings import APPLICATION, ORGANIZATION
from gui.system_libraries import xcb_hint

# The base name of the .desktop file a Linux package would install; Wayland compositors
# and task bars match the running window to that file (and its icon) by this name.
DESKTOP_FILE_NAME = "maskloop"


def ensure_application() -> QApplication:
    existing = QApplication.instance()
    # Tests and embedding code may have made the application already; it is a QApplication
    # whenever widgets exist at all.
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("MaskLoop")
    app.setDesktopFileName(DESKTOP_FILE_NAME)
    # Every top-level window (main window, dialogs) inherits this icon.
    app.setWindowIcon(app_icon())
    return app


def run_app(path: str | None, *, first_model_seconds: float | None = None) -> int:
    """Open the window (on `path` when given: project, image folder or COCO file) and run.

    `first_model_seconds` (the demo): once the project is open, train its first `lite` model
    for that long in the background, with the fine-tune dialog's live view; proposals appear
    when it is done.

    Returns 1 without starting Qt when the X11 libraries Qt needs are missing: Qt itself
    would abort with a message that does not say which packages to install."""
    if QApplication.instance() is None:
        hint = xcb_hint(os.environ, sys.platform)
        if hint is not None:
            print(hint, file=sys.stderr)
            return 1
    app = ensure_application()
    from gui.main_window import MainWindow

    window = MainWindow()
    window.show()
    if path:
        # Once the event loop runs, so progress dialogs for a folder or COCO import can show.
        QTimer.singleShot(0, lambda: window.open_path(path))
    if path and first_model_seconds:

        def train_first_model() -> None:
            window.project.opened.disconnect(train_first_model)
            window.finetune.train_first_model(architecture="lite", seconds=first_model_seconds)

        window.project.opened.connect(train_first_model)
    return app.exec()
