"""Running a Mask R-CNN on images: `Detector.load(...)` then `detector.predict(images)`.

A detector is a torchvision MaskRCNN plus what its labels mean (`label_category_ids`,
`categories`) and a `model_key` naming it, so stored proposals can say which model made
them. `model` is an architecture name or a MaskLoop checkpoint path:

- `r50-fpn-v2`, `r50-fpn`: torchvision's COCO weights (80 COCO categories, COCO ids).
- `lite`: no pretrained weights exist, so it is randomly initialised (fixed seed) for the
  three demo shape categories; it is useful for smoke tests and benchmarks, and becomes a
  real model once fine-tuned into a checkpoint.
- a checkpoint path: its architecture, weights, categories and image sizes.

Prediction returns plain `Detection`s whose masks are compressed COCO RLE. `predict` never
makes image-size float masks: the model stops before torchvision's paste, and each mask is
resized, thresholded and written on its box crop only (core/detection/mask_paste.py), then
all masks of an image are encoded in one pycocotools call.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pycocotools import mask as mask_utils
from torchvision.models.detection import MaskRCNN

from core.demo.shapes import SHAPE_CATEGORIES
from core.detection.architectures import build_model, image_size_settings
from core.detection.checkpoint import CheckpointMeta, load_checkpoint
from core.detection.coco_classes import coco_categories, coco_label_category_ids
from core.detection.mask_paste import binary_mask_stack, forward_unpasted
from core.detection.names import ARCHITECTURES
from core.detection.oom import run_with_oom_fallback
from core.detection.weights import has_pretrained_weights, load_coco_state_dict
from core.errors import CheckpointError
from core.records import BBox, Category

MASK_THRESHOLD = 0.5  # torchvision's own convention for binarising mask probabilities
_LITE_INIT_SEED = 0


@dataclass(frozen=True)
class Detection:
    """One predicted instance in image pixels."""

    category_id: int  # the model's own category id (a checkpoint's ids, COCO ids for COCO weights)
    score: float
    bbox: BBox  # [x, y, w, h], inside the image
    rle: dict[str, Any]  # compressed COCO RLE, {"size": [h, w], "counts": str}

    @property
    def area(self) -> float:
        return float(mask_utils.area(self.rle))

    def coco_result(self, image_id: int, category_id: int | None = None) -> dict[str, Any]:
        """This detection as one entry of a COCO results list (what COCOeval's loadRes reads).

        `category_id` replaces the model's own id, e.g. with a dataset's id of the same name.
        """
        return {
            "image_id": int(image_id),
            "category_id": int(self.category_id if category_id is None else category_id),
            "bbox": [float(v) for v in self.bbox],
            "score": float(self.score),
            "segmentation": self.rle,
        }


def label_category_table(
    label_category_ids: Sequence[int], known: set[int] | None = None
) -> torch.Tensor:
    """Label index -> category id, -1 for the background and for labels without a category
    (COCO's "N/A" slots, or ids not in `known` when it is given)."""
    return torch.tensor(
        [
            int(cid) if i > 0 and (known is None or cid in known) else -1
            for i, cid in enumerate(label_category_ids)
        ],
        dtype=torch.int64,
    )


def detections_from_output(
    output: dict[str, torch.Tensor], label_to_category: torch.Tensor
) -> list[Detection]:
    """One image's torchvision Mask R-CNN output as Detections, in the model's order.

    `label_to_category` comes from `label_category_table`; labels mapped to -1 and
    detections whose mask is empty at `MASK_THRESHOLD` are dropped, boxes are clamped to the
    image. The float masks are popped from `output` so that they can be freed early.
    """
    masks = output.pop("masks")
    h, w = int(masks.shape[-2]), int(masks.shape[-1])
    keep = _kept(output, label_to_category)
    if keep is None:
        return []
    # Binarise first (1 byte per pixel) and drop the float masks at once; selecting rows
    # of the float tensor would copy the largest array of the whole prediction.
    binary = masks[:, 0] > MASK_THRESHOLD
    del masks
    if not bool(keep.all()):
        binary = binary[keep.to(binary.device)]
    # pycocotools encodes an H x W x N column-major stack in one call: lay the masks out
    # as N x W x H rows (one transposing copy, done by torch) and view them transposed.
    stack = binary.transpose(1, 2).contiguous().to("cpu").numpy().view(np.uint8)
    return _detections(stack, output, label_to_category, keep, (h, w))


def detections_from_unpasted(
    output: dict[str, torch.Tensor], label_to_category: torch.Tensor, image_size: tuple[int, int]
) -> list[Detection]:
    """`detections_from_output` for an output of `forward_unpasted` (masks as box-relative
    probabilities): the same Detections, bit for bit, without image-size float masks."""
    probs = output.pop("mask_probs")
    keep = _kept(output, label_to_category)
    if keep is None:
        return []
    boxes = output["boxes"].float()
    if not bool(keep.all()):
        on_device = keep.to(probs.device)
        probs, boxes = probs[on_device], boxes[on_device]
    # Pasted with the unclamped boxes, as torchvision pastes them.
    stack = binary_mask_stack(probs, boxes, image_size, MASK_THRESHOLD)
    return _detections(stack, output, label_to_category, keep, image_size)


def _kept(output: dict[str, torch.Tensor], label_to_category: torch.Tensor) -> torch.Tensor | None:
    """Which detections have a category (None when none has)."""
    keep = label_to_category[output["labels"].to("cpu")] >= 0
    return keep if bool(keep.any()) else None


def _detections(
    stack: np.ndarray,
    output: dict[str, torch.Tensor],
    label_to_category: torch.Tensor,
    keep: torch.Tensor,
    image_size: tuple[int, int],
) -> list[Detection]:
    """Detections from the kept rows, given their masks as an N x W x H uint8 stack."""
    h, w = image_size
    category_ids = label_to_category[output["labels"].to("cpu")][keep]
    boxes = output["boxes"].float().to("cpu")[keep]
    scores = output["scores"].float().to("cpu")[keep]
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
    rles = mask_utils.encode(stack.transpose(2, 1, 0))
    areas = mask_utils.area(rles)
    detections = []
    for rle, area, box, score, category_id in zip(
        rles, areas, boxes.tolist(), scores.tolist(), category_ids.tolist(), strict=True
    ):
        if area == 0:
            continue  # a box whose mask vanished at the threshold is no instance to review
        rle["counts"] = rle["counts"].decode("ascii")
        x0, y0, x1, y1 = box
        detections.append(
            Detection(int(category_id), float(score), (x0, y0, x1 - x0, y1 - y0), rle)
        )
    return detections


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _file_key(path: Path) -> str:
    """Path plus a hash of size and modification time: a retrained checkpoint at the same
    path gets a new key, so the app knows its stored proposals are stale."""
    stat = path.stat()
    digest = hashlib.sha1(f"{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    return f"{path}#{digest}"


class Detector:
    """A Mask R-CNN ready for inference, with its categories."""

    def __init__(
        self,
        model: MaskRCNN,
        *,
        arch: str,
        label_category_ids: Sequence[int],
        categories: Sequence[Category],
        model_key: str,
        device: str | torch.device | None = None,
    ) -> None:
        num_labels = model.roi_heads.box_predictor.cls_score.out_features
        if len(label_category_ids) != num_labels:
            raise ValueError(
                f"{len(label_category_ids)} label category ids for a model with {num_labels} labels"
            )
        self.device = torch.device(device or default_device())
        self.model = model.to(self.device).eval()
        self.arch = arch
        self.label_category_ids = [int(i) for i in label_category_ids]
        self.categories = list(categories)
        self.model_key = model_key
        self._label_to_category = label_category_table(
            label_category_ids, {c.id for c in self.categories}
        )
        self.on_fallback: Callable[[str], None] | None = None
        """Told (one line) when running out of GPU memory made the detector use smaller
        batches or the CPU (core.detection.oom); the app shows it in the status bar."""
        self._batch_cap: int | None = None  # the batch size that last fitted after an OOM

    @classmethod
    def load(
        cls,
        model: str,
        *,
        device: str | torch.device | None = None,
        hub_dir: str | os.PathLike[str] | None = None,
    ) -> Detector:
        """A detector for an architecture name (default weights) or a checkpoint path."""
        if model in ARCHITECTURES:
            return cls._from_architecture(model, device=device, hub_dir=hub_dir)
        path = Path(model).expanduser()
        if not path.is_file():
            raise CheckpointError(
                f"model {model!r} is neither an architecture ({', '.join(ARCHITECTURES)}) "
                "nor an existing checkpoint file"
            )
        return cls.from_checkpoint(path, device=device)

    @classmethod
    def from_checkpoint(
        cls, path: str | os.PathLike[str], *, device: str | torch.device | None = None
    ) -> Detector:
        path = Path(path).resolve()
        state_dict, meta = load_checkpoint(path)
        model = build_model(
            meta.arch, num_classes=meta.num_classes, min_size=meta.min_size, max_size=meta.max_size
        )
        try:
            model.load_state_dict(state_dict)
        except RuntimeError as exc:
            raise CheckpointError(
                f"checkpoint {path}: its weights do not fit a {meta.arch} model "
                f"({str(exc).splitlines()[0]})"
            ) from exc
        return cls(
            model,
            arch=meta.arch,
            label_category_ids=meta.label_category_ids,
            categories=meta.categories,
            model_key=_file_key(path),
            device=device,
        )

    @classmethod
    def _from_architecture(
        cls, arch: str, *, device: str | torch.device | None, hub_dir: str | os.PathLike[str] | None
    ) -> Detector:
        if has_pretrained_weights(arch):
            label_ids = coco_label_category_ids()
            state_dict = load_coco_state_dict(arch, hub_dir=hub_dir)
            model = build_model(arch, num_classes=len(label_ids))
            model.load_state_dict(state_dict)
            return cls(
                model,
                arch=arch,
                label_category_ids=label_ids,
                categories=coco_categories(),
                model_key=arch,
                device=device,
            )
        categories = [Category(c["id"], c["name"], c["supercategory"]) for c in SHAPE_CATEGORIES]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_LITE_INIT_SEED)
            model = build_model(arch, num_classes=len(categories) + 1)
        return cls(
            model,
            arch=arch,
            label_category_ids=[0, *(c.id for c in categories)],
            categories=categories,
            model_key=f"{arch}-untrained",
            device=device,
        )

    def checkpoint_meta(self, training: dict[str, Any] | None = None) -> CheckpointMeta:
        """Metadata to save this detector's weights as a MaskLoop checkpoint."""
        min_size, max_size = image_size_settings(self.model)
        return CheckpointMeta(
            arch=self.arch,
            label_category_ids=list(self.label_category_ids),
            categories=list(self.categories),
            min_size=min_size,
            max_size=max_size,
            training=dict(training or {}),
        )

    def _to_tensor(self, image: np.ndarray) -> torch.Tensor:
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"expected an H x W x 3 uint8 RGB image, got {image.dtype} {tuple(image.shape)}"
            )
        # Move the uint8 pixels first: a quarter of the bytes of float32 over PCIe.
        pixels = torch.from_numpy(np.ascontiguousarray(image)).to(self.device, non_blocking=True)
        return pixels.permute(2, 0, 1).float().div_(255.0)

    @torch.inference_mode()
    def predict(
        self,
        images: Sequence[np.ndarray],
        *,
        score_threshold: float = 0.05,
        max_detections: int = 100,
        batch_size: int = 2,
    ) -> list[list[Detection]]:
        """Detections for each RGB uint8 image, best first, at most `max_detections` each."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        heads = self.model.roi_heads
        # The threshold is applied inside the model, before NMS and mask prediction, so a
        # high threshold also saves mask-head work.
        heads.score_thresh = float(score_threshold)
        heads.detections_per_img = int(max_detections)
        results, fitted, _ = run_with_oom_fallback(
            self._predict_batch,
            images,
            batch_size=min(batch_size, self._batch_cap or batch_size),
            device=self.device,
            to_cpu=self.move_to_cpu,
            notify=self.on_fallback,
        )
        if fitted < batch_size:
            self._batch_cap = fitted  # do not run out of memory again on every call
        return results

    def _predict_batch(self, batch: Sequence[np.ndarray]) -> list[list[Detection]]:
        tensors = [self._to_tensor(image) for image in batch]
        sizes = [(int(t.shape[-2]), int(t.shape[-1])) for t in tensors]
        with torch.autocast(self.device.type, enabled=self.device.type == "cuda"):
            outputs = forward_unpasted(self.model, tensors)
        del tensors
        table = self._label_to_category
        results = [
            detections_from_unpasted(output, table, size)
            for output, size in zip(outputs, sizes, strict=True)
        ]
        del outputs
        return results

    def move_to_cpu(self) -> None:
        """Run on the CPU from now on (after the GPU ran out of memory)."""
        self.device = torch.device("cpu")
        self.model.to(self.device)
        self._batch_cap = None
