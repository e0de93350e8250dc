"""A disk that fills up during export, import, an edit or a checkpoint write.

The file being replaced stays intact, no temporary file is left behind, and the error is
one `core.errors` message that says the disk is full. Export and checkpoints fail through
a file whose writes raise ENOSPC part-way; the project file through SQLite's own
"database or disk is full" (SQLITE_FULL), reached with `PRAGMA max_page_count`.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import write_png

from core.coco.exporter import export_coco
from core.coco.importer import import_coco
from core.errors import CheckpointError, ProjectError
from core.records import Annotation
from core.store import ProjectStore


class _FillingFile:
    """A file object whose writes fail with ENOSPC once `room` bytes are written."""

    def __init__(self, real: Any, room: int) -> None:
        self._real, self._room = real, room

    def write(self, data: Any) -> int:
        if len(data) > self._room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= len(data)
        return self._real.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def __enter__(self) -> _FillingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._real.close()


def _disk_with_room(monkeypatch: pytest.MonkeyPatch, room: int) -> None:
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda *a, **k: _FillingFile(real_fdopen(*a, **k), room))


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture
def project(tmp_path: Path) -> ProjectStore:
    images = tmp_path / "images"
    data: dict[str, Any] = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "x"}]}
    for i in range(40):
        write_png(images / f"{i:03d}.png", 8, 8)
        data["images"].append({"id": i + 1, "file_name": f"{i:03d}.png", "width": 8, "height": 8})
        for j in range(5):
            data["annotations"].append({"id": 5 * i + j + 1, "image_id": i + 1, "category_id": 1,
                                        "bbox": [j, j, 2, 2], "iscrowd": 0})  # fmt: skip
    (tmp_path / "data.json").write_text(json.dumps(data))
    store = ProjectStore.create(tmp_path / "p.maskloop", images)
    yield store
    store.close()


@pytest.mark.parametrize("room", [0, 100, 5000])
def test_export_onto_a_full_disk_keeps_the_previous_file(
    project: ProjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, room: int
) -> None:
    import_coco(tmp_path / "data.json", project)
    out = tmp_path / "out" / "labels.json"
    out.parent.mkdir()
    out.write_text('{"previous": true}')
    _disk_with_room(monkeypatch, room)
    with pytest.raises(ProjectError, match="No space left on device.*free some space"):
        export_coco(project, out)
    assert out.read_text() == '{"previous": true}'
    assert _leftovers(out.parent) == []


def test_import_onto_a_full_disk_says_so_and_a_rerun_completes_it(
    project: ProjectStore, tmp_path: Path
) -> None:
    with ProjectStore.create(tmp_path / "whole.maskloop", project.images_dir) as whole:
        import_coco(tmp_path / "data.json", whole)
        export_coco(whole, tmp_path / "expected.json")
    pages = project._conn.execute("PRAGMA page_count").fetchone()[0]
    project._conn.execute(f"PRAGMA max_page_count = {pages + 2}")
    with pytest.raises(ProjectError, match="disk holding .*p.maskloop is full.*not saved"):
        import_coco(tmp_path / "data.json", project, batch_size=10)
    assert project._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    partial = project.image_count()
    assert project.annotation_count() == 5 * partial  # whole images only

    project._conn.execute("PRAGMA max_page_count = 1073741823")  # space freed
    import_coco(tmp_path / "data.json", project)
    export_coco(project, tmp_path / "resumed.json")
    assert json.loads((tmp_path / "resumed.json").read_text()) == json.loads(
        (tmp_path / "expected.json").read_text()
    )


def test_an_edit_onto_a_full_disk_is_refused_with_a_message_and_loses_nothing(
    project: ProjectStore, tmp_path: Path
) -> None:
    import_coco(tmp_path / "data.json", project)
    before = project.annotation_count()
    pages = project._conn.execute("PRAGMA page_count").fetchone()[0]
    project._conn.execute(f"PRAGMA max_page_count = {pages}")
    big = [[float(v % 8) for v in range(20_000)]]  # needs new pages
    with pytest.raises(ProjectError, match="is full: the change was not saved"):
        project.add_annotation(Annotation(1, 1, (1, 1, 2, 2), big))
    assert project.annotation_count() == before
    project.set_reviewed(1, False)  # the store keeps working for what fits


@pytest.mark.parametrize("where", ["write", "fsync"])
def test_a_checkpoint_onto_a_full_disk_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    import torch

    from core.detection.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
    from core.records import Category

    meta = CheckpointMeta("lite", [0, 1], [Category(1, "x")], min_size=64, max_size=64)
    path = tmp_path / "model.pt"
    save_checkpoint(path, {"w": torch.ones(3)}, meta)
    if where == "write":
        _disk_with_room(monkeypatch, 1000)
    else:

        def full(_fd: int) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(CheckpointError, match="No space left.*previous checkpoint is unchanged"):
        save_checkpoint(path, {"w": torch.zeros(50_000)}, meta)
    monkeypatch.undo()
    state, _ = load_checkpoint(path)
    assert state["w"].tolist() == [1.0, 1.0, 1.0]
    assert _leftovers(tmp_path) == []
