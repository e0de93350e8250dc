"""One label audit from start to finish, for `maskloop audit` and the app's Audit queue.

Ground truth: a COCO file, or a project's reviewed labels. Predictions: the given model as is
(fast; but a model that trained on these images agrees with their mistakes), or k-fold (k
models, each predicting the images it did not train on). The report says which was used.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import CocoFormatError, ImageReadError
from core.evaluation.audit import (
    AuditRow,
    AuditSettings,
    ImagePredictions,
    audit,
    audit_images_from_coco,
)
from core.evaluation.audit_kfold import KFoldSettings

CSV_COLUMNS = (
    "file_name",
    "annotation_id",
    "issue",
    "score",
    "x",
    "y",
    "w",
    "h",
    "category",
    "model_category",
    "model_score",
    "box_score",
    "mask_score",
    "image_id",
    "predicted_by",
)


@dataclass(frozen=True)
class GroundTruth:
    dataset: dict[str, Any]  # COCO
    images_dir: Path
    name: str  # what the user gave, for messages

    @property
    def category_names(self) -> dict[int, str]:
        return {int(c["id"]): str(c["name"]) for c in self.dataset.get("categories", [])}


def load_ground_truth(source: Path, images_dir: Path | None) -> GroundTruth:
    """A COCO file (`images_dir` required) or a `.maskloop` project (its reviewed labels)."""
    if source.suffix == ".maskloop":
        from core.evaluation.sources import project_ground_truth
        from core.store import ProjectStore

        with ProjectStore.open(source) as store:
            dataset = project_ground_truth(store, reviewed_only=True)
            folder = images_dir or store.images_dir
        if not dataset["images"]:
            raise CocoFormatError(
                f"{source} has no reviewed images; the audit checks reviewed labels only"
            )
        return GroundTruth(dataset, folder, str(source))
    if images_dir is None:
        raise CocoFormatError("a COCO ground truth needs --images DIR")
    try:
        dataset = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CocoFormatError(f"{source} is not a readable COCO JSON file: {exc}") from exc
    if not isinstance(dataset, dict) or not isinstance(dataset.get("images"), list):
        raise CocoFormatError(f"{source} has no 'images' list")
    return GroundTruth(dataset, images_dir, str(source))


@dataclass(frozen=True)
class AuditReport:
    rows: list[AuditRow]
    predicted_by: str  # "the model as is: …" or "5-fold: …"
    images_audited: int
    images_total: int
    interrupted: bool = False


def run_audit(
    truth: GroundTruth,
    model: str,
    *,
    kfold: KFoldSettings | None = None,
    settings: AuditSettings | None = None,
    device: str | None = None,
    work_dir: Path | None = None,
    report: Callable[[str], None] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    warn: Callable[[str], None] | None = None,
) -> AuditReport:
    """Predict (model as is, or k-fold from `model`), then score. Ctrl-C keeps what is done.

    `should_stop` raises `Cancelled` between images; KeyboardInterrupt returns a report on
    the images predicted so far, with `interrupted` set.
    """
    from core.evaluation.audit_kfold import kfold_predictions
    from core.evaluation.audit_predict import ModelForAudit, PartialPredictions, predict_images

    if not truth.images_dir.is_dir():
        raise ImageReadError(f"image folder {truth.images_dir} does not exist")
    images = audit_images_from_coco(truth.dataset)
    interrupted = False
    predictions: Mapping[int, ImagePredictions]
    try:
        if kfold is None:
            from core.detection.detector import Detector

            detector = Detector.load(model, device=device)
            predicted_by = f"the model as is: {Path(model).name}"
            if report is not None:
                report(f"predicting {len(images)} images with {Path(model).name}")
            categories = list(truth.category_names.items())
            predictions = predict_images(
                ModelForAudit.of(detector, categories),
                images,
                truth.images_dir,
                progress=progress,
                should_stop=should_stop,
                warn=warn,
            )
        else:
            base = fresh_base(model)
            kfold = KFoldSettings(kfold.k, kfold.minutes_per_fold, base, device, kfold.seed)
            predicted_by = kfold.describe()
            with _work_dir(work_dir) as folder:
                predictions = kfold_predictions(
                    truth.dataset,
                    images,
                    truth.images_dir,
                    folder,
                    kfold,
                    report=report,
                    progress=progress,
                    should_stop=should_stop,
                    warn=warn,
                )
    except PartialPredictions as partial:
        predictions, interrupted = partial.done, True
    rows = audit(images, predictions, list(truth.category_names), settings)
    return AuditReport(rows, predicted_by, len(predictions), len(images), interrupted)


def fresh_base(model: str) -> str:
    """What k-fold models start from: `model`'s architecture with no knowledge of these labels.

    A checkpoint fine-tuned on the audited images has learnt their mistakes; folds started
    from it would too. So a checkpoint's folds start from its architecture instead (`lite`
    from scratch, the ResNet-50 models from COCO weights).
    """
    from core.detection.names import ARCHITECTURES

    if model in ARCHITECTURES:
        return model
    from core.detection.checkpoint import load_checkpoint

    _weights, meta = load_checkpoint(Path(model))
    return "lite" if meta.arch == "lite-c5" else meta.arch


@contextlib.contextmanager
def _work_dir(folder: Path | None) -> Iterator[Path]:
    """`folder` itself, or a temporary folder removed afterwards."""
    if folder is not None:
        yield folder
        return
    with tempfile.TemporaryDirectory(prefix="maskloop-audit-") as temp:
        yield Path(temp)


def _number(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def audit_csv_text(report: AuditReport, category_names: Mapping[int, str]) -> str:
    """The report as CSV: one row per suspected mistake, most likely first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in report.rows:
        x, y, w, h = row.bbox
        model = row.model
        writer.writerow(
            [
                row.file_name,
                "" if row.annotation_id is None else row.annotation_id,
                row.issue.value,
                _number(row.score),
                _number(x, 1),
                _number(y, 1),
                _number(w, 1),
                _number(h, 1),
                category_names.get(row.category_id, row.category_id),
                "" if model is None else category_names.get(model.category_id, model.category_id),
                "" if model is None else _number(model.score),
                _number(row.box_score),
                _number(row.mask_score),
                row.image_id,
                report.predicted_by,
            ]
        )
    return out.getvalue()


def write_audit_csv(path: Path, report: AuditReport, category_names: Mapping[int, str]) -> None:
    """Write atomically: a reader never sees half a file."""
    from core.files.atomic import create_temp_beside

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = create_temp_beside(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(audit_csv_text(report, category_names))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
