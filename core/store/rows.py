"""Conversions between `core.records` dataclasses and the project file's table rows.

Segmentations and extra fields are stored as JSON text exactly as given, so a COCO file
imported and exported again keeps its polygons, its RLE (compressed or not) and its unknown
fields unchanged.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from core.records import Annotation, ImageRecord, ReviewState, Source

IMAGE_COLUMNS = "id, file_name, width, height, reviewed, size_checked, extra"

ANNOTATION_COLUMNS = (
    "id, image_id, category_id, bbox_x, bbox_y, bbox_w, bbox_h, segmentation, iscrowd, "
    "source, score, state, area, extra"
)


def dumps_or_null(value: Any, *, keep_empty: bool = False) -> str | None:
    """JSON text of `value`; None (SQL NULL) for None, and for empty containers unless kept."""
    if value is None or (not value and not keep_empty):
        return None
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (JSON's "\udc80") is no UTF-8, which SQLite needs; escaped, the
        # same JSON reads back to the same value.
        text = json.dumps(value, separators=(",", ":"))
    return text


def loads_or(text: str | None, default: Any) -> Any:
    return default if text is None else json.loads(text)


def image_from_row(row: tuple[Any, ...]) -> ImageRecord:
    image_id, file_name, width, height, reviewed, size_checked, extra = row
    return ImageRecord(
        id=image_id,
        file_name=file_name,
        width=width,
        height=height,
        reviewed=bool(reviewed),
        size_checked=bool(size_checked),
        extra=loads_or(extra, {}),
    )


def annotation_from_row(row: tuple[Any, ...]) -> Annotation:
    (ann_id, image_id, category_id, x, y, w, h, seg, iscrowd, source, score, state, area, extra) = (
        row
    )
    return Annotation(
        id=ann_id,
        image_id=image_id,
        category_id=category_id,
        bbox=(x, y, w, h),
        segmentation=loads_or(seg, None),
        iscrowd=bool(iscrowd),
        source=Source(source),
        score=score,
        state=ReviewState(state),
        area=area,
        extra=loads_or(extra, {}),
    )


def annotation_params(ann: Annotation) -> tuple[Any, ...]:
    """Values for (image_id, category_id, bbox_x..bbox_h, segmentation, iscrowd, source,
    score, state, area, extra), in that order."""
    x, y, w, h = (float(v) for v in ann.bbox)
    return (
        int(ann.image_id),
        int(ann.category_id),
        x,
        y,
        w,
        h,
        None
        if ann.segmentation is None
        else dumps_or_null(_json_ready(ann.segmentation), keep_empty=True),
        int(bool(ann.iscrowd)),
        Source(ann.source).value,
        None if ann.score is None else float(ann.score),
        ReviewState(ann.state).value,
        None if ann.area is None else float(ann.area),
        dumps_or_null(ann.extra),
    )


def _json_ready(segmentation: Any) -> Any:
    """pycocotools hands out RLE counts as bytes; JSON (and COCO files) want str."""
    if isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), bytes):
        return {**segmentation, "counts": segmentation["counts"].decode("ascii")}
    return segmentation


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The id SQLite gave the row the INSERT on `cursor` just wrote."""
    row_id = cursor.lastrowid
    if row_id is None:  # only after a statement that inserted nothing
        raise sqlite3.IntegrityError("the INSERT wrote no row")
    return row_id
