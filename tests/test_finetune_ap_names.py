"""The fine-tune dialog's before/after AP matches model and file categories by the one rule."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from core.detection import detector as detector_module
from core.detection.detector import Detection
from core.records import Category
from core.training.finetune_data import evaluate_model_ap


class _PerfectDetector:
    """Finds exactly the one object, under the model's own name and id for its class."""

    categories = [Category(1, "circle")]

    def __init__(self, rle: dict) -> None:
        self._rle = rle

    def predict(self, images: list[np.ndarray]) -> list[list[Detection]]:
        return [[Detection(1, 0.9, (4.0, 6.0, 10.0, 8.0), self._rle)] for _ in images]


def test_model_categories_match_the_files_ignoring_case_and_spaces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mask = np.zeros((24, 32), dtype=np.uint8)
    mask[6:14, 4:14] = 1
    encoded = mask_utils.encode(np.asfortranarray(mask))
    rle = {"size": encoded["size"], "counts": encoded["counts"].decode("ascii")}
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((24, 32, 3), dtype=np.uint8))
    val_json = tmp_path / "val.json"
    val_json.write_text(
        json.dumps(
            {
                "images": [{"id": 3, "file_name": "a.png", "width": 32, "height": 24}],
                "categories": [{"id": 5, "name": " Circle"}],
                "annotations": [
                    {"id": 1, "image_id": 3, "category_id": 5, "segmentation": rle,
                     "bbox": [4, 6, 10, 8], "area": 80.0, "iscrowd": 0},
                ],
            }
        )
    )  # fmt: skip
    monkeypatch.setattr(
        detector_module.Detector, "load", classmethod(lambda cls, *a, **k: _PerfectDetector(rle))
    )
    assert evaluate_model_ap("model.pt", val_json, tmp_path) == pytest.approx(1.0)
