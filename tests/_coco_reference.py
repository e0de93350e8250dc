"""pycocotools' COCOeval run directly: the reference the evaluation tests compare against."""

from __future__ import annotations

import contextlib
import copy
import io
from typing import Any

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def cocoeval_reference(gt: dict[str, Any], preds: list[dict[str, Any]], iou_type: str) -> COCOeval:
    """evaluate, accumulate and summarize (quietly) on copies of `gt` and `preds`."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        evaluator = COCOeval(coco_gt, coco_gt.loadRes(copy.deepcopy(preds)), iouType=iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator
