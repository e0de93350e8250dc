"""core.detection.architectures: the named architectures and adapting class heads to new categories."""

from __future__ import annotations

import pytest
import torch
from torchvision.models.detection import MaskRCNN

from core.detection.architectures import (
    ARCHITECTURES,
    build_model,
    image_size_settings,
    label_index_map,
    replace_predictors,
)

BOX_WEIGHT = "roi_heads.box_predictor.cls_score.weight"
REG_WEIGHT = "roi_heads.box_predictor.bbox_pred.weight"
MASK_WEIGHT = "roi_heads.mask_predictor.mask_fcn_logits.weight"


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_every_architecture_builds_a_maskrcnn_with_the_asked_class_count(arch):
    model = build_model(arch, num_classes=5)
    assert isinstance(model, MaskRCNN)
    assert model.roi_heads.box_predictor.cls_score.out_features == 5
    assert model.roi_heads.mask_predictor.mask_fcn_logits.out_channels == 5


def test_lite_is_slim_and_sized_for_small_images():
    lite = build_model("lite", num_classes=4)
    r50 = build_model("r50-fpn", num_classes=4)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(lite) < count(r50) / 3
    assert lite.backbone.out_channels == 64
    assert not hasattr(lite.backbone.body, "layer4")  # stride 16 is deep enough for small images
    assert len(lite.rpn.anchor_generator.sizes) == 4  # strides 4, 8, 16 and the pooled 32
    assert all(p.requires_grad for p in lite.backbone.parameters())  # trainable from scratch
    assert image_size_settings(lite) == (256, 640)


def test_lite_forward_returns_masks_at_image_size():
    torch.manual_seed(0)
    model = build_model("lite", num_classes=3, box_score_thresh=0.0).eval()
    with torch.inference_mode():
        (out,) = model([torch.rand(3, 96, 130)])
    assert out["masks"].shape[1:] == (1, 96, 130)
    assert out["boxes"].shape[1] == 4


def test_overrides_reach_torchvision_maskrcnn():
    model = build_model("lite", num_classes=3, min_size=128, max_size=200, box_detections_per_img=7)
    assert image_size_settings(model) == (128, 200)
    assert model.roi_heads.detections_per_img == 7


def test_unknown_architecture_and_missing_background_are_refused():
    with pytest.raises(ValueError, match="lite, r50-fpn, r50-fpn-v2"):
        build_model("resnet9000", num_classes=3)
    with pytest.raises(ValueError, match="background"):
        build_model("lite", num_classes=1)


def test_label_index_map_matches_names_case_insensitively():
    mapping = label_index_map(
        ["__background__", "person", "car", "dog"], ["bg", "Dog", "cat", "PERSON"]
    )
    assert mapping == {0: 0, 1: 3, 3: 1}


def test_replace_predictors_copies_rows_of_kept_classes():
    torch.manual_seed(0)
    model = build_model("lite", num_classes=4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    replace_predictors(
        model,
        source_labels=["__background__", "circle", "square", "triangle"],
        target_labels=["__background__", "triangle", "star"],
    )
    after = model.state_dict()
    assert after[BOX_WEIGHT].shape[0] == 3
    torch.testing.assert_close(after[BOX_WEIGHT][0], before[BOX_WEIGHT][0])
    torch.testing.assert_close(after[BOX_WEIGHT][1], before[BOX_WEIGHT][3])
    torch.testing.assert_close(after[REG_WEIGHT][4:8], before[REG_WEIGHT][12:16])
    torch.testing.assert_close(after[MASK_WEIGHT][1], before[MASK_WEIGHT][3])
    assert not torch.equal(after[BOX_WEIGHT][2], before[BOX_WEIGHT][2])  # "star" is new
    # Everything that is not class-specific is untouched.
    key = "roi_heads.mask_predictor.conv5_mask.weight"
    torch.testing.assert_close(after[key], before[key])
    with torch.inference_mode():
        model.eval()([torch.rand(3, 64, 64)])  # still a working model


@pytest.mark.parametrize("arch", ["lite", "r50-fpn-v2"])
def test_roi_pool_scales_are_fixed_at_build_not_learnt_from_the_first_image(arch: str) -> None:
    """torchvision's poolers infer their scales from the first batch: a very wide first
    image (a 4 x 1000 strip) used to set level '0' to scale 4 instead of 1/4, and every
    later image was then pooled from the wrong place."""
    torch.manual_seed(0)
    model = build_model(arch, num_classes=4, box_score_thresh=0.0, min_size=128, max_size=256)
    model.eval()
    expected = [0.25, 0.125, 0.0625, 0.03125][: len(model.roi_heads.box_roi_pool.featmap_names)]
    assert model.roi_heads.box_roi_pool.scales == expected
    assert model.roi_heads.mask_roi_pool.scales == expected
    generator = torch.Generator().manual_seed(1)
    image = torch.rand(3, 128, 128, generator=generator)
    strip = torch.rand(3, 4, 1000, generator=generator)
    with torch.no_grad():
        normal_first = model([image])[0]
        model([strip])
        strip_first = model([image])[0]
    assert model.roi_heads.box_roi_pool.scales == expected
    assert torch.equal(normal_first["boxes"], strip_first["boxes"])
    assert torch.equal(normal_first["masks"], strip_first["masks"])
