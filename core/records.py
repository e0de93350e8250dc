"""The data model shared by the store, COCO I/O, the detector and the GUI.

Plain dataclasses: no database handles, no Qt. Geometry follows COCO conventions:
boxes are [x, y, width, height] in image pixels, masks are COCO segmentations
(a list of polygons, or an RLE dict with "size" [h, w] and "counts").
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

BBox = tuple[float, float, float, float]
"""[x, y, width, height] in image pixels, COCO style."""

Segmentation = list[list[float]] | dict[str, Any]
"""COCO segmentation: polygons [[x1, y1, x2, y2, ...], ...] or RLE {"size": [h, w], "counts": ...}."""


class Source(str, enum.Enum):
    """Who made an annotation."""

    HUMAN = "human"
    MODEL = "model"


class ReviewState(str, enum.Enum):
    """Where an annotation stands in review. Human annotations are born accepted."""

    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class ImageStatus(str, enum.Enum):
    """Where an image stands, as the image list shows it."""

    UNLABELLED = "unlabelled"  # no annotations at all, not marked reviewed
    PROPOSED = "proposed"  # has model proposals, not yet reviewed
    REVIEWED = "reviewed"  # an annotator (or an imported ground truth) vouches for it


@dataclass(frozen=True)
class Category:
    id: int  # the COCO category id, kept as given (non-contiguous ids are fine)
    name: str
    supercategory: str = ""
    color: str = ""  # "#rrggbb"; the store assigns one when empty
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageRecord:
    id: int  # the COCO image id when imported, else assigned by the store
    file_name: str  # relative to the project's images folder, "/" separated
    width: int
    height: int
    reviewed: bool = False
    size_checked: bool = False  # True once the real file's size was compared with width/height
    extra: dict[str, Any] = field(default_factory=dict)  # unknown COCO image fields


@dataclass
class Annotation:
    image_id: int
    category_id: int
    bbox: BBox
    segmentation: Segmentation | None = None  # None: box-only annotation
    iscrowd: bool = False
    source: Source = Source.HUMAN
    score: float | None = None  # model confidence for proposals
    state: ReviewState = ReviewState.ACCEPTED
    area: float | None = None  # None: computed from the mask (or box) on export
    extra: dict[str, Any] = field(default_factory=dict)  # unknown COCO fields, e.g. "attributes"
    id: int | None = None  # the COCO annotation id; None until stored


@dataclass(frozen=True)
class ModelRun:
    """One fine-tuning run recorded in the project."""

    id: int
    created_at: str  # ISO 8601, UTC
    base_model: str
    checkpoint_path: str
    train_images: int
    val_images: int
    ap_before: float | None
    ap_after: float | None
    extra: dict[str, Any] = field(default_factory=dict)
