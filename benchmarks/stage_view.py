"""Cost of the Stage view's step-by-step run over the model's own forward, same process.

    python benchmarks/stage_view.py [--arch lite] [--images 4] [--repeats 3]

Baseline: the MaskRCNN's forward under inference_mode, one 640x480 image at a time (what
the stage view replaces). Measured: `core.detection.stages.inspect_detector` on the same
images, which also keeps every proposal's class scores, the NMS victims and their removers,
and the mask logits. Runs alternate and the best of `repeats` is kept for each.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.predict_speed import random_detector, textured_images  # noqa: E402
from core.detection.stages import inspect_detector  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="lite")
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    images = textured_images(args.images)
    detector = random_detector(args.arch)
    model = detector.model
    tensors = [torch.from_numpy(i).permute(2, 0, 1).float().div(255) for i in images]

    def forward() -> None:
        with torch.inference_mode():
            for tensor in tensors:
                model([tensor])

    def stages() -> None:
        for image in images:
            inspect_detector(detector, image)

    forward()  # warm-up
    times: dict[str, list[float]] = {"forward": [], "stages": []}
    for _ in range(args.repeats):
        for name, fn in (("forward", forward), ("stages", stages)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    base = min(times["forward"]) / args.images * 1000
    ours = min(times["stages"]) / args.images * 1000
    threads = torch.get_num_threads()
    print(f"# {args.arch}, 640x480, {threads} threads")
    print(f"{args.arch} model forward: {base:.0f} ms/image (no baseline)")
    print(
        f"{args.arch} inspect_stages: {ours:.0f} ms/image "
        f"(model forward {base:.0f} ms, ratio {ours / base:.2f})"
    )


if __name__ == "__main__":
    main()
