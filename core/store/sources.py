"""What a user can open, turned into a project file.

* `NAME.maskloop` opens as it is.
* A folder of images gets a project *beside* it, `<parent>/<folder>.maskloop`, so the
  images folder holds nothing but images (its own `.maskloop` would otherwise be listed by
  tools that sync or count the folder). Reopening the folder reopens that project and adds
  image files that appeared since.
* A COCO JSON file is imported into `<json stem>.maskloop` next to it; the images folder is
  the JSON's folder, its `images/` subfolder, or a folder the user picks.

The long steps take `progress(done, total)` and `should_stop()` so that a caller (the app's
background task, a script) can show progress and cancel; each opens its own ProjectStore.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.coco.validate import is_text
from core.errors import Cancelled, MaskLoopError, ProjectError
from core.files.images import image_file_names
from core.files.paths import unsafe_file_name_reason
from core.store.project_store import ProjectStore

PROJECT_SUFFIX = ".maskloop"
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


def build_folder_project(
    folder: Path,
    project_path: Path,
    progress: Progress,
    should_stop: Callable[[], bool],
    on_skip: Callable[[str], None] | None = None,
) -> int:
    """Create or update the folder's project with every image file; returns images added.

    Runs in a worker thread (it opens its own store). Sizes come from file headers
    (core.files.images.read_image_size), so pixels are never decoded here. A file that is
    not an image MaskLoop can label (unreadable, over the size cap, a name that is not
    UTF-8) is left out, with one line for `on_skip`.
    """
    from core.files.images import read_image_size

    def skip(line: str) -> None:
        if on_skip is not None:
            on_skip(line)

    files = []
    for file_name in image_file_names(folder):
        if is_text(file_name):
            files.append(file_name)
        else:  # os.fsdecode's stand-ins for undecodable bytes: SQLite stores only UTF-8
            skip(f"skipped {file_name.encode('utf-8', 'replace').decode()!r}: its name is "
                 "not valid UTF-8; rename the file to add it")  # fmt: skip
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
            except MaskLoopError as exc:
                skip(f"skipped {file_name!r}: {exc}")  # the rest go in
                continue
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
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return json_path.parent  # let import_coco report the malformed file properly
    # Only plausible names decide the folder; import_coco names the others one by one.
    names = [name for name in names if isinstance(name, str) and not unsafe_file_name_reason(name)]
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

    def report(done: int, total: int, *_rest: Any) -> None:
        if should_stop():
            raise Cancelled("COCO import cancelled.")
        progress(done, total)

    with ProjectStore.create(project_path, images_dir) as store:
        return import_coco(json_path, store, on_warning=lambda _msg: None, progress=report)


def remove_project_files(project: Path) -> None:
    """Delete a project file and SQLite's side files (a half-imported project is worse than none)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = project.with_name(project.name + suffix)
        with contextlib.suppress(OSError):
            candidate.unlink(missing_ok=True)
