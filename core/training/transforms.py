"""Training augmentation with torchvision.transforms.v2 and tv_tensors.

A sample is `(image, target)`: a `tv_tensors.Image` (uint8, 3 x H x W) and a dict holding
`boxes` (`tv_tensors.BoundingBoxes`, XYXY), `masks` (`tv_tensors.Mask`, N x H x W) and
`labels`. v2 transforms move boxes and masks together with the pixels.

Scale jitter note: Mask R-CNN rescales every image to its `min_size` itself, so resizing the
whole image would be undone. `RandomZoom` therefore zooms the content inside a canvas of the
original size (crop when zooming in, pad when zooming out): objects really change size.
"""

from __future__ import annotations

from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.ops import masks_to_boxes
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from core.training.choices import AUGMENTATIONS, AUTO_AUGMENT_MIN_EPOCHS

Sample = tuple[tv_tensors.Image, dict[str, Any]]


class RandomZoom(v2.Transform):
    """Scale the content by a random factor in `scale_range`, keeping the canvas size.

    With probability `p`; zooming in crops a random window, zooming out pads around the
    shrunk image at a random offset (with zeros: black pixels, empty masks).
    """

    def __init__(self, scale_range: tuple[float, float] = (0.75, 1.33), p: float = 0.5) -> None:
        super().__init__()
        low, high = scale_range
        if not 0 < low <= high:
            raise ValueError(f"scale_range must be increasing and positive, got {scale_range}")
        self.scale_range = (float(low), float(high))
        self.p = p

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        sized = [x for x in flat_inputs if isinstance(x, (tv_tensors.Image, tv_tensors.Mask))]
        height, width = F.get_size(sized[0])
        if torch.rand(()) >= self.p:
            return {"apply": False}
        low, high = self.scale_range
        scale = low + (high - low) * float(torch.rand(()))
        new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
        crop_h, crop_w = min(height, new_h), min(width, new_w)
        top = int(torch.randint(0, new_h - crop_h + 1, ()))
        left = int(torch.randint(0, new_w - crop_w + 1, ()))
        pad_top = int(torch.randint(0, height - crop_h + 1, ()))
        pad_left = int(torch.randint(0, width - crop_w + 1, ()))
        return {
            "apply": True,
            "resized": [new_h, new_w],
            "crop": (top, left, crop_h, crop_w),
            "padding": [pad_left, pad_top, width - crop_w - pad_left, height - crop_h - pad_top],
        }

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if not params["apply"]:
            return inpt
        out = F.resize(inpt, params["resized"], antialias=True)
        out = F.crop(out, *params["crop"])
        if any(params["padding"]):
            out = F.pad(out, params["padding"], fill=0)
        return out


def boxes_from_masks(masks: torch.Tensor) -> torch.Tensor:
    """XYXY boxes enclosing each mask, COCO style (x2 = last column + 1); zeros when empty."""
    if masks.shape[0] == 0:
        return torch.zeros((0, 4), dtype=torch.float32)
    as_bool = masks.to(torch.bool)
    boxes = masks_to_boxes(as_bool).to(torch.float32)
    boxes[:, 2:] += 1.0
    empty = ~as_bool.flatten(1).any(dim=1)
    boxes[empty] = 0.0
    return boxes


class RefreshBoxesFromMasks:
    """Re-derive boxes from the (cropped, padded) masks, then drop emptied instances.

    Clamping a box to a crop keeps its full height even if only a sliver of the object
    stays; the mask knows what is left, so boxes follow the masks.
    """

    def __call__(self, image: tv_tensors.Image, target: dict[str, Any]) -> Sample:
        masks = target["masks"]
        boxes = boxes_from_masks(masks)
        keep = (boxes[:, 2] - boxes[:, 0] >= 1) & (boxes[:, 3] - boxes[:, 1] >= 1)
        target = dict(target)
        target["boxes"] = tv_tensors.BoundingBoxes(
            boxes[keep], format="XYXY", canvas_size=tuple(image.shape[-2:])
        )
        for key in ("masks", "labels", "area", "iscrowd"):
            if key in target:
                target[key] = target[key][keep]
        return image, target


def training_transforms(
    *,
    flip: bool = True,
    colour: bool = False,
    zoom_range: tuple[float, float] | None = (0.75, 1.33),
) -> v2.Compose:
    """Horizontal flip, colour distortion and scale jitter, then float pixels in [0, 1]."""
    steps: list[Any] = []
    if flip:
        steps.append(v2.RandomHorizontalFlip(p=0.5))
    if colour:
        # Brightness, contrast, saturation, hue and channel order, each with p = 0.5 (as in
        # torchvision's SSD reference): labels never depend on them, and shapes stay whole.
        steps.append(v2.RandomPhotometricDistort(p=0.5))
    if zoom_range is not None:
        steps.append(RandomZoom(zoom_range))
        steps.append(RefreshBoxesFromMasks())
    steps.append(v2.ToDtype(torch.float32, scale=True))
    return v2.Compose(steps)


def resolve_augmentation(choice: str, planned_epochs: float | None) -> str:
    """The augmentation ("full", "light", "flip" or "none") a run uses for `choice`.

    `planned_epochs` is the run's planned length, or None while a time-budgeted run has not
    yet measured its speed (it then counts as short).
    """
    if choice not in AUGMENTATIONS:
        raise ValueError(f"augmentation must be one of {', '.join(AUGMENTATIONS)}, got {choice!r}")
    if choice != "auto":
        return choice
    if planned_epochs is not None and planned_epochs >= AUTO_AUGMENT_MIN_EPOCHS:
        return "full"
    return "light"


def augmentation_transforms(kind: str) -> v2.Compose:
    """The training transforms for a resolved augmentation: "full" (flip, colour and scale
    jitter), "light" (flip and colour), "flip" or "none"."""
    if kind == "full":
        return training_transforms(colour=True)
    if kind == "light":
        return training_transforms(colour=True, zoom_range=None)
    if kind == "flip":
        return training_transforms(zoom_range=None)
    if kind == "none":
        return training_transforms(flip=False, zoom_range=None)
    raise ValueError(f"unknown augmentation {kind!r}")
