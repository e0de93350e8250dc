"""Shared fixtures: real files on disk, small enough to build in milliseconds."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import faulthandler  # noqa: E402
import json  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pycocotools.mask as mask_utils  # noqa: E402
import pytest  # noqa: E402

from tests._thread_guard import background_work_guard  # noqa: E402

# A crash (SIGSEGV, SIGABRT) prints every thread's Python stack, from the moment the
# conftest loads (pytest's faulthandler plugin does the same once its session starts).
faulthandler.enable()


@pytest.fixture(autouse=True)
def _background_work_finishes_with_its_test() -> Iterator[None]:
    """Fail a test whose QThreads or superqt workers still run after its teardown."""
    with background_work_guard():
        yield


def write_png(path: Path, width: int, height: int, value: int = 128) -> Path:
    """A real (tiny) PNG file at `path`, folders created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # cv2.imwrite cannot take non-ASCII paths on every platform; encode then write bytes.
    ok, data = cv2.imencode(".png", np.full((height, width, 3), value, np.uint8))
    assert ok
    path.write_bytes(data.tobytes())
    return path


def rle_of(mask: np.ndarray) -> dict[str, Any]:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


@dataclass
class TinyCoco:
    json_path: Path
    images_dir: Path
    data: dict[str, Any]


def make_tiny_coco(root: Path) -> TinyCoco:
    """Three images (sub-folder, space, non-ASCII names), categories 1, 5, 90, and every kind
    of annotation: multi-part polygon, compressed RLE, uncompressed crowd RLE, box-only,
    plus unknown fields at every level. Image 3 has no annotations."""
    images_dir = root / "images"
    files = [("a.png", 40, 30), ("sub dir/b c.png", 32, 24), ("sub dir/ünï.png", 20, 20)]
    for name, w, h in files:
        write_png(images_dir / name, w, h)
    ring = np.zeros((30, 40), np.uint8)
    ring[5:20, 10:30] = 1
    ring[10:14, 15:22] = 0  # a hole
    crowd = np.zeros((30, 40), np.uint8)
    crowd[22:28, 2:12] = 1
    crowd_rle = mask_utils.encode(np.asfortranarray(crowd))
    uncompressed = {"size": [30, 40], "counts": _uncompressed_counts(crowd)}
    assert mask_utils.area(crowd_rle) == crowd.sum()
    data = {
        "info": {"description": "tiny", "year": 2024, "version": "1.0"},
        "licenses": [{"id": 1, "name": "CC-BY", "url": "http://example.org"}],
        "images": [
            {
                "id": 7,
                "file_name": "a.png",
                "width": 40,
                "height": 30,
                "license": 1,
                "coco_url": "http://x/a.png",
                "date_captured": "2024-01-01 10:00:00",
            },
            {"id": 8, "file_name": "sub dir/b c.png", "width": 32, "height": 24},
            {"id": 12, "file_name": "sub dir/ünï.png", "width": 20, "height": 20},
        ],
        "categories": [
            {"id": 1, "name": "cat", "supercategory": "animal"},
            {"id": 5, "name": "dog", "supercategory": "animal"},
            {"id": 90, "name": "toothbrush", "supercategory": "indoor", "keypoints": []},
        ],
        "annotations": [
            {
                "id": 100,
                "image_id": 7,
                "category_id": 1,
                "segmentation": [[1, 1, 8, 1, 8, 8, 1, 8], [20, 20, 30, 20, 25, 28]],
                "area": 89.0,
                "bbox": [1, 1, 29, 27],
                "iscrowd": 0,
                "attributes": {"occluded": True},
            },
            {
                "id": 101,
                "image_id": 7,
                "category_id": 90,
                "segmentation": rle_of(ring),
                "area": float(ring.sum()),
                "bbox": [10, 5, 20, 15],
                "iscrowd": 0,
            },
            {
                "id": 102,
                "image_id": 7,
                "category_id": 5,
                "segmentation": uncompressed,
                "area": float(crowd.sum()),
                "bbox": [2, 22, 10, 6],
                "iscrowd": 1,
            },
            {"id": 205, "image_id": 8, "category_id": 5, "bbox": [3.5, 4.25, 10, 12], "iscrowd": 0},
        ],
    }
    json_path = root / "tiny.json"
    json_path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return TinyCoco(json_path, images_dir, data)


def _uncompressed_counts(mask: np.ndarray) -> list[int]:
    flat = mask.flatten(order="F")
    counts, current, run = [], 0, 0
    for value in flat:
        if value != current:
            counts.append(run)
            current, run = value, 0
        run += 1
    counts.append(run)
    return [int(c) for c in counts]


@pytest.fixture
def tiny_coco(tmp_path: Path) -> TinyCoco:
    """A small COCO dataset with real PNG files under tmp_path (see `make_tiny_coco`)."""
    return make_tiny_coco(tmp_path)
