"""COCO instance-segmentation data for training and validation.

`load_coco_dataset` reads a COCO file into `CocoTrainingSet`: the categories in model-label
order, one `ImageSample` per usable image, and a ground truth dict for COCOeval. The rules
follow torchvision's detection references where they apply:

- crowd regions (`iscrowd: 1`) are dropped from training targets (they stay in the ground
  truth, where COCOeval treats them as "ignore");
- images left without annotations are not trained on: in a MaskLoop export they are images
  nobody labelled yet, and training on them as "nothing here" would teach the model to miss;
- annotations without a mask (box only) are skipped, since Mask R-CNN needs masks.

Masks are decoded lazily in `InstanceDataset.__getitem__` (polygons and RLE through
pycocotools via `core.masks`), so a large dataset costs little memory. An image that fails
to load becomes a `LoadFailure` instead of an exception, which the trainer reports by name
and skips.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors

from core.categories import category_key
from core.errors import MaskLoopError, TrainingError
from core.files.paths import lexical_join, unsafe_file_name_reason
from core.masks import area_of, decode
from core.records import Category, Segmentation
from core.training.transforms import boxes_from_masks


@dataclass(frozen=True)
class Instance:
    label: int  # model label (1..K), not the COCO category id
    segmentation: Segmentation


@dataclass(frozen=True)
class ImageSample:
    image_id: int
    file_name: str
    path: Path
    width: int
    height: int
    instances: tuple[Instance, ...] = ()


@dataclass(frozen=True)
class LoadFailure:
    """An image that could not be used this time, and why (the message names the file)."""

    file_name: str
    message: str


@dataclass
class CocoTrainingSet:
    source: Path
    categories: list[Category]  # model label i + 1 is categories[i]
    samples: list[ImageSample]
    ground_truth: dict[str, Any]  # COCO dict of exactly these images, category ids kept
    warnings: list[str] = field(default_factory=list)

    @property
    def label_category_ids(self) -> list[int]:
        return [0] + [c.id for c in self.categories]

    @property
    def label_names(self) -> list[str]:
        return ["__background__"] + [c.name for c in self.categories]

    def subset(self, image_ids: Sequence[int]) -> CocoTrainingSet:
        wanted = set(image_ids)
        gt = dict(self.ground_truth)
        gt["images"] = [img for img in self.ground_truth["images"] if img["id"] in wanted]
        gt["annotations"] = [a for a in self.ground_truth["annotations"] if a["image_id"] in wanted]
        samples = [s for s in self.samples if s.image_id in wanted]
        return replace(self, samples=samples, ground_truth=gt, warnings=[])


def _read_coco(path: Path, role: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError as exc:
        raise TrainingError(f"the {role} file {path} does not exist") from exc
    except (OSError, ValueError) as exc:
        raise TrainingError(f"the {role} file {path} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict) or not all(
        isinstance(data.get(key), list) for key in ("images", "annotations", "categories")
    ):
        raise TrainingError(
            f"the {role} file {path} is not a COCO dataset: it needs 'images', 'annotations' "
            "and 'categories' lists"
        )
    return data


def _categories(data: dict[str, Any], path: Path) -> list[Category]:
    categories: list[Category] = []
    seen: set[int] = set()
    for raw in data["categories"]:
        try:
            category = Category(
                id=int(raw["id"]),
                name=str(raw["name"]),
                supercategory=str(raw.get("supercategory", "") or ""),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise TrainingError(f"{path}: a category lacks a valid id or name ({raw!r})") from exc
        # Any distinct id will do, 0 included: labelme2coco numbers "_background_" 0, and
        # model labels are positions in this list, never the ids themselves.
        if category.id in seen:
            raise TrainingError(
                f"{path}: category id {category.id} is used by two categories; each category "
                "needs its own id"
            )
        seen.add(category.id)
        categories.append(category)
    if not categories:
        raise TrainingError(f"{path} defines no categories, so there is nothing to learn")
    return categories


def _category_id_map(
    own: list[Category], wanted: list[Category] | None, path: Path, warnings: list[str]
) -> tuple[list[Category], dict[int, int]]:
    """The label categories, and file category id -> label category id (matched by name)."""
    if wanted is None:
        return own, {c.id: c.id for c in own}
    by_name = {category_key(c.name): c for c in wanted}
    mapping: dict[int, int] = {}
    for category in own:
        match = by_name.get(category_key(category.name))
        if match is None:
            warnings.append(
                f"{path}: category {category.name!r} is not among the training categories; "
                "its annotations are not evaluated"
            )
        else:
            mapping[category.id] = match.id
    return wanted, mapping


def load_coco_dataset(
    json_path: str | os.PathLike[str],
    images_dir: str | os.PathLike[str],
    *,
    categories: list[Category] | None = None,
    role: str = "training",
) -> CocoTrainingSet:
    """Read a COCO file for training (`categories=None`) or validation against `categories`.

    Raises TrainingError when no image with at least one mask remains; everything else that
    is wrong with individual images or annotations becomes a warning in the result.
    """
    path = Path(json_path)
    images_root = Path(images_dir)
    if not images_root.is_dir():
        raise TrainingError(f"the images folder {images_root} does not exist")
    data = _read_coco(path, role)
    warnings: list[str] = []
    label_categories, id_map = _category_id_map(_categories(data, path), categories, path, warnings)
    label_of = {c.id: index + 1 for index, c in enumerate(label_categories)}

    anns_by_image: dict[int, list[dict[str, Any]]] = {}
    for ann in data["annotations"]:
        if isinstance(ann, dict) and "image_id" in ann:
            anns_by_image.setdefault(ann["image_id"], []).append(ann)

    samples: list[ImageSample] = []
    gt_images: list[dict[str, Any]] = []
    gt_annotations: list[dict[str, Any]] = []
    counts = {"crowd": 0, "box_only": 0, "unknown_category": 0, "unlabelled": 0, "missing": 0}
    for image in data["images"]:
        try:
            image_id, file_name = int(image["id"]), str(image["file_name"])
            width, height = int(image["width"]), int(image["height"])
        except (KeyError, TypeError, ValueError):
            warnings.append(
                f"{path}: skipped an image entry without id/file_name/size: {image!r}"[:300]
            )
            continue
        reason = unsafe_file_name_reason(file_name)
        if reason is not None:
            warnings.append(f"skipped image {file_name!r}: {reason}")
            continue
        file_path = lexical_join(images_root, file_name)
        if not file_path.is_file():
            counts["missing"] += 1
            if counts["missing"] <= 5:
                warnings.append(f"skipped image {file_name}: not found under {images_root}")
            continue
        instances: list[Instance] = []
        kept_gt: list[dict[str, Any]] = []
        for ann in anns_by_image.get(image_id, []):
            category_id = id_map.get(ann.get("category_id"))  # type: ignore[arg-type]
            if category_id is None:
                counts["unknown_category"] += 1
                continue
            kept_gt.append({**ann, "category_id": category_id})
            if ann.get("iscrowd"):
                counts["crowd"] += 1
                continue
            segmentation = ann.get("segmentation")
            if not segmentation or _is_empty_mask(segmentation, height, width):
                counts["box_only"] += 1
                continue
            instances.append(Instance(label_of[category_id], segmentation))
        gt_images.append(dict(image))
        gt_annotations.extend(kept_gt)
        if not instances:
            counts["unlabelled"] += 1
            continue
        samples.append(ImageSample(image_id, file_name, file_path, width, height, tuple(instances)))

    _summarise(counts, path, warnings)
    if not samples:
        raise TrainingError(
            f"{path} has no usable {role} images: of {len(data['images'])} images, "
            f"{counts['missing']} were not found under {images_root} and {counts['unlabelled']} "
            "have no mask annotations. Label some images (masks, not only boxes) first."
        )
    labelled = {inst.label for s in samples for inst in s.instances}
    if role == "training":
        for index, category in enumerate(label_categories):
            if index + 1 not in labelled:
                warnings.append(
                    f"category {category.name!r} (id {category.id}) has no annotations; "
                    "the model will not learn to find it"
                )
    kept_ids = {s.image_id for s in samples}
    gt_images = [img for img in gt_images if int(img["id"]) in kept_ids]
    ground_truth = {
        "images": gt_images,
        "annotations": [a for a in gt_annotations if a["image_id"] in kept_ids],
        "categories": [
            {"id": c.id, "name": c.name, "supercategory": c.supercategory} for c in label_categories
        ],
    }
    return CocoTrainingSet(path, label_categories, samples, ground_truth, warnings)


def _is_empty_mask(segmentation: Segmentation, height: int, width: int) -> bool:
    """An RLE without pixels: how a MaskLoop export writes a box-only annotation."""
    if not isinstance(segmentation, dict):
        return False
    try:
        return area_of(segmentation, height, width) == 0
    except Exception:  # a malformed RLE is reported by name when its image is loaded
        return False


def _summarise(counts: Mapping[str, int], path: Path, warnings: list[str]) -> None:
    messages = {
        "missing": "images were not found and are skipped",
        "crowd": "crowd regions are left out of training targets",
        "box_only": "annotations have no mask and are skipped (Mask R-CNN learns from masks)",
        "unknown_category": "annotations name a category that is not trained and are skipped",
        "unlabelled": "images have no mask annotations and are not trained on",
    }
    for key, text in messages.items():
        if counts[key]:
            warnings.append(f"{path.name}: {counts[key]} {text}")


def split_holdout(
    dataset: CocoTrainingSet, *, fraction: float = 0.1, seed: int = 0
) -> tuple[CocoTrainingSet, CocoTrainingSet | None]:
    """Hold out `fraction` of the images (at least one) for validation, seeded.

    With a single image there is nothing to hold out: (dataset, None).
    """
    ids = [s.image_id for s in dataset.samples]
    if len(ids) < 2:
        return dataset, None
    count = min(len(ids) - 1, max(1, round(len(ids) * fraction)))
    held = set(random.Random(seed).sample(ids, count))
    train_ids = [i for i in ids if i not in held]
    return dataset.subset(train_ids), dataset.subset(sorted(held))


def _load_pixels(sample: ImageSample) -> np.ndarray | LoadFailure:
    from core.files.images import read_image

    try:
        pixels = read_image(sample.path)
    except MaskLoopError as exc:
        return LoadFailure(sample.file_name, str(exc))
    except Exception as exc:  # a decoder crash on a corrupt file is still the file's fault
        return LoadFailure(sample.file_name, f"{sample.file_name} cannot be read: {exc}")
    if pixels.shape[:2] != (sample.height, sample.width):
        return LoadFailure(
            sample.file_name,
            f"{sample.file_name} is {pixels.shape[1]}x{pixels.shape[0]} but the COCO file says "
            f"{sample.width}x{sample.height}; its masks would not line up",
        )
    return pixels


TrainItem = tuple[tv_tensors.Image, dict[str, Any]]


class InstanceDataset(Dataset):
    """(image, target) pairs for Mask R-CNN training, transformed by `transforms`."""

    def __init__(
        self, samples: Sequence[ImageSample], transforms: Callable[..., TrainItem] | None = None
    ) -> None:
        self.samples = list(samples)
        self.transforms = transforms

    def __len__(self) -> int:
        return len(self.samples)

    def image_sizes(self) -> list[tuple[int, int]]:
        return [(s.width, s.height) for s in self.samples]

    def __getitem__(self, index: int) -> TrainItem | LoadFailure:
        sample = self.samples[index]
        pixels = _load_pixels(sample)
        if isinstance(pixels, LoadFailure):
            return pixels
        image = tv_tensors.Image(torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1))
        masks = np.stack(
            [decode(inst.segmentation, sample.height, sample.width) for inst in sample.instances]
        )
        mask_tensor = torch.from_numpy(masks.astype(np.uint8))
        boxes = boxes_from_masks(mask_tensor)
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])  # drop empty masks
        target: dict[str, Any] = {
            "boxes": tv_tensors.BoundingBoxes(
                boxes[keep], format="XYXY", canvas_size=(sample.height, sample.width)
            ),
            "masks": tv_tensors.Mask(mask_tensor[keep]),
            "labels": torch.tensor([inst.label for inst in sample.instances])[keep],
            "image_id": sample.image_id,
        }
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        return image, target


class EvalImages(Dataset):
    """Float images in [0, 1] with their image ids, for prediction during validation."""

    def __init__(self, samples: Sequence[ImageSample]) -> None:
        self.samples = list(samples)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int] | LoadFailure:
        sample = self.samples[index]
        pixels = _load_pixels(sample)
        if isinstance(pixels, LoadFailure):
            return pixels
        tensor = torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)
        return tensor.to(torch.float32).div_(255.0), sample.image_id


@dataclass
class Batch:
    items: list[Any]
    failures: list[LoadFailure]


def collate(batch: list[Any]) -> Batch:
    """Keep what loaded; the failures travel along so the main process can report them."""
    failures = [b for b in batch if isinstance(b, LoadFailure)]
    return Batch([b for b in batch if not isinstance(b, LoadFailure)], failures)
