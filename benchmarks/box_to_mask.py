"""Box-to-mask latency: the first box on an image (backbone + heads) and every box after it.

    python benchmarks/box_to_mask.py [--archs lite r50-fpn-v2] [--boxes 20] [--repeats 3]

One 640x480 textured image, random weights (latency does not depend on what was learnt).
`first call` is `prepare` + `segment` on an image not seen before: what the annotator waits
for on the first box; `after first` is the median `segment` of a box being dragged (a new box
each call), which is all a moved or resized box costs. Baseline: `Detector.predict` on the
same image, the full model with its RPN and NMS. Target: lite after the first call well
under 150 ms on a CPU.

`--huge-side N` (default 20,000; 0 skips it) adds the same for the `--huge-archs` (lite) on
an N x N image memory-mapped from a .npy file, as the app reads a huge image's tile pyramid:
box-to-mask runs the backbone on a window around the box at the model's scale
(core/detection/box_windows.py). `first box` is prepare + segment of a 100 px box (baseline:
the 640x480 first call); `moved box` the median of boxes moved within that window, heads only
(baseline: the first box); `new window` a box far away, a new window's backbone + heads.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.predict_speed import random_detector, textured_images  # noqa: E402
from core.detection.box_to_mask import BoxSegmenter  # noqa: E402


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def measure(arch: str, boxes: int, repeats: int) -> float:
    (image,) = textured_images(1)
    detector = random_detector(arch)
    detector.predict([image])  # warm-up: allocator, kernels
    predict = min(_timed(lambda: detector.predict([image])) for _ in range(repeats))
    segmenter = BoxSegmenter(detector)
    firsts, afters = [], []
    for round_ in range(repeats):
        key = ("bench", round_)  # a new image key: the backbone runs again

        def first(key=key) -> None:
            segmenter.prepare(key, image)
            segmenter.segment(key, np.array([[200.0, 150.0, 330.0, 260.0]]))

        firsts.append(_timed(first))
        for i in range(boxes):  # a box being dragged: each call a slightly different box
            box = np.array([[200.0 + i, 150.0 + i / 2, 330.0 + 2 * i, 260.0 + i]])
            afters.append(_timed(lambda box=box, key=key: segmenter.segment(key, box)))
        segmenter.forget(key)
    first_ms, after_ms = _ms(min(firsts)), _ms(statistics.median(afters))
    predict_ms = _ms(predict)
    print(
        f"{arch} first call: {first_ms:.1f} ms "
        f"(predict {predict_ms:.1f} ms, {first_ms / predict_ms:.2f}x)"
    )
    print(
        f"{arch} after first: {after_ms:.1f} ms "
        f"(first call {first_ms:.1f} ms, {after_ms / first_ms:.3f}x; target < 150 ms)"
    )
    return first_ms


def huge_image(folder: Path, side: int) -> np.ndarray:
    """A side x side textured RGB image written strip by strip to a .npy file and
    memory-mapped, like a tile pyramid's level 0 (only the windows read are paged in)."""
    (texture,) = textured_images(1)
    th, tw = texture.shape[:2]
    path = folder / "level-0.npy"
    pixels = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(side, side, 3))
    row = np.tile(texture, (1, -(-side // tw), 1))[:, :side]
    for y in range(0, side, th):
        pixels[y : y + th] = row[: min(th, side - y)]
    pixels.flush()
    del pixels
    return np.load(path, mmap_mode="r")


def measure_huge(arch: str, side: int, boxes: int, repeats: int, small_first_ms: float) -> None:
    detector = random_detector(arch)
    with tempfile.TemporaryDirectory(prefix="maskloop-bench-") as folder:
        image = huge_image(Path(folder), side)
        segmenter = BoxSegmenter(detector)
        firsts, moved, far = [], [], []
        for round_ in range(repeats + 1):  # round 0 warms up the kernels
            key = ("huge", round_)
            x, y = side * 0.6 + 37 * round_, side * 0.7 + 23 * round_
            box = np.array([[x, y, x + 100.0, y + 100.0]])

            def first(key=key, box=box) -> None:
                segmenter.prepare(key, image)
                segmenter.segment(key, box)

            elapsed = _timed(first)
            for i in range(boxes):  # dragged within the window the first box opened
                shifted = box + [[i, i / 2, 2 * i, i]]
                moved.append(_timed(lambda b=shifted, key=key: segmenter.segment(key, b)))
            elsewhere = box - [[side * 0.4, side * 0.5, side * 0.4, side * 0.5]]
            far_time = _timed(lambda b=elsewhere, key=key: segmenter.segment(key, b))
            if round_:
                firsts.append(elapsed)
                far.append(far_time)
            segmenter.forget(key)
        runs_per_round = segmenter.backbone_runs / (repeats + 1)
    first_ms, moved_ms, far_ms = _ms(min(firsts)), _ms(statistics.median(moved)), _ms(min(far))
    name = f"{arch} {side}px"
    print(
        f"{name} first box: {first_ms:.1f} ms "
        f"(640x480 first call {small_first_ms:.1f} ms, {first_ms / small_first_ms:.2f}x)"
    )
    print(
        f"{name} moved box: {moved_ms:.1f} ms (first box {first_ms:.1f} ms, {moved_ms / first_ms:.3f}x)"
    )
    print(
        f"{name} new window: {far_ms:.1f} ms (first box {first_ms:.1f} ms, {far_ms / first_ms:.2f}x)"
    )
    print(f"{name} backbone runs per image: {runs_per_round:.0f} (first box + new window: 2)")


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=["lite", "r50-fpn-v2"])
    parser.add_argument("--boxes", type=int, default=20, help="boxes per image after the first")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--huge-side", type=int, default=20_000, help="side of the huge image (0: skip it)"
    )
    parser.add_argument("--huge-archs", nargs="+", default=["lite"])
    parser.add_argument(
        "--threads", type=int, default=0, help="torch CPU threads (default: torch's own)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)"
    print(f"# {platform.processor() or platform.machine()}, {device}, torch {torch.__version__}")
    small_first = {arch: measure(arch, args.boxes, args.repeats) for arch in args.archs}
    if args.huge_side:
        for arch in args.huge_archs:
            if arch not in small_first:
                small_first[arch] = measure(arch, args.boxes, args.repeats)
            measure_huge(arch, args.huge_side, args.boxes, args.repeats, small_first[arch])


if __name__ == "__main__":
    main()
