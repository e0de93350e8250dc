"""`inspect_stages` runs torchvision's own modules step by step: its final detections are
the model's own output, every detection knows its proposal, every NMS victim its remover."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.roi_heads import paste_masks_in_image
from torchvision.ops import box_iou

from core.detection.architectures import build_model
from core.detection.stages import inspect_stages

# Small images, few proposals and few detections keep the ResNet-50 variants at a second or two on a CPU.
_SETTINGS = {
    "min_size": 96,
    "max_size": 128,
    "rpn_post_nms_top_n_test": 60,
    "box_detections_per_img": 12,  # the ResNet-50 mask head costs ~0.1 s per detection
}


def _model(arch: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(arch, num_classes=4, **_SETTINGS).eval()


def _image() -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.rand(3, 100, 120, generator=generator)


@pytest.mark.parametrize("arch", ["lite", "r50-fpn", "r50-fpn-v2"])
def test_final_detections_equal_the_models_own_forward(arch: str) -> None:
    model, image = _model(arch), _image()
    with torch.inference_mode():
        expected = model([image])[0]
    view = inspect_stages(model, image, score_threshold=0.3)
    assert len(expected["boxes"]) > 0  # an untrained model still detects: the test has teeth
    boxes = torch.tensor([d.box for d in view.final]).reshape(-1, 4)
    assert boxes.shape == expected["boxes"].shape
    torch.testing.assert_close(boxes, expected["boxes"], rtol=0, atol=1e-4)
    assert [d.label for d in view.final] == expected["labels"].tolist()
    assert [d.score for d in view.final] == pytest.approx(expected["scores"].tolist(), abs=1e-6)
    # The mask logits, pasted as torchvision pastes them, are the model's masks.
    logits = torch.from_numpy(np.stack([d.mask_logits for d in view.final]))
    pasted = paste_masks_in_image(logits.sigmoid()[:, None], boxes, (100, 120))
    torch.testing.assert_close(pasted, expected["masks"], rtol=0, atol=1e-5)
    assert view.detections == [d for d in view.final if d.score >= 0.3]
    assert len(view.detections) + len(view.under_threshold) == len(view.final)


def test_each_detection_is_its_proposals_class_score_and_victims_name_their_remover() -> None:
    model = _model("lite")
    model.roi_heads.detections_per_img = 10_000  # every box NMS keeps is final: removers too
    view = inspect_stages(model, _image())
    assert len(view.proposals) == len(view.objectness) == len(view.class_scores) > 0
    assert np.all(np.diff(view.objectness) <= 0)  # best objectness first
    for detection in [*view.final, *view.suppressed]:
        row = view.class_scores[detection.proposal_index]
        assert detection.score == pytest.approx(float(row[detection.label]), abs=1e-6)
        assert detection.proposal_box == tuple(
            float(v) for v in view.proposals[detection.proposal_index]
        )
        assert [label for label, _ in detection.top_classes] == list(np.argsort(-row)[:3])
    assert view.suppressed, "an untrained model's overlapping candidates leave NMS victims"
    for victim in view.suppressed:
        assert victim.suppressed_by is not None
        remover = view.final[victim.suppressed_by]
        assert remover.label == victim.label and remover.score >= victim.score
        iou = box_iou(torch.tensor([victim.box]), torch.tensor([remover.box]))
        assert float(iou) > view.nms_threshold


def test_large_anchors_propose_nothing_the_size_of_a_small_object() -> None:
    model = _model("lite")
    # Anchors of 256 px and more on a 100 x 120 image: every proposal covers most of it.
    sizes = tuple((256 * 2**level,) for level in range(4))
    model.rpn.anchor_generator = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * 4)
    view = inspect_stages(model, _image())
    widths = view.proposals[:, 2] - view.proposals[:, 0]
    assert len(widths) > 0 and widths.min() > 40
