"""Masks pasted on their box crops equal torchvision's full-size paste, bit for bit."""

from __future__ import annotations

import numpy as np
import torch
from torchvision.models.detection.roi_heads import paste_masks_in_image

from core.detection.architectures import build_model
from core.detection.detector import (
    MASK_THRESHOLD,
    Detector,
    detections_from_output,
    label_category_table,
)
from core.detection.mask_paste import binary_mask_stack
from core.records import Category
from core.training.data import Batch
from core.training.engine import predict_coco_results


def _torchvision_binary(probs: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int]):
    pasted = paste_masks_in_image(probs, boxes, size)
    return (pasted[:, 0] > MASK_THRESHOLD).numpy()


def test_crop_paste_equals_the_full_size_paste_for_awkward_boxes():
    generator = torch.Generator().manual_seed(3)
    probs = torch.rand((6, 1, 28, 28), generator=generator)
    size = (48, 64)  # height, width
    boxes = torch.tensor(
        [
            [10.2, 5.7, 30.9, 40.1],  # inside
            [-8.0, -3.5, 12.0, 9.0],  # over the top-left corner
            [50.5, 30.0, 70.0, 52.0],  # over the bottom-right corner
            [20.0, 20.0, 20.3, 20.2],  # a sliver: one pixel after rounding
            [0.0, 0.0, 64.0, 48.0],  # the whole image
            [63.9, 47.9, 64.0, 48.0],  # the last pixel
        ]
    )
    stack = binary_mask_stack(probs, boxes, size, MASK_THRESHOLD)
    expected = _torchvision_binary(probs, boxes, size)
    assert stack.shape == (6, 64, 48)
    for index in range(6):
        assert np.array_equal(stack[index].T.astype(bool), expected[index]), index
    assert expected[:5].any(axis=(1, 2)).all()  # the comparison covers real masks


def _old_predict(detector: Detector, images: list[np.ndarray]) -> list[list]:
    """Detector.predict as it was: the model's own full-size masks, then the conversion."""
    table = label_category_table(detector.label_category_ids, {c.id for c in detector.categories})
    results = []
    with torch.inference_mode():
        for image in images:
            tensor = torch.from_numpy(image).permute(2, 0, 1).float().div_(255.0)
            (output,) = detector.model([tensor])
            results.append(detections_from_output(output, table))
    return results


def test_predict_gives_the_detections_of_the_full_size_path_bit_for_bit():
    torch.manual_seed(0)
    model = build_model("lite", num_classes=4, min_size=160, max_size=240)
    categories = [Category(i, f"class {i}") for i in (1, 2)]  # label 3 has no category
    detector = Detector(
        model,
        arch="lite",
        label_category_ids=[0, 1, 2, 3],
        categories=categories,
        model_key="random",
        device="cpu",
    )
    rng = np.random.default_rng(5)
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((150, 200), (97, 131))]
    new = detector.predict(images, score_threshold=0.0, batch_size=2)
    old = _old_predict(detector, images)
    assert sum(len(found) for found in new) > 50  # random weights: many detections
    assert new == old  # every field: category, score, box, RLE counts


def test_validation_results_are_those_of_the_full_size_path():
    """Training's validation (predict_coco_results) also skips the full-size paste."""
    torch.manual_seed(1)
    model = build_model("lite", num_classes=4, min_size=128, max_size=160).eval()
    rng = np.random.default_rng(9)
    images = [
        torch.from_numpy(rng.random((3, h, w), dtype=np.float32)) for h, w in ((120, 150), (90, 90))
    ]
    batch = Batch([(images[0], 11), (images[1], 12)], [])
    ours, _ = predict_coco_results(model, [batch], [0, 3, 7, 11], device=torch.device("cpu"))
    table = label_category_table([0, 3, 7, 11])
    expected = []
    with torch.inference_mode():
        outputs = model(images)  # one batch, as predict_coco_results runs it
    for output, (_, image_id) in zip(outputs, batch.items, strict=True):
        expected.extend(d.coco_result(image_id) for d in detections_from_output(output, table))
    assert len(expected) > 20
    assert ours == expected
