"""Exporting reviewed labels for fine-tuning, the train/val split, and recording runs."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
import pytest

from core.errors import TrainingError
from core.masks import encode_mask
from core.records import Annotation, ReviewState, Source
from core.store import ProjectStore
from core.training.finetune_data import (
    FinetuneData,
    TrainOptions,
    new_run_dir,
    prepare_finetune_data,
    record_run,
    runs_dir,
    split_coco,
    train_cli_args,
)


def _square_rle() -> dict:
    mask = np.zeros((10, 10), dtype=bool)
    mask[1:4, 1:4] = True
    return encode_mask(mask)


def _dataset(n_images: int, *, unlabelled: tuple[int, ...] = ()) -> dict:
    images = [
        {"id": i, "file_name": f"{i}.png", "width": 10, "height": 10}
        for i in range(1, n_images + 1)
    ]
    annotations = [
        {"id": 100 + i, "image_id": i, "category_id": 1, "bbox": [0, 0, 2, 2], "area": 4}
        for i in range(1, n_images + 1)
        if i not in unlabelled
    ]
    return {
        "info": {"description": "t"},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
    }


def test_split_is_by_image_disjoint_and_covers_every_labelled_image():
    train, val = split_coco(_dataset(10, unlabelled=(4,)), val_fraction=0.2, seed=3)
    train_ids = {im["id"] for im in train["images"]}
    val_ids = {im["id"] for im in val["images"]}
    assert train_ids.isdisjoint(val_ids)
    assert train_ids | val_ids == set(range(1, 11)) - {4}  # the unlabelled image is left out
    assert len(val_ids) == 2  # round(9 * 0.2)
    for part, ids in ((train, train_ids), (val, val_ids)):
        assert {a["image_id"] for a in part["annotations"]} == ids
        assert part["categories"] == _dataset(1)["categories"]
        assert part["info"] == {"description": "t"}


def test_split_is_reproducible_for_a_seed_and_differs_between_seeds():
    first = split_coco(_dataset(30), val_fraction=0.3, seed=1)[1]["images"]
    again = split_coco(_dataset(30), val_fraction=0.3, seed=1)[1]["images"]
    other = split_coco(_dataset(30), val_fraction=0.3, seed=2)[1]["images"]
    assert first == again
    assert first != other


def test_split_keeps_at_least_one_image_on_each_side():
    train, val = split_coco(_dataset(2), val_fraction=0.05, seed=0)
    assert len(train["images"]) == 1 and len(val["images"]) == 1
    train, val = split_coco(_dataset(3), val_fraction=0.9, seed=0)
    assert len(train["images"]) == 1 and len(val["images"]) == 2
    train, val = split_coco(_dataset(3), val_fraction=0.0, seed=0)
    assert len(train["images"]) == 3 and val["images"] == []


@pytest.mark.parametrize("n_images", [0, 1])
def test_too_few_labelled_images_is_a_user_error(n_images):
    with pytest.raises(TrainingError, match="Review more images"):
        split_coco(_dataset(n_images), val_fraction=0.2)


def test_run_dir_is_beside_the_project_unique_and_named_after_the_run(tmp_path):
    project = tmp_path / "cells.maskloop"
    now = datetime(2026, 5, 1, 12, 30, 5, tzinfo=timezone.utc)
    (tmp_path / "cells.runs" / "20260101-000000").mkdir(parents=True)  # an older version's run
    first = new_run_dir(project, base_model="lite", now=now)
    second = new_run_dir(project, base_model="lite", now=now)
    third = new_run_dir(project, base_model=str(second / f"{second.name}.pt"), now=now)
    fourth = new_run_dir(project, base_model="/models/Demo lite!.pt", now=now)
    assert first == tmp_path / "cells.runs" / "ft-001-lite-20260501-1230"
    assert second == tmp_path / "cells.runs" / "ft-002-lite-20260501-1230"
    assert third == tmp_path / "cells.runs" / "ft-003-lite-20260501-1230"  # lineage, not a chain
    assert fourth == tmp_path / "cells.runs" / "ft-004-Demo-lite-20260501-1230"
    assert first.is_dir() and second.is_dir()
    assert runs_dir(project) == tmp_path / "cells.runs"


@pytest.fixture
def store(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    with ProjectStore.create(tmp_path / "p.maskloop", images) as s:
        s.add_category("a", category_id=1)
        for image_id in range(1, 7):
            s.add_image(f"sub/{image_id}.png", 10, 10, image_id=image_id)
            s.add_annotation(
                Annotation(image_id, 1, (1.0, 1.0, 3.0, 3.0), segmentation=_square_rle())
            )
        for image_id in (1, 2, 3, 4, 5):
            s.set_reviewed(image_id)
        # a pending proposal on a reviewed image must not become a training target
        s.add_annotation(
            Annotation(
                1,
                1,
                (5.0, 5.0, 2.0, 2.0),
                source=Source.MODEL,
                score=0.4,
                state=ReviewState.PROPOSED,
            )
        )
        yield s


def test_prepare_exports_only_reviewed_images_accepted_labels(store, tmp_path):
    data = prepare_finetune_data(store, tmp_path / "run", val_fraction=0.4, seed=0)
    train = json.loads(data.train_json.read_text())
    val = json.loads(data.val_json.read_text())
    ids = [im["id"] for im in train["images"]] + [im["id"] for im in val["images"]]
    assert sorted(ids) == [1, 2, 3, 4, 5]  # image 6 is not reviewed
    assert (data.train_images, data.val_images) == (3, 2)
    all_anns = train["annotations"] + val["annotations"]
    assert len(all_anns) == 5 and all("score" not in a for a in all_anns)
    assert data.images_dir == store.images_dir
    assert data.checkpoint_path == tmp_path / "run" / "run.pt"  # named after its run
    assert {im["file_name"] for im in train["images"] + val["images"]} == {
        f"sub/{i}.png" for i in range(1, 6)
    }


def test_prepare_can_use_every_labelled_image(store, tmp_path):
    data = prepare_finetune_data(store, tmp_path / "run", reviewed_only=False, val_fraction=0.2)
    assert data.train_images + data.val_images == 6


def test_prepare_without_reviewed_images_says_what_to_do(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    with ProjectStore.create(tmp_path / "q.maskloop", images) as empty:
        empty.add_image("a.png", 10, 10)
        with pytest.raises(TrainingError, match="Review more images"):
            prepare_finetune_data(empty, tmp_path / "run")


def _data(tmp_path, val_images=2) -> FinetuneData:
    return FinetuneData(
        run_dir=tmp_path,
        train_json=tmp_path / "train.json",
        val_json=tmp_path / "val.json",
        images_dir=tmp_path / "images",
        train_images=8,
        val_images=val_images,
        train_annotations=20,
        val_annotations=5,
    )


def test_train_cli_args_name_the_run_files_and_ask_for_jsonl(tmp_path):
    args = train_cli_args(_data(tmp_path), TrainOptions(base_model="lite", epochs=3, device="cpu"))
    assert args[:2] == ["train", str(tmp_path / "train.json")]
    pairs = dict(zip(args[2::2], args[3::2], strict=True))
    assert pairs["--images"] == str(tmp_path / "images")
    assert pairs["--val"] == str(tmp_path / "val.json")
    assert pairs["--out"] == str(tmp_path / f"{tmp_path.name}.pt")  # the run names the model
    assert pairs["--model"] == "lite"
    assert pairs["--epochs"] == "3"
    assert pairs["--progress"] == "jsonl"
    assert "--minutes" not in args and "--amp" not in args


def test_train_cli_args_time_budget_amp_and_no_val(tmp_path):
    options = TrainOptions(base_model="/m/x.pt", epochs=None, minutes=1.5, device="cuda", amp=True)
    args = train_cli_args(_data(tmp_path, val_images=0), options)
    assert args[args.index("--minutes") + 1] == "1.5"
    assert "--amp" in args and "--epochs" not in args and "--val" not in args
    assert args[args.index("--device") + 1] == "cuda"


def test_record_run_stores_every_field(store, tmp_path):
    data = _data(tmp_path)
    run = record_run(
        store,
        data,
        base_model="lite",
        checkpoint=tmp_path / "model.pt",
        ap_before=0.1,
        ap_after=0.42,
    )
    (stored,) = store.model_runs()
    assert stored == run
    assert (stored.base_model, stored.checkpoint_path) == ("lite", str(tmp_path / "model.pt"))
    assert (stored.train_images, stored.val_images) == (8, 2)
    assert (stored.ap_before, stored.ap_after) == (0.1, 0.42)
    assert stored.extra["run_dir"] == str(tmp_path)
    assert stored.created_at.startswith(str(datetime.now(timezone.utc).year))
