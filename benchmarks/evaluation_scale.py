"""Evaluation at scale: 5,000 images, 50,000 GT instances, 60,000 predictions.

Random boxes on 160 x 120 images; in "segm" mode each instance is a small RLE mask (its box,
with a random rectangular bite out of it, so masks and boxes differ). Predictions are jittered
copies of most GT instances (some with another class), plus random ones, with random scores.
Times, per IoU type:
- from_coco: normalising both sides and computing every IoU once,
- match() at IoU 0.5 / score 0.5 (the first match), then at IoU 0.75 / score 0.3 (a
  re-match: what the analyst's view does live as a slider moves),
- metrics(): COCOeval (evaluate + accumulate + summarize) and the per-class curves,
and prints the re-match against from_coco (what it saves by not recomputing IoUs).

`--backends` times COCOeval alone (evaluate + accumulate + summarize, on the same normalised
inputs) with pycocotools and with faster-coco-eval, one line per IoU type:
`cocoeval faster <type>: T s (pycocotools T0 s, ratio T/T0)`, and checks the AP is the same.

    python benchmarks/evaluation_scale.py [--images 5000 --instances 50000 --predictions 60000]
    python benchmarks/evaluation_scale.py --backends
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from pycocotools import mask as mask_utils  # noqa: E402

from benchmarks._report import context, figure  # noqa: E402
from core.evaluation.matching import EvaluationData, MatchSettings  # noqa: E402

H, W = 120, 160
CATEGORIES = 8


def _mask(box: np.ndarray, rng: np.random.Generator) -> dict:
    x, y, w, h = (int(v) for v in box)
    mask = np.zeros((H, W), np.uint8)
    mask[y : y + h, x : x + w] = 1
    bite_w, bite_h = max(1, w // 3), max(1, h // 3)
    bx, by = x + int(rng.integers(0, w - bite_w + 1)), y + int(rng.integers(0, h - bite_h + 1))
    mask[by : by + bite_h, bx : bx + bite_w] = 0
    rle = mask_utils.encode(np.asfortranarray(mask))
    return {"size": [H, W], "counts": rle["counts"].decode("ascii")}


def _random_box(rng: np.random.Generator) -> np.ndarray:
    w, h = int(rng.integers(6, 50)), int(rng.integers(6, 40))
    return np.array([int(rng.integers(0, W - w)), int(rng.integers(0, H - h)), w, h])


def build(
    n_images: int, n_instances: int, n_predictions: int, iou_type: str, seed: int = 0
) -> tuple[dict, list[dict]]:
    rng = np.random.default_rng(seed)
    images = [
        {"id": i, "file_name": f"{i:06d}.jpg", "height": H, "width": W}
        for i in range(1, n_images + 1)
    ]
    annotations, objects = [], []
    for ann_id in range(1, n_instances + 1):
        image_id = int(rng.integers(1, n_images + 1))
        box = _random_box(rng)
        category = int(rng.integers(1, CATEGORIES + 1))
        ann = {
            "id": ann_id,
            "image_id": image_id,
            "category_id": category,
            "bbox": [float(v) for v in box],
            "area": float(box[2] * box[3]),
            "iscrowd": int(rng.random() < 0.01),
        }
        if iou_type == "segm":
            ann["segmentation"] = _mask(box, rng)
        annotations.append(ann)
        objects.append((image_id, category, box))
    predictions = []
    for _ in range(n_predictions):
        if rng.random() < 0.75:
            image_id, category, box = objects[int(rng.integers(len(objects)))]
            box = np.clip(box + rng.integers(-2, 3, size=4), [0, 0, 3, 3], [W - 4, H - 4, 60, 50])
            box[2], box[3] = min(box[2], W - box[0]), min(box[3], H - box[1])
            if rng.random() < 0.1:
                category = int(rng.integers(1, CATEGORIES + 1))
        else:
            image_id, category = int(rng.integers(1, n_images + 1)), int(rng.integers(1, 9))
            box = _random_box(rng)
        pred = {"image_id": image_id, "category_id": category, "score": float(rng.random())}
        if iou_type == "segm":
            pred["segmentation"] = _mask(box, rng)
        else:
            pred["bbox"] = [float(v) for v in box]
        predictions.append(pred)
    categories = [{"id": c, "name": f"class{c}"} for c in range(1, CATEGORIES + 1)]
    return {"images": images, "annotations": annotations, "categories": categories}, predictions


def run(args: argparse.Namespace, iou_type: str) -> None:
    started = time.perf_counter()
    gt, predictions = build(args.images, args.instances, args.predictions, iou_type)
    context(
        f"[{iou_type}] {args.images} images, {len(gt['annotations'])} GT, "
        f"{len(predictions)} predictions (built in {time.perf_counter() - started:.1f} s)"
    )
    started = time.perf_counter()
    data = EvaluationData.from_coco(gt, predictions, iou_type=iou_type)  # type: ignore[arg-type]
    prepare = time.perf_counter() - started

    started = time.perf_counter()
    first = data.match(MatchSettings(0.5, 0.5, iou_type))  # type: ignore[arg-type]
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    again = data.match(MatchSettings(0.75, 0.3, iou_type))  # type: ignore[arg-type]
    rematch_s = time.perf_counter() - started
    started = time.perf_counter()
    first.image_counts()
    first.errors()
    first.confusion()
    summaries_s = time.perf_counter() - started

    started = time.perf_counter()
    result, per_class = data.metrics(MatchSettings(0.5, 0.5, iou_type))  # type: ignore[arg-type]
    metrics_s = time.perf_counter() - started
    started = time.perf_counter()
    data.metrics(MatchSettings(0.75, 0.3, iou_type))  # type: ignore[arg-type]
    metrics_again_s = time.perf_counter() - started

    context(f"[{iou_type}] first match {first.total()}, re-match {again.total()}")
    context(f"[{iou_type}] AP {result.ap:.4f}, {len(per_class)} classes")
    figure(f"[{iou_type}] from_coco (IoUs once)", prepare, "s")
    figure(f"[{iou_type}] match IoU 0.5 / score 0.5", first_s, "s")
    figure(
        f"[{iou_type}] re-match IoU 0.75 / score 0.3",
        rematch_s,
        "s",
        baseline=prepare,
        baseline_name="from_coco",
    )
    figure(f"[{iou_type}] image_counts+errors+confusion", summaries_s, "s")
    figure(f"[{iou_type}] metrics() (COCOeval, first)", metrics_s, "s")
    figure(
        f"[{iou_type}] metrics() again (cached COCOeval)",
        metrics_again_s,
        "s",
        baseline=metrics_s,
        baseline_name="first",
    )


def compare_backends(args: argparse.Namespace, iou_type: str) -> None:
    from core.evaluation.metrics import evaluate

    gt, predictions = build(args.images, args.instances, args.predictions, iou_type)
    took, aps = {}, {}
    for backend in ("pycocotools", "faster"):
        started = time.perf_counter()
        result = evaluate(gt, predictions, iou_type=iou_type, backend=backend)
        took[backend] = time.perf_counter() - started
        aps[backend] = result.ap
    base, fast = took["pycocotools"], took["faster"]
    figure(f"cocoeval faster {iou_type}", fast, "s", baseline=base, baseline_name="pycocotools")
    same = abs(aps["faster"] - aps["pycocotools"]) < 1e-12
    context(
        f"cocoeval faster {iou_type} AP {aps['faster']:.6f}, pycocotools "
        f"{aps['pycocotools']:.6f}: {'same' if same else 'DIFFERENT'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--instances", type=int, default=50000)
    parser.add_argument("--predictions", type=int, default=60000)
    parser.add_argument("--iou-type", choices=("segm", "bbox", "both"), default="both")
    parser.add_argument(
        "--backends", action="store_true", help="time COCOeval with pycocotools and faster"
    )
    args = parser.parse_args()
    for iou_type in ("bbox", "segm") if args.iou_type == "both" else (args.iou_type,):
        (compare_backends if args.backends else run)(args, iou_type)


if __name__ == "__main__":
    main()
