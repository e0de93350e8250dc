"""A file that is not a MaskLoop checkpoint is named for what it is, in plain words."""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import pytest
import torch
from conftest import write_png

from core.cli import main as cli_main
from core.detection.checkpoint import WHAT_A_MODEL_IS, load_checkpoint
from core.errors import CheckpointError


def _write(kind: str, folder: Path) -> Path:
    if kind == "empty":
        path = folder / "empty.pt"
        path.write_bytes(b"")
    elif kind == "text":
        path = folder / "notes.txt"
        path.write_text("epochs: 10\nlr: 0.01\n", encoding="utf-8")
    elif kind == "json":
        path = folder / "settings.json"
        path.write_text(json.dumps({"model": "lite", "threshold": 0.5}), encoding="utf-8")
    elif kind == "coco":
        path = folder / "labels.json"
        path.write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    elif kind == "zip":
        path = folder / "bundle.zip"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("readme.txt", "hello")
    elif kind == "pickle":
        path = folder / "cache.pkl"
        path.write_bytes(pickle.dumps({"a": [1, 2, 3]}))
    elif kind == "binary":
        path = folder / "photo.raw"
        path.write_bytes(bytes(range(256)) * 8)
    elif kind == "state_dict":
        path = folder / "weights.pth"
        torch.save({"backbone.weight": torch.zeros(2, 2)}, path)
    elif kind == "torch_list":
        path = folder / "list.pt"
        torch.save([1, 2, 3], path)
    elif kind == "torch_dict":
        path = folder / "run.pt"
        torch.save({"epoch": 3, "model": {"w": torch.zeros(1)}}, path)
    elif kind == "whole_model":
        path = folder / "model.pt"
        torch.save(torch.nn.Linear(2, 2), path)
    else:
        raise ValueError(kind)
    return path


CASES = {
    "empty": "is empty (0 bytes)",
    "text": "is a text file, not a model",
    "json": "is a JSON file, not a model",
    "coco": "is a COCO JSON file (labels), not a model",
    "zip": "is a zip archive, but not a PyTorch file",
    "pickle": "is a plain Python pickle, not a PyTorch checkpoint",
    "binary": "is neither a PyTorch file nor text",
    "state_dict": "is a PyTorch state dict (weights alone",
    "torch_list": "is a PyTorch file holding a list, not a MaskLoop checkpoint",
    "torch_dict": "is a PyTorch file but not a MaskLoop checkpoint (its keys: 'epoch', 'model')",
    "whole_model": "is a PyTorch file holding pickled code or Python objects",
}
# What the old messages leaked: torch internals, meaningless to the user.
NOISE = ("101", "weights_only", "WeightsUnpickler", "Re-running", "inline_container", "\n")


@pytest.mark.parametrize("kind", sorted(CASES))
def test_load_checkpoint_says_what_the_file_is(tmp_path, kind):
    path = _write(kind, tmp_path)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert message.startswith(f"{path} {CASES[kind]}")
    assert message.endswith(WHAT_A_MODEL_IS)
    assert not any(noise in message for noise in NOISE), message
    assert message.count(". ") <= 2  # two sentences, not a page


def test_what_a_model_is_names_the_architectures_and_where_checkpoints_come_from():
    assert "maskloop train" in WHAT_A_MODEL_IS and "fine-tune dialog" in WHAT_A_MODEL_IS
    for name in ("lite", "r50-fpn", "r50-fpn-v2"):
        assert name in WHAT_A_MODEL_IS


@pytest.mark.parametrize("kind", ["text", "json", "empty", "zip", "state_dict", "whole_model"])
def test_maskloop_predict_with_such_a_model_exits_2_with_the_message(tmp_path, capsys, kind):
    model = _write(kind, tmp_path)
    write_png(tmp_path / "images" / "a.png", 32, 24)
    code = cli_main(
        ["predict", "--images", str(tmp_path / "images"), "--model", str(model),
         "--out", str(tmp_path / "out.json"), "--device", "cpu", "--quiet"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"maskloop: error: {model} {CASES[kind]}")
    assert err.strip().endswith(WHAT_A_MODEL_IS) and err.count("\n") == 1
    assert not (tmp_path / "out.json").exists()
