"""The demo project `maskloop demo` writes: synthetic images, some labelled, and a first model.

Layout of the demo folder:

    images/             synthetic shapes (core.demo.shapes), 3 classes
    annotations.json    ground truth of every image (as generated)
    labelled.json       the first `n_labelled` images: imported, so marked reviewed
    heldout_gt.json     ground truth of the other images, which the project shows unlabelled;
                        the GUI measures AP before/after fine-tuning against it
    demo.maskloop       the project
    models/demo-lite.pt a lite model trained briefly on the labelled images: its proposals
                        are useful but clearly improvable by fine-tuning

Every stage is skipped when its output already exists, so running the demo again reuses the
folder (and finishes an interrupted first run).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.coco.importer import import_coco
from core.demo.shapes import ANNOTATIONS_FILE, IMAGES_DIR, generate_shapes_dataset
from core.errors import MaskLoopError
from core.files.atomic import write_json_atomically
from core.store import ProjectStore

PROJECT_FILE = "demo.maskloop"
LABELLED_FILE = "labelled.json"
HELDOUT_FILE = "heldout_gt.json"
CHECKPOINT_FILE = Path("models") / "demo-lite.pt"
DEFAULT_IMAGES = 300
DEFAULT_LABELLED = 200
DEFAULT_TRAIN_SECONDS = 75.0


@dataclass(frozen=True)
class DemoProject:
    folder: Path
    project: Path
    checkpoint: Path
    heldout_gt: Path
    labelled_images: int
    unlabelled_images: int
    trained_now: bool  # False when an existing checkpoint was reused


def _subset(data: dict[str, Any], images: list[dict[str, Any]]) -> dict[str, Any]:
    ids = {image["id"] for image in images}
    return {
        "info": data.get("info", {}),
        "licenses": data.get("licenses", []),
        "images": images,
        "annotations": [a for a in data["annotations"] if a["image_id"] in ids],
        "categories": data["categories"],
    }


def _split_files(folder: Path, n_labelled: int) -> tuple[list[dict], list[dict]]:
    data = json.loads((folder / ANNOTATIONS_FILE).read_text(encoding="utf-8"))
    images = sorted(data["images"], key=lambda image: image["id"])
    labelled, unlabelled = images[:n_labelled], images[n_labelled:]
    if not (folder / LABELLED_FILE).is_file():
        write_json_atomically(folder / LABELLED_FILE, _subset(data, labelled))
    if not (folder / HELDOUT_FILE).is_file():
        write_json_atomically(folder / HELDOUT_FILE, _subset(data, unlabelled))
    labelled = json.loads((folder / LABELLED_FILE).read_text(encoding="utf-8"))["images"]
    unlabelled = json.loads((folder / HELDOUT_FILE).read_text(encoding="utf-8"))["images"]
    return labelled, unlabelled


def _fill_project(folder: Path, unlabelled: list[dict], say: Callable[[str], None]) -> Path:
    project = folder / PROJECT_FILE
    with ProjectStore.open_or_create(project, folder / IMAGES_DIR) as store:
        # Idempotent: a second run adds nothing, an interrupted one is completed.
        import_coco(folder / LABELLED_FILE, store, on_warning=say)
        for image in unlabelled:
            if store.image_by_file_name(image["file_name"]) is None:
                store.add_image(
                    image["file_name"], image["width"], image["height"], image_id=image["id"]
                )
    return project


def create_demo_project(
    folder: str | os.PathLike[str],
    *,
    n_images: int = DEFAULT_IMAGES,
    n_labelled: int = DEFAULT_LABELLED,
    train_seconds: float = DEFAULT_TRAIN_SECONDS,
    seed: int = 0,
    train_model: bool = True,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    say: Callable[[str], None] = lambda line: None,
) -> DemoProject:
    """Write (or complete) the demo project in `folder`; see the module docstring.

    With `train_model` False the first model is not trained here: the app trains it in the
    background after its window is open (DemoProject.checkpoint then does not exist yet).

    `on_event` receives the training events (core.training.progress); `say` gets one-line
    status messages for a person.
    """
    from core.training.config import TrainConfig
    from core.training.trainer import train

    root = Path(folder).resolve()
    if n_images < 2:
        raise MaskLoopError("the demo needs at least 2 images (some labelled, some not)")
    n_labelled = max(1, min(n_labelled, n_images - 1))
    root.mkdir(parents=True, exist_ok=True)
    if (root / ANNOTATIONS_FILE).is_file():
        say(f"reusing the demo images in {root}")
    else:
        say(f"generating {n_images} synthetic images in {root / IMAGES_DIR}")
        generate_shapes_dataset(root, n_images=n_images, seed=seed)
    labelled, unlabelled = _split_files(root, n_labelled)
    project = _fill_project(root, unlabelled, say)

    checkpoint = root / CHECKPOINT_FILE
    trained_now = train_model and not checkpoint.is_file()
    if trained_now:
        say(
            f"training a first lite model on the {len(labelled)} labelled images for "
            f"{train_seconds:.0f} s (fine-tuning in the app will improve it)"
        )
        config = TrainConfig(
            train_json=root / LABELLED_FILE,
            images_dir=root / IMAGES_DIR,
            out=checkpoint,
            model="lite",
            minutes=train_seconds / 60.0,
            seed=seed,
            evals=2,
        )
        train(config, on_event=on_event)
    elif checkpoint.is_file():
        say(f"reusing the model {checkpoint}")
    if checkpoint.is_file():
        with ProjectStore.open(project) as store:
            store.set_active_model(str(checkpoint))
    return DemoProject(
        folder=root,
        project=project,
        checkpoint=checkpoint,
        heldout_gt=root / HELDOUT_FILE,
        labelled_images=len(labelled),
        unlabelled_images=len(unlabelled),
        trained_now=trained_now,
    )
