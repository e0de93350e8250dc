"""Killing a writer at any instant loses at most the change in flight; imports resume."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import write_png

from core.coco.exporter import export_coco
from core.coco.importer import import_coco
from core.store import ProjectStore

REPO = Path(__file__).resolve().parents[1]

# Each line printed is a change that has been committed: it must survive the kill.
WRITER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[2])
    from core.records import Annotation
    from core.store import ProjectStore
    store = ProjectStore.open(sys.argv[1])
    image = store.list_images(limit=1)[0]
    cat = store.categories()[0]
    seg = [[1, 1, 6, 1, 6, 6, 1, 6]]
    while True:
        ann = store.add_annotation(Annotation(image.id, cat.id, (1, 1, 5, 5), seg))
        store.set_setting("last", ann.id)
        print(ann.id, flush=True)
    """
)

IMPORTER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[3])
    from core.coco.importer import import_coco
    from core.store import ProjectStore
    store = ProjectStore.open(sys.argv[1])
    import_coco(sys.argv[2], store, batch_size=20,
                progress=lambda done, total: print(done, total, flush=True))
    print("finished", flush=True)
    """
)


def _integrity_ok(path: Path) -> None:
    with ProjectStore.open(path) as store:
        assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.parametrize("kill_after", [1, 25, 120])
def test_sigkill_during_single_annotation_writes_keeps_every_committed_change(
    tmp_path: Path, kill_after: int
) -> None:
    project = tmp_path / "p.maskloop"
    with ProjectStore.create(project, tmp_path) as store:
        store.add_image("a.png", 10, 10)
        store.add_category("x")
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(project), str(REPO)], stdout=subprocess.PIPE, text=True
    )
    committed = [int(proc.stdout.readline()) for _ in range(kill_after)]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    _integrity_ok(project)
    with ProjectStore.open(project) as store:
        stored = {a.id for a in store.annotations(1)}
        assert set(committed) <= stored  # at most the change in flight is missing
        assert len(stored) <= len(committed) + 2  # nothing invented beyond what was in flight
        assert store.get_setting("last") in stored


def _big_coco(tmp_path: Path, n_images: int = 200) -> Path:
    images_dir = tmp_path / "images"
    data = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "x"}]}
    for i in range(n_images):
        write_png(images_dir / f"{i:04d}.png", 8, 8)
        data["images"].append({"id": i + 1, "file_name": f"{i:04d}.png", "width": 8, "height": 8})
        for j in range(3):
            data["annotations"].append({"id": 3 * i + j + 1, "image_id": i + 1, "category_id": 1,
                                        "bbox": [j, j, 2, 2], "iscrowd": 0})  # fmt: skip
    path = tmp_path / "big.json"
    path.write_text(json.dumps(data))
    return path


def test_sigkill_mid_import_then_reimport_gives_the_complete_result(tmp_path: Path) -> None:
    coco = _big_coco(tmp_path)
    with ProjectStore.create(tmp_path / "whole.maskloop", tmp_path / "images") as whole:
        import_coco(coco, whole)
        export_coco(whole, tmp_path / "expected.json")
    project = tmp_path / "p.maskloop"
    ProjectStore.create(project, tmp_path / "images").close()
    script = tmp_path / "importer.py"
    script.write_text(IMPORTER)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(project), str(coco), str(REPO)],
        stdout=subprocess.PIPE,
        text=True,
    )
    for _ in range(3):  # three batches committed
        proc.stdout.readline()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    _integrity_ok(project)
    with ProjectStore.open(project) as store:
        partial = store.image_count()
        assert 0 < partial < 200
        # whole images only: each committed image has all three of its annotations
        assert store.annotation_count() == 3 * partial
        report = import_coco(coco, store)
        assert report.images_existing == partial and report.images_imported == 200 - partial
        export_coco(store, tmp_path / "resumed.json")
    expected = json.loads((tmp_path / "expected.json").read_text())
    assert json.loads((tmp_path / "resumed.json").read_text()) == expected
