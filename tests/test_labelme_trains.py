"""A labelme2coco dataset (category 0 "_background_", ids from 0) imports AND trains."""

from __future__ import annotations

import json

import pytest
import torch
from _labelme_helpers import make_labelme_coco

from core.cli import main as cli_main
from core.coco.importer import import_coco
from core.detection.checkpoint import load_checkpoint
from core.errors import TrainingError
from core.store import ProjectStore
from core.training.data import InstanceDataset, load_coco_dataset
from core.training.finetune_data import prepare_finetune_data
from tests._training_helpers import QUICK_CLI_ARGS


def test_category_zero_is_an_id_like_any_other(tmp_path):
    source = make_labelme_coco(tmp_path)
    dataset = load_coco_dataset(source.json_path, source.images_dir)
    assert [c.id for c in dataset.categories] == [0, 1, 2]
    assert dataset.label_category_ids == [0, 0, 1, 2]  # label 1 stands for category 0
    assert dataset.label_names == ["__background__", "_background_", "square", "bar"]
    assert len(dataset.samples) == 2
    labels = sorted(inst.label for inst in dataset.samples[0].instances)
    assert labels == [2, 3]  # square -> label 2, bar -> label 3; nothing is labelled 0 or 1
    assert any("'_background_' (id 0) has no annotations" in w for w in dataset.warnings)
    image, target = InstanceDataset(dataset.samples)[0]
    assert target["labels"].tolist() == [2, 3]
    assert target["masks"].shape == (2, image.shape[1], image.shape[2])
    assert int(target["masks"][0].sum()) > 300  # the 20 x 20 square, as pixels


def test_a_repeated_category_id_is_still_refused_by_name(tmp_path):
    source = make_labelme_coco(tmp_path, images=1)
    data = dict(source.data)
    data["categories"] = [*data["categories"], {"id": 1, "name": "again"}]
    path = tmp_path / "dup.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(TrainingError, match="category id 1 is used by two categories"):
        load_coco_dataset(path, source.images_dir)


def test_an_imported_labelme_project_exports_a_trainable_finetune_set(tmp_path):
    source = make_labelme_coco(tmp_path, images=4)
    with ProjectStore.create(tmp_path / "p.maskloop", source.images_dir) as store:
        assert not import_coco(source.json_path, store).warnings
        data = prepare_finetune_data(store, tmp_path / "run", val_fraction=0.25, seed=0)
    train = load_coco_dataset(data.train_json, data.images_dir)
    val = load_coco_dataset(
        data.val_json, data.images_dir, categories=train.categories, role="validation"
    )
    assert [c.id for c in train.categories] == [0, 1, 2]
    assert (len(train.samples), len(val.samples)) == (3, 1)


def test_maskloop_train_runs_a_step_on_a_labelme_file(tmp_path, capsys):
    source = make_labelme_coco(tmp_path, images=2)
    checkpoint = tmp_path / "model.pt"
    torch.manual_seed(0)
    code = cli_main(
        ["train", str(source.json_path), "--images", str(source.images_dir), "--out",
         str(checkpoint), "--epochs", "1", "--progress", "jsonl", *QUICK_CLI_ARGS]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    events = [json.loads(line) for line in captured.out.splitlines() if line.strip()]
    assert events[-1]["event"] == "done"
    assert any(e["event"] == "step" for e in events)
    _, meta = load_checkpoint(checkpoint)
    assert meta.label_category_ids == [0, 0, 1, 2]
    assert [c.name for c in meta.categories] == ["_background_", "square", "bar"]
