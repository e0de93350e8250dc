"""Import a COCO dataset into a project: exact, idempotent, resumable, and safe on bad input.

- Exact: segmentations (polygons, compressed or uncompressed RLE), ids, iscrowd, area and
  every unknown field (`info`, `licenses`, image extras such as `coco_url`, annotation
  extras such as `attributes`) are stored as given, so exporting gives the file back.
- Idempotent and resumable: images merge by file name and annotations by (file name, COCO
  id), so importing the same file again adds only what is missing. Work is committed in
  batches of whole images with their annotations; an import killed or stopped part-way is
  completed by running it again.
- Safe: a file that is not a COCO dataset raises CocoFormatError. Inside a valid file, each
  bad item is skipped with one warning naming it, and every valid item is imported. File
  names that lead outside the images folder are refused without touching the file system;
  the others are only checked to exist (never decoded: the real size is checked when the
  image is first opened, see `ProjectStore.set_image_size`).
- An image the file gives at least one valid annotation is marked reviewed: imported ground
  truth is human-made and accepted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.coco.rle_check import compressed_rle_problems
from core.coco.validate import (
    check_annotation_fields,
    check_category,
    check_dataset_shape,
    check_extent,
    check_image,
    check_segmentation,
    is_int,
    positive_int,
)
from core.errors import CocoFormatError
from core.files.paths import lexical_join, unsafe_file_name_reason
from core.masks import bbox_of
from core.store import ProjectStore, setting_keys
from core.store.rows import dumps_or_null

DEFAULT_BATCH_SIZE = 5000
"""Annotations per committed transaction: large enough that commits cost little, small
enough that an interrupted import loses seconds of work."""

# json.dumps with a non-default option builds a new encoder per call, which was a tenth of
# a million-annotation import; the output is the same.
_encode_segmentation = json.JSONEncoder(separators=(",", ":")).encode

_IMAGE_KEYS = {"id", "file_name", "width", "height"}
_CATEGORY_KEYS = {"id", "name", "supercategory"}
_ANNOTATION_KEYS = {"id", "image_id", "category_id", "bbox", "segmentation", "iscrowd", "area"}
_DATASET_KEYS = {"info", "licenses", "images", "annotations", "categories"}


@dataclass
class ImportReport:
    images_imported: int = 0
    images_existing: int = 0  # already in the project (merged by file name)
    images_skipped: int = 0
    annotations_imported: int = 0
    annotations_existing: int = 0
    annotations_skipped: int = 0
    categories_imported: int = 0
    categories_existing: int = 0
    categories_skipped: int = 0
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        line = (
            f"Imported {self.images_imported} images, {self.annotations_imported} annotations "
            f"and {self.categories_imported} categories"
        )
        existing = self.images_existing + self.annotations_existing + self.categories_existing
        if existing:
            line += f"; {existing} items were already in the project"
        skipped = self.images_skipped + self.annotations_skipped + self.categories_skipped
        if skipped:
            line += f"; skipped {skipped} bad items ({len(self.warnings)} warnings)"
        return line + "."


@dataclass
class _Pending:
    """One valid image of the file and the rows it will add."""

    coco_id: int
    file_name: str
    width: int
    height: int
    extra: dict[str, Any]
    annotations: list[dict[str, Any]] = field(default_factory=list)


class _Importer:
    def __init__(
        self,
        store: ProjectStore,
        report: ImportReport,
        on_warning: Callable[[str], None] | None,
    ) -> None:
        self.store = store
        self.report = report
        self.on_warning = on_warning

    def warn(self, message: str) -> None:
        self.report.warnings.append(message)
        if self.on_warning is not None:
            self.on_warning(message)

    # ------------------------------------------------------------ categories
    def import_categories(self, items: list[Any]) -> dict[int, int]:
        """Map each valid COCO category id to a project category id, adding new ones.

        A category merges with a project category of the same name; a new one keeps its
        id when free (non-contiguous ids such as 1, 5, 90 are kept).
        """
        existing = {c.name: c.id for c in self.store.categories()}
        taken = set(existing.values())
        mapping: dict[int, int] = {}
        for index, item in enumerate(items):
            reason = check_category(item)
            if reason is None and item["id"] in mapping:
                reason = f"its id {item['id']} appears twice"
            if reason:
                self.report.categories_skipped += 1
                self.warn(f"skipped category #{index} ({_describe(item, 'name')}): {reason}")
                continue
            if item["name"] in existing:
                mapping[item["id"]] = existing[item["name"]]
                self.report.categories_existing += 1
                continue
            wanted = item["id"] if item["id"] not in taken else None
            extra = {k: v for k, v in item.items() if k not in _CATEGORY_KEYS}
            supercategory = item.get("supercategory", "")
            if supercategory is None:
                # The record's supercategory is text for every list that shows it; the
                # file's null rides in `extra`, which the exporter writes over the text.
                extra["supercategory"] = None
            category = self.store.add_category(
                item["name"],
                category_id=wanted,
                supercategory=supercategory or "",
                extra=extra or None,
            )
            if wanted is None:
                self.warn(
                    f"category {item['name']!r}: id {item['id']} is used by another category "
                    f"in the project; it was given id {category.id}"
                )
            existing[category.name] = category.id
            taken.add(category.id)
            mapping[item["id"]] = category.id
            self.report.categories_imported += 1
        return mapping

    # ------------------------------------------------------------ images
    def collect_images(self, items: list[Any]) -> dict[int, _Pending | None]:
        """Valid images by COCO id; None marks an id whose image was skipped."""
        images_dir = self.store.images_dir
        pending: dict[int, _Pending | None] = {}
        seen_names: set[str] = set()
        for index, item in enumerate(items):
            reason = check_image(item)
            if reason is None:
                reason = unsafe_file_name_reason(item["file_name"])
            if reason is None and item["id"] in pending:
                reason = f"its id {item['id']} appears twice"
            if reason is None and item["file_name"] in seen_names:
                reason = "its file_name appears twice"
            if reason is None and not os.path.isfile(lexical_join(images_dir, item["file_name"])):
                reason = f"the file is not in the images folder {images_dir}"
            if reason:
                self.report.images_skipped += 1
                self.warn(f"skipped image #{index} ({_describe(item, 'file_name')}): {reason}")
                if isinstance(item, dict) and is_int(item.get("id")) and item["id"] not in pending:
                    pending[item["id"]] = None  # its annotations are skipped without a warning each
                continue
            seen_names.add(item["file_name"])
            width, height = positive_int(item["width"]), positive_int(item["height"])
            assert width is not None and height is not None  # check_image vetted both
            pending[item["id"]] = _Pending(
                coco_id=item["id"],
                file_name=item["file_name"],
                width=width,
                height=height,
                extra={k: v for k, v in item.items() if k not in _IMAGE_KEYS},
            )
        return pending

    # ------------------------------------------------------------ annotations
    def attach_annotations(
        self,
        items: list[Any],
        images: dict[int, _Pending | None],
        categories: dict[int, int],
    ) -> None:
        skipped_per_image: dict[int, int] = {}
        accepted: list[tuple[int, dict[str, Any], _Pending]] = []
        seen_ids: set[int] = set()
        for index, item in enumerate(items):
            reason = check_annotation_fields(item)
            image = None
            if reason is None:
                if item["image_id"] not in images:
                    reason = f"it refers to image id {item['image_id']}, which the file lacks"
                elif images[item["image_id"]] is None:
                    skipped_per_image[item["image_id"]] = (
                        skipped_per_image.get(item["image_id"], 0) + 1
                    )
                    self.report.annotations_skipped += 1
                    continue
                elif item["category_id"] not in categories:
                    reason = f"it refers to category id {item['category_id']}, which is missing"
                elif "id" in item and item["id"] in seen_ids:
                    reason = f"its id {item['id']} appears twice"
                else:
                    image = images[item["image_id"]]
                    assert image is not None  # None entries were handled just above
                    reason = check_segmentation(
                        item.get("segmentation"), image.height, image.width
                    ) or check_extent(item, image.height, image.width)
            if reason or image is None:
                self.report.annotations_skipped += 1
                self.warn(f"skipped annotation #{index} ({_describe(item, 'id')}): {reason}")
                continue
            if "id" in item:
                seen_ids.add(item["id"])
            accepted.append((index, item, image))
        for _index, item, image in self._vet_compressed_masks(accepted):
            image.annotations.append(item)
        for image_id, count in skipped_per_image.items():
            self.warn(f"skipped {count} annotations of the skipped image id {image_id}")

    def _vet_compressed_masks(
        self, accepted: list[tuple[int, dict[str, Any], _Pending]]
    ) -> list[tuple[int, dict[str, Any], _Pending]]:
        """`accepted` less the annotations whose compressed RLE string is not a valid mask."""
        # What an earlier run imported is skipped by `write` anyway: a re-run (resuming an
        # interrupted import) vets only what is new.
        known = {k for (k,) in self.store._conn.execute(
            "SELECT import_key FROM annotations WHERE import_key IS NOT NULL")}  # fmt: skip
        compressed = [
            n for n, (_, item, image) in enumerate(accepted)
            if isinstance(item.get("segmentation"), dict)
            and isinstance(item["segmentation"].get("counts"), str)
            and f"{image.file_name}\n{item.get('id')}" not in known
        ]  # fmt: skip
        reasons = compressed_rle_problems(
            [accepted[n][1]["segmentation"]["counts"] for n in compressed],
            [accepted[n][2].height * accepted[n][2].width for n in compressed],
        )
        refused = {n: reason for n, reason in zip(compressed, reasons, strict=True) if reason}
        for n, reason in refused.items():
            index, item, _ = accepted[n]
            self.report.annotations_skipped += 1
            self.warn(f"skipped annotation #{index} ({_describe(item, 'id')}): {reason}")
        return [entry for n, entry in enumerate(accepted) if n not in refused]

    # ------------------------------------------------------------ writing
    def write(
        self,
        images: list[_Pending],
        categories: dict[int, int],
        batch_size: int,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        conn = self.store._conn  # the importer is the store's bulk-writing partner
        by_name = dict(conn.execute("SELECT file_name, id FROM images"))
        taken_image_ids = set(by_name.values())
        next_image_id = max(taken_image_ids, default=0) + 1
        known_keys = {k for (k,) in conn.execute(
            "SELECT import_key FROM annotations WHERE import_key IS NOT NULL")}  # fmt: skip
        taken_ann_ids = {i for (i,) in conn.execute("SELECT id FROM annotations")}
        next_ann_id = max(
            max(taken_ann_ids, default=0),
            conn.execute("SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence "
                         "WHERE name = 'annotations'").fetchone()[0],
        ) + 1  # fmt: skip

        image_rows: list[tuple[Any, ...]] = []
        ann_rows: list[tuple[Any, ...]] = []
        reviewed_ids: list[tuple[int]] = []
        done = 0

        def flush() -> None:
            with self.store.transaction() as tx:
                tx.executemany(
                    "INSERT INTO images(id, file_name, width, height, reviewed, extra) "
                    "VALUES (?,?,?,?,?,?)",
                    image_rows,
                )
                tx.executemany(
                    "INSERT INTO annotations(id, image_id, category_id, bbox_x, bbox_y, bbox_w, "
                    "bbox_h, segmentation, iscrowd, source, score, state, area, extra, "
                    "import_key) VALUES (?,?,?,?,?,?,?,?,?,'human',NULL,'accepted',?,?,?)",
                    ann_rows,
                )
                tx.executemany("UPDATE images SET reviewed = 1 WHERE id = ?", reviewed_ids)
            image_rows.clear()
            ann_rows.clear()
            reviewed_ids.clear()
            if progress is not None:
                progress(done, len(images))

        for image in images:
            existing_id = by_name.get(image.file_name)
            is_new = existing_id is None
            if existing_id is None:
                if image.coco_id in taken_image_ids:
                    store_id, next_image_id = next_image_id, next_image_id + 1
                else:
                    store_id = image.coco_id
                next_image_id = max(next_image_id, store_id + 1)
                taken_image_ids.add(store_id)
                by_name[image.file_name] = store_id
                image_rows.append((store_id, image.file_name, image.width, image.height,
                                   int(bool(image.annotations)), _json(image.extra)))  # fmt: skip
                self.report.images_imported += 1
            else:
                store_id = existing_id
                self.report.images_existing += 1
            added = 0
            for item in image.annotations:
                coco_id = item.get("id")
                key = None if coco_id is None else f"{image.file_name}\n{coco_id}"
                if key is not None and key in known_keys:
                    self.report.annotations_existing += 1
                    continue
                if coco_id is None or coco_id in taken_ann_ids:
                    ann_id, next_ann_id = next_ann_id, next_ann_id + 1
                else:
                    ann_id = coco_id
                    next_ann_id = max(next_ann_id, ann_id + 1)
                taken_ann_ids.add(ann_id)
                if key is not None:
                    known_keys.add(key)
                ann_rows.append(_annotation_row(item, ann_id, store_id, categories, image, key))
                added += 1
            if added and not is_new:
                reviewed_ids.append((store_id,))  # an existing image gained ground truth
            self.report.annotations_imported += added
            done += 1
            if len(ann_rows) >= batch_size or len(image_rows) >= batch_size:
                flush()
        if image_rows or ann_rows or reviewed_ids or progress is not None:
            flush()


def import_coco(
    json_path: str | os.PathLike,
    store: ProjectStore,
    *,
    on_warning: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> ImportReport:
    """Import the COCO dataset at `json_path` into `store` (see the module docstring).

    `on_warning(line)` is called for each skipped item; `progress(images_done, images_total)`
    after each committed batch (raising from it stops the import; what was committed stays).
    """
    data = _read_json(Path(json_path))
    check_dataset_shape(data, str(json_path))
    report = ImportReport()
    importer = _Importer(store, report, on_warning)
    if "info" in data and not store.has_info():
        store.set_info(data["info"])
    if "licenses" in data and not store.has_licenses():
        store.set_licenses(data["licenses"])
    _keep_unknown_top_level_fields(store, data)
    categories = importer.import_categories(data.get("categories", []))
    images = importer.collect_images(data["images"])
    importer.attach_annotations(data.get("annotations", []), images, categories)
    valid = [image for image in images.values() if image is not None]
    importer.write(valid, categories, max(1, batch_size), progress)
    return report


def _keep_unknown_top_level_fields(store: ProjectStore, data: dict[str, Any]) -> None:
    """Remember fields such as labelme2coco's "type" for the export; like `info`, the first
    file imported sets a field and later ones only add fields it lacked."""
    unknown = {k: v for k, v in data.items() if k not in _DATASET_KEYS}
    if "info" in data and data["info"] is None:  # set_info(None) would read as "no info"
        unknown["info"] = None
    if not unknown:
        return
    kept = store.get_setting(setting_keys.COCO_EXTRA, {})
    merged = {**unknown, **kept}
    if merged != kept:
        store.set_setting(setting_keys.COCO_EXTRA, merged)


def _read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise CocoFormatError(f"No COCO file at {path}.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CocoFormatError(f"{path} is not a JSON file: {exc}.") from None
    except RecursionError:
        raise CocoFormatError(
            f"{path} nests lists or objects too deeply to be a COCO dataset."
        ) from None
    except OSError as exc:
        raise CocoFormatError(f"Cannot read {path}: {exc.strerror or exc}.") from None


def _annotation_row(
    item: dict[str, Any],
    ann_id: int,
    image_id: int,
    categories: dict[int, int],
    image: _Pending,
    import_key: str | None,
) -> tuple[Any, ...]:
    segmentation = item.get("segmentation")
    if "bbox" in item:
        x, y, w, h = (float(v) for v in item["bbox"])
    else:  # mask-only annotation (check_annotation_fields made sure it has a mask)
        assert segmentation is not None
        x, y, w, h = bbox_of(segmentation, image.height, image.width)
    area = item.get("area")
    return (
        ann_id,
        image_id,
        categories[item["category_id"]],
        x,
        y,
        w,
        h,
        None if "segmentation" not in item else _encode_segmentation(segmentation),
        int(item.get("iscrowd", 0)),
        None if area is None else float(area),
        _json({k: v for k, v in item.items() if k not in _ANNOTATION_KEYS}),
        import_key,
    )


def _json(value: dict[str, Any]) -> str | None:
    return dumps_or_null(value)


def _describe(item: Any, key: str) -> str:
    if isinstance(item, dict) and key in item:
        return f"{key} {item[key]!r}"
    return "no " + key
