"""Overhead of MaskLoop's predict path over a bare torchvision forward, same process.

    python benchmarks/predict_overhead.py [--arch lite] [--images 8] [--repeats 3]

Baseline: the MaskRCNN's own forward under inference_mode on the same image tensors and
batches (this includes torchvision's paste of every mask into an image-size float array).
Measured: `Detector.predict`, which adds the uint8 -> float conversion, mask thresholding,
RLE encoding and Detection objects, but pastes each mask on its box crop only
(core/detection/mask_paste.py), so it can be cheaper than the baseline. Runs alternate and
the best of `repeats` is kept for each, to damp noise from other load. Target ratio: <= 1.05.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import context, figure  # noqa: E402
from benchmarks.predict_speed import random_detector, textured_images  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="lite")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--score-threshold", type=float, default=0.05)
    args = parser.parse_args()
    images = textured_images(args.images)
    detector = random_detector(args.arch)
    model = detector.model
    tensors = [torch.from_numpy(i).permute(2, 0, 1).float().div(255) for i in images]

    def bare() -> int:
        model.roi_heads.score_thresh = args.score_threshold
        found = 0
        with torch.inference_mode():
            for start in range(0, len(tensors), args.batch_size):
                outputs = model(tensors[start : start + args.batch_size])
                found += sum(len(o["scores"]) for o in outputs)
        return found

    def maskloop() -> int:
        results = detector.predict(
            images, score_threshold=args.score_threshold, batch_size=args.batch_size
        )
        return sum(len(r) for r in results)

    bare()  # warm-up
    bare_times, ours_times = [], []
    for _ in range(args.repeats):
        for fn, times in ((bare, bare_times), (maskloop, ours_times)):
            start = time.perf_counter()
            count = fn()
            times.append(time.perf_counter() - start)
    bare_s, ours_s = min(bare_times), min(ours_times)
    context(
        f"{args.arch}, {args.images} images 640x480, batch {args.batch_size}, random weights, "
        f"{count} detections, CPU {torch.get_num_threads()} threads; target ratio <= 1.05"
    )
    figure("bare torchvision forward", bare_s / args.images * 1000, "ms/image")
    figure(
        "Detector.predict (RLE)",
        ours_s / args.images * 1000,
        "ms/image",
        baseline=bare_s / args.images * 1000,
        baseline_name="bare torchvision forward",
    )

if __name__ == "__main__":
    main()
