"""SIGKILL at random moments: nothing committed is lost, nothing half-done is left.

- thousands of random edits through core: the child prints each edit before it starts
  ("B ...") and once it is committed ("C ..."); after the kill the project holds exactly the
  committed edits, plus possibly the one in flight;
- an import: a re-run completes it, with no duplicates;
- training: the last checkpoint written loads and predicts;
- a model swap in the app: the project opens and the previous model is still the active one.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import write_png

from core.coco.exporter import export_coco
from core.coco.importer import import_coco
from core.store import ProjectStore

REPO = Path(__file__).resolve().parents[1]
ITERATIONS = 3

EDITOR = textwrap.dedent(
    """
    import random, sys
    from dataclasses import replace
    sys.path.insert(0, sys.argv[3])
    from core.records import Annotation
    from core.store import ProjectStore
    rng = random.Random(int(sys.argv[2]))
    store = ProjectStore.open(sys.argv[1])
    images = [im.id for im in store.list_images()]
    cat = store.categories()[0].id
    live = [a.id for im in images for a in store.annotations(im)]
    while True:
        op = rng.choice(["add", "add", "update", "delete", "review"])
        box = [float(rng.randint(0, 50)) for _ in range(2)] + [float(rng.randint(1, 9))] * 2
        if op == "add" or not live:
            image = rng.choice(images)
            print("B add", image, *box, flush=True)
            ann = store.add_annotation(Annotation(image, cat, tuple(box)))
            live.append(ann.id)
            print("C add", ann.id, image, *box, flush=True)
        elif op == "update":
            ann = store.get_annotation(rng.choice(live))
            print("B update", ann.id, *box, flush=True)
            store.update_annotation(replace(ann, bbox=tuple(box)))
            print("C", flush=True)
        elif op == "delete":
            ann_id = live.pop(rng.randrange(len(live)))
            print("B delete", ann_id, flush=True)
            store.delete_annotation(ann_id)
            print("C", flush=True)
        else:
            image, flag = rng.choice(images), rng.random() < 0.5
            print("B review", image, int(flag), flush=True)
            store.set_reviewed(image, flag)
            print("C", flush=True)
    """
)


class _Model:
    """What the project should hold: annotations (id -> (image, box)) and reviewed flags."""

    def __init__(self, store: ProjectStore) -> None:
        self.anns = {
            a.id: (a.image_id, tuple(a.bbox))
            for im in store.list_images()
            for a in store.annotations(im.id)
        }
        self.reviewed = {im.id: im.reviewed for im in store.list_images()}

    def apply(self, begin: list[str], commit: list[str]) -> None:
        kind = begin[1]
        if kind == "add":
            ann_id, image, *box = commit[2:]
            self.anns[int(ann_id)] = (int(image), tuple(float(v) for v in box))
        elif kind == "update":
            ann_id, *box = begin[2:]
            self.anns[int(ann_id)] = (self.anns[int(ann_id)][0], tuple(float(v) for v in box))
        elif kind == "delete":
            del self.anns[int(begin[2])]
        else:
            self.reviewed[int(begin[2])] = begin[3] == "1"

    def matches(self, store: ProjectStore, in_flight: list[str] | None) -> bool:
        stored = _Model(store)
        if (stored.anns, stored.reviewed) == (self.anns, self.reviewed):
            return True
        if in_flight is None:
            return False
        if in_flight[1] == "add":  # committed, but its id was never printed
            extra = set(stored.anns) - set(self.anns)
            image, box = int(in_flight[2]), tuple(float(v) for v in in_flight[3:])
            return (
                len(extra) == 1
                and stored.anns[extra.pop()] == (image, box)
                and {k: v for k, v in stored.anns.items() if k in self.anns} == self.anns
                and stored.reviewed == self.reviewed
            )
        self.apply(in_flight, [])
        return (stored.anns, stored.reviewed) == (self.anns, self.reviewed)


def _integrity(store: ProjectStore) -> str:
    return store._conn.execute("PRAGMA integrity_check").fetchone()[0]


@pytest.mark.parametrize("seed", range(ITERATIONS))
def test_sigkill_during_random_edits_keeps_exactly_the_committed_ones(
    tmp_path: Path, seed: int
) -> None:
    project = tmp_path / "p.maskloop"
    with ProjectStore.create(project, tmp_path) as store:
        for i in range(4):
            store.add_image(f"{i}.png", 64, 64)
        store.add_category("x")
        model = _Model(store)
    script = tmp_path / "editor.py"
    script.write_text(EDITOR)
    child = subprocess.Popen(
        [sys.executable, str(script), str(project), str(seed), str(REPO)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    kill_after = random.Random(seed).randint(200, 2500)  # committed edits before the kill
    lines: list[list[str]] = []
    commits = 0
    while commits < kill_after:
        line = child.stdout.readline().split()
        lines.append(line)
        commits += line[0] == "C"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    lines += [line.split() for line in child.stdout.read().splitlines() if line.strip()]

    pending: list[str] | None = None
    for line in lines:
        if line[0] == "B":
            pending = line
        elif pending is not None and line and line[0] == "C":
            model.apply(pending, line)
            pending = None
    with ProjectStore.open(project) as store:
        assert _integrity(store) == "ok"
        assert model.matches(store, pending)


IMPORTER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[3])
    from core.coco.importer import import_coco
    from core.store import ProjectStore
    store = ProjectStore.open(sys.argv[1])
    import_coco(sys.argv[2], store, batch_size=7,
                progress=lambda done, total: print(done, total, flush=True))
    print("finished", flush=True)
    """
)


@pytest.fixture(scope="module")
def coco(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kill9-coco")
    data: dict = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "x"}]}
    for i in range(150):
        write_png(root / "images" / f"{i:04d}.png", 8, 8)
        data["images"].append({"id": i + 1, "file_name": f"{i:04d}.png", "width": 8, "height": 8})
        for j in range(i % 4):
            data["annotations"].append({"id": 10 * i + j, "image_id": i + 1, "category_id": 1,
                                        "bbox": [j, j, 2, 2], "iscrowd": 0})  # fmt: skip
    path = root / "data.json"
    path.write_text(json.dumps(data))
    with ProjectStore.create(root / "whole.maskloop", root / "images") as whole:
        import_coco(path, whole)
        export_coco(whole, root / "expected.json")
    return path


@pytest.mark.parametrize("seed", range(ITERATIONS))
def test_sigkill_during_import_then_a_rerun_completes_it_without_duplicates(
    tmp_path: Path, coco: Path, seed: int
) -> None:
    project = tmp_path / "p.maskloop"
    ProjectStore.create(project, coco.parent / "images").close()
    script = tmp_path / "importer.py"
    script.write_text(IMPORTER)
    child = subprocess.Popen(
        [sys.executable, str(script), str(project), str(coco), str(REPO)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    for _ in range(random.Random(seed).randint(1, 15)):  # committed batches before the kill
        child.stdout.readline()
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    with ProjectStore.open(project) as store:
        assert _integrity(store) == "ok"
        assert 0 < store.image_count() < 150  # killed part-way
        import_coco(coco, store)
        import_coco(coco, store)  # a second re-run adds nothing either
        export_coco(store, tmp_path / "resumed.json")
    expected = json.loads((coco.parent / "expected.json").read_text())
    assert json.loads((tmp_path / "resumed.json").read_text()) == expected


@pytest.mark.slow
def test_sigkill_during_training_leaves_a_checkpoint_that_loads_and_predicts(
    tmp_path: Path,
) -> None:
    from _training_helpers import QUICK_CLI_ARGS, shapes_with_ids

    from core.detection.detector import Detector
    from core.files.images import read_image

    shapes = shapes_with_ids(tmp_path / "shapes", n_images=16, seed=7)
    out = tmp_path / "model.pt"
    command = [sys.executable, "main.py", "train", str(shapes), "--images",
               str(shapes.parent / "images"), "--out", str(out), "--epochs", "4",
               "--progress", "jsonl", *QUICK_CLI_ARGS]  # fmt: skip
    child = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    extra_steps, checkpoints, mid_run = random.Random(1).randint(0, 6), 0, False
    try:
        for line in child.stdout:
            event = json.loads(line)
            checkpoints += event["event"] == "checkpoint"
            if checkpoints and event["event"] == "step":
                if extra_steps == 0:
                    mid_run = True
                    break
                extra_steps -= 1
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert checkpoints >= 1 and mid_run
    detector = Detector.load(str(out), device="cpu")
    image = read_image(next((shapes.parent / "images").glob("*.png")))
    detections = detector.predict([image])
    assert len(detections) == 1  # one result list for the one image, whatever it holds


SWAPPER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, sys.argv[4])
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    import core.detection.detector as detector_module
    real_load = detector_module.Detector.load.__func__
    def slow_load(cls, spec, *args, **kwargs):
        if spec.endswith("b.pt"):
            time.sleep(30)  # a big model: the swap is still loading when the kill comes
        return real_load(cls, spec, *args, **kwargs)
    detector_module.Detector.load = classmethod(slow_load)
    from gui.main_window import MainWindow
    window = MainWindow()
    window.proposals.modelReady.connect(lambda spec: print("ready", spec, flush=True))
    assert window.open_project(sys.argv[1])
    def swap():
        window.proposals.apply_model(sys.argv[3])
        print("swapping", flush=True)
    window.proposals.modelReady.connect(lambda spec: spec == sys.argv[2] and swap())
    app.exec()
    """
)


@pytest.mark.slow
def test_sigkill_during_a_model_swap_keeps_the_previous_model_active(tmp_path: Path) -> None:
    from _window_helpers import make_lite_checkpoint, make_project

    project = make_project(tmp_path, count=2)
    with ProjectStore.open(project) as store:
        categories = store.categories()
        old = make_lite_checkpoint(tmp_path / "a.pt", categories)
        new = make_lite_checkpoint(tmp_path / "b.pt", categories)
        store.record_model_loaded(str(old))
    script = tmp_path / "swapper.py"
    script.write_text(SWAPPER)
    child = subprocess.Popen(
        [sys.executable, str(script), str(project), str(old), str(new), str(REPO)],
        stdout=subprocess.PIPE,
        text=True,
        env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path)},
    )
    assert child.stdout is not None
    try:
        lines = []
        for line in child.stdout:
            lines.append(line.strip())
            if line.startswith("swapping"):
                break
        time.sleep(random.Random(2).uniform(0.0, 1.5))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert lines[-1] == "swapping" and f"ready {old}" in lines
    with ProjectStore.open(project) as store:
        assert _integrity(store) == "ok"
        assert store.active_model() == str(old)
