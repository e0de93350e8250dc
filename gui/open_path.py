"""Turn whatever the user opens (project, image folder, COCO file) into a project file.

* `NAME.maskloop` opens as it is.
* A folder of images gets a project *beside* it, `<parent>/<folder>.maskloop`, so the
  images folder holds nothing but images (its own `.maskloop` would otherwise be listed by
  tools that sync or count the folder). Reopening the folder reopens that project and adds
  image files that appeared since.
* A COCO JSON file is imported into `<json stem>.maskloop` next to it; the images folder is
  the JSON's folder, its `images/` subfolder, or a folder the user picks.

Long work (reading image sizes, importing) runs in a background thread with a progress
dialog and a Cancel button; each thread opens its own ProjectStore.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEventLoop, Qt, QThread, Signal
from PySide6.QtWidgets import QFileDialog, QProgressDialog, QWidget

from core.errors import Cancelled, MaskLoopError, ProjectError
from gui.dialogs.errors import show_error

PROJECT_SUFFIX = ".maskloop"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
INSERT_BATCH = 500
Progress = Callable[[int, int], None]


def classify(path: Path) -> str:
    """ "project", "folder" or "coco"; ProjectError for anything else."""
    if path.is_dir():
        return "folder"
    if path.suffix == PROJECT_SUFFIX:
        if not path.is_file():
            raise ProjectError(f"Project file not found: {path}")
        return "project"
    if path.suffix.lower() == ".json":
        if not path.is_file():
            raise ProjectError(f"COCO file not found: {path}")
        return "coco"
    if not path.exists():
        raise ProjectError(f"Nothing to open at {path}")
    raise ProjectError(
        f"Cannot open {path.name}: choose a .maskloop project, a folder of images or a COCO .json file."
    )


def folder_project_path(folder: Path) -> Path:
    folder = folder.resolve()
    return folder.parent / f"{folder.name}{PROJECT_SUFFIX}"


def list_image_files(folder: Path) -> list[str]:
    """Image files under `folder` (recursively), relative and "/" separated, sorted."""
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.name.startswith(".")
    )


def build_folder_project(
    folder: Path, project_path: Path, progress: Progress, should_stop: Callable[[], bool]
) -> int:
    """Create or update the folder's project with every image file; returns images added.

    Runs in a worker thread (it opens its own store). Sizes come from file headers
    (core.files.images.read_image_size), so pixels are never decoded here.
    """
    from core.files.images import read_image_size
    from core.store import ProjectStore

    files = list_image_files(folder)
    added = 0
    with ProjectStore.open_or_create(project_path, folder) as store:
        known = {record.file_name for record in store.list_images()}
        new = [f for f in files if f not in known]
        rows: list[tuple[str, int, int]] = []
        for n, file_name in enumerate(new, start=1):
            if should_stop():
                raise Cancelled(f"Stopped after adding {added} of {len(new)} images.")
            try:
                width, height = read_image_size(folder / file_name)
            except MaskLoopError:
                continue  # unreadable file: not an image we can label; the rest go in
            rows.append((file_name, int(width), int(height)))
            if len(rows) >= INSERT_BATCH or n == len(new):
                added += store.add_images(rows, size_checked=True)
                rows = []
                progress(n, len(new))
        added += store.add_images(rows, size_checked=True)
    return added


def coco_images_dir(json_path: Path) -> Path | None:
    """The folder holding the COCO file's images, when it is the JSON's folder or images/."""
    try:
        with open(json_path, encoding="utf-8") as f:
            data = json.load(f)
        names = [img["file_name"] for img in data.get("images", [])[:5]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return json_path.parent  # let import_coco report the malformed file properly
    for candidate in (json_path.parent, json_path.parent / "images"):
        if not names or all((candidate / name).is_file() for name in names):
            return candidate
    return None


def import_coco_project(
    json_path: Path,
    project_path: Path,
    images_dir: Path,
    progress: Progress,
    should_stop: Callable[[], bool],
) -> Any:
    from core.coco.importer import import_coco
    from core.store import ProjectStore

    def report(done: int, total: int, *_rest: Any) -> None:
        if should_stop():
            raise Cancelled("COCO import cancelled.")
        progress(done, total)

    with ProjectStore.create(project_path, images_dir) as store:
        return import_coco(json_path, store, on_warning=lambda _msg: None, progress=report)


class _TaskThread(QThread):
    progressed = Signal(int, int)

    def __init__(self, fn: Callable[[Progress, Callable[[], bool]], Any]) -> None:
        super().__init__()
        self._fn = fn
        self.cancel_flag = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self._fn(self.progressed.emit, self.cancel_flag.is_set)
        except BaseException as exc:  # handed to the UI thread, which shows it
            self.error = exc


def run_with_progress(
    parent: QWidget | None, label: str, fn: Callable[[Progress, Callable[[], bool]], Any]
) -> Any:
    """Run `fn(progress, should_stop)` in a thread behind a modal progress dialog.

    Returns fn's result; re-raises its exception (Cancelled when the user pressed Cancel).
    """
    thread = _TaskThread(fn)
    dialog = QProgressDialog(label, "Cancel", 0, 0, parent)
    dialog.setWindowTitle("MaskLoop")
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(400)  # quick jobs never flash a dialog
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)

    def on_progress(done: int, total: int) -> None:
        dialog.setMaximum(max(total, 1))
        dialog.setValue(min(done, max(total, 1)))

    thread.progressed.connect(on_progress)
    dialog.canceled.connect(thread.cancel_flag.set)
    loop = QEventLoop()
    thread.finished.connect(loop.quit)
    thread.start()
    if not thread.isFinished():
        loop.exec()
    thread.wait()
    dialog.close()
    dialog.deleteLater()
    if thread.error is not None:
        raise thread.error
    return thread.result


def prepare_project(parent: QWidget | None, path: Path) -> Path | None:
    """The project file to open for `path`, creating or importing it first when needed.

    Shows errors itself; None when the user cancelled or something failed.
    """
    path = Path(path).expanduser().resolve()
    try:
        kind = classify(path)
        if kind == "project":
            return path
        if kind == "folder":
            project = folder_project_path(path)
            run_with_progress(
                parent,
                f"Adding the images of {path.name}…",
                lambda progress, stop: build_folder_project(path, project, progress, stop),
            )
            return project
        return _import_coco_flow(parent, path)
    except Cancelled:
        return None
    except MaskLoopError as exc:
        show_error(parent, exc, "Cannot open")
        return None


def _import_coco_flow(parent: QWidget | None, json_path: Path) -> Path | None:
    project = json_path.with_suffix(PROJECT_SUFFIX)
    if project.exists():
        return project  # imported before: reopen it rather than duplicating the work
    images_dir = coco_images_dir(json_path)
    if images_dir is None:
        chosen = QFileDialog.getExistingDirectory(
            parent, f"Where are the images of {json_path.name}?", str(json_path.parent)
        )
        if not chosen:
            return None
        images_dir = Path(chosen)
    try:
        run_with_progress(
            parent,
            f"Importing {json_path.name}…",
            lambda progress, stop: import_coco_project(
                json_path, project, images_dir, progress, stop
            ),
        )
    except (Cancelled, MaskLoopError):
        _remove_project_files(project)  # a half-imported project is worse than none
        raise
    return project


def _remove_project_files(project: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = project.with_name(project.name + suffix)
        with contextlib.suppress(OSError):
            candidate.unlink(missing_ok=True)
