"""Canvas frame time: 500 masks on a 4000 x 3000 image while panning.

Builds a real project (store + ImageDocument + CanvasView) with 500 elliptic masks, then
pans the view in programmatic scroll steps at several zoom levels and times each step from
the scroll to its frame: the scroll, the events it causes (the scroll's own paint, one
slice of the mask layer's tile drawing) and then a full `viewport().repaint()` (the worst
case: Qt normally repaints only the strip a scroll exposes). Timing the repaint alone, as
this script once did, only measured a blit of what the scroll's paint had drawn. The tags
of boxes scrolled in are laid out once a pan pauses: that layout is timed on its own, after
each step, so every step paints all the tags in view.
The baseline is the same view and image with no annotations, measured in the same process.
Target: p99 <= 16 ms per frame.

The mask layer of a crowded image may show a tile scaled from an earlier zoom for a few
frames while it draws the sharp one between events: the script counts the paints that did
("stand-in paints") and times a zoom step until every visible tile is sharp.

    QT_QPA_PLATFORM=offscreen python benchmarks/canvas_frame_time.py [--masks 500]
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
from PySide6.QtGui import QImage  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from benchmarks._report import context, figure  # noqa: E402
from core import masks  # noqa: E402
from core.records import Annotation, ReviewState, Source  # noqa: E402
from core.store import ProjectStore  # noqa: E402
from gui.canvas.view import CanvasView  # noqa: E402
from gui.document import ImageDocument  # noqa: E402

WIDTH, HEIGHT = 4000, 3000
VIEW_SIZE = (1280, 800)
TARGET_MS = 16.0


def build_project(folder: Path, n_masks: int, seed: int = 0) -> tuple[ProjectStore, int]:
    """A project with one 4000 x 3000 image and `n_masks` ellipses, a third of them proposals."""
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir()
    store = ProjectStore.create(folder / "bench.maskloop", folder / "images")
    for category_id in (1, 2, 3):
        store.add_category(f"class{category_id}", category_id=category_id)
    image = store.add_image("big.jpg", WIDTH, HEIGHT)
    for i in range(n_masks):
        cx, cy = int(rng.integers(100, WIDTH - 100)), int(rng.integers(100, HEIGHT - 100))
        axes = (int(rng.integers(20, 140)), int(rng.integers(20, 140)))
        angle = int(rng.integers(0, 180))
        # Polygon -> RLE in pycocotools: no full-size array per mask, so the set-up is quick.
        outline = cv2.ellipse2Poly((cx, cy), axes, angle, 0, 360, 4)
        rle = masks.to_rle([outline.astype(float).ravel().tolist()], HEIGHT, WIDTH)
        proposal = i % 3 == 0
        store.add_annotation(
            Annotation(
                image_id=image.id,
                category_id=int(rng.integers(1, 4)),
                bbox=masks.bbox_of(rle, HEIGHT, WIDTH),
                segmentation=rle,
                source=Source.MODEL if proposal else Source.HUMAN,
                state=ReviewState.PROPOSED if proposal else ReviewState.ACCEPTED,
                score=float(rng.uniform(0.3, 1.0)) if proposal else None,
            )
        )
    return store, image.id


def textured_image() -> QImage:
    """A photo-like image (noise plus gradients) so pixmap drawing costs what it would."""
    rng = np.random.default_rng(1)
    small = rng.integers(0, 255, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8)
    rgb = np.ascontiguousarray(cv2.resize(small, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR))
    return QImage(rgb.data, WIDTH, HEIGHT, 3 * WIDTH, QImage.Format.Format_RGB888).copy()


def pan_frame_times(
    app: QApplication,
    view: CanvasView,
    zoom: float | None,
    steps: int,
    cpu: list[float] | None = None,
    tag_layout_cpu: list[float] | None = None,
) -> list[float]:
    """Milliseconds per full viewport repaint while scrolling diagonally in steps.

    The view lays out the tags of boxes scrolled in once a pan pauses, not in a step. With
    `tag_layout_cpu` that layout (and its repaint) runs after every step, untimed in the
    step and its CPU time appended there: each step then paints every tag in view, as the
    first step after a pause does (the most a pan step paints)."""
    if zoom is None:
        view.zoom.fit()
    else:
        view.zoom.zoom_100()
        view.zoom.zoom_by(zoom)
    hbar, vbar = view.horizontalScrollBar(), view.verticalScrollBar()
    hbar.setValue(hbar.minimum())
    vbar.setValue(vbar.minimum())
    app.processEvents()
    view.viewport().repaint()  # warm caches (pixmap conversion, glyphs)
    times = []
    for step in range(steps):
        dx = (hbar.maximum() - hbar.minimum()) / steps
        dy = (vbar.maximum() - vbar.minimum()) / steps
        start, start_cpu = time.perf_counter(), time.process_time()
        hbar.setValue(round(hbar.minimum() + dx * (step + 1)))
        vbar.setValue(round(vbar.minimum() + dy * (step + 1)))
        app.processEvents()
        view.viewport().repaint()
        times.append((time.perf_counter() - start) * 1000)
        if cpu is not None:
            cpu.append((time.process_time() - start_cpu) * 1000)
        if tag_layout_cpu is not None:
            start_cpu = time.process_time()
            view.layout_tags()
            app.processEvents()
            tag_layout_cpu.append((time.process_time() - start_cpu) * 1000)
    return times


def zoom_frame_times(
    app: QApplication, view: CanvasView, steps: int = 12, cpu: list[float] | None = None
) -> tuple[list[float], list[float]]:
    """Milliseconds from a wheel-sized zoom step to its frame on screen (item caches redrawn,
    or mask tiles drawn or stood in for), and to the frame where every visible mask tile is
    sharp. The events are timed too: the zoom's own paint happens there, and a repaint
    after it alone only blitted what that paint had cached. In 1.3 and out 1.2 in turn, so
    no step comes back to a scale seen before (the layer would reuse its tiles)."""
    view.zoom.zoom_100()
    view.zoom.zoom_by(0.4)
    app.processEvents()
    view.viewport().repaint()
    frames, sharp = [], []
    layer = view.mask_layer
    for step in range(steps):
        start, start_cpu = time.perf_counter(), time.process_time()
        view.zoom.zoom_by(1.3 if step % 2 == 0 else 1 / 1.2)
        app.processEvents()
        view.viewport().repaint()
        frames.append((time.perf_counter() - start) * 1000)
        if cpu is not None:
            cpu.append((time.process_time() - start_cpu) * 1000)
        while layer.isVisible() and not layer.settled and time.perf_counter() - start < 10:
            app.processEvents()
        app.processEvents()  # the last sharp tiles' paint
        sharp.append((time.perf_counter() - start) * 1000)
    return frames, sharp


def interaction_times(
    app: QApplication, view: CanvasView, cpu: dict[str, list[float]] | None = None
) -> dict[str, list[float]]:
    """Milliseconds per user action with everything loaded, each followed by a repaint:
    Tab to the next instance (selection), and moving the score threshold that hides
    proposals below it (every proposal item re-checks its visibility)."""
    view.zoom.fit()
    app.processEvents()
    times: dict[str, list[float]] = {"select next (Tab)": [], "move the score threshold": []}
    cpu = {name: [] for name in times} if cpu is None else cpu
    for _ in range(40):
        start, start_cpu = time.perf_counter(), time.process_time()
        view.select_next()
        app.processEvents()
        view.viewport().repaint()
        times["select next (Tab)"].append((time.perf_counter() - start) * 1000)
        cpu.setdefault("select next (Tab)", []).append((time.process_time() - start_cpu) * 1000)
    for step in range(40):
        start, start_cpu = time.perf_counter(), time.process_time()
        view.set_score_threshold(0.3 + 0.6 * (step % 20) / 19)
        app.processEvents()
        view.viewport().repaint()
        times["move the score threshold"].append((time.perf_counter() - start) * 1000)
        cpu.setdefault("move the score threshold", []).append(
            (time.process_time() - start_cpu) * 1000
        )
    view.set_score_threshold(0.3)
    return times


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--masks", type=int, default=500)
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        store, image_id = build_project(Path(tmp), args.masks)
        context(f"project with {args.masks} masks built in {time.perf_counter() - t0:.1f} s")
        image = textured_image()

        view = CanvasView()
        view.resize(*VIEW_SIZE)
        view.show()
        view.set_image(image)
        view.set_categories(store.categories())
        app.processEvents()

        zooms = {"fit": None, "50%": 0.5, "100%": 1.0}
        baseline = {name: pan_frame_times(app, view, z, args.steps) for name, z in zooms.items()}

        t0 = time.perf_counter()
        doc = ImageDocument(store, image_id)
        view.set_document(doc)
        items_s = time.perf_counter() - t0
        view.build_pending_overlays()
        # In the app the overlays are built in batches between events, visible masks first.
        context(f"{len(doc.annotations())} mask items")
        figure("mask items created", items_s, "s")
        figure("overlays built (one RLE decode each)", time.perf_counter() - t0 - items_s, "s")
        # CPU time too: on a shared machine the wall time waits for other processes, and the
        # CPU time is what the step would take on a core of its own.
        cpu: dict[str, list[float]] = {f"pan step at {name}": [] for name in zooms}
        for name in zooms:
            cpu[f"tag layout as a pan pauses at {name}"] = []
        loaded = {
            name: pan_frame_times(
                app,
                view,
                z,
                args.steps,
                cpu[f"pan step at {name}"],
                cpu[f"tag layout as a pan pauses at {name}"],
            )
            for name, z in zooms.items()
        }

        context(
            f"ms per pan step (scroll, its events, a full {VIEW_SIZE[0]}x{VIEW_SIZE[1]} repaint), "
            f"{args.steps} steps, image {WIDTH}x{HEIGHT}; baseline: no masks; "
            f"target p99 <= {TARGET_MS:.0f} ms"
        )
        worst = 0.0
        for name in zooms:
            b, m = baseline[name], loaded[name]
            worst = max(worst, percentile(m, 99))
            for q in (50, 99):
                figure(
                    f"pan step p{q} at {name} with {args.masks} masks",
                    percentile(m, q),
                    "ms",
                    baseline=percentile(b, q),
                    baseline_name="no masks",
                )
        view.set_document(None)
        zb, _ = zoom_frame_times(app, view)
        view.set_document(doc)
        view.build_pending_overlays()
        cpu["zoom step frame"] = []
        zm, zsharp = zoom_frame_times(app, view, cpu=cpu["zoom step frame"])
        # The first frame after a zoom step (~40% zoom): every visible item repaints its cache,
        # or (mask layer) the tiles of the zoom before stand in, drawn sharp between events.
        for q in (50, 99):
            figure(
                f"zoom step frame p{q} with {args.masks} masks",
                percentile(zm, q),
                "ms",
                baseline=percentile(zb, q),
                baseline_name="no masks",
            )
        for q in (50, 99):
            figure(
                f"zoom step until every tile is sharp p{q} with {args.masks} masks",
                percentile(zsharp, q),
                "ms",
                baseline=percentile(zb, q),
                baseline_name="no masks, frame",
            )
        view.set_document(None)
        empty = interaction_times(app, view)
        view.set_document(doc)
        view.build_pending_overlays()
        for name, values in interaction_times(app, view, cpu).items():
            # p50 as well: the threshold's p99 is its one jump from 0.9 back to 0.3, which
            # shows every proposal again at once.
            for q in (50, 99):
                figure(
                    f"{name} p{q} with {args.masks} masks",
                    percentile(values, q),
                    "ms",
                    baseline=percentile(empty[name], q),
                    baseline_name="no masks",
                )
        for name, values in cpu.items():
            figure(
                f"{name} CPU time p50 / p99 with {args.masks} masks",
                percentile(values, 50),
                "ms",
                baseline=percentile(values, 99),
                baseline_name="p99",
            )
        context(
            f"mask layer {'on' if view.mask_layer.isVisible() else 'off'}: "
            f"{view.mask_layer.stand_in_paints} paints showed a stand-in tile, "
            f"{view.mask_layer.tiles_drawn} tiles and {view.mask_layer.sprites_drawn} "
            "sprites drawn in all"
        )
        context(
            "median of the pan p50s with masks: "
            f"{statistics.median(percentile(v, 50) for v in loaded.values()):.2f} ms"
        )
        figure(
            "worst pan step p99 with masks",
            worst,
            "ms",
            baseline=TARGET_MS,
            baseline_name="target",
        )
        view.set_document(None)
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
