"""Mask R-CNN inference without full-size float masks: each mask is pasted on its box only.

torchvision's `MaskRCNN.forward` ends by pasting every 28 x 28 mask probability map into a
float32 image-size array (`paste_masks_in_image`): 100 detections on a 640 x 480 image
are 123 MB written, most of it zeros, which MaskLoop then thresholded and transposed
before RLE encoding. On a 2-core CPU that paste alone was ~45 % of lite's forward, and the
threshold and transpose another ~20 %. `forward_unpasted` runs the same stages but stops
before the paste; `binary_mask_stack` resizes each map onto its box exactly as torchvision
does (same padding, box expansion, integer rounding and bilinear resize), thresholds the
box crop and writes it into a 1-byte, column-major stack that pycocotools encodes in one
call. The masks are bit-identical to thresholding torchvision's pasted output.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.roi_heads import expand_boxes, expand_masks

# torchvision pads the 28 x 28 map by one cell on each side before resizing it to the box.
_PADDING = 1


def forward_unpasted(model: MaskRCNN, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
    """`model(images)` in eval mode, but "masks" are left as N x 1 x M x M probabilities
    (key "mask_probs") while boxes are in image pixels, as torchvision returns them."""
    original_sizes = [(int(image.shape[-2]), int(image.shape[-1])) for image in images]
    image_list, _ = model.transform(images)
    features = model.backbone(image_list.tensors)
    if isinstance(features, torch.Tensor):
        features = OrderedDict([("0", features)])
    proposals, _ = model.rpn(image_list, features)
    detections, _ = model.roi_heads(features, proposals, image_list.image_sizes)
    probs = [detection.pop("masks") for detection in detections]
    detections = model.transform.postprocess(detections, image_list.image_sizes, original_sizes)
    for detection, mask_probs in zip(detections, probs, strict=True):
        detection["mask_probs"] = mask_probs
    return detections


def binary_mask_stack(
    mask_probs: torch.Tensor, boxes: torch.Tensor, image_size: tuple[int, int], threshold: float
) -> np.ndarray:
    """N x W x H uint8 (C order): mask i, thresholded, is `stack[i].T`.

    Laid out so `stack.transpose(2, 1, 0)` is the H x W x N Fortran-ordered array
    pycocotools' `encode` takes. Only the box crops are computed; the rest stays zero.
    """
    height, width = image_size
    count = int(mask_probs.shape[0])
    stack = np.zeros((count, width, height), dtype=np.uint8)
    if count == 0:
        return stack
    padded, scale = expand_masks(mask_probs, padding=_PADDING)
    expanded = expand_boxes(boxes, scale).to(dtype=torch.int64).tolist()
    for index, (x0, y0, x1, y1) in enumerate(expanded):
        # The same arithmetic as torchvision's paste_mask_in_image.
        box_w = max(int(x1 - x0 + 1), 1)
        box_h = max(int(y1 - y0 + 1), 1)
        xa, xb = max(x0, 0), min(x1 + 1, width)
        ya, yb = max(y0, 0), min(y1 + 1, height)
        if xa >= xb or ya >= yb:
            continue  # the box lies outside the image: nothing to paste
        resized = F.interpolate(
            padded[index : index + 1], size=(box_h, box_w), mode="bilinear", align_corners=False
        )[0, 0]
        crop = resized[ya - y0 : yb - y0, xa - x0 : xb - x0] > threshold
        stack[index, xa:xb, ya:yb] = crop.t().cpu().numpy()
    return stack
