"""Fine-tune export of a large project: how long it takes, and how long the UI thread stalls.

Builds a project of N annotations (imported from a generated COCO file, all reviewed),
then:
  1. times the export on the calling thread (what the dialog used to do on the UI thread:
     the window was frozen for all of it);
  2. runs it as the dialog now does (ExportTask: a superqt worker with its own store) while
     a 5 ms QTimer ticks on the UI thread, and reports the export's wall time, the number of
     progress updates and the longest gap between two timer ticks (the longest the window
     could not repaint or react).

    QT_QPA_PLATFORM=offscreen python benchmarks/finetune_export.py [--annotations 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from benchmarks._report import context, figure  # noqa: E402
from core.coco.importer import import_coco  # noqa: E402
from core.masks import encode_mask  # noqa: E402
from core.store import ProjectStore  # noqa: E402
from core.training.finetune_data import export_finetune_run, runs_dir  # noqa: E402
from gui.workers.evaluation_task import ExportTask  # noqa: E402

PER_IMAGE = 20
SIZE = 64


def build_project(folder: Path, annotations: int) -> Path:
    n_images = max(2, annotations // PER_IMAGE)
    rng = np.random.default_rng(0)
    images, anns = [], []
    for image_id in range(1, n_images + 1):
        images.append(
            {"id": image_id, "file_name": f"{image_id}.png", "width": SIZE, "height": SIZE}
        )
        for _ in range(PER_IMAGE):
            x, y = (int(v) for v in rng.integers(0, SIZE - 12, 2))
            mask = np.zeros((SIZE, SIZE), bool)
            mask[y : y + 10, x : x + 12] = True
            anns.append(
                {"id": len(anns) + 1, "image_id": image_id, "category_id": 1,
                 "bbox": [x, y, 12, 10], "area": 120, "iscrowd": 0,
                 "segmentation": encode_mask(mask)}
            )  # fmt: skip
    coco = folder / "big.json"
    coco.write_text(
        json.dumps(
            {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "box"}]}
        )
    )
    (folder / "images").mkdir()
    ok, png = cv2.imencode(".png", np.zeros((SIZE, SIZE, 3), np.uint8))
    for image in images:  # the importer skips images whose file is missing
        (folder / "images" / image["file_name"]).write_bytes(png.tobytes())
    project = folder / "big.maskloop"
    with ProjectStore.create(project, folder / "images") as store:
        import_coco(coco, store)
        for image in store.list_images():
            if not image.reviewed:
                store.set_reviewed(image.id)
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotations", type=int, default=100_000)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    folder = Path(tempfile.mkdtemp(prefix="maskloop-export-"))
    try:
        started = time.perf_counter()
        project = build_project(folder, args.annotations)
        context(
            f"project of {args.annotations} annotations built in {time.perf_counter() - started:.1f} s"
        )

        started = time.perf_counter()
        export_finetune_run(project, base_model="lite")
        blocking = time.perf_counter() - started
        figure("export on the calling thread (the old UI-thread freeze)", blocking, "s")
        shutil.rmtree(runs_dir(project))

        gaps: list[float] = []
        last = [time.perf_counter()]

        def tick() -> None:
            now = time.perf_counter()
            gaps.append(now - last[0])
            last[0] = now

        timer = QTimer()
        timer.setInterval(5)  # about a repaint's pace; 0 ms would compete for the GIL
        timer.timeout.connect(tick)
        loop = QEventLoop()
        updates: list[int] = []
        task = ExportTask(project, base_model="lite", reviewed_only=True, val_fraction=0.2)
        task.progress.connect(lambda done, total: updates.append(done))
        task.exported.connect(lambda _data: loop.quit())
        task.failed.connect(lambda message: (print("failed:", message), loop.quit()))
        started = time.perf_counter()
        timer.start()
        last[0] = time.perf_counter()
        task.start()
        loop.exec()
        timer.stop()
        worker_time = time.perf_counter() - started
        context(f"{len(updates)} progress updates, {len(gaps)} UI timer ticks of 5 ms")
        figure(
            "export in the worker",
            worker_time,
            "s",
            baseline=blocking,
            baseline_name="on the calling thread",
        )
        figure(
            "longest UI-thread gap during the export",
            1000 * max(gaps),
            "ms",
            baseline=1000 * blocking,
            baseline_name="freeze on the calling thread",
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        del app


if __name__ == "__main__":
    main()
