"""Mask edits on a 20,000 x 20,000 image: vertex edit, fill holes and move, on the mask's crop.

Builds a real project (store + ImageDocument + CanvasView) with one 20,000 x 20,000 image and
one ring-shaped mask of 501 x 501 px (a hole for fill holes to fill), and times through the
canvas, as a user does them:
- vertex edit: the polygon tool takes the selected mask's outline, then a vertex is dragged
  60 px outward (mouse events sent to the viewport) and the edit is stored;
- fill holes: the edit action on the selected mask;
- move: the mask dragged 40 x 30 px with the select tool.
Each is undone before the next run. The baseline is the full-size mask work the canvas did
before (decode the whole image's mask, edit it, compare, RLE-encode the whole image), timed
in the same process; the new figures include everything else too (store write, undo command,
the item's new overlay). Peak memory is Python's traced peak (tracemalloc: numpy arrays and
pycocotools' decode count) in one extra run of each, after the timed runs.

    QT_QPA_PLATFORM=offscreen python benchmarks/mask_edits.py [--side 20000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PySide6.QtCore import QEvent, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QImage, QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from benchmarks._report import context, figure  # noqa: E402
from core import mask_pixels, masks  # noqa: E402
from core.mask_crops import encode_crop  # noqa: E402
from core.records import Annotation  # noqa: E402
from core.store import ProjectStore  # noqa: E402
from gui.canvas.view import CanvasView  # noqa: E402
from gui.commands import annotation_with_mask  # noqa: E402
from gui.document import ImageDocument  # noqa: E402

OUTER, INNER = 250, 60  # the ring's radii: a 501 x 501 px mask with a 121 px hole
VERTEX_PULL = 60.0
MOVE = (40, 30)
MOVES = 10  # mouse moves per drag


def _ring() -> np.ndarray:
    yy, xx = np.mgrid[-OUTER : OUTER + 1, -OUTER : OUTER + 1]
    r2 = xx**2 + yy**2
    return (r2 <= OUTER**2) & (r2 > INNER**2)


def _send(view: CanvasView, kind: QEvent.Type, scene: QPointF) -> None:
    local = QPointF(view.mapFromScene(scene))
    glob = QPointF(view.viewport().mapToGlobal(local.toPoint()))
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    button = none if kind == QEvent.Type.MouseMove else left
    held = none if kind == QEvent.Type.MouseButtonRelease else left
    event = QMouseEvent(kind, local, glob, button, held, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), event)


def _drag(view: CanvasView, start: QPointF, end: QPointF) -> None:
    _send(view, QEvent.Type.MouseButtonPress, start)
    for i in range(1, MOVES + 1):
        _send(view, QEvent.Type.MouseMove, start + (end - start) * (i / MOVES))
    _send(view, QEvent.Type.MouseButtonRelease, end)


class Bench:
    """The canvas on a huge image with one mask, and the three edits, new and old."""

    def __init__(self, folder: Path, side: int) -> None:
        self.side = side
        (folder / "images").mkdir()
        self.store = ProjectStore.create(folder / "bench.maskloop", folder / "images")
        self.store.add_category("thing", category_id=1)
        image = self.store.add_image("huge.jpg", side, side)
        self.x, self.y = side * 3 // 5, side * 9 // 20  # (12,000, 9,000) at 20,000 px
        ring = _ring()
        rle = encode_crop(ring, self.x, self.y, side, side)
        box = (float(self.x), float(self.y), float(ring.shape[1]), float(ring.shape[0]))
        self.ann = self.store.add_annotation(
            Annotation(image.id, 1, box, segmentation=rle, area=float(ring.sum()))
        )
        assert self.ann.id is not None
        self.ann_id = self.ann.id
        self.view = CanvasView()
        self.view.resize(1280, 800)
        self.view.show()
        pixels = QImage(side // 50, side // 50, QImage.Format.Format_RGB32)
        pixels.fill(Qt.GlobalColor.darkGray)  # only the document's image size matters here
        self.view.set_image(pixels)
        self.doc = ImageDocument(self.store, image.id)
        self.view.set_document(self.doc)
        self.view.set_categories(self.store.categories())
        self.view.set_current_category(1)
        self.view.zoom.zoom_100()
        self.view.centerOn(QPointF(self.x + OUTER + 40, self.y + OUTER))
        QApplication.processEvents()

    def close(self) -> None:
        self.view.close()
        self.store.close()

    # ---- through the canvas (the crop path) ------------------------------------------------
    def vertex_edit(self) -> None:
        self.view.set_tool("select")
        self.view.select_annotation(self.ann_id)
        self.view.set_tool("polygon")  # takes the mask's outline
        points = self.view.polygon_item.points
        vertex = max(points, key=lambda p: p.x())
        _drag(self.view, vertex, vertex + QPointF(VERTEX_PULL, 0))

    def fill_holes(self) -> None:
        self.view.select_annotation(self.ann_id)
        self.view.edits.fill_holes_selected()

    def move(self) -> None:
        self.view.set_tool("select")
        self.view.select_annotation(self.ann_id)
        start = QPointF(self.x + OUTER, self.y + 10.5)  # on the ring's top
        _drag(self.view, start, start + QPointF(*MOVE))

    def undo(self, before: int) -> None:
        """Undo the edit just timed; fails loudly if it made no command or more than one."""
        stack = self.doc.undo_stack
        if stack.index() != before + 1:
            raise RuntimeError(f"expected one undo step, got {stack.index() - before}")
        stack.undo()
        if self.store.get_annotation(self.ann_id) != self.ann:
            raise RuntimeError("undo did not restore the annotation")

    # ---- the old full-size mask work ----------------------------------------------------
    def _full(self) -> np.ndarray:
        assert self.ann.segmentation is not None
        return masks.decode(self.ann.segmentation, self.side, self.side)

    def old_vertex_edit(self) -> None:
        contour = mask_pixels.editable_contour(self._full())  # taking the outline
        assert contour is not None
        before = self._full()  # the commit decoded again
        new = contour.copy()
        new[int(np.argmax(new[:, 0])), 0] += VERTEX_PULL
        after = mask_pixels.apply_contour_edit(before, contour, new)
        if not np.array_equal(after, before):
            annotation_with_mask(self.ann, after)

    def old_fill_holes(self) -> None:
        before = self._full()
        after = mask_pixels.fill_holes(before)
        if not np.array_equal(before, after):
            annotation_with_mask(self.ann, after)

    def old_move(self) -> None:
        after = mask_pixels.shift_mask(self._full(), *MOVE)
        if after.any():
            annotation_with_mask(self.ann, after)


def _seconds(action: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    action()
    return time.perf_counter() - t0


def _peak_mib(action: Callable[[], None]) -> float:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--side", type=int, default=20000, help="image width and height (px)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each; the best is kept")
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    assert app is not None
    with tempfile.TemporaryDirectory() as folder:
        bench = Bench(Path(folder), args.side)
        edits = {
            "vertex edit": (bench.vertex_edit, bench.old_vertex_edit),
            "fill holes": (bench.fill_holes, bench.old_fill_holes),
            "move": (bench.move, bench.old_move),
        }
        times: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n in edits}
        for _ in range(args.repeats):  # alternate new and old: both see the same load
            for name, (new, old) in edits.items():
                before = bench.doc.undo_stack.index()
                times[name][0].append(_seconds(new))
                bench.undo(before)
                times[name][1].append(_seconds(old))
        peaks = {}
        for name, (new, old) in edits.items():
            before = bench.doc.undo_stack.index()
            peaks[name] = (_peak_mib(new), 0.0)
            bench.undo(before)
            peaks[name] = (peaks[name][0], _peak_mib(old))
        bench.close()

    side = args.side
    context(
        f"image {side:,} x {side:,}, one {2 * OUTER + 1} x {2 * OUTER + 1} px ring mask, "
        f"best of {args.repeats}; load average {os.getloadavg()[0]:.2f}"
    )
    context(
        "new: through the canvas (mouse events or the edit action, store write, undo "
        "command, redraw); old: the full-size mask work alone"
    )
    for name in edits:
        new_s, old_s = (min(runs) for runs in times[name])
        figure(f"{name}", new_s * 1e3, "ms", baseline=old_s * 1e3, baseline_name="old full-size")
        new_peak, old_peak = peaks[name]
        figure(
            f"{name} peak memory",
            new_peak,
            "MiB",
            baseline=old_peak,
            baseline_name="old full-size",
        )


if __name__ == "__main__":
    main()
