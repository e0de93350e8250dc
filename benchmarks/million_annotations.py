"""A project of 100,000 images and 1,000,000 annotations: import, export, open, navigate, scroll.

    QT_QPA_PLATFORM=offscreen python benchmarks/million_annotations.py [--images 100000]
        [--per-image 10] [--keep DIR]

Every image is one real 128x128 PNG hard-linked under 100,000 names (decoding is real,
generation is cheap); every annotation carries a compressed RLE mask and no `area`, the
costly case for export. Figures, each `name: value unit (target, ratio)`:

- import of the COCO file into a new project, and export of the whole project
  (`--masks keep`, progress reported; target 30 s for 1M annotations);
- opening the project in the window until the first image's labels are shown (target 2 s);
- navigation to 30 random images until each one's labels are on the canvas (target 100 ms);
- scrolling the image list from top to bottom in 200 steps, each step painted (target one
  frame, 16 ms).

Timings on a shared 2-core machine are noisy; run it alone.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
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


def figure(name: str, value: float, unit: str, target: float) -> None:
    print(f"{name}: {value:.3f} {unit} (target {target:g} {unit}, ratio {value / target:.2f})")


def make_dataset(root: Path, n_images: int, per_image: int) -> Path:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
    source = root / "source.png"
    cv2.imwrite(str(source), pixels)
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


def core_figures(root: Path, coco: Path, n_annotations: int) -> Path:
    project = root / "big.maskloop"
    with ProjectStore.create(project, root / "images") as store:
        t0 = time.perf_counter()
        import_coco(coco, store)
        figure("import", time.perf_counter() - t0, "s", 60 * n_annotations / 1e6)
        reports: list[int] = []
        t0 = time.perf_counter()
        report = export_coco(store, root / "export.json", progress=lambda d, t: reports.append(d))
        seconds = time.perf_counter() - t0
        assert report.annotations == n_annotations, report.summary()
        figure("export (keep)", seconds, "s", 30 * n_annotations / 1e6)
        print(f"# export progress reports: {len(reports)} (every 4,096 annotations)")
    return project


def gui_figures(root: Path, project: Path, n_images: int) -> None:
    from PySide6.QtCore import QEventLoop, QSettings
    from PySide6.QtWidgets import QApplication

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

    t0 = time.perf_counter()
    window.open_project(project)
    run_until(lambda: window.navigation.current_document is not None)
    app.processEvents()
    figure("open project until the first image's labels show", time.perf_counter() - t0, "s", 2)

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

    bar = window.image_list.view.verticalScrollBar()
    steps = []
    for k in range(201):
        t0 = time.perf_counter()
        bar.setValue(bar.minimum() + (bar.maximum() - bar.minimum()) * k // 200)
        window.image_list.view.viewport().repaint()
        app.processEvents()
        steps.append(time.perf_counter() - t0)
    steps.sort()
    figure("scroll the image list, one step (p50)", steps[len(steps) // 2] * 1000, "ms", 16)
    figure("scroll the image list, one step (p99)", steps[int(0.99 * (len(steps) - 1))] * 1000, "ms", 16)  # fmt: skip
    window.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--per-image", type=int, default=10)
    parser.add_argument("--keep", type=Path, help="work in this (empty) folder and keep it")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="maskloop-million-"))
    root.mkdir(parents=True, exist_ok=True)
    n_annotations = args.images * args.per_image
    t0 = time.perf_counter()
    coco = make_dataset(root, args.images, args.per_image)
    print(f"# generated {args.images:,} images and {n_annotations:,} annotations in "
          f"{time.perf_counter() - t0:.1f} s ({coco.stat().st_size / 1e6:.0f} MB of JSON)")  # fmt: skip
    project = core_figures(root, coco, n_annotations)
    gui_figures(root, project, args.images)
    if not args.keep:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
