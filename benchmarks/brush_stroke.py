"""Brush stroke cost on a 12,000 x 9,000 image: press, drag, release, through real mouse events.

Builds a real project (store + ImageDocument + CanvasView) with one 12,000 x 9,000 image and
one mask of about 400 x 300 px, selects it, and paints a 300 px stroke into it with the brush
(mouse events sent to the viewport, as a user's drag), then a stroke that starts a new mask.
Reported per stroke: the press, the moves, the release (mask work, RLE, store write, the
item's new overlay). For reference it also times the full-image mask work the brush used
to do on release (decode the whole mask, rasterise the stroke into an image-sized array,
combine, RLE-encode the whole image) and prints the ratio.

    QT_QPA_PLATFORM=offscreen python benchmarks/brush_stroke.py [--width 12000 --height 9000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PySide6.QtCore import QEvent, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QImage, QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from benchmarks._report import context, figure  # noqa: E402
from core import masks  # noqa: E402
from core.records import Annotation  # noqa: E402
from core.store import ProjectStore  # noqa: E402
from gui.canvas.view import CanvasView  # noqa: E402
from gui.document import ImageDocument  # noqa: E402

BRUSH = 40
STROKE = ((6000.0, 4500.0), (6300.0, 4560.0))
MOVES = 30


def _send(view: CanvasView, kind: QEvent.Type, scene: QPointF, buttons) -> None:
    local = QPointF(view.mapFromScene(scene))
    glob = QPointF(view.viewport().mapToGlobal(local.toPoint()))
    button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.LeftButton
    held = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else buttons
    event = QMouseEvent(kind, local, glob, button, held, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), event)


def stroke(view: CanvasView, start, end) -> tuple[float, float, float]:
    """(press, all moves, release) seconds of one drag from start to end (scene points)."""
    left = Qt.MouseButton.LeftButton
    t0 = time.perf_counter()
    _send(view, QEvent.Type.MouseButtonPress, QPointF(*start), left)
    t1 = time.perf_counter()
    for i in range(1, MOVES + 1):
        t = i / MOVES
        p = QPointF(start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1]))
        _send(view, QEvent.Type.MouseMove, p, left)
    t2 = time.perf_counter()
    _send(view, QEvent.Type.MouseButtonRelease, QPointF(*end), left)
    t3 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2


def full_image_reference(segmentation, width: int, height: int) -> float:
    """Seconds of the old release path: whole-image decode, raster, combine, encode."""
    t0 = time.perf_counter()
    before = masks.decode(segmentation, height, width)
    footprint = np.zeros((height, width), np.uint8)
    (x0, y0), (x1, y1) = STROKE
    cv2.line(footprint, (int(x0), int(y0)), (int(x1), int(y1)), 1, BRUSH)
    after = before | footprint.astype(bool)
    np.array_equal(after, before)
    masks.encode_mask(after)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=12000)
    parser.add_argument("--height", type=int, default=9000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    w, h = args.width, args.height
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / "images").mkdir()
        store = ProjectStore.create(folder / "bench.maskloop", folder / "images")
        store.add_category("thing", category_id=1)
        image = store.add_image("huge.jpg", w, h)
        outline = cv2.ellipse2Poly((5900, 4450), (200, 150), 0, 0, 360, 4)
        rle = masks.to_rle([outline.astype(float).ravel().tolist()], h, w)
        ann = store.add_annotation(
            Annotation(image.id, 1, masks.bbox_of(rle, h, w), segmentation=rle)
        )
        view = CanvasView()
        view.resize(1280, 800)
        view.show()
        pixels = QImage(w // 8, h // 8, QImage.Format.Format_RGB32)  # scaled: the pixels
        pixels.fill(Qt.GlobalColor.darkGray)  # do not matter here, only the image size
        view.set_image(pixels)
        doc = ImageDocument(store, image.id)
        view.set_document(doc)
        view.set_categories(store.categories())
        view.set_current_category(1)
        view.zoom.zoom_100()
        view.centerOn(QPointF(6150, 4530))
        view.set_tool("brush")
        view.set_brush_size(BRUSH)
        app.processEvents()

        extend, new, reference = [], [], []
        for _ in range(args.repeats):
            view.select_annotation(ann.id)
            extend.append(stroke(view, *STROKE))
            doc.undo_stack.undo()
            view.clear_selection()
            view.remember_drawn(None)
            new.append(stroke(view, (7000.0, 5000.0), (7200.0, 5100.0)))
            doc.undo_stack.undo()
            reference.append(full_image_reference(rle, w, h))
        view.close()
        store.close()

    full = statistics.median(reference)

    def report(name: str, runs: list[tuple[float, float, float]]) -> None:
        press, moves, release = (statistics.median(r[i] for r in runs) for i in range(3))
        total = press + moves + release
        figure(f"{name} press", press * 1e3, "ms")
        figure(f"{name} {MOVES} moves", moves * 1e3, "ms")
        figure(f"{name} release", release * 1e3, "ms")
        # The baseline: the old full-image mask work (release only) for the same stroke.
        figure(
            f"{name} total",
            total * 1e3,
            "ms",
            baseline=full * 1e3,
            baseline_name="old full-image mask work",
        )

    context(f"image {w} x {h}, brush {BRUSH} px, stroke 300 px, median of {args.repeats}")
    report("stroke into selected mask", extend)
    report("stroke starting a new mask", new)

if __name__ == "__main__":
    main()
