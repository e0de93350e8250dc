"""Box-to-mask pastes each mask into its box only (core.detection.box_to_mask.paste_in_boxes):
pixel for pixel the whole-image route it replaced (torchvision's paste_masks_in_image on the
whole image, then everything outside the box rounded outwards cleared), for fractional
boxes, boxes on the image's edges and one-pixel boxes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.models.detection.roi_heads import paste_masks_in_image

from core import masks
from core.detection.box_to_mask import BoxMask, paste_in_boxes
from core.detection.detector import MASK_THRESHOLD


def _whole_image_route(probs: torch.Tensor, boxes: torch.Tensor, h: int, w: int) -> np.ndarray:
    pasted = paste_masks_in_image(probs[:, None], boxes, (h, w))
    binary = (pasted[:, 0] > MASK_THRESHOLD).numpy()
    clipped = np.zeros_like(binary)
    for i, (x0, y0, x1, y1) in enumerate(boxes.tolist()):
        r0, c0, r1, c1 = int(np.floor(y0)), int(np.floor(x0)), int(np.ceil(y1)), int(np.ceil(x1))
        clipped[i, r0:r1, c0:c1] = binary[i, r0:r1, c0:c1]
    return clipped


def _random_boxes(rng: np.random.Generator, n: int, h: int, w: int) -> torch.Tensor:
    """Boxes as the segmenter passes them: clamped to the image, at least a pixel each way."""
    x0, y0 = rng.uniform(-10, w - 1, n), rng.uniform(-10, h - 1, n)
    x1, y1 = x0 + rng.uniform(1, w / 2, n), y0 + rng.uniform(1, h / 2, n)
    boxes = np.stack([x0, y0, x1, y1], axis=1)
    if rng.random() < 0.5:
        boxes = np.round(boxes)  # whole-pixel boxes too
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
    keep = ((boxes[:, 2] - boxes[:, 0]) >= 1) & ((boxes[:, 3] - boxes[:, 1]) >= 1)
    return torch.as_tensor(boxes[keep], dtype=torch.float32)


@pytest.mark.parametrize("seed", range(4))
def test_pasting_in_the_box_equals_the_whole_image_paste(seed: int) -> None:
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    for _ in range(25):
        h, w = (int(v) for v in rng.integers(20, 120, 2))
        boxes = _random_boxes(rng, 6, h, w)
        boxes = torch.cat(
            [boxes, torch.tensor([[0.0, 0.0, float(w), float(h)], [3.0, 4.0, 4.0, 5.0]])]
        )
        probs = torch.rand(len(boxes), 28, 28)
        expected = _whole_image_route(probs, boxes, h, w)
        for i, crop in enumerate(paste_in_boxes(probs, boxes)):
            result = BoxMask(crop, (h, w), 1, ((1, 1.0),), 0.5)
            assert np.array_equal(result.mask, expected[i])
            assert result.area == int(expected[i].sum())
            assert result.rle() == masks.encode_mask(expected[i])
            x0, y0, x1, y1 = boxes[i].tolist()
            assert (crop.x, crop.y) == (int(np.floor(x0)), int(np.floor(y0)))
            assert (crop.x + crop.width, crop.y + crop.height) == (
                int(np.ceil(x1)),
                int(np.ceil(y1)),
            )


def test_a_box_on_a_large_image_allocates_about_the_box_not_the_image() -> None:
    import tracemalloc

    from core.detection.architectures import build_model
    from core.detection.box_to_mask import BoxSegmenter
    from core.detection.detector import Detector
    from core.records import Category

    torch.manual_seed(0)
    model = build_model("lite", num_classes=2, min_size=96, max_size=128)
    detector = Detector(
        model,
        arch="lite",
        label_category_ids=[0, 1],
        categories=[Category(1, "thing")],
        model_key="lite-test",
        device="cpu",
    )
    segmenter = BoxSegmenter(detector)
    h, w = 3000, 4000  # a whole-image bool mask is 12 MB, the float paste 48 MB
    segmenter.prepare("big", np.zeros((h, w, 3), np.uint8))
    tracemalloc.start()
    try:
        (result,) = segmenter.segment("big", np.array([[3000.5, 2000.5, 3100.0, 2080.0]]))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * 2**20
    crop = result.crop
    assert (crop.x, crop.y, crop.width, crop.height) == (3000, 2000, 100, 80)
    assert result.mask.shape == (h, w)
    assert result.mask[2000:2080, 3000:3100].sum() == result.area
