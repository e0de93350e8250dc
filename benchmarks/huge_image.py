"""Huge images: tile pyramid build and reopen, tiled canvas frames, tiled inference.

Writes a synthetic SIDE x SIDE JPEG (30,000 px by default: 2.7 GB of pixels; `--format png`
for a PNG), then measures:

- first preview: the reduced decode the canvas shows while the pyramid builds
  (core/files/preview.py), and its peak memory, in a child process; baseline: the pyramid
  build, before which nothing was on screen. A PNG has no reduced decode: its first preview
  is the first strip of the streamed build's 1/8 level, which then fills in until the build
  ends;
- pyramid build: the one-time decode into the tile pyramid (core/files/pyramid.py) and its
  peak memory, in a child process; baseline: a plain full decode (`read_image`), what
  opening the image cost on every visit before, and its peak memory;
- reopen: finding and opening the cached pyramid again (baseline: the plain decode);
- canvas frames: the tiled canvas (gui/canvas/tiled_image.py, offscreen, 1600 x 1000) fitted,
  then panned at 100 % and at 25 %, and zoomed in steps, each frame painted after its
  tiles are loaded (warm) and right after a jump to unseen tiles (cold, placeholders);
  baseline 16 ms, one frame at 60 Hz;
- tiled inference: `predict_tiled` with lite (random weights, so the figure is the cost of
  the tiles and the merge, not of detections) on a 1,000 x 1,000 crop, seconds per
  megapixel; baseline: the same image predicted whole (which the model shrinks to 256 px).

Each figure is one line `name: value unit (baseline, ratio)`.

    python benchmarks/huge_image.py [--side 30000] [--format jpg|png] [--keep DIR]

The load average is printed first and last: timings on a shared machine are CPU shares.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

FRAME_BUDGET_MS = 16.0


def line(name: str, value: float, unit: str, baseline: float, base_unit: str = "") -> None:
    ratio = value / baseline if baseline else float("nan")
    print(f"{name}: {value:.3g} {unit} ({baseline:.3g} {base_unit or unit}, {ratio:.3g})")


def write_image(path: Path, side: int) -> None:
    """Gradients and a grid of discs, written as JPEG a strip at a time would be ideal, but
    OpenCV encodes one array: this is the benchmark's own full-size allocation."""
    image = np.empty((side, side, 3), dtype=np.uint8)
    x = (np.arange(side) * 255 // side).astype(np.uint8)
    for y0 in range(0, side, 4096):
        rows = min(4096, side - y0)
        image[y0 : y0 + rows, :, 0] = x[None, :]
        image[y0 : y0 + rows, :, 1] = ((np.arange(y0, y0 + rows) * 255 // side) % 256)[:, None]
        image[y0 : y0 + rows, :, 2] = 120
    for cy in range(500, side, 1500):
        for cx in range(500, side, 1500):
            cv2.circle(image, (cx, cy), 300, (30, 200, 240), -1)
    params = (
        [cv2.IMWRITE_JPEG_QUALITY, 90]
        if path.suffix == ".jpg"
        else [cv2.IMWRITE_PNG_COMPRESSION, 1]
    )
    assert cv2.imwrite(str(path), image, params)


_CHILD = """
import resource, sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
t = time.perf_counter()
if {build!r} == "preview":
    from core.files.images import read_image_size
    from core.files.preview import decode_preview
    preview = decode_preview(Path({path!r}), *read_image_size(Path({path!r})))
    if preview is None:  # no reduced decode: the first strip of the streamed build's 1/8 level
        from core.files.pyramid import build_pyramid

        class First(Exception):
            pass

        def first(pixels, rows):
            raise First

        try:
            build_pyramid(Path({path!r}), Path({cache!r}), partial=first)
            print("nan", "nan")  # not streamed: the first pixels come with the build
            raise SystemExit
        except First:
            pass
elif {build!r}:
    from core.files.pyramid import build_pyramid
    build_pyramid(Path({path!r}), Path({cache!r}))
else:
    from core.files.images import read_image
    read_image(Path({path!r}))
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
try:  # Linux keeps ru_maxrss across exec (the parent's size at fork); VmHWM is this image's
    with open("/proc/self/status") as status:
        peak = next(int(l.split()[1]) for l in status if l.startswith("VmHWM")) / 1024
except (OSError, StopIteration):
    pass
print(seconds, peak)
"""


def child(path: Path, cache: Path, *, build: bool | str) -> tuple[float, float]:
    """(seconds, peak RSS MB) of a pyramid build, a plain decode or (build="preview") a
    reduced preview decode in a fresh process."""
    code = _CHILD.format(root=str(ROOT), path=str(path), cache=str(cache), build=build)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, peak = out.stdout.split()
    return float(seconds), float(peak)


def current_rss_mb() -> float:
    """Anonymous resident memory now (Linux: resident minus file-backed pages), not the peak:
    the image writer's array is long gone, and the pages of the memory-mapped level files
    that tiles were read from are page cache the system reclaims, not the canvas's own."""
    with open("/proc/self/statm") as statm:
        fields = statm.read().split()
    return (int(fields[1]) - int(fields[2])) * os.sysconf("SC_PAGE_SIZE") / 2**20


def canvas_frames(pyramid) -> dict[str, list[float]]:
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QTransform
    from PySide6.QtWidgets import QApplication

    from gui.canvas.view import CanvasView

    app = QApplication.instance() or QApplication([])
    view = CanvasView()
    view.resize(1600, 1000)
    view.show()
    app.processEvents()

    def frame(warm: bool) -> float:
        item = view.tiled_item
        if warm and item is not None:
            view.viewport().repaint()  # ask for the tiles, then wait for them
            item.loader.wait_idle(30)
            app.processEvents()
        t = time.perf_counter()
        view.viewport().repaint()
        return (time.perf_counter() - t) * 1000

    # What a frame of this view costs with no image at all: the machine's floor.
    times: dict[str, list[float]] = {"empty": [frame(False) for _ in range(10)]}
    view.set_tiled_image(pyramid)
    item = view.tiled_item
    assert item is not None
    view.zoom.fit()
    times["fit"] = [frame(True) for _ in range(5)]
    side = pyramid.width
    for scale, key in ((1.0, "pan100"), (0.25, "pan25")):
        view.setTransform(QTransform.fromScale(scale, scale))
        times[key] = []
        for step in range(20):
            view.centerOn(QPointF(side * 0.3 + step * 200 / scale, side * 0.4 + step * 90 / scale))
            times[key].append(frame(True))
    times["zoom"] = []
    for step in range(24):
        view.setTransform(QTransform.fromScale(0.03 * 1.2**step, 0.03 * 1.2**step))
        view.centerOn(QPointF(side * 0.55, side * 0.45))
        times["zoom"].append(frame(True))
    times["cold"] = []
    for step in range(10):  # jumps to places never seen: placeholders, tiles still loading
        view.setTransform(QTransform.fromScale(0.5, 0.5))
        view.centerOn(QPointF(side * (0.05 + 0.09 * step), side * (0.9 - 0.08 * step)))
        times["cold"].append(frame(False))
    item.loader.wait_idle(30)
    view.close()
    return times


def tiled_inference(path: Path) -> tuple[float, float, float]:
    """(tiled s/MP, the same tiles predicted as separate images s/MP, the image predicted
    whole s/MP) with lite on a 1,000 x 1,000 crop of the image."""
    import torch

    from core.detection.detector import Detector
    from core.detection.tiling import DEFAULT_OVERLAP, model_tile_size, predict_tiled, tile_windows
    from core.files.pyramid import open_pyramid

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    detector = Detector.load("lite", device="cpu")
    pyramid = open_pyramid(path, path.parent / "cache")
    assert pyramid is not None
    crop = np.ascontiguousarray(pyramid.level_array(0)[:1000, :1000])
    megapixels = crop.shape[0] * crop.shape[1] / 1e6
    size = model_tile_size(detector)
    t = time.perf_counter()
    predict_tiled(detector, crop, size, score_threshold=0.05)
    tiled = (time.perf_counter() - t) / megapixels
    windows = tile_windows(1000, 1000, size, DEFAULT_OVERLAP)
    tiles = [np.ascontiguousarray(crop[y0:y1, x0:x1]) for x0, y0, x1, y1 in windows]
    t = time.perf_counter()
    detector.predict(tiles, score_threshold=0.05, batch_size=4)
    bare = (time.perf_counter() - t) / megapixels
    t = time.perf_counter()
    detector.predict([crop], score_threshold=0.05)
    whole = (time.perf_counter() - t) / megapixels
    print(f"# {len(windows)} tiles of {size} px; lite's random weights give 100 detections a tile")
    return tiled, bare, whole


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=30_000)
    parser.add_argument("--format", choices=("jpg", "png"), default="jpg")
    parser.add_argument("--keep", type=Path, default=None, help="reuse/keep files in DIR")
    parser.add_argument("--skip-inference", action="store_true")
    parser.add_argument(
        "--reuse-tiles", action="store_true", help="with --keep: skip the decode and build figures"
    )
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="maskloop-huge-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"huge-{args.side}.{args.format}"
    print("# load average: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    cache = folder / "cache"
    try:
        if not path.exists():
            t = time.perf_counter()
            write_image(path, args.side)
            print(
                f"# wrote {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.0f} s"
            )
        from core.files.pyramid import open_pyramid

        decode_s = decode_mb = float("nan")
        if not (args.reuse_tiles and open_pyramid(path, cache) is not None):
            shutil.rmtree(cache, ignore_errors=True)
            decode_s, decode_mb = child(path, cache, build=False)
            preview_s, preview_mb = child(path, cache, build="preview")
            build_s, build_mb = child(path, cache, build=True)
            if preview_s == preview_s:  # not NaN: the format has a reduced decode
                line("first_preview", preview_s, "s", build_s)
                line("first_preview_peak_rss", preview_mb, "MB", decode_mb)
            else:
                print(f"# {args.format}: no preview; the first pixels come with the build")
            line("pyramid_build", build_s, "s", decode_s)
            line("pyramid_build_peak_rss", build_mb, "MB", decode_mb)

        t = time.perf_counter()
        pyramid = open_pyramid(path, cache)
        reopen = time.perf_counter() - t
        assert pyramid is not None
        line("pyramid_reopen", reopen, "s", decode_s)
        rss_before = current_rss_mb()
        times = canvas_frames(pyramid)
        for key, values in times.items():
            ordered = sorted(values)
            p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
            line(f"canvas_{key}_median", statistics.median(values), "ms", FRAME_BUDGET_MS)
            line(f"canvas_{key}_p90", p90, "ms", FRAME_BUDGET_MS)
        line("canvas_rss_growth", current_rss_mb() - rss_before, "MB", decode_mb)
        if not args.skip_inference:
            tiled, bare, whole = tiled_inference(path)
            # Against the same tiles predicted as separate images: the cost of mapping and
            # merging. The whole image is shrunk to the model's 256 px: cheap and blind.
            line("tiled_inference", tiled, "s/MP", bare)
            line("whole_image_inference", whole, "s/MP", tiled)
        print("# load average: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
