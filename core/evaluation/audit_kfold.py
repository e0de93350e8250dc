"""K-fold predictions for the label audit: each image judged by a model that never saw it.

A model that trained on an image has learnt its labels, mistakes included, and then agrees
with them: an audit with it finds fewer mistakes than there are. K-fold splits the labelled
images into k folds, trains one model per fold on the other k-1 (core/training's `train`, for
a fixed number of minutes) and lets it predict its held-out fold only. Costs k trainings.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import Cancelled, TrainingError
from core.evaluation.audit import AuditImage, ImagePredictions
from core.evaluation.audit_predict import (
    ImageProgress,
    ModelForAudit,
    PartialPredictions,
    predict_images,
)
from core.files.atomic import write_json_atomically

StageReport = Callable[[str], None]
"""report("fold 2/5: training 3.0 min") at each stage."""


@dataclass(frozen=True)
class KFoldSettings:
    k: int = 5
    minutes_per_fold: float = 3.0
    base_model: str = "lite"  # what each fold's model starts from (an architecture or checkpoint)
    device: str | None = None
    seed: int = 0

    def describe(self) -> str:
        return (
            f"{self.k}-fold: {self.k} models trained {self.minutes_per_fold:g} min each from "
            f"{self.base_model}, each predicting the images it did not train on"
        )

    def validate(self, labelled_images: int) -> None:
        if self.k < 2:
            raise TrainingError(f"k-fold needs k >= 2, got {self.k}")
        if self.minutes_per_fold <= 0:
            raise TrainingError(f"minutes per fold must be positive, got {self.minutes_per_fold}")
        if labelled_images < 2 * self.k:
            raise TrainingError(
                f"{self.k}-fold needs at least {2 * self.k} labelled images; there are "
                f"{labelled_images}. Use a smaller k or audit with the model as is."
            )


def assign_folds(image_ids: Sequence[int], k: int, seed: int = 0) -> dict[int, int]:
    """Image id -> fold 0..k-1, balanced, shuffled reproducibly."""
    order = sorted(image_ids)
    random.Random(seed).shuffle(order)
    return {image_id: i % k for i, image_id in enumerate(order)}


def _subset(dataset: Mapping[str, Any], keep: set[int]) -> dict[str, Any]:
    part = {key: value for key, value in dataset.items() if key not in ("images", "annotations")}
    part["images"] = [img for img in dataset["images"] if int(img["id"]) in keep]
    part["annotations"] = [a for a in dataset["annotations"] if int(a["image_id"]) in keep]
    return part


def kfold_predictions(
    dataset: Mapping[str, Any],
    images: Sequence[AuditImage],
    images_dir: Path,
    work_dir: Path,
    settings: KFoldSettings,
    *,
    report: StageReport | None = None,
    progress: ImageProgress | None = None,
    should_stop: Callable[[], bool] | None = None,
    warn: Callable[[str], None] | None = None,
) -> dict[int, ImagePredictions]:
    """Predictions for every image in `images`, each from the fold model that did not train on it.

    Images without labels are audited too (by the fold they fall in) but never trained on.
    Checkpoints and the folds' training files go under `work_dir`.
    """
    labelled = [img.image_id for img in images if img.labels]
    settings.validate(len(labelled))
    folds = assign_folds([img.image_id for img in images], settings.k, settings.seed)
    stop = should_stop or (lambda: False)
    categories = [(int(c["id"]), str(c["name"])) for c in dataset.get("categories", [])]
    done: dict[int, ImagePredictions] = {}
    try:
        _run_folds(
            dataset,
            images,
            images_dir,
            work_dir,
            settings,
            folds,
            labelled,
            categories,
            done,
            report=report,
            progress=progress,
            stop=stop,
            warn=warn,
        )
    except PartialPredictions as partial:
        done.update(partial.done)
        raise PartialPredictions(done) from None
    except KeyboardInterrupt:
        raise PartialPredictions(done) from None
    return done


def _run_folds(
    dataset: Mapping[str, Any],
    images: Sequence[AuditImage],
    images_dir: Path,
    work_dir: Path,
    settings: KFoldSettings,
    folds: Mapping[int, int],
    labelled: Sequence[int],
    categories: Sequence[tuple[int, str]],
    done: dict[int, ImagePredictions],
    *,
    report: StageReport | None,
    progress: ImageProgress | None,
    stop: Callable[[], bool],
    warn: Callable[[str], None] | None,
) -> None:
    from core.detection.detector import Detector
    from core.training.config import TrainConfig
    from core.training.trainer import train

    for fold in range(settings.k):
        if stop():
            raise Cancelled("the audit was cancelled")
        held_out = [img for img in images if folds[img.image_id] == fold]
        train_ids = {i for i in labelled if folds[i] != fold}
        fold_dir = work_dir / f"fold-{fold + 1}"
        fold_dir.mkdir(parents=True, exist_ok=True)
        train_json = fold_dir / "train.json"
        write_json_atomically(train_json, _subset(dataset, train_ids))
        if report is not None:
            report(
                f"fold {fold + 1}/{settings.k}: training on {len(train_ids)} images for "
                f"{settings.minutes_per_fold:g} min"
            )
        config = TrainConfig(
            train_json=train_json,
            images_dir=images_dir,
            out=fold_dir / "model.pt",
            model=settings.base_model,
            minutes=settings.minutes_per_fold,
            device=settings.device,
            seed=settings.seed,
            evals=2,
        )
        config.validate()
        result = train(config, should_stop=stop)
        if result.cancelled or stop():
            raise Cancelled("the audit was cancelled")
        if result.checkpoint is None:
            raise TrainingError(f"fold {fold + 1} produced no checkpoint")
        model = ModelForAudit.of(
            Detector.from_checkpoint(result.checkpoint, device=settings.device), categories
        )
        if report is not None:
            report(f"fold {fold + 1}/{settings.k}: predicting {len(held_out)} held-out images")
        done.update(
            predict_images(
                model, held_out, images_dir, progress=progress, should_stop=stop, warn=warn
            )
        )
