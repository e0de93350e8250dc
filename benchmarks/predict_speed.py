"""Prediction speed and memory of MaskLoop's detector on CPU at 640x480.

    python benchmarks/predict_speed.py [--images 6] [--arch lite r50-fpn-v2] [--threads N]

Random weights (no download needed), so detections per image depend on the random init;
images per second is the figure to compare. Peak RSS comes from getrusage (whole process,
monotonic, so architectures are measured in the order given); the Python-side peak is
tracemalloc's, covering the RLE encoding and result objects MaskLoop adds.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import context, figure  # noqa: E402
from core.detection.architectures import build_model  # noqa: E402
from core.detection.detector import Detector  # noqa: E402


def textured_images(n: int, width: int = 640, height: int = 480, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    images = []
    for _ in range(n):
        base = (np.sin(xx / rng.uniform(5, 40)) + np.cos(yy / rng.uniform(5, 40))) * 60 + 128
        image = np.repeat(base[..., None], 3, axis=2) + rng.normal(0, 20, (height, width, 3))
        for _ in range(4):  # a few flat blobs to give the heads something object-like
            x, y, r = (
                rng.integers(60, width - 60),
                rng.integers(60, height - 60),
                rng.integers(20, 60),
            )
            image[(xx - x) ** 2 + (yy - y) ** 2 < r * r] = rng.integers(0, 255, 3)
        images.append(np.clip(image, 0, 255).astype(np.uint8))
    return images


def random_detector(arch: str) -> Detector:
    torch.manual_seed(0)
    num_classes = 4 if arch == "lite" else 91
    model = build_model(arch, num_classes=num_classes)
    from core.records import Category

    categories = [Category(i, f"class {i}") for i in range(1, num_classes)]
    return Detector(
        model,
        arch=arch,
        label_category_ids=list(range(num_classes)),
        categories=categories,
        model_key=f"{arch}-random",
        device="cpu",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--arch", nargs="+", default=["lite", "r50-fpn-v2"])
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    images = textured_images(args.images)
    context(
        f"CPU, {torch.get_num_threads()} threads, {args.images} images 640x480, batch "
        f"{args.batch_size}, random weights"
    )
    for arch in args.arch:
        detector = random_detector(arch)
        detector.predict(images[:1])  # warm-up: lazy allocations, oneDNN kernel selection
        tracemalloc.start()
        start = time.perf_counter()
        results = detector.predict(images, batch_size=args.batch_size)
        elapsed = time.perf_counter() - start
        _, python_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        detections = sum(len(r) for r in results)
        rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        context(f"{arch}: {detections / args.images:.0f} detections per image")
        figure(f"{arch} predict", args.images / elapsed, "images/s")
        figure(f"{arch} predict latency", elapsed / args.images * 1000, "ms/image")
        figure(f"{arch} peak RSS", rss_mib, "MiB")
        figure(f"{arch} Python-side peak", python_peak / 2**20, "MiB")

if __name__ == "__main__":
    main()
