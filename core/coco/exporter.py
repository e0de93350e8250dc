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

import json
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from core.files.atomic import EncodedJson, JsonArray, write_json_atomically
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


# json.dumps with any non-default option builds a new encoder per call: a third of the cost
# of encoding a small annotation.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
ExportProgress = Callable[[int, int], None]  # (annotations read, annotations in the project)
_PROGRESS_EVERY = 4096


def export_coco(
    store: ProjectStore,
    out_path: str | os.PathLike,
    *,
    masks: MaskFormat = "keep",
    reviewed_only: bool = False,
    include_proposals: bool = False,
    progress: ExportProgress | None = None,
) -> ExportReport:
    """Write the project's labels to `out_path` as COCO JSON (see the module docstring).

    `progress(done, total)` is called every few thousand annotations; an exception it raises
    (core.errors.Cancelled) stops the export and leaves `out_path` as it was.
    """
    if masks not in MASK_FORMATS:
        raise ValueError(f"masks must be one of {MASK_FORMATS}, got {masks!r}")
    out_path = Path(out_path).absolute()
    images = [im for im in store.list_images() if im.reviewed or not reviewed_only]
    writer = _AnnotationWriter(
        masks,
        _imported_without_mask(store) if masks == "keep" else {},
        {im.id: im for im in images},
        include_proposals=include_proposals,
    )
    total = store.annotation_count()

    def annotations() -> Iterator[EncodedJson]:
        done = 0
        for done, row in enumerate(store.iter_annotation_rows(), start=1):
            if progress is not None and done % _PROGRESS_EVERY == 0:
                progress(done, total)
            text = writer.to_coco(row)
            if text is not None:
                yield text
        if progress is not None:
            progress(done, done)

    categories = [
        {"id": c.id, "name": c.name, "supercategory": c.supercategory, **c.extra}
        for c in store.categories()
    ]
    dataset: dict[str, Any] = {}
    if store.has_info():
        dataset["info"] = store.info()
    if store.has_licenses():
        dataset["licenses"] = store.licenses()
    dataset["images"] = JsonArray(image_to_coco(im) for im in images)
    dataset["annotations"] = JsonArray(annotations())
    dataset["categories"] = categories
    for key, value in store.get_setting(setting_keys.COCO_EXTRA, {}).items():
        dataset.setdefault(key, value)
    write_json_atomically(out_path, dataset)
    return ExportReport(out_path, len(images), writer.written, len(categories), writer.kept_as_rle)


def annotation_to_coco(
    ann: Annotation, image: ImageRecord, *, with_score: bool = False
) -> dict[str, Any]:
    """One annotation as `export_coco(masks="rle")` writes it, as a dict, except that a
    box-only annotation gets no "segmentation" key (the analyst's view reads the project
    this way: a box-only label is an ignored region to a mask evaluation, not an empty mask)."""
    height, width = image.height, image.width
    seg = ann.segmentation
    has_mask = seg is not None and seg != []
    out: dict[str, Any] = {"id": ann.id, "image_id": ann.image_id, "category_id": ann.category_id}
    if seg is not None and has_mask:
        out["segmentation"] = _compressed_rle(seg, height, width)
    mask = seg if has_mask else None
    out["area"] = _exported_area(ann.area, mask, ann.bbox[2], ann.bbox[3], height, width)
    out["bbox"] = [float(v) for v in ann.bbox]
    out["iscrowd"] = int(ann.iscrowd)
    out.update(ann.extra)
    if with_score and ann.score is not None:
        out["score"] = float(ann.score)
    return out


def _compressed_rle(segmentation: Any, height: int, width: int) -> Any:
    """The mask as compressed RLE, as it is when it already is one."""
    if is_rle(segmentation) and isinstance(segmentation["counts"], str):
        return segmentation
    return to_rle(segmentation, height, width)


def _exported_area(
    stored: float | None, mask: Any, box_w: float, box_h: float, height: int, width: int
) -> float:
    """The stored area when there is one, else the mask's pixel count, else the box's area."""
    if stored is not None:
        return stored
    if mask is not None:
        return area_of(mask, height, width)
    return float(box_w) * float(box_h)


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


def image_to_coco(image: ImageRecord) -> dict[str, Any]:
    return {
        "id": image.id,
        "file_name": image.file_name,
        "width": image.width,
        "height": image.height,
        **image.extra,
    }


class _AnnotationWriter:
    """Turns stored annotation rows into COCO annotation objects, as JSON text.

    Works on the store's raw rows: "keep" copies a stored mask's JSON text as it is, so an
    export of a million RLE masks parses none of them unless it must compute their area.
    """

    def __init__(
        self,
        masks: MaskFormat,
        as_imported: dict[int, object],
        images: dict[int, ImageRecord],
        *,
        include_proposals: bool,
    ) -> None:
        self.masks = masks
        self.as_imported = as_imported  # box-only annotations to write as their file had them
        self.images = images
        self.include_proposals = include_proposals
        self.kept_as_rle = 0
        self.written = 0
        self._empty: dict[tuple[int, int], str] = {}

    def to_coco(self, row: tuple[Any, ...]) -> EncodedJson | None:
        """The row as a COCO annotation, or None when it is not exported."""
        (ann_id, image_id, category_id, x, y, w, h, seg_text, iscrowd, source, score, state,
         area, extra_text) = row  # fmt: skip
        image = self.images.get(image_id)
        if image is None:
            return None
        is_proposal = source == Source.MODEL.value and state == ReviewState.PROPOSED.value
        if is_proposal and not self.include_proposals:
            return None
        height, width = image.height, image.width
        has_mask = seg_text is not None and seg_text not in ("null", "[]")
        segmentation = json.loads(seg_text) if has_mask and self._must_parse(area) else None
        seg_json: str | None  # None: no "segmentation" key at all
        if has_mask:
            if self.masks == "keep":
                seg_json = seg_text
            else:
                converted = self._convert(segmentation, height, width, crowd=bool(iscrowd))
                seg_json = _encode(converted)
        elif ann_id in self.as_imported:
            kept = self.as_imported[ann_id]
            seg_json = None if kept is _ABSENT else "null"
        elif seg_text == "[]" and self.masks == "keep":
            seg_json = "[]"
        else:
            seg_json = self._empty_mask(height, width)
        # A mask with no stored area was parsed above (_must_parse).
        area = _exported_area(area, segmentation, w, h, height, width)
        head = f'{{"id":{ann_id},"image_id":{image_id},"category_id":{category_id}'
        if seg_json is not None:
            head += ',"segmentation":' + seg_json
        self.written += 1
        if (
            extra_text is None
            and not (is_proposal and score is not None)
            and type(area) is type(x) is type(y) is type(w) is type(h) is float
            and math.isfinite(area + x + y + w + h)
        ):
            # The common row, written without a dict and an encoder call (that was half the
            # writer's time on a million annotations); json writes a finite float as repr does.
            return EncodedJson(
                f'{head},"area":{area!r},"bbox":[{x!r},{y!r},{w!r},{h!r}],'
                f'"iscrowd":{int(iscrowd)}}}'
            )
        tail: dict[str, Any] = {
            "area": area,
            "bbox": [float(x), float(y), float(w), float(h)],
            "iscrowd": int(iscrowd),
        }
        if extra_text is not None:
            tail.update(json.loads(extra_text))
        if is_proposal and score is not None:
            tail["score"] = float(score)
        return EncodedJson(head + "," + _encode(tail)[1:])

    def _must_parse(self, stored_area: float | None) -> bool:
        return self.masks != "keep" or stored_area is None

    def _empty_mask(self, h: int, w: int) -> str:
        if (h, w) not in self._empty:
            self._empty[h, w] = _encode(encode_mask(np.zeros((h, w), np.uint8)))
        return self._empty[h, w]

    def _convert(self, seg: Any, h: int, w: int, *, crowd: bool) -> Any:
        if self.masks == "keep":
            return seg
        if self.masks == "rle":
            return _compressed_rle(seg, h, w)
        if not is_rle(seg):  # "polygon": stored polygons are already polygons
            return seg
        polygons = None if crowd else mask_to_polygons(decode(seg, h, w))
        if polygons is None:
            self.kept_as_rle += 1
            return seg
        return polygons
