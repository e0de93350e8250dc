"""Export a project as a COCO dataset file, written atomically.

What is written:
- Rejected annotations never; pending model proposals (source=model, state=proposed) only
  with `include_proposals=True`, and then with their `score`. `reviewed_only=True` writes only
  images marked reviewed (and their annotations).
- Every annotation gets `bbox` and `area` (the stored area when the COCO file gave one, else
  the mask's pixel count, else the box's area); unknown fields come back as they were.
- Masks (`masks=`):
  "keep"    each mask as stored: imported polygons and RLE unchanged, masks edited in the
            app as compressed RLE. An import followed by an export gives the same file.
  "rle"     everything as compressed RLE.
  "polygon" RLE masks traced into polygons (every part kept) when polygons reproduce the
            mask exactly; masks with holes, and crowd regions, stay RLE rather than being
            silently changed. Stored polygons are written as they are.

The file is written to a temporary file beside the target and moved into place with
`os.replace`, so a full disk or a crash never leaves a half-written file behind.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from core.files.atomic import write_json_atomically
from core.masks import area_of, decode, is_rle, mask_to_polygons, to_rle
from core.records import Annotation, ImageRecord, ReviewState, Source
from core.store import ProjectStore, setting_keys

MaskFormat = Literal["keep", "rle", "polygon"]
MASK_FORMATS: tuple[str, ...] = ("keep", "rle", "polygon")


@dataclass(frozen=True)
class ExportReport:
    path: Path
    images: int
    annotations: int
    categories: int
    kept_as_rle: int  # masks that "polygon" could not represent exactly (holes, crowds)

    def summary(self) -> str:
        line = (
            f"Exported {self.images} images, {self.annotations} annotations and "
            f"{self.categories} categories to {self.path}"
        )
        if self.kept_as_rle:
            line += f" ({self.kept_as_rle} masks kept as RLE: polygons cannot represent them)"
        return line + "."


def export_coco(
    store: ProjectStore,
    out_path: str | os.PathLike,
    *,
    masks: MaskFormat = "keep",
    reviewed_only: bool = False,
    include_proposals: bool = False,
) -> ExportReport:
    """Write the project's labels to `out_path` as COCO JSON (see the module docstring)."""
    if masks not in MASK_FORMATS:
        raise ValueError(f"masks must be one of {MASK_FORMATS}, got {masks!r}")
    out_path = Path(out_path).absolute()
    images = [im for im in store.list_images() if im.reviewed or not reviewed_only]
    by_id = {im.id: im for im in images}
    writer = _AnnotationWriter(masks)
    annotations = []
    for ann in store.iter_annotations():
        image = by_id.get(ann.image_id)
        if image is None:
            continue
        is_proposal = ann.source is Source.MODEL and ann.state is ReviewState.PROPOSED
        if is_proposal and not include_proposals:
            continue
        annotations.append(writer.to_coco(ann, image, with_score=is_proposal))
    categories = [
        {"id": c.id, "name": c.name, "supercategory": c.supercategory, **c.extra}
        for c in store.categories()
    ]
    dataset: dict[str, Any] = {}
    if store.has_info():
        dataset["info"] = store.info()
    if store.has_licenses():
        dataset["licenses"] = store.licenses()
    dataset["images"] = [_image_to_coco(im) for im in images]
    dataset["annotations"] = annotations
    dataset["categories"] = categories
    for key, value in store.get_setting(setting_keys.COCO_EXTRA, {}).items():
        dataset.setdefault(key, value)
    write_json_atomically(out_path, dataset)
    return ExportReport(
        out_path, len(images), len(annotations), len(categories), writer.kept_as_rle
    )


def _image_to_coco(image: ImageRecord) -> dict[str, Any]:
    return {
        "id": image.id,
        "file_name": image.file_name,
        "width": image.width,
        "height": image.height,
        **image.extra,
    }


class _AnnotationWriter:
    def __init__(self, masks: MaskFormat) -> None:
        self.masks = masks
        self.kept_as_rle = 0

    def to_coco(self, ann: Annotation, image: ImageRecord, *, with_score: bool) -> dict[str, Any]:
        h, w = image.height, image.width
        seg = ann.segmentation
        if seg is not None and seg != []:
            seg = self._convert(seg, h, w, crowd=ann.iscrowd)
        if ann.area is not None:
            area = ann.area
        elif ann.segmentation is not None and ann.segmentation != []:
            area = area_of(ann.segmentation, h, w)
        else:
            area = float(ann.bbox[2]) * float(ann.bbox[3])
        out: dict[str, Any] = {
            "id": ann.id,
            "image_id": ann.image_id,
            "category_id": ann.category_id,
        }
        if seg is not None:
            out["segmentation"] = seg
        out["area"] = area
        out["bbox"] = [float(v) for v in ann.bbox]
        out["iscrowd"] = int(ann.iscrowd)
        out.update(ann.extra)
        if with_score and ann.score is not None:
            out["score"] = float(ann.score)
        return out

    def _convert(self, seg: Any, h: int, w: int, *, crowd: bool) -> Any:
        if self.masks == "keep":
            return seg
        if self.masks == "rle":
            return seg if is_rle(seg) and isinstance(seg["counts"], str) else to_rle(seg, h, w)
        if not is_rle(seg):  # "polygon": stored polygons are already polygons
            return seg
        polygons = None if crowd else mask_to_polygons(decode(seg, h, w))
        if polygons is None:
            self.kept_as_rle += 1
            return seg
        return polygons
