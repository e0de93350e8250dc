"""core.detection.weights offline: cached files load through torchvision's cache; absent ones fail fast
with a message naming the file and the folder to put it in."""

from __future__ import annotations

import pytest
import torch

from core.detection.architectures import build_model
from core.detection.coco_classes import coco_categories, coco_label_names
from core.detection.detector import Detector
from core.detection.weights import coco_weights_file, load_coco_state_dict
from core.errors import WeightsUnavailableError


def _place_random_weights(arch: str, hub_dir) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    state_dict = build_model(arch, num_classes=91).state_dict()
    target = coco_weights_file(arch, hub_dir=hub_dir)
    target.parent.mkdir(parents=True)
    torch.save(state_dict, target)
    return state_dict


def test_weights_file_is_where_torchvision_caches_it(tmp_path):
    path = coco_weights_file("r50-fpn-v2", hub_dir=tmp_path)
    assert path == tmp_path / "checkpoints" / "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth"


def test_torch_home_moves_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert coco_weights_file("r50-fpn").parent == tmp_path / "hub" / "checkpoints"


def test_cached_weights_load_and_make_a_coco_detector(tmp_path):
    placed = _place_random_weights("r50-fpn", tmp_path)
    loaded = load_coco_state_dict("r50-fpn", hub_dir=tmp_path)
    assert loaded.keys() == placed.keys()
    torch.testing.assert_close(
        loaded["roi_heads.box_predictor.cls_score.weight"],
        placed["roi_heads.box_predictor.cls_score.weight"],
    )
    detector = Detector.load("r50-fpn", hub_dir=tmp_path, device="cpu")
    assert detector.model_key == "r50-fpn"
    assert len(detector.categories) == 80
    names = {c.id: c.name for c in detector.categories}
    assert names[1] == "person" and names[3] == "car" and names[90] == "toothbrush"
    torch.testing.assert_close(
        detector.model.state_dict()["roi_heads.box_predictor.cls_score.weight"],
        placed["roi_heads.box_predictor.cls_score.weight"],
    )


def test_missing_weights_offline_fail_fast_naming_file_and_place(tmp_path):
    with pytest.raises(WeightsUnavailableError) as excinfo:
        load_coco_state_dict("r50-fpn-v2", hub_dir=tmp_path, probe_timeout_s=2.0)
    message = str(excinfo.value)
    expected = tmp_path / "checkpoints" / "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth"
    assert str(expected) in message
    assert (
        "https://download.pytorch.org/models/maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth" in message
    )
    assert "checkpoint" in message
    assert not expected.exists()


def test_detector_load_reports_missing_weights_the_same_way(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth"):
        Detector.load("r50-fpn", hub_dir=tmp_path)


def test_download_disabled_and_lite_have_clear_messages(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="downloads are disabled"):
        load_coco_state_dict("r50-fpn", hub_dir=tmp_path, download=False)
    with pytest.raises(WeightsUnavailableError, match="no pretrained COCO weights"):
        load_coco_state_dict("lite", hub_dir=tmp_path)


def test_coco_categories_come_from_torchvision_metadata():
    names = coco_label_names()
    assert len(names) == 91 and names[0] == "__background__"
    categories = coco_categories()
    assert len(categories) == 80
    assert all(names[c.id] == c.name for c in categories)
    assert {c.supercategory for c in categories if c.name in ("car", "bus")} == {"vehicle"}
    assert all(c.supercategory for c in categories)
