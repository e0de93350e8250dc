"""Item-by-item checks of a COCO dataset, before anything reaches the project file.

Each `check_*` function returns a reason string when the item is unusable, or None. The
importer turns a reason into one warning line naming the item and skips only that item.
No check decodes a mask: a 100,000-annotation file must be vetted in a second or two.
"""

from __future__ import annotations

import math
from typing import Any

from core.errors import CocoFormatError
from core.files.limits import oversize_reason

_INT64 = 1 << 63  # SQLite stores ids as signed 64-bit integers
_FLOAT_MAX = 1 << 1000  # an int above this is no coordinate (and float() would overflow)


def check_dataset_shape(data: Any, source: str) -> None:
    """Raise CocoFormatError unless `data` looks like a COCO dataset (not results, not junk)."""
    if isinstance(data, list):
        raise CocoFormatError(
            f"{source} is a list (a COCO results file?), not a COCO dataset with "
            '"images", "annotations" and "categories".'
        )
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise CocoFormatError(f'{source} is not a COCO dataset: it has no "images" list.')
    for key in ("annotations", "categories"):
        if key in data and not isinstance(data[key], list):
            raise CocoFormatError(f'{source} is not a COCO dataset: "{key}" is not a list.')
    if "licenses" in data and not isinstance(data["licenses"], list):
        raise CocoFormatError(f'{source} is not a COCO dataset: "licenses" is not a list.')


def is_int(value: Any) -> bool:
    """A whole number that fits the project file (JSON allows any length). `type() is`, not
    isinstance: it leaves out bools, and a file's million ids are checked in one test each."""
    return type(value) is int and -_INT64 <= value < _INT64


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, float) or (isinstance(value, int) and abs(value) < _FLOAT_MAX)


def is_text(value: Any) -> bool:
    """A str the project file can store: JSON's "\\udc80" escapes give lone surrogates,
    which are not Unicode text and which SQLite refuses."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _bad_number(value: Any) -> bool:
    """Not a finite, non-negative number (the two common types first: this runs per value)."""
    kind = type(value)
    if kind is float:
        return not 0 <= value < math.inf  # NaN compares false
    if kind is int:
        return not 0 <= value < _FLOAT_MAX
    return not _is_number(value) or not math.isfinite(value) or value < 0


def positive_int(value: Any) -> int | None:
    """`value` as an int when it is a whole number > 0 (640 or 640.0), else None."""
    if _is_number(value) and math.isfinite(value) and value > 0 and float(value).is_integer():
        return int(value)
    return None


def check_category(item: Any) -> str | None:
    if not isinstance(item, dict):
        return "it is not an object"
    if not is_int(item.get("id")):
        return "its id is missing or not an integer"
    if not isinstance(item.get("name"), str) or not item["name"].strip():
        return "its name is missing or empty"
    if not is_text(item["name"]):
        return "its name is not valid Unicode text"
    supercategory = item.get("supercategory", "")
    if supercategory is not None and not is_text(supercategory):
        return "its supercategory is not text"
    return None


def check_image(item: Any) -> str | None:
    """Shape of an image entry (the file name's safety and existence are checked apart)."""
    if not isinstance(item, dict):
        return "it is not an object"
    if not is_int(item.get("id")):
        return "its id is missing or not an integer"
    if not isinstance(item.get("file_name"), str):
        return "its file_name is missing"
    if not is_text(item["file_name"]):
        return "its file_name is not valid Unicode text"
    width, height = positive_int(item.get("width")), positive_int(item.get("height"))
    if width is None or height is None:
        return "its width or height is missing, not a whole number, or not positive"
    return oversize_reason(width, height)


def check_bbox(bbox: Any) -> str | None:
    if not isinstance(bbox, list | tuple) or len(bbox) != 4:
        return "its bbox is not [x, y, width, height]"
    if any(_bad_number(v) for v in bbox):
        return "its bbox has a negative, NaN or non-numeric value"
    return None


def check_extent(item: dict[str, Any], height: int, width: int) -> str | None:
    """Box and polygon coordinates stay within one image size beyond the image.

    COCO files often reach a little past the border; a coordinate of 10^9 is no annotation,
    and pycocotools crashes rasterising one (its C code overflows an int)."""
    limit = 2 * max(height, width)
    bbox = item.get("bbox")
    if isinstance(bbox, list | tuple) and len(bbox) == 4 and max(bbox) > limit:
        return f"its bbox {bbox} lies far outside the {width} x {height} image"
    seg = item.get("segmentation")
    if isinstance(seg, list) and any(max(polygon) > limit for polygon in seg):
        return f"a polygon lies far outside the {width} x {height} image"
    return None


def check_segmentation(seg: Any, height: int, width: int) -> str | None:
    """Polygons, or an RLE whose size matches the image. Empty/None means box-only.

    A compressed RLE string is vetted apart, for all of a file's at once
    (core.coco.rle_check)."""
    if seg is None or seg == []:
        return None
    if isinstance(seg, list):
        for polygon in seg:
            if not isinstance(polygon, list) or len(polygon) % 2:
                return "a polygon is not a flat list of x, y pairs"
            if len(polygon) < 6:
                return "a polygon has fewer than 3 points"
            if any(_bad_number(v) for v in polygon):
                return "a polygon has a negative, NaN or non-numeric coordinate"
        return None
    if isinstance(seg, dict):
        size, counts = seg.get("size"), seg.get("counts")
        if not isinstance(size, list) or len(size) != 2 or not all(is_int(v) for v in size):
            return "its RLE has no valid size [height, width]"
        if size != [height, width]:
            return f"its RLE size {size} differs from the image size [{height}, {width}]"
        if isinstance(counts, str):
            return None if counts.isascii() else "its RLE counts are not ASCII"
        if isinstance(counts, list):
            if not all(is_int(v) and v >= 0 for v in counts):
                return "its uncompressed RLE counts are not non-negative integers"
            if sum(counts) != height * width:
                return "its uncompressed RLE counts do not add up to height x width"
            return None
        return "its RLE counts are neither a string nor a list"
    return "its segmentation is neither polygons nor RLE"


def check_annotation_fields(item: Any) -> str | None:
    """Everything about an annotation that does not need its image or category."""
    if not isinstance(item, dict):
        return "it is not an object"
    if "id" in item and not is_int(item["id"]):
        return "its id is not an integer"
    if not is_int(item.get("image_id")) or not is_int(item.get("category_id")):
        return "its image_id or category_id is missing or not an integer"
    if item.get("iscrowd", 0) not in (0, 1):
        return "its iscrowd is not 0 or 1"
    if "area" in item and item["area"] is not None and _bad_number(item["area"]):
        return "its area is negative, NaN or not a number"
    if "bbox" in item:
        reason = check_bbox(item["bbox"])
        if reason:
            return reason
    elif item.get("segmentation") in (None, []):
        return "it has neither a bbox nor a segmentation"
    return None
