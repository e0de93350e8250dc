"""Export a project as a COCO dataset file, written atomically.

What is written:
- Rejected annotations never; pending model proposals (source=model, state=proposed) only
  with `include_proposals=True`, and then with their `score`. `reviewed_only=True` writes only
  images marked reviewed (and their annotations).
- Every annotation gets `bbox` and `area` (the stored area when the COCO file gave one, else
  the mask's pixel count, else the box's area); unknown fields come back as they were.
- Box-only annotations get an empty mask, as a compressed RLE: tools that read masks with
  pycocotools (`annToRLE`, a segm COCOeval) fail on a missing `segmentation` (KeyError) and
  on `[]` as well (IndexError), while an empty RLE reads as "no pixels". Only `masks="keep"`
  writes an imported box-only annotation as the file had it: no key, null, or [].
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

import numpy as np

from core.files.atomic import write_json_atomically
from core.masks import area_of, decode, encode_mask, is_rle, mask_to_polygons, to_rle
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
    writer = _AnnotationWriter(masks, _imported_without_mask(store) if masks == "keep" else {})
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


_ABSENT = object()  # an imported annotation that had no "segmentation" key


def _imported_without_mask(store: ProjectStore) -> dict[int, object]:
    """Imported annotations whose file gave no mask, by id: _ABSENT (no key) or None (null).

    Only imported rows carry an import key, so a box drawn in the app is never among them.
    Like the importer, this reads the store's table directly (one query, not one per row).
    """
    rows = store._conn.execute(
        "SELECT id, segmentation FROM annotations WHERE import_key IS NOT NULL "
        "AND (segmentation IS NULL OR segmentation = 'null')"
    )
    return {ann_id: _ABSENT if seg is None else None for ann_id, seg in rows}


def _image_to_coco(image: ImageRecord) -> dict[str, Any]:
    return {
        "id": image.id,
        "file_name": image.file_name,
        "width": image.width,
        "height": image.height,
        **image.extra,
    }


class _AnnotationWriter:
    def __init__(self, masks: MaskFormat, as_imported: dict[int, object]) -> None:
        self.masks = masks
        self.as_imported = as_imported  # box-only annotations to write as their file had them
        self.kept_as_rle = 0
        self._empty: dict[tuple[int, int], dict[str, Any]] = {}

    def to_coco(self, ann: Annotation, image: ImageRecord, *, with_score: bool) -> dict[str, Any]:
        h, w = image.height, image.width
        seg: Any = ann.segmentation  # or _ABSENT: no key at all
        if seg is not None and seg != []:
            seg = self._convert(seg, h, w, crowd=ann.iscrowd)
        elif ann.id in self.as_imported:
            seg = self.as_imported[ann.id]
        elif seg is None or self.masks != "keep":
            seg = self._empty_mask(h, w)
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
        if seg is not _ABSENT:
            out["segmentation"] = seg
        out["area"] = area
        out["bbox"] = [float(v) for v in ann.bbox]
        out["iscrowd"] = int(ann.iscrowd)
        out.update(ann.extra)
        if with_score and ann.score is not None:
            out["score"] = float(ann.score)
        return out

    def _empty_mask(self, h: int, w: int) -> dict[str, Any]:
        if (h, w) not in self._empty:
            self._empty[h, w] = encode_mask(np.zeros((h, w), np.uint8))
        return dict(self._empty[h, w])

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
