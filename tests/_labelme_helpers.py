"""A dataset as labelme2coco writes it: category 0 "_background_" with no annotations, ids
from 0, null supercategory / url / date_captured / info fields, and a top-level "type"."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import write_png

IMAGE_W, IMAGE_H = 64, 48


@dataclass
class LabelmeCoco:
    json_path: Path
    images_dir: Path
    data: dict[str, Any]


def make_labelme_coco(root: Path, images: int = 2) -> LabelmeCoco:
    images_dir = root / "images"
    data: dict[str, Any] = {
        "info": {
            "description": None,
            "url": None,
            "version": None,
            "year": 2024,
            "contributor": None,
            "date_created": "2024-05-01 12:00:00.000000",
        },
        "licenses": [{"url": None, "id": 0, "name": None}],
        "images": [],
        "type": "instances",
        "annotations": [],
        "categories": [
            {"supercategory": None, "id": 0, "name": "_background_"},
            {"supercategory": None, "id": 1, "name": "square"},
            {"supercategory": None, "id": 2, "name": "bar", "color": [255, 0, 0]},
        ],
    }
    for i in range(images):
        name = f"img_{i}.png"
        write_png(images_dir / name, IMAGE_W, IMAGE_H, value=40 + 30 * i)
        data["images"].append(
            {
                "license": 0,
                "url": None,
                "file_name": name,
                "height": IMAGE_H,
                "width": IMAGE_W,
                "date_captured": None,
                "id": i,
            }
        )
        x, y = 6 + 4 * i, 8
        square = [x, y, x + 20, y, x + 20, y + 20, x, y + 20]
        bar = [40.0, 4.0, 48.0, 4.0, 48.0, 40.0, 40.0, 40.0]
        for category, polygon, area in ((1, square, 400.0), (2, bar, 288.0)):
            xs, ys = polygon[0::2], polygon[1::2]
            data["annotations"].append(
                {
                    "id": len(data["annotations"]),
                    "image_id": i,
                    "category_id": category,
                    "segmentation": [polygon],
                    "area": area,
                    "bbox": [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)],
                    "iscrowd": 0,
                }
            )
    json_path = root / "annotations.json"
    json_path.write_text(json.dumps(data), encoding="utf-8")
    return LabelmeCoco(json_path, images_dir, data)
