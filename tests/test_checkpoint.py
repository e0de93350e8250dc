"""core.detection.checkpoint: one self-describing file, saved atomically, loaded without running code."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from core.detection.architectures import build_model
from core.detection.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
from core.errors import CheckpointError
from core.records import Category


def _meta(**changes) -> CheckpointMeta:
    values = dict(
        arch="lite",
        label_category_ids=[0, 3, 7, 11],
        categories=[
            Category(3, "circle", "shape"),
            Category(7, "square"),
            Category(11, "triangle"),
        ],
        min_size=160,
        max_size=200,
        training={"steps": 12, "lr": 0.02, "images": ("a.png", "b.png")},
    )
    values.update(changes)
    return CheckpointMeta(**values)


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_checkpoint_round_trips_weights_and_metadata(tmp_path):
    model = build_model("lite", num_classes=4)
    path = save_checkpoint(tmp_path / "sub" / "model.pt", model.state_dict(), _meta())
    state_dict, meta = load_checkpoint(path)
    assert state_dict.keys() == model.state_dict().keys()
    for key, value in model.state_dict().items():
        torch.testing.assert_close(state_dict[key], value)
    assert meta.arch == "lite" and meta.label_category_ids == [0, 3, 7, 11]
    assert [(c.id, c.name, c.supercategory) for c in meta.categories] == [
        (3, "circle", "shape"),
        (7, "square", ""),
        (11, "triangle", ""),
    ]
    assert (meta.min_size, meta.max_size) == (160, 200)
    assert meta.training == {"steps": 12, "lr": 0.02, "images": ["a.png", "b.png"]}
    assert meta.label_names() == ["__background__", "circle", "square", "triangle"]
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temp file left


def test_file_loads_with_plain_torch_weights_only(tmp_path):
    path = save_checkpoint(
        tmp_path / "m.pt", build_model("lite", num_classes=4).state_dict(), _meta()
    )
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == "maskloop-checkpoint" and payload["version"] == 1
    assert payload["meta"]["categories"][0] == {"id": 3, "name": "circle", "supercategory": "shape"}


def test_saving_over_an_existing_checkpoint_replaces_it(tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(path, build_model("lite", num_classes=4).state_dict(), _meta())
    save_checkpoint(
        path, build_model("lite", num_classes=3).state_dict(), _meta(label_category_ids=[0, 3, 7])
    )
    assert load_checkpoint(path)[1].label_category_ids == [0, 3, 7]


def test_checkpoint_with_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    model = build_model("lite", num_classes=4)
    payload = {
        "format": "maskloop-checkpoint",
        "version": 1,
        "meta": {**_meta().to_dict(), "training": _RunsCode()},
        "state_dict": model.state_dict(),
    }
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="pickled code"):
        load_checkpoint(path)


def test_plain_pickle_of_a_custom_object_is_refused(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_RunsCode()))
    with pytest.raises(CheckpointError, match="refused|cannot be read"):
        load_checkpoint(path)


def test_bare_state_dict_missing_file_and_label_mismatch_are_refused(tmp_path):
    model = build_model("lite", num_classes=4)
    torch.save(model.state_dict(), tmp_path / "bare.pt")
    with pytest.raises(CheckpointError, match="not a MaskLoop checkpoint"):
        load_checkpoint(tmp_path / "bare.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nothing.pt")
    save_checkpoint(tmp_path / "wrong.pt", model.state_dict(), _meta(label_category_ids=[0, 3, 7]))
    with pytest.raises(CheckpointError, match="predict 4 labels but the metadata lists 3"):
        load_checkpoint(tmp_path / "wrong.pt")


def test_truncated_checkpoint_is_refused(tmp_path):
    path = save_checkpoint(
        tmp_path / "m.pt", build_model("lite", num_classes=4).state_dict(), _meta()
    )
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(path)


def test_lite_checkpoint_of_the_older_layout_still_loads_and_predicts(tmp_path):
    # lite used ResNet stage 4 until it was dropped; such checkpoints say arch "lite".
    torch.manual_seed(0)
    older = build_model("lite-c5", num_classes=4).eval()
    path = save_checkpoint(tmp_path / "old.pt", older.state_dict(), _meta())
    state_dict, meta = load_checkpoint(path)
    assert meta.arch == "lite-c5"

    from core.detection.detector import Detector

    detector = Detector.from_checkpoint(path, device="cpu")
    for key, value in older.state_dict().items():
        torch.testing.assert_close(detector.model.state_dict()[key], value)
    assert (
        "backbone.body.layer4.0.conv1.weight" not in build_model("lite", num_classes=4).state_dict()
    )
