"""Opening whatever the user picked: a project at once, a folder or COCO file in the background.

The work itself is in core.store.sources; this module shows it with a progress dialog and a
Cancel button, runs it as a background task (gui/workers/tasks.py) so the window keeps
painting, and says `ready(project_path)` when the project file can be opened.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QProgressDialog, QWidget

from core.errors import Cancelled, MaskLoopError
from core.store.sources import (
    PROJECT_SUFFIX,
    build_folder_project,
    classify,
    coco_images_dir,
    folder_project_path,
    import_coco_project,
    remove_project_files,
)
from gui.dialogs.errors import show_error
from gui.workers.tasks import Progress, ShouldStop, Task, start_task

__all__ = ["ProjectPreparer", "classify", "folder_project_path"]


class ProjectPreparer(QObject):
    """Signals: ready(object) with the project file to open; nothing when cancelled or failed
    (a failure is shown here)."""

    ready = Signal(object)
    notice = Signal(str)  # one line for the status bar: files a folder's project left out

    def __init__(self, dialog_parent: QWidget, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._dialog_parent = dialog_parent
        self.task: Task | None = None

    def busy(self) -> bool:
        return self.task is not None and not self.task.done

    def prepare(self, path: Path) -> bool:
        """Start preparing `path`; False when there is nothing to open (shown to the user)."""
        if self.busy():
            return False
        path = Path(path).expanduser().resolve()
        try:
            kind = classify(path)
        except MaskLoopError as exc:
            show_error(self._dialog_parent, exc, "Cannot open")
            return False
        if kind == "project":
            self.ready.emit(path)
            return True
        if kind == "folder":
            project = folder_project_path(path)
            skipped: list[str] = []  # appended on the worker thread, read once it is done

            def tell_left_out() -> None:
                if skipped:
                    self.notice.emit(_left_out(skipped))

            self._run(
                f"Adding the images of {path.name}…",
                lambda progress, stop: build_folder_project(
                    path, project, progress, stop, skipped.append
                ),
                project,
                remove_on_failure=False,
                on_success=tell_left_out,
            )
            return True
        return self._import_coco(path)

    def _import_coco(self, json_path: Path) -> bool:
        project = json_path.with_suffix(PROJECT_SUFFIX)
        if project.exists():  # imported before: reopen it rather than duplicating the work
            self.ready.emit(project)
            return True
        images_dir = coco_images_dir(json_path)
        if images_dir is None:
            chosen = QFileDialog.getExistingDirectory(
                self._dialog_parent,
                f"Where are the images of {json_path.name}?",
                str(json_path.parent),
            )
            if not chosen:
                return False
            images_dir = Path(chosen)
        folder = images_dir
        self._run(
            f"Importing {json_path.name}…",
            lambda progress, stop: import_coco_project(json_path, project, folder, progress, stop),
            project,
            remove_on_failure=True,
        )
        return True

    def _run(
        self,
        label: str,
        fn: Callable[[Progress, ShouldStop], object],
        project: Path,
        *,
        remove_on_failure: bool,
        on_success: Callable[[], object] | None = None,
    ) -> None:
        dialog = QProgressDialog(label, "Cancel", 0, 0, self._dialog_parent)
        dialog.setWindowTitle("MaskLoop")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(400)  # quick jobs never flash a dialog
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        task = start_task(fn, self)
        self.task = task

        def on_progress(done: int, total: int) -> None:
            dialog.setMaximum(max(total, 1))
            dialog.setValue(min(done, max(total, 1)))

        def on_failed(error: object) -> None:
            if remove_on_failure:
                remove_project_files(project)
            if isinstance(error, MaskLoopError) and not isinstance(error, Cancelled):
                show_error(self._dialog_parent, error, "Cannot open")
            elif not isinstance(error, Cancelled):
                show_error(self._dialog_parent, str(error), "Cannot open")

        def on_finished() -> None:
            dialog.close()
            dialog.deleteLater()

        task.progressed.connect(on_progress)
        dialog.canceled.connect(task.cancel)
        task.finished.connect(on_finished)
        task.failed.connect(on_failed)
        task.succeeded.connect(lambda _result: self.ready.emit(project))
        if on_success is not None:
            task.succeeded.connect(lambda _result: on_success())


def _left_out(lines: list[str]) -> str:
    """One status-bar line for the files a folder's project could not take."""
    shown = "; ".join(line.removeprefix("skipped ") for line in lines[:3])
    more = f"; and {len(lines) - 3} more" if len(lines) > 3 else ""
    return f"Left out {len(lines)} file{'s' if len(lines) > 1 else ''}: {shown}{more}."
