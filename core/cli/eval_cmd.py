"""`maskloop eval GT_JSON PRED_JSON [--iou-type segm|bbox]`: COCO AP with pycocotools.

PRED_JSON is a COCO results list or a COCO dataset whose annotations carry scores (both
forms `maskloop predict` writes). Prints COCOeval's summary, then AP per class.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.evaluation import IOU_TYPES


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="score predictions against a COCO ground truth (AP, AP50, AP75, per class)",
        description="Evaluate predictions (a COCO results list, or a COCO dataset with "
        "scored annotations) against a COCO ground truth with pycocotools' COCOeval.",
    )
    parser.add_argument("gt", type=Path, help="ground-truth COCO JSON")
    parser.add_argument("predictions", type=Path, help="predictions JSON")
    parser.add_argument("--iou-type", choices=IOU_TYPES, default="segm")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.evaluation.metrics import category_names, evaluate, load_ground_truth

    ground_truth = load_ground_truth(args.gt)
    result = evaluate(ground_truth, args.predictions, iou_type=args.iou_type)
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
        }
        print(json.dumps(figures).replace("NaN", "null"))
    else:
        print(result.format(category_names(ground_truth)))
    return 0
