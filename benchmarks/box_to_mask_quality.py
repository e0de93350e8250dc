"""Box-to-mask quality: mean mask IoU from ground-truth boxes on held-out shapes, after a
lite trained for a few minutes through the production trainer (issue 15's target: 0.75).

    python benchmarks/box_to_mask_quality.py [--minutes 5] [--images 300]

Trains lite on plain-style synthetic shapes (flat backgrounds, 96-128 px), exactly as
`maskloop train --minutes M` would, then feeds each held-out object's true box to
`BoxSegmenter` (the model's own RoIAlign and mask head) with the box head's class and with
the true class picked. The test suite holds the same measure after 3 epochs (~90 s of CPU).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import context, figure  # noqa: E402

from core.demo.shapes import generate_shapes_dataset  # noqa: E402
from core.detection.box_to_mask import BoxSegmenter  # noqa: E402
from core.detection.detector import Detector  # noqa: E402
from core.files.images import read_image  # noqa: E402
from core.training import TrainConfig, train  # noqa: E402

TARGET_IOU = 0.75
SIZES = {"min_size": 96, "max_size": 128}


def held_out_ious(checkpoint: Path, root: Path, n_images: int) -> dict[str, list[float]]:
    json_path = generate_shapes_dataset(
        root / "held_out", n_images=n_images, seed=99, style="plain", **SIZES
    )
    data = json.loads(json_path.read_text())
    segmenter = BoxSegmenter(Detector.load(str(checkpoint), device="cpu"))
    ious: dict[str, list[float]] = {
        "box head's class": [],
        "true class picked": [],
        "the whole box as the mask": [],  # what a mask head that learned nothing scores
    }
    for image in data["images"]:
        anns = [a for a in data["annotations"] if a["image_id"] == image["id"]]
        if not anns:
            continue
        segmenter.prepare(image["id"], read_image(json_path.parent / "images" / image["file_name"]))
        boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)])
        for ann, box, auto in zip(anns, boxes, segmenter.segment(image["id"], boxes), strict=True):
            truth = mask_utils.decode(ann["segmentation"]).astype(bool)
            (picked,) = segmenter.segment(image["id"], box[None], category_id=ann["category_id"])
            whole_box = np.zeros_like(truth)
            x0, y0, x1, y1 = (int(round(v)) for v in box)
            whole_box[y0:y1, x0:x1] = True
            candidates = (
                ("box head's class", auto.mask),
                ("true class picked", picked.mask),
                ("the whole box as the mask", whole_box),
            )
            for name, mask in candidates:
                ious[name].append(float((mask & truth).sum() / max(1, (mask | truth).sum())))
    return ious


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--held-out", type=int, default=40)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="maskloop-b2m-quality-"))
    try:
        train_json = generate_shapes_dataset(
            root / "train", n_images=args.images, seed=5, style="plain", **SIZES
        )
        start = time.perf_counter()
        result = train(
            TrainConfig(
                train_json=train_json,
                images_dir=train_json.parent / "images",
                out=root / "lite.pt",
                minutes=args.minutes,
                seed=0,
                workers=0,
                val_fraction=0.0,
                min_size=SIZES["min_size"],
                max_size=SIZES["max_size"],
            )
        )
        assert result.checkpoint is not None
        context(f"lite, {args.images} plain shapes, {args.minutes:g} min budget, trained in "
                f"{time.perf_counter() - start:.0f} s; 2-core CPU, no GPU")  # fmt: skip
        ious = held_out_ious(result.checkpoint, root, args.held_out)
        context(f"{len(ious[next(iter(ious))])} held-out objects")
        for name, values in ious.items():
            figure(f"mask IoU from true boxes, {name}", float(np.mean(values)), "",
                   baseline=TARGET_IOU, baseline_name="target")  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
