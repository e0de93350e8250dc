"""Mask AP of a ground truth that also holds box-only annotations (no segmentation)."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from core.evaluation.metrics import evaluate


def _rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


def test_box_only_ground_truth_is_ignored_in_mask_ap_and_kept_in_box_ap() -> None:
    drawn = np.zeros((40, 60), dtype=bool)
    drawn[5:15, 5:20] = True
    # A thin shape inside the box-only object: far below IoU 0.5 with its box as a mask.
    inside = np.zeros((40, 60), dtype=bool)
    inside[27:30, 32:48] = True
    gt = {
        "images": [{"id": 1, "file_name": "a.png", "width": 60, "height": 40}],
        "categories": [{"id": 1, "name": "thing"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [5, 5, 15, 10],
             "segmentation": _rle(drawn), "area": 150.0, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [30, 22, 20, 13], "iscrowd": 0},
        ],
    }  # fmt: skip
    predictions = [
        {"image_id": 1, "category_id": 1, "score": 0.9, "bbox": [5, 5, 15, 10],
         "segmentation": _rle(drawn)},
        {"image_id": 1, "category_id": 1, "score": 0.8, "bbox": [30, 22, 20, 13],
         "segmentation": _rle(inside)},
    ]  # fmt: skip
    masks = evaluate(gt, predictions, iou_type="segm")
    assert masks.ap == pytest.approx(
        1.0
    )  # the detection inside the box-only object is no false positive
    boxes = evaluate(gt, predictions, iou_type="bbox")
    assert boxes.ap == pytest.approx(1.0)  # both boxes are real ground truth there
    assert gt["annotations"][1].get("segmentation") is None  # the caller's data is untouched
