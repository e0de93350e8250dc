"""The one converter from a torchvision Mask R-CNN output to Detections and COCO results."""

from __future__ import annotations

import numpy as np
import torch
from pycocotools import mask as mask_utils

from core.detection.detector import (
    Detection,
    detections_from_output,
    label_category_table,
)


def _output() -> dict[str, torch.Tensor]:
    masks = torch.zeros(4, 1, 10, 12)
    masks[0, 0, 2:5, 3:7] = 0.9  # 12 pixels
    masks[1, 0, 0:2, 0:2] = 0.4  # below the threshold: an empty mask
    masks[2, 0, 6:9, 8:12] = 0.7
    masks[3, 0, 1:3, 1:3] = 0.8  # its label has no category
    return {
        "boxes": torch.tensor(
            [[3.0, 2.0, 7.0, 5.0], [0.0, 0.0, 2.0, 2.0], [8.0, 6.0, 14.0, 9.0], [1, 1, 3, 3]]
        ),
        "scores": torch.tensor([0.9, 0.8, 0.7, 0.6]),
        "labels": torch.tensor([1, 2, 2, 3]),
        "masks": masks,
    }


def test_output_becomes_detections_with_category_ids_rle_and_clamped_boxes() -> None:
    table = label_category_table([0, 7, 42, 99], known={7, 42})
    assert table.tolist() == [-1, 7, 42, -1]
    detections = detections_from_output(_output(), table)
    assert [(d.category_id, round(d.score, 2)) for d in detections] == [(7, 0.9), (42, 0.7)]
    first, second = detections
    assert first.bbox == (3.0, 2.0, 4.0, 3.0)
    assert second.bbox == (8.0, 6.0, 4.0, 3.0)  # x2 = 14 clamped to the image width 12
    expected = np.zeros((10, 12), dtype=np.uint8)
    expected[2:5, 3:7] = 1
    assert np.array_equal(
        mask_utils.decode({**first.rle, "counts": first.rle["counts"].encode()}), expected
    )
    assert first.area == 12.0 and isinstance(first.rle["counts"], str)


def test_coco_result_uses_the_given_category_id() -> None:
    rle = {"size": [2, 2], "counts": "04"}
    detection = Detection(7, 0.5, (1.0, 2.0, 3.0, 4.0), rle)
    assert detection.coco_result(5) == {
        "image_id": 5,
        "category_id": 7,
        "bbox": [1.0, 2.0, 3.0, 4.0],
        "score": 0.5,
        "segmentation": rle,
    }
    assert detection.coco_result(5, category_id=1)["category_id"] == 1
