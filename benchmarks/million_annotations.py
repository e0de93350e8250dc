"""A project of 100,000 images and 1,000,000 annotations: import, export, open, navigate, scroll.

    QT_QPA_PLATFORM=offscreen python benchmarks/million_annotations.py [--images 100000]
        [--per-image 10] [--keep DIR] [--skip-import]

`--keep DIR` works in DIR and keeps it; a second run with the same DIR reuses the generated
dataset (`--skip-import` also reuses the imported project and measures the rest).

Every image is one real 128x128 PNG hard-linked under 100,000 names (decoding is real,
generation is cheap); every annotation carries a compressed RLE mask and no `area`, the
costly case for export. Figures, each `name: value unit (target, ratio)`:

- import of the COCO file into a new project (target 60 s for 1M annotations), and export
  of the whole project (`--masks keep`, progress reported; target 30 s for 1M annotations);
- opening the project in the window, where it was left (the middle image), until that
  image's labels are shown (target 2 s);
- navigation to 30 random images until each one's labels are on the canvas (target 100 ms);
- scrolling the image list from top to bottom in 200 steps, each step painted (target one
  frame, 16 ms);
- on a copy mid-review (a third of the images with ten pending proposals each): scrolling
  the list filtered to "Proposed", and "accept, mark reviewed, next" 30 times until the
  next image's labels show (target 100 ms).

Timings on a shared 2-core machine are noisy; run it alone.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.coco.exporter import export_coco  # noqa: E402
from core.coco.importer import import_coco  # noqa: E402
from core.masks import encode_mask  # noqa: E402
from core.store import ProjectStore  # noqa: E402

SIZE = 128
FOLDER_SIZE = 1000
LINKS_PER_SOURCE = 50_000  # ext4 allows 65,000 hard links to one file


def figure(name: str, value: float, unit: str, target: float) -> None:
    print(f"{name}: {value:.3f} {unit} (target {target:g} {unit}, ratio {value / target:.2f})")


def make_dataset(root: Path, n_images: int, per_image: int) -> Path:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
    cv2.imwrite(str(root / "source.png"), pixels)
    templates = []  # 64 distinct masks, reused: generation speed is not what is measured
    for _ in range(64):
        mask = np.zeros((SIZE, SIZE), np.uint8)
        x, y = (int(v) for v in rng.integers(0, SIZE - 40, 2))
        w, h = (int(v) for v in rng.integers(5, 40, 2))
        mask[y : y + h, x : x + w] = 1
        templates.append((encode_mask(mask), [float(x), float(y), float(w), float(h)]))
    images_dir = root / "images"
    images, annotations = [], []
    for i in range(n_images):
        folder = f"part{i // FOLDER_SIZE:03d}"
        if i % FOLDER_SIZE == 0:
            (images_dir / folder).mkdir(parents=True)
        name = f"{folder}/img {i:06d}.png"
        if i % LINKS_PER_SOURCE == 0:
            source = root / f"source{i // LINKS_PER_SOURCE}.png"
            shutil.copyfile(root / "source.png", source)
        os.link(source, images_dir / name)
        images.append({"id": i + 1, "file_name": name, "width": SIZE, "height": SIZE})
        for j in range(per_image):
            rle, bbox = templates[(i * 7 + j) % len(templates)]
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1,
                                "category_id": 1 + j % 5, "segmentation": rle, "bbox": bbox,
                                "iscrowd": 0})  # fmt: skip
    categories = [{"id": c, "name": f"class {c}", "supercategory": "thing"} for c in range(1, 6)]
    path = root / "dataset.json"
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    return path


def core_figures(root: Path, coco: Path, n_annotations: int, *, skip_import: bool) -> Path:
    project = root / "big.maskloop"
    if not skip_import:
        for leftover in root.glob("big.maskloop*"):  # an earlier run's project
            leftover.unlink()
        with ProjectStore.create(project, root / "images") as store:
            t0, cpu0 = time.perf_counter(), time.process_time()
            import_coco(coco, store)
            figure("import", time.perf_counter() - t0, "s", 60 * n_annotations / 1e6)
            print(f"# import CPU time {time.process_time() - cpu0:.1f} s (the wall time less "
                  "waits for a shared CPU)")  # fmt: skip
    with ProjectStore.open(project) as store:
        reports: list[int] = []
        t0, cpu0 = time.perf_counter(), time.process_time()
        report = export_coco(store, root / "export.json", progress=lambda d, t: reports.append(d))
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        assert report.annotations == n_annotations, report.summary()
        figure("export (keep)", seconds, "s", 30 * n_annotations / 1e6)
        print(f"# export CPU time {cpu:.1f} s")
        print(f"# export progress reports: {len(reports)} (every 4,096 annotations)")
    return project


def review_copy(root: Path, project: Path) -> Path:
    """A copy of the project as it looks mid-review: a third of the images hold ten pending
    model proposals each (scores spread over 0..1), a third nothing, a third ground truth."""
    copy = root / "review.maskloop"
    for leftover in root.glob("review.maskloop*"):
        leftover.unlink()
    source, conn = sqlite3.connect(project), sqlite3.connect(copy, isolation_level=None)
    source.backup(conn)  # with whatever the WAL holds
    source.close()
    conn.execute("BEGIN")
    conn.execute("UPDATE annotations SET source = 'model', state = 'proposed', "
                 "score = (id % 100) / 100.0, import_key = NULL WHERE image_id % 3 = 0")  # fmt: skip
    conn.execute("DELETE FROM annotations WHERE image_id % 3 = 1")
    conn.execute("UPDATE images SET reviewed = 0, proposals_model = 'bench' WHERE id % 3 = 0")
    conn.execute("UPDATE images SET reviewed = 0 WHERE id % 3 = 1")
    conn.execute("COMMIT")
    conn.close()
    return copy


def gui_figures(root: Path, project: Path, n_images: int) -> None:
    from PySide6.QtCore import QEventLoop, QSettings
    from PySide6.QtWidgets import QApplication

    from core.records import ImageStatus
    from core.store.setting_keys import LAST_IMAGE
    from gui.main_window import MainWindow
    from gui.settings import AppSettings

    app = QApplication.instance() or QApplication([])
    settings = AppSettings(QSettings(str(root / "settings.ini"), QSettings.Format.IniFormat))
    window = MainWindow(settings)
    window.resize(1400, 900)
    window.show()
    app.processEvents()

    def run_until(condition, timeout_s: float = 60) -> None:
        deadline = time.perf_counter() + timeout_s
        while not condition() and time.perf_counter() < deadline:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)

    def scroll_figures(label: str) -> None:
        bar = window.image_list.view.verticalScrollBar()
        steps = []
        for k in range(201):
            t0 = time.perf_counter()
            bar.setValue(bar.minimum() + (bar.maximum() - bar.minimum()) * k // 200)
            window.image_list.view.viewport().repaint()
            app.processEvents()
            steps.append(time.perf_counter() - t0)
        steps.sort()
        figure(f"scroll {label}, one step (p50)", steps[len(steps) // 2] * 1000, "ms", 16)
        figure(f"scroll {label}, one step (p99)", steps[int(0.99 * (len(steps) - 1))] * 1000, "ms", 16)  # fmt: skip

    middle = n_images // 2  # reopening starts at the image last shown: deep in the list
    with ProjectStore.open(project) as store:
        store.set_setting(LAST_IMAGE, middle)
    t0 = time.perf_counter()
    window.open_project(project)
    run_until(lambda: window.navigation.current_image_id == middle)
    app.processEvents()
    figure(f"open project at image {middle:,} until its labels show", time.perf_counter() - t0, "s", 2)  # fmt: skip

    rng = random.Random(0)
    times = []
    for image_id in rng.sample(range(1, n_images + 1), 30):
        t0 = time.perf_counter()
        window.navigation.go_to_image(image_id)
        run_until(lambda wanted=image_id: window.navigation.current_image_id == wanted)
        app.processEvents()  # the canvas paints the labels
        times.append(time.perf_counter() - t0)
    times.sort()
    figure("navigate to a random image (median)", times[len(times) // 2] * 1000, "ms", 100)
    figure("navigate to a random image (worst of 30)", times[-1] * 1000, "ms", 100)
    scroll_figures("the image list")
    window.close_project()

    # Mid-review: the "Proposed" filter, and the review loop's one key (accept the proposals
    # above the threshold, mark reviewed, next image) until the next image's labels show.
    review = review_copy(root, project)
    window.open_project(review)
    run_until(lambda: window.navigation.current_document is not None)
    window.image_list.set_status_filter(ImageStatus.PROPOSED)
    app.processEvents()
    scroll_figures("the list filtered to Proposed")
    window.navigation.go_to_image(window.image_list.neighbour(None, 0))
    app.processEvents()
    times = []
    for _ in range(30):
        before = window.navigation.current_image_id
        t0 = time.perf_counter()
        window.navigation.accept_review_next()
        run_until(lambda b=before: window.navigation.current_image_id != b)
        app.processEvents()
        times.append(time.perf_counter() - t0)
    times.sort()
    figure("accept, mark reviewed, next image (median)", times[len(times) // 2] * 1000, "ms", 100)
    figure("accept, mark reviewed, next image (worst of 30)", times[-1] * 1000, "ms", 100)
    window.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--per-image", type=int, default=10)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--skip-import", action="store_true",
                        help="reuse the project a run with the same --keep imported")  # fmt: skip
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="maskloop-million-"))
    root.mkdir(parents=True, exist_ok=True)
    n_annotations = args.images * args.per_image
    coco = root / "dataset.json"
    if coco.exists():
        print(f"# reusing {coco} ({coco.stat().st_size / 1e6:.0f} MB of JSON)")
    else:
        t0 = time.perf_counter()
        coco = make_dataset(root, args.images, args.per_image)
        print(f"# generated {args.images:,} images and {n_annotations:,} annotations in "
              f"{time.perf_counter() - t0:.1f} s ({coco.stat().st_size / 1e6:.0f} MB of JSON)")  # fmt: skip
    project = core_figures(root, coco, n_annotations, skip_import=args.skip_import)
    gui_figures(root, project, args.images)
    if not args.keep:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
