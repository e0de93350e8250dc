"""The fine-tune export as a worker thread runs it: its own store, progress, cancel, cleanup."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.errors import Cancelled, TrainingError
from core.masks import encode_mask
from core.records import Annotation
from core.store import ProjectStore
from core.training.finetune_data import export_finetune_run, runs_dir

IMAGES, PER_IMAGE = 30, 10  # 300 annotations


def make_project(tmp_path, *, reviewed: bool = True):
    """A project with IMAGES x PER_IMAGE small square labels (no pixels: nothing reads them)."""
    images = tmp_path / "images"
    images.mkdir()
    path = tmp_path / "big.maskloop"
    with ProjectStore.create(path, images) as store:
        store.add_category("square", category_id=1)
        store.add_images([(f"{i}.png", 32, 32) for i in range(1, IMAGES + 1)])
        for image in store.list_images():
            for k in range(PER_IMAGE):
                mask = np.zeros((32, 32), bool)
                mask[k : k + 3, k : k + 4] = True
                store.add_annotation(Annotation(image.id, 1, (k, k, 4, 3), encode_mask(mask)))
            if reviewed:
                store.set_reviewed(image.id)
    return path


def test_the_export_reports_progress_and_writes_the_whole_project(tmp_path):
    project = make_project(tmp_path)
    calls: list[tuple[int, int]] = []
    data = export_finetune_run(
        project, base_model="lite", progress=lambda done, total: calls.append((done, total))
    )
    total = IMAGES * PER_IMAGE
    assert len(calls) > 10 and calls[-1] == (total, total)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert all(t == total for _, t in calls)
    assert data.run_dir.parent == runs_dir(project) and data.run_dir.name.startswith("ft-001-lite-")
    train = json.loads(data.train_json.read_text())
    val = json.loads(data.val_json.read_text())
    assert len(train["annotations"]) + len(val["annotations"]) == total
    assert (data.train_images, data.val_images) == (24, 6)


def test_a_cancelled_export_leaves_no_run_folder(tmp_path):
    project = make_project(tmp_path)
    calls: list[int] = []
    with pytest.raises(Cancelled):
        export_finetune_run(
            project,
            base_model="lite",
            progress=lambda done, total: calls.append(done),
            should_stop=lambda: len(calls) >= 3,
        )
    assert len(calls) == 3  # it stopped at the first check after the request
    assert list(runs_dir(project).iterdir()) == []


def test_an_export_that_cannot_train_leaves_no_run_folder(tmp_path):
    project = make_project(tmp_path, reviewed=False)
    with pytest.raises(TrainingError, match="Review more images"):
        export_finetune_run(project, base_model="lite")
    assert list(runs_dir(project).iterdir()) == []


def test_the_training_set_has_the_labels_a_coco_export_writes(tmp_path):
    """Built in memory instead of by the exporter: the same labels and masks, field by field."""
    from core.coco.exporter import export_coco
    from core.records import ReviewState, Source
    from core.training.finetune_data import training_dataset

    project = make_project(tmp_path)
    with ProjectStore.open(project) as store:
        store.add_annotation(Annotation(1, 1, (2, 2, 8, 8), [[2, 2, 10, 2, 10, 10, 2, 10]]))
        store.add_annotation(Annotation(2, 1, (1, 1, 5, 5), None))  # box only
        for state in (ReviewState.PROPOSED, ReviewState.REJECTED, ReviewState.ACCEPTED):
            store.add_annotation(
                Annotation(3, 1, (4, 4, 6, 6), [[4, 4, 10, 4, 10, 10]], source=Source.MODEL,
                           score=0.5, state=state)
            )  # fmt: skip
        store.set_reviewed(5, False)
        ours = training_dataset(store)
        export_coco(store, tmp_path / "export.json", masks="rle", reviewed_only=True)
    exported = json.loads((tmp_path / "export.json").read_text())
    keys = ("id", "image_id", "category_id", "segmentation", "area", "bbox", "iscrowd")
    assert [{k: a.get(k) for k in keys} for a in ours["annotations"]] == [
        {k: a.get(k) for k in keys} for a in exported["annotations"]
    ]
    assert ours["images"] == exported["images"] and ours["categories"] == exported["categories"]
    assert len(ours["annotations"]) == (IMAGES - 1) * PER_IMAGE + 3
