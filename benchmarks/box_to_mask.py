"""Box-to-mask latency: the first box on an image (backbone + heads) and every box after it.

    python benchmarks/box_to_mask.py [--archs lite r50-fpn-v2] [--boxes 20] [--repeats 3]

One 640x480 textured image, random weights (latency does not depend on what was learnt).
`first call` is `prepare` + `segment` on an image not seen before: what the annotator waits
for on the first box; `after first` is the median `segment` of a box being dragged (a new box
each call), which is all a moved or resized box costs. Baseline: `Detector.predict` on the
same image, the full model with its RPN and NMS. Target: lite after the first call well
under 150 ms on a CPU.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.predict_speed import random_detector, textured_images  # noqa: E402
from core.detection.box_to_mask import BoxSegmenter  # noqa: E402


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def measure(arch: str, boxes: int, repeats: int) -> None:
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
        "--threads", type=int, default=0, help="torch CPU threads (default: torch's own)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)"
    print(f"# {platform.processor() or platform.machine()}, {device}, torch {torch.__version__}")
    for arch in args.archs:
        measure(arch, args.boxes, args.repeats)


if __name__ == "__main__":
    main()
