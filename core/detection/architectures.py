"""Named Mask R-CNN architectures, all assembled from torchvision's detection classes.

Each architecture is a small keyword-only builder in `_BUILDERS`, the way torchvision's
`maskrcnn_resnet50_fpn_v2(*, weights, num_classes, ...)` reads. Weights are never loaded
here: `core.detection.weights` fetches torchvision's COCO weights, `core.detection.checkpoint`
MaskLoop's own.

`replace_predictors` adapts the class-specific layers (box
classifier, box regressor, mask logits) when a project's categories differ from the ones a
set of weights was trained on: rows of classes kept (matched by name, case-insensitive) are
copied, new classes start from the fresh initialisation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torchvision.models import resnet18
from torchvision.models.detection import MaskRCNN, maskrcnn_resnet50_fpn, maskrcnn_resnet50_fpn_v2
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.rpn import RPNHead
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from core.categories import match_by_name
from core.detection.names import ARCHITECTURES, DEFAULT_IMAGE_SIZES

# One bilinear sample per RoIAlign bin instead of 2 x 2. On a CPU, lite's training step is
# bound by RoIAlign's backward pass, which torchvision runs on one thread at a cost that
# grows with regions x bins x samples (~22 ns each). Objects in lite's small images span a
# few feature cells, so a bin is smaller than a cell and one interpolated sample loses
# nothing. With 64 sampled regions per image this made a step 1.4x faster (0.315 -> 0.228 s
# for 4 images at 128 px), and 2-minute from-scratch runs reached held-out mask AP 0.206
# instead of 0.147.
_ROI_SAMPLING = 1


def _lite(*, num_classes: int, stages: int, **overrides: Any) -> MaskRCNN:
    """A ResNet-18 FPN Mask R-CNN with 64-channel features and slim heads.

    Sized to train from scratch on a CPU in minutes on ~128-640 px images: default-width
    heads (256 channels, 1024-wide box MLP) cost about 15x more for little gain there.
    `stages` is how many ResNet stages feed the pyramid (3: up to stride 16; 4: up to 32).
    """
    channels = 64
    body = resnet18(weights=None, norm_layer=nn.BatchNorm2d)
    stage_channels = [64, 128, 256, 512][:stages]
    backbone = BackboneWithFPN(
        body,
        return_layers={f"layer{i + 1}": str(i) for i in range(stages)},
        in_channels_list=stage_channels,
        out_channels=channels,
        extra_blocks=LastLevelMaxPool(),
    )
    # One size per pyramid level (the stages' strides, then the max-pool level), smaller
    # than torchvision's 32..512 because objects in small images are small.
    sizes = tuple((16 * 2**level,) for level in range(stages + 1))
    anchors = AnchorGenerator(sizes=sizes, aspect_ratios=((0.5, 1.0, 2.0),) * len(sizes))
    feature_names = [str(i) for i in range(stages)]
    min_size, max_size = DEFAULT_IMAGE_SIZES["lite"]
    settings: dict[str, Any] = {
        "min_size": min_size,
        "max_size": max_size,
        "rpn_pre_nms_top_n_train": 600,
        "rpn_post_nms_top_n_train": 300,
        "rpn_pre_nms_top_n_test": 300,
        "rpn_post_nms_top_n_test": 100,
        # See _ROI_SAMPLING: 64 sampled regions per image suffice for the few objects
        # small images hold, and halve the RoIAlign work of the box head.
        "box_batch_size_per_image": 64,
    }
    settings.update(overrides)
    model = MaskRCNN(
        backbone,
        num_classes=None,  # the predictors below carry the class count
        rpn_anchor_generator=anchors,
        rpn_head=RPNHead(channels, anchors.num_anchors_per_location()[0]),
        box_roi_pool=MultiScaleRoIAlign(feature_names, output_size=7, sampling_ratio=_ROI_SAMPLING),
        box_head=TwoMLPHead(channels * 7 * 7, 256),
        box_predictor=FastRCNNPredictor(256, num_classes),
        mask_roi_pool=MultiScaleRoIAlign(
            feature_names, output_size=14, sampling_ratio=_ROI_SAMPLING
        ),
        mask_head=MaskRCNNHeads(channels, (64, 64), 1),
        mask_predictor=MaskRCNNPredictor(64, 64, num_classes),
        **settings,
    )
    _calm_mask_logits(model.roi_heads.mask_predictor)
    return model


def _build_lite(*, num_classes: int, **overrides: Any) -> MaskRCNN:
    """lite: ResNet-18 stages 1-3 (strides 4-16) into the pyramid, no stage 4.

    Stage 4 holds 8.4 of ResNet-18's 11.2 M parameters and sees small images as a 3 x 4
    grid. Without it a step is 1.25x faster (165 against 207 ms, 4 images at 96 px) and,
    trained from scratch for 4 minutes on the textured shapes set, held-out mask AP rose
    from 0.41 to 0.56 (seed 0) and from 0.36 to 0.53 (seed 1).
    """
    return _lite(num_classes=num_classes, stages=3, **overrides)


def _build_lite_c5(*, num_classes: int, **overrides: Any) -> MaskRCNN:
    """lite as MaskLoop built it before (stages 1-4): loads the checkpoints it trained."""
    return _lite(num_classes=num_classes, stages=4, **overrides)


def _calm_mask_logits(predictor: MaskRCNNPredictor) -> None:
    """Start the mask logits near zero.

    torchvision initialises them with Kaiming fan-out, i.e. std sqrt(2 / num_classes): with
    three classes the untrained mask loss starts near 6 instead of ln 2 and the first
    minutes of from-scratch training are spent undoing it (Detectron uses std 0.001).
    """
    nn.init.normal_(predictor.mask_fcn_logits.weight, std=0.001)
    nn.init.zeros_(predictor.mask_fcn_logits.bias)


def _build_r50_fpn(*, num_classes: int, **overrides: Any) -> MaskRCNN:
    """torchvision's original Mask R-CNN ResNet-50 FPN (faster than v2, 37.9 box / 34.6 mask AP)."""
    return maskrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=num_classes, **overrides
    )


def _build_r50_fpn_v2(*, num_classes: int, **overrides: Any) -> MaskRCNN:
    """torchvision's improved Mask R-CNN ResNet-50 FPN v2 (47.4 box / 41.8 mask AP on COCO)."""
    return maskrcnn_resnet50_fpn_v2(
        weights=None, weights_backbone=None, num_classes=num_classes, **overrides
    )


_BUILDERS: dict[str, Callable[..., MaskRCNN]] = {
    "lite": _build_lite,
    "lite-c5": _build_lite_c5,
    "r50-fpn": _build_r50_fpn,
    "r50-fpn-v2": _build_r50_fpn_v2,
}


def check_architecture(arch: str) -> str:
    """Return `arch` if it names a known architecture, else raise ValueError listing them."""
    if arch not in _BUILDERS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    return arch


def legacy_architecture(arch: str, state_dict: Mapping[str, torch.Tensor]) -> str:
    """The architecture a checkpoint's weights were really built for.

    lite checkpoints written before lite dropped ResNet stage 4 carry its weights; they are
    rebuilt with that layout ("lite-c5") so they keep loading and fine-tuning.
    """
    if arch == "lite" and "backbone.body.layer4.0.conv1.weight" in state_dict:
        return "lite-c5"
    return arch


def build_model(arch: str, *, num_classes: int, **overrides: Any) -> MaskRCNN:
    """Build a randomly initialised Mask R-CNN of architecture `arch`.

    `num_classes` counts the background class. `overrides` are passed to torchvision's
    `MaskRCNN` (e.g. `min_size`, `max_size`, `box_detections_per_img`, `box_score_thresh`).
    """
    check_architecture(arch)
    if num_classes < 2:
        raise ValueError(f"num_classes counts the background and must be >= 2, got {num_classes}")
    return fix_roi_scales(_BUILDERS[arch](num_classes=num_classes, **overrides))


def fix_roi_scales(model: MaskRCNN, probe_size: int = 128) -> MaskRCNN:
    """Give the RoI poolers their feature scales now, from a square probe image.

    torchvision's `MultiScaleRoIAlign` infers them from the first batch it sees and keeps
    them: from the largest image's height alone, rounded to a power of two. A first batch
    of one very wide image (a 4 x 1000 strip is resized to 1 x 256 and padded to 32 x 256)
    gives level '0' the scale 8 instead of 1/4, and every later image is pooled from the
    wrong place. The probe runs the backbone once in eval mode without gradients, so batch
    norm statistics are untouched. Returns the same model.
    """
    from torchvision.ops.poolers import _setup_scales

    pools = [
        pool
        for pool in (model.roi_heads.box_roi_pool, getattr(model.roi_heads, "mask_roi_pool", None))
        if isinstance(pool, MultiScaleRoIAlign)
    ]
    if not pools:
        return model
    was_training = model.backbone.training
    model.backbone.eval()
    try:
        with torch.no_grad():
            device = next(model.backbone.parameters()).device
            features = model.backbone(torch.zeros(1, 3, probe_size, probe_size, device=device))
    finally:
        model.backbone.train(was_training)
    for pool in pools:
        chosen = [features[name] for name in pool.featmap_names]
        pool.scales, pool.map_levels = _setup_scales(
            chosen, [(probe_size, probe_size)], pool.canonical_scale, pool.canonical_level
        )
    return model


def label_index_map(source_labels: Sequence[str], target_labels: Sequence[str]) -> dict[int, int]:
    """Map each target label index to the source label index with the same name.

    Both sequences hold one name per model label, index 0 being the background; names
    match case-insensitively and the background always maps onto the background.
    """
    matched = match_by_name(list(enumerate(target_labels))[1:], list(enumerate(source_labels))[1:])
    return {0: 0, **matched}


def _copy_rows(
    target: torch.Tensor, source: torch.Tensor, mapping: Mapping[int, int], rows_per_class: int
) -> torch.Tensor:
    result = target.detach().clone()
    for target_index, source_index in mapping.items():
        t0, s0 = target_index * rows_per_class, source_index * rows_per_class
        result[t0 : t0 + rows_per_class] = source[s0 : s0 + rows_per_class].to(result.dtype)
    return result


def replace_predictors(
    model: MaskRCNN, *, source_labels: Sequence[str], target_labels: Sequence[str]
) -> MaskRCNN:
    """Give `model` new box and mask predictors for `target_labels`, keeping matched classes.

    `source_labels` names the labels the model predicts now (index 0 = background).
    Returns the same model, changed in place.
    """
    heads = model.roi_heads
    old_box: FastRCNNPredictor = heads.box_predictor
    old_mask: MaskRCNNPredictor = heads.mask_predictor
    if len(source_labels) != old_box.cls_score.out_features:
        raise ValueError(
            f"the model predicts {old_box.cls_score.out_features} labels "
            f"but {len(source_labels)} source labels were given"
        )
    mapping = label_index_map(source_labels, target_labels)
    new_box = FastRCNNPredictor(old_box.cls_score.in_features, len(target_labels))
    old_logits = old_mask.mask_fcn_logits
    new_mask = MaskRCNNPredictor(
        old_mask.conv5_mask.in_channels, old_logits.in_channels, len(target_labels)
    )
    new_mask.conv5_mask.load_state_dict(old_mask.conv5_mask.state_dict())
    with torch.no_grad():
        for new_layer, old_layer, rows in (
            (new_box.cls_score, old_box.cls_score, 1),
            (new_box.bbox_pred, old_box.bbox_pred, 4),
            (new_mask.mask_fcn_logits, old_logits, 1),
        ):
            new_layer.weight.copy_(_copy_rows(new_layer.weight, old_layer.weight, mapping, rows))
            new_layer.bias.copy_(_copy_rows(new_layer.bias, old_layer.bias, mapping, rows))
    device = old_box.cls_score.weight.device
    heads.box_predictor = new_box.to(device)
    heads.mask_predictor = new_mask.to(device)
    return model


def image_size_settings(model: MaskRCNN) -> tuple[int, int]:
    """The (min_size, max_size) the model rescales images to."""
    transform = model.transform
    min_size = transform.min_size
    return int(min_size[-1] if isinstance(min_size, (tuple, list)) else min_size), int(
        transform.max_size
    )
