"""Small synthetic training sets for the training tests.

The shapes generator (core.demo.shapes) uses category ids 1, 2, 3; `shapes_with_ids` rewrites
them to 3, 7, 11 so every test also checks that non-contiguous ids survive training and
prediction. Images are 64-80 px and the model runs at 64 px: a step costs a fraction of
the 128 px one, and a few dozen steps still show the loss falling.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.demo.shapes import generate_shapes_dataset
from core.training.config import TrainConfig

ID_MAP = {1: 3, 2: 7, 3: 11}
SMALL_SIZES = {"min_size": 64, "max_size": 128}
# The same quick settings as `maskloop train` arguments.
QUICK_CLI_ARGS = ("--batch-size", "2", "--workers", "0", "--min-size", "64", "--max-size", "128",
                  "--device", "cpu")  # fmt: skip


def shapes_with_ids(
    folder: Path, *, n_images: int, seed: int, min_size: int = 64, max_size: int = 80
) -> Path:
    """A shapes dataset under `folder` whose category ids are 3, 7, 11; returns its JSON."""
    json_path = generate_shapes_dataset(
        folder, n_images=n_images, seed=seed, min_size=min_size, max_size=max_size
    )
    data = json.loads(json_path.read_text())
    for category in data["categories"]:
        category["id"] = ID_MAP[category["id"]]
    for ann in data["annotations"]:
        ann["category_id"] = ID_MAP[ann["category_id"]]
    out = folder / "coco_3_7_11.json"
    out.write_text(json.dumps(data))
    return out


def small_config(json_path: Path, out: Path, **changes: Any) -> TrainConfig:
    """A quick lite run at 64 px with no worker processes."""
    settings: dict[str, Any] = {
        "train_json": json_path,
        "images_dir": json_path.parent / "images",
        "out": out,
        "model": "lite",
        "epochs": 2,
        "batch_size": 2,
        "workers": 0,
        "evals": 1,
        "device": "cpu",
        **SMALL_SIZES,
    }
    settings.update(changes)
    return TrainConfig(**settings)


def events_of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == kind]
