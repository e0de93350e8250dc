"""`maskloop eval GT_JSON PRED_JSON [--iou-type segm|bbox] [--iou 0.5] [--score 0.5]
[--per-image OUT.csv] [--confusion OUT.csv] [--per-instance OUT.csv [--model M --images DIR]]`:
COCO AP with pycocotools, and TP/FP/FN.

PRED_JSON is a COCO results list or a COCO dataset whose annotations carry scores (both
forms `maskloop predict` writes). Prints COCOeval's summary, then AP per class, then the
TP/FP/FN totals at `--iou` and `--score` under COCOeval's matching rules (the analyst's view
uses the same ones). `--per-image` writes one row per image; `--confusion` the confusion
matrix between classes, plus background; `--per-instance` one row per instance and prediction,
with a cause for every miss (core/cli/eval_per_instance.py; `--model` loads torch, only then).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import MaskLoopError
from core.evaluation import BACKENDS, DEFAULT_BACKEND, IOU_TYPES

if TYPE_CHECKING:  # only for annotations: building the parser must stay light (no numpy)
    from core.evaluation.matching import EvaluationData, MatchResult

PER_IMAGE_COLUMNS = ("file_name", "image_id", "tp", "fp", "fn", "precision", "recall", "f1")


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="score predictions against a COCO ground truth (AP, per class, TP/FP/FN)",
        description="Evaluate predictions (a COCO results list, or a COCO dataset with "
        "scored annotations) against a COCO ground truth with pycocotools' COCOeval, and "
        "match them per image (TP/FP/FN) with COCOeval's rules at one IoU and score threshold.",
    )
    parser.add_argument("gt", type=Path, help="ground-truth COCO JSON")
    parser.add_argument("predictions", type=Path, help="predictions JSON")
    parser.add_argument("--iou-type", choices=IOU_TYPES, default="segm")
    parser.add_argument("--iou", type=_fraction, default=0.5, help="IoU a TP needs (default 0.5)")
    parser.add_argument(
        "--score",
        type=_fraction,
        default=0.5,
        help="predictions scoring below are left out of TP/FP/FN (default 0.5; AP uses all)",
    )
    parser.add_argument(
        "--per-image",
        type=Path,
        metavar="OUT.csv",
        help="write one row per image: " + ",".join(PER_IMAGE_COLUMNS),
    )
    parser.add_argument(
        "--confusion",
        type=Path,
        metavar="OUT.csv",
        help="write the confusion matrix (rows: ground truth, columns: predicted, plus background)",
    )
    parser.add_argument(
        "--per-instance",
        type=Path,
        metavar="OUT.csv",
        help="write one row per ground-truth instance and per prediction (TP/FP/FN, the cause "
        "of each miss, score, IoU, box)",
    )
    parser.add_argument(
        "--model",
        metavar="M",
        help="with --per-instance: a checkpoint or architecture whose two stages explain each "
        "miss (not proposed, scored low, suppressed); needs --images",
    )
    parser.add_argument(
        "--images", type=Path, metavar="DIR", help="the images of GT_JSON (for --model)"
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=DEFAULT_BACKEND,
        help="COCOeval's implementation: pycocotools (default) or faster (faster-coco-eval, "
        'the same figures, faster on big sets; pip install "maskloop[fast]")',
    )
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.evaluation.matching import EvaluationData, MatchSettings

    settings = MatchSettings(args.iou, args.score, args.iou_type)
    if args.model and not (args.images and args.per_instance):
        raise MaskLoopError("--model needs --images DIR and --per-instance OUT.csv")
    data = EvaluationData.from_coco(
        args.gt, args.predictions, iou_type=args.iou_type, backend=args.backend
    )
    result, _ = data.metrics(settings)
    matched = data.match(settings)
    total = matched.total()
    if args.per_image:
        write_per_image(args.per_image, data, matched)
    if args.confusion:
        write_confusion(args.confusion, data, matched)
    if args.per_instance:
        from core.cli.eval_per_instance import stage_views, write_per_instance

        views = None
        if args.model:
            views = stage_views(data, matched, model=args.model, images_dir=args.images)
        write_per_instance(args.per_instance, data, matched, views)
    if args.json:
        figures = {
            "iou_type": result.iou_type,
            "ap": result.ap,
            "ap50": result.ap50,
            "ap75": result.ap75,
            "ap_small": result.ap_small,
            "ap_medium": result.ap_medium,
            "ap_large": result.ap_large,
            "per_class": {str(k): v for k, v in result.per_class.items()},
            "num_predictions": result.num_predictions,
            "iou": settings.iou_threshold,
            "score": settings.score_threshold,
            "tp": total.tp,
            "fp": total.fp,
            "fn": total.fn,
        }
        print(json.dumps(figures).replace("NaN", "null"))
    else:
        print(result.format(data.category_names))
        print(
            f"at IoU {settings.iou_threshold:g}, score {settings.score_threshold:g}: "
            f"TP {total.tp}  FP {total.fp}  FN {total.fn}  precision {total.precision:.4f}  "
            f"recall {total.recall:.4f}  F1 {total.f1:.4f}"
        )
    return 0


def write_per_image(path: Path, data: EvaluationData, matched: MatchResult) -> None:
    """One row per image of the ground truth, in its order (zeros included)."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(PER_IMAGE_COLUMNS)
        for image_id, counts in matched.image_counts().items():
            writer.writerow(
                [
                    data.file_names.get(image_id, ""),
                    image_id,
                    counts.tp,
                    counts.fp,
                    counts.fn,
                    f"{counts.precision:.6g}",
                    f"{counts.recall:.6g}",
                    f"{counts.f1:.6g}",
                ]
            )


def write_confusion(path: Path, data: EvaluationData, matched: MatchResult) -> None:
    """The matrix with category names as header; rows ground truth, columns predicted."""
    from core.evaluation.matching import BACKGROUND

    matrix = matched.confusion()
    names = [
        "background" if cid == BACKGROUND else data.category_names[cid]
        for cid in matrix.category_ids
    ]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["ground truth \\ predicted", *names])
        for name, row in zip(names, matrix.counts, strict=True):
            writer.writerow([name, *row])
