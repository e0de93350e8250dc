"""Everything a fine-tuning run needs from the project, and what it gives back.

A run lives in its own folder beside the project (`NAME.runs/<run name>/`) holding the
reviewed labels exported as COCO and split into `train.json` / `val.json`, and the trained
`<run name>.pt`. The run name says which run it is, what it started from and when
(`ft-003-lite-20261129-1930`), so a checkpoint is recognisable wherever it is shown; runs of
earlier versions are timestamp folders holding `model.pt`. The split is by image (never by annotation, or the validation AP would be
measured on images the model trained on) and seeded, so the same labels give the same split.

This module also holds the before/after evaluation the fine-tune dialog shows when the
trainer did not report the base model's AP, and the bookkeeping that records a run in the
project. Nothing here imports Qt; torch is imported only by `evaluate_model_ap`.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import TrainingError
from core.files.atomic import write_json_atomically

if TYPE_CHECKING:  # imported for type hints only: keeps `import core.training.finetune_data` light
    from core.records import ModelRun
    from core.store import ProjectStore

TRAIN_FILE = "train.json"
VAL_FILE = "val.json"
CHECKPOINT_SUFFIX = ".pt"
RUN_PREFIX = "ft"
# ft-<number>-<base model>-<UTC yyyymmdd-hhmm>; the base model part may itself contain "-"
RUN_NAME = re.compile(r"^ft-(?P<number>\d+)-(?P<base>.+)-(?P<stamp>\d{8}-\d{4})$")
_SHORT_NAME_LENGTH = 24
DEFAULT_VAL_FRACTION = 0.2


@dataclass(frozen=True)
class FinetuneData:
    """A run folder with its exported training and validation sets."""

    run_dir: Path
    train_json: Path
    val_json: Path
    images_dir: Path  # the project's images folder; file_name in the JSONs is relative to it
    train_images: int
    val_images: int
    train_annotations: int
    val_annotations: int

    @property
    def checkpoint_path(self) -> Path:
        """Where the trainer writes the best model of this run: named after the run."""
        return self.run_dir / f"{self.run_dir.name}{CHECKPOINT_SUFFIX}"


def runs_dir(project_path: Path) -> Path:
    """The folder beside `NAME.maskloop` that holds its fine-tuning runs: `NAME.runs`."""
    project_path = Path(project_path)
    return project_path.with_name(project_path.stem + ".runs")


def model_short_name(model: str) -> str:
    """What a run name says about its base model: the architecture, or the lineage of a
    checkpoint (a run's checkpoint `ft-002-lite-….pt` gives "lite", not a growing chain)."""
    from core.store.models_used import is_model_file

    name = Path(model).stem if is_model_file(model) else model
    match = RUN_NAME.match(name)
    if match:
        name = match.group("base")
    name = re.sub(r"[^A-Za-z0-9._]+", "-", name).strip("-.")[:_SHORT_NAME_LENGTH].strip("-.")
    return name or "model"


def run_name(number: int, base_model: str, now: datetime) -> str:
    """`ft-003-lite-20261129-1930`: run number, base model, UTC start (to the minute)."""
    return f"{RUN_PREFIX}-{number:03d}-{model_short_name(base_model)}-{now:%Y%m%d-%H%M}"


def new_run_dir(
    project_path: Path, *, base_model: str = "model", now: datetime | None = None
) -> Path:
    """Create and return a fresh run folder named after the run (see `run_name`), numbered
    one past the highest run already beside the project."""
    now = now or datetime.now(timezone.utc)
    parent = runs_dir(project_path)
    parent.mkdir(parents=True, exist_ok=True)
    numbers = [int(m.group("number")) for p in parent.iterdir() if (m := RUN_NAME.match(p.name))]
    number = max(numbers, default=0) + 1
    while True:
        candidate = parent / run_name(number, base_model, now)
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:  # another run started at the same moment
            number += 1


def split_coco(
    dataset: dict[str, Any], *, val_fraction: float, seed: int = 0
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a COCO dataset by image into (train, val); both keep every category.

    Only images with at least one annotation are used: an image without labels teaches the
    detector nothing as a training sample here and makes AP undefined as a validation one.
    With val_fraction > 0 the validation set gets at least one image and training keeps at
    least one; val_fraction == 0 gives an empty validation set.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise TrainingError(f"The validation share must be between 0 and 1, not {val_fraction}.")
    by_image: dict[int, list[dict[str, Any]]] = {}
    for ann in dataset.get("annotations", []):
        by_image.setdefault(int(ann["image_id"]), []).append(ann)
    labelled = [img for img in dataset.get("images", []) if int(img["id"]) in by_image]
    minimum = 2 if val_fraction > 0 else 1
    if len(labelled) < minimum:
        raise TrainingError(
            f"Fine-tuning needs at least {minimum} labelled image(s) to train"
            + (" and validate on" if minimum > 1 else "")
            + f"; the chosen images have {len(labelled)}. Review more images first."
        )
    order = sorted(labelled, key=lambda img: int(img["id"]))
    random.Random(seed).shuffle(order)
    n_val = (
        0 if val_fraction == 0 else min(len(order) - 1, max(1, round(len(order) * val_fraction)))
    )
    val_ids = {int(img["id"]) for img in order[:n_val]}

    def subset(keep: Callable[[int], bool]) -> dict[str, Any]:
        images = [
            img for img in dataset["images"] if int(img["id"]) in by_image and keep(int(img["id"]))
        ]
        ids = {int(img["id"]) for img in images}
        part = {
            key: value for key, value in dataset.items() if key not in ("images", "annotations")
        }
        part["images"] = images
        part["annotations"] = [a for a in dataset["annotations"] if int(a["image_id"]) in ids]
        return part

    return subset(lambda i: i not in val_ids), subset(lambda i: i in val_ids)


ExportProgress = Callable[[int, int], None]
"""progress(done, total): annotations exported so far, out of the project's total."""

_PROGRESS_STEPS = 200  # progress reports per export: enough for a smooth bar, few signals


def prepare_finetune_data(
    store: ProjectStore,
    run_dir: Path,
    *,
    reviewed_only: bool = True,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    seed: int = 0,
    progress: ExportProgress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> FinetuneData:
    """Export the project's labels into `run_dir` as labels.json, train.json and val.json.

    reviewed_only=True (the default) uses only images an annotator marked reviewed, so
    unchecked model proposals never become training targets. `progress` is called as the
    annotations are converted; `should_stop` is checked as often and raises Cancelled (the
    caller removes the folder: see `export_finetune_run`).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    dataset = training_dataset(
        store, reviewed_only=reviewed_only, progress=progress, should_stop=should_stop
    )
    write_json_atomically(run_dir / "labels.json", dataset)  # the whole set, for reference
    train, val = split_coco(dataset, val_fraction=val_fraction, seed=seed)
    train_json, val_json = run_dir / TRAIN_FILE, run_dir / VAL_FILE
    for path, part in ((train_json, train), (val_json, val)):
        write_json_atomically(path, part)
    return FinetuneData(
        run_dir=run_dir,
        train_json=train_json,
        val_json=val_json,
        images_dir=Path(store.images_dir),
        train_images=len(train["images"]),
        val_images=len(val["images"]),
        train_annotations=len(train["annotations"]),
        val_annotations=len(val["annotations"]),
    )


def training_dataset(
    store: ProjectStore,
    *,
    reviewed_only: bool = True,
    progress: ExportProgress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """The project's labels as a COCO dataset for training, masks as compressed RLE.

    What core.coco.exporter writes with masks="rle" (no rejected labels, no pending
    proposals, box-only labels with an empty mask; tests compare the two), built in memory
    rather than written by the exporter and parsed back: on a worker thread one
    json.loads of a 100,000-annotation file holds the GIL, and so stalls the window, for
    most of a second. Extra COCO fields, info and licenses are left out; training reads none.
    """
    import numpy as np

    from core.errors import Cancelled
    from core.masks import area_of, encode_mask, to_rle
    from core.records import ReviewState, Source

    images = [im for im in store.list_images() if im.reviewed or not reviewed_only]
    by_id = {im.id: im for im in images}
    total = store.annotation_count()
    every = max(1, total // _PROGRESS_STEPS)
    annotations: list[dict[str, Any]] = []
    empty: dict[tuple[int, int], dict[str, Any]] = {}  # one empty mask per image size
    for done, ann in enumerate(store.iter_annotations(), start=1):
        if done % every == 0:
            if should_stop is not None and should_stop():
                raise Cancelled("The export for fine-tuning was cancelled.")
            if progress is not None:
                progress(done, total)
        image = by_id.get(ann.image_id)
        if image is None or (ann.source is Source.MODEL and ann.state is ReviewState.PROPOSED):
            continue
        h, w = image.height, image.width
        seg = ann.segmentation
        out: dict[str, Any] = {
            "id": ann.id,
            "image_id": ann.image_id,
            "category_id": ann.category_id,
        }
        if not seg:  # box only: an empty mask, which pycocotools (the segm evaluation) can read
            if (h, w) not in empty:
                empty[h, w] = encode_mask(np.zeros((h, w), np.uint8))
            out["segmentation"] = empty[h, w]
        elif isinstance(seg, dict) and isinstance(seg.get("counts"), str):
            out["segmentation"] = seg
        else:
            out["segmentation"] = to_rle(seg, h, w)
        if ann.area is not None:
            out["area"] = ann.area
        else:
            out["area"] = area_of(seg, h, w) if seg else float(ann.bbox[2]) * float(ann.bbox[3])
        out["bbox"] = [float(v) for v in ann.bbox]
        out["iscrowd"] = int(ann.iscrowd)
        annotations.append(out)
    if progress is not None:
        progress(total, total)
    return {
        "images": [
            {"id": im.id, "file_name": im.file_name, "width": im.width, "height": im.height}
            for im in images
        ],
        "annotations": annotations,
        "categories": [
            {"id": c.id, "name": c.name, "supercategory": c.supercategory, **c.extra}
            for c in store.categories()
        ],
    }


def export_finetune_run(
    project_path: Path,
    *,
    base_model: str,
    reviewed_only: bool = True,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    seed: int = 0,
    progress: ExportProgress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> FinetuneData:
    """Make a new run folder beside the project and export its data into it, all on the
    calling thread with its own connection to the project (for a worker thread).

    A cancelled or failed export removes its run folder: no half-written run is left behind.
    """
    import shutil

    from core.store import ProjectStore

    with ProjectStore.open(project_path) as store:
        run_dir = new_run_dir(Path(project_path), base_model=base_model)
        try:
            return prepare_finetune_data(
                store,
                run_dir,
                reviewed_only=reviewed_only,
                val_fraction=val_fraction,
                seed=seed,
                progress=progress,
                should_stop=should_stop,
            )
        except BaseException:
            shutil.rmtree(run_dir, ignore_errors=True)
            raise


@dataclass(frozen=True)
class TrainOptions:
    """What the user chose in the fine-tune dialog, as `maskloop train` arguments."""

    base_model: str  # architecture name or checkpoint path
    epochs: int | None = 10
    minutes: float | None = None  # a time budget instead of (or capping) the epochs
    device: str = "cpu"
    amp: bool = False  # autocast (mixed precision), CUDA only
    extra_args: Sequence[str] = field(default_factory=tuple)


def train_cli_args(data: FinetuneData, options: TrainOptions) -> list[str]:
    """The `maskloop train ...` argument list for this run (without the program)."""
    args = [
        "train",
        str(data.train_json),
        "--images",
        str(data.images_dir),
        "--model",
        options.base_model,
        "--out",
        str(data.checkpoint_path),
        "--device",
        options.device,
        "--progress",
        "jsonl",
    ]
    if data.val_images:
        args += ["--val", str(data.val_json)]
    if options.epochs is not None:
        args += ["--epochs", str(options.epochs)]
    if options.minutes is not None:
        args += ["--minutes", f"{options.minutes:g}"]
    if options.amp:
        args.append("--amp")
    return [*args, *options.extra_args]


def evaluate_model_ap(
    model: str,
    val_json: Path,
    images_dir: Path,
    *,
    device: str | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> float:
    """Mask AP of `model` (architecture name or checkpoint) on a validation COCO file.

    The model's categories are matched to the file's by name, as proposals are matched to a
    project's, so a base model trained elsewhere is judged on the classes it shares.
    """
    from core.categories import match_by_name
    from core.detection.detector import Detector
    from core.evaluation.metrics import evaluate
    from core.files.images import read_image

    dataset = json.loads(Path(val_json).read_text(encoding="utf-8"))
    if not dataset.get("images") or not dataset.get("annotations"):
        raise TrainingError("The validation set is empty; nothing to evaluate on.")
    detector = Detector.load(model, device=device)
    to_dataset = match_by_name(
        ((c.id, c.name) for c in detector.categories),
        ((int(c["id"]), str(c["name"])) for c in dataset.get("categories", [])),
    )
    results: list[dict[str, Any]] = []
    for image in dataset["images"]:
        if should_stop():
            from core.errors import Cancelled

            raise Cancelled("Evaluation was cancelled.")
        pixels = read_image(Path(images_dir) / image["file_name"])
        (detections,) = detector.predict([pixels])
        for det in detections:
            if det.category_id in to_dataset:
                results.append(
                    {
                        "image_id": int(image["id"]),
                        "category_id": to_dataset[det.category_id],
                        "bbox": [float(v) for v in det.bbox],
                        "segmentation": det.rle,
                        "score": float(det.score),
                    }
                )
    return float(evaluate(Path(val_json), results, iou_type="segm").ap)


def record_run(
    store: ProjectStore,
    data: FinetuneData,
    *,
    base_model: str,
    checkpoint: str | Path,
    ap_before: float | None,
    ap_after: float | None,
    extra: dict[str, Any] | None = None,
) -> ModelRun:
    """Record a finished (or cancelled, checkpoint kept) run in the project's history."""
    return store.add_model_run(
        base_model=base_model,
        checkpoint_path=str(checkpoint),
        train_images=data.train_images,
        val_images=data.val_images,
        ap_before=ap_before,
        ap_after=ap_after,
        extra={"run_dir": str(data.run_dir), "run_name": data.run_dir.name, **(extra or {})},
    )
