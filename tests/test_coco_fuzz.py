"""Hostile COCO files: property-based fuzzing of the importer and the project import path.

Each generated file mixes valid images, categories and annotations with bad ones (wrong
types, missing keys, NaN and infinities, huge and negative numbers, duplicate ids, lone
surrogates, malformed masks). The import must raise nothing, name every bad item in one
warning line of its own, and keep every valid item field by field. Whole files that are not
COCO (truncated, not UTF-8, nested too deeply) raise only `core.errors` exceptions.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pycocotools.mask as mask_utils
import pytest
from conftest import write_png
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.coco.exporter import export_coco
from core.coco.importer import import_coco
from core.errors import MaskLoopError
from core.store import ProjectStore
from core.store.sources import coco_images_dir, import_coco_project

# CI-friendly: the same examples every run, nothing stored between runs.
FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

FILES = [f"img{i}.png" for i in range(6)]
# tmpfs where there is one: thousands of SQLite commits with fsync would dominate the run.
SCRATCH = "/dev/shm" if Path("/dev/shm").is_dir() else None
IMAGES_DIR = Path(tempfile.mkdtemp(prefix="maskloop-fuzz-", dir=SCRATCH)) / "images"
for _name in FILES:
    write_png(IMAGES_DIR / _name, 8, 8)

HOSTILE = [None, "1", "", "\udc80", 1.5, True, math.nan, math.inf, -math.inf, 2**70, -(2**64),
           1e308, [], {}, [1, 2], {"a": 1}]  # fmt: skip
HOSTILE_SIZES = [0, -1, 2**70, 10**7, 1e308, 12.5, *HOSTILE]


@dataclass
class Case:
    data: dict[str, Any]
    images: dict[str, tuple[int, int]]  # valid: file name -> (width, height)
    image_files: dict[int, str]  # valid: COCO id -> file name
    categories: dict[int, str]  # valid: COCO id -> name
    annotations: dict[int, dict[str, Any]]  # valid: COCO id -> item
    bad: set[tuple[str, int]] = field(default_factory=set)  # ("image", index in its list)


def _compressed_rle(mask: np.ndarray) -> dict[str, Any]:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


@st.composite
def valid_annotation(draw: st.DrawFn, ann_id: int, image: dict[str, Any], cat: int) -> dict:
    w, h = image["width"], image["height"]
    x0, y0 = draw(st.integers(0, w - 2)), draw(st.integers(0, h - 2))
    x1, y1 = draw(st.integers(x0 + 1, w)), draw(st.integers(y0 + 1, h))
    item: dict[str, Any] = {"id": ann_id, "image_id": image["id"], "category_id": cat}
    kind = draw(st.sampled_from(["box", "polygon", "rle", "uncompressed", "mask-only"]))
    if kind != "mask-only":
        item["bbox"] = [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]
    mask = np.zeros((h, w), bool)
    mask[y0:y1, x0:x1] = True
    if kind == "polygon":
        item["segmentation"] = [[x0, y0, x1, y0, x1, y1, x0, y1]]
    elif kind in ("rle", "mask-only"):
        item["segmentation"] = _compressed_rle(mask)
    elif kind == "uncompressed":
        flat = mask.flatten(order="F").astype(int)
        runs, current, count = [], 0, 0
        for value in flat:
            if value == current:
                count += 1
            else:
                runs.append(count)
                current, count = value, 1
        runs.append(count)
        item["segmentation"] = {"size": [h, w], "counts": runs}
        item["iscrowd"] = 1
    if draw(st.booleans()):
        item["attributes"] = {"note": draw(st.text(max_size=5)), "x": draw(st.floats())}
    return item


def _mutate(draw: st.DrawFn, item: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """`item` with one key removed or given a hostile value (never a valid one)."""
    bad = dict(item)
    key = draw(st.sampled_from(keys))
    # An annotation without an id is valid (the project gives it one).
    if (key != "id" or "image_id" not in item) and draw(st.booleans()):
        bad.pop(key)
        return bad
    pool = HOSTILE_SIZES if key in ("width", "height") else HOSTILE
    if key == "name":
        pool = [v for v in pool if v != "1"]  # "1" is a fine category name
    bad[key] = draw(st.sampled_from(pool))
    return bad


BAD_SEGMENTATIONS = [
    [[1, 1, 5, 1]],  # fewer than 3 points
    [[1, 1, 5, 1, 5]],  # odd length
    [[1, 1, 5, 1, math.nan, 5]],
    [[1e9, 1, 5, 1, 5, 5]],  # crashed pycocotools' rasteriser
    [[1, 1, 5, 1, 2**80, 5]],
    [[-3, 1, 5, 1, 5, 5]],
    [["1", 1, 5, 1, 5, 5]],
    [1, 2, 3, 4, 5, 6],  # not nested
    {"size": [3, 3], "counts": "0"},  # size differs from the image
    {"size": "8x8", "counts": "0"},
    {"size": [8, 8], "counts": "zz~~"},  # outside the alphabet
    {"size": [8, 8], "counts": "PPPP"},  # ends inside a number
    {"size": [8, 8], "counts": ""},
    {"size": [8, 8], "counts": "1"},  # covers 1 of 64 pixels
    {"size": [8, 8], "counts": "é"},
    {"size": [8, 8], "counts": [10, 10]},  # adds up to 20, not 64
    {"size": [8, 8], "counts": [64, -1, 1]},
    {"size": [8, 8], "counts": 64},
    "polygon",
]


@st.composite
def bad_annotation(draw: st.DrawFn, ann_id: int, image: dict[str, Any], cat: int) -> dict:
    base = {"id": ann_id, "image_id": image["id"], "category_id": cat, "bbox": [1.0, 1.0, 2, 2]}
    how = draw(st.sampled_from(["field", "segmentation", "bbox", "refs", "neither"]))
    if how == "field":
        return _mutate(draw, base, ["id", "image_id", "category_id"])
    if how == "segmentation":
        base["segmentation"] = draw(st.sampled_from(BAD_SEGMENTATIONS))
        return base
    if how == "bbox":
        base["bbox"] = draw(st.sampled_from([
            [1, 1, -2, 2], [1, math.nan, 2, 2], [1, 1, 2], [1, 1, 2, math.inf], "1,1,2,2",
            [1, 1, 2, 2**70], [1e12, 1, 2, 2], [None, 1, 2, 2]]))  # fmt: skip
        return base
    if how == "refs":
        key, value = draw(st.sampled_from([("image_id", 99_999), ("category_id", 99_999),
                                           ("iscrowd", 2), ("iscrowd", "1"), ("area", -1.0),
                                           ("area", math.nan), ("area", 2**2000)]))  # fmt: skip
        return {**base, key: value}
    del base["bbox"]
    return base


@st.composite
def cases(draw: st.DrawFn) -> Case:
    names = draw(st.lists(st.sampled_from(FILES), min_size=1, max_size=4, unique=True))
    images = []
    for n, name in enumerate(names):
        w, h = draw(st.integers(4, 40)), draw(st.integers(4, 40))
        images.append({"id": draw(st.sampled_from([n + 1, 10 * n - 5])), "file_name": name,
                       "width": w, "height": h})  # fmt: skip
    categories = [{"id": c, "name": f"class {c}"} for c in range(1, draw(st.integers(1, 3)) + 1)]
    annotations = []
    for n in range(draw(st.integers(0, 8))):
        image = draw(st.sampled_from(images))
        cat = draw(st.sampled_from(categories))["id"]
        annotations.append(draw(valid_annotation(n + 1, image, cat)))

    # Bad items use ids no valid item has; duplicates of valid ids come after the original.
    bad_images = [_mutate(draw, {"id": 1000 + n, "file_name": draw(st.sampled_from(FILES)),
                                 "width": 8, "height": 8}, ["id", "file_name", "width", "height"])
                  for n in range(draw(st.integers(0, 3)))]  # fmt: skip
    bad_images += draw(st.lists(st.sampled_from([
        {"id": 2000, "file_name": "absent.png", "width": 8, "height": 8},
        {"id": 2001, "file_name": "../img0.png", "width": 8, "height": 8},
        {"id": 2002, "file_name": "/etc/passwd", "width": 8, "height": 8},
        {"id": 2003, "file_name": FILES[5], "width": 100_000, "height": 100_000},
        "not an object", 7, None]), max_size=2, unique_by=str))  # fmt: skip
    bad_categories = [_mutate(draw, {"id": 100 + n, "name": f"bad {n}"}, ["id", "name"])
                      for n in range(draw(st.integers(0, 2)))]  # fmt: skip
    bad_categories += draw(st.lists(st.sampled_from([
        {"id": 200, "name": "   "}, {"id": 201, "name": "x", "supercategory": 5},
        {"id": 202, "name": "\udcff"}]), max_size=2, unique_by=str))  # fmt: skip
    bad_annotations = [
        draw(bad_annotation(10_000 + n, draw(st.sampled_from(images)), categories[0]["id"]))
        for n in range(draw(st.integers(0, 5)))
    ]
    duplicates: dict[str, list[Any]] = {"images": [], "annotations": [], "categories": []}
    if draw(st.booleans()):
        duplicates["images"].append({**images[0], "file_name": "dup.png"})  # id twice
    if len(names) < len(FILES) and draw(st.booleans()):
        duplicates["images"].append({**images[0], "id": 3000})  # file_name twice
    if annotations and draw(st.booleans()):
        duplicates["annotations"].append(dict(annotations[0]))
    if draw(st.booleans()):
        duplicates["categories"].append({"id": 1, "name": "another name"})

    data: dict[str, Any] = {}
    bad: set[tuple[str, int]] = set()
    for kind, one, good, hostile in (("images", "image", images, bad_images),
                                     ("categories", "category", categories, bad_categories),
                                     ("annotations", "annotation", annotations, bad_annotations)):  # fmt: skip
        tagged = [(False, x) for x in good] + [(True, x) for x in hostile]
        tagged = draw(st.permutations(tagged)) + [(True, x) for x in duplicates[kind]]
        data[kind] = [item for _, item in tagged]
        bad |= {(one, i) for i, (is_bad, _) in enumerate(tagged) if is_bad}
    if draw(st.booleans()):
        data["info"] = draw(
            st.sampled_from([{"year": math.nan}, [1], "text", None, {"u": "\ud800"}])
        )
    if draw(st.booleans()):
        data["licenses"] = [draw(st.sampled_from([None, 1, {"id": 2**70}, {"name": "\udc80"}]))]
    if draw(st.booleans()):
        data["surprise"] = draw(st.sampled_from([math.inf, "\udc81", {"deep": [[[]]]}]))
    return Case(
        data=data,
        images={im["file_name"]: (im["width"], im["height"]) for im in images},
        image_files={im["id"]: im["file_name"] for im in images},
        categories={c["id"]: c["name"] for c in categories},
        annotations={a["id"]: a for a in annotations},
        bad=bad,
    )


def _dump(data: Any) -> bytes:
    # JSON as other tools write it: NaN/Infinity literals, lone surrogates as \\u escapes.
    return json.dumps(data, allow_nan=True).encode("ascii")


def _import(case: Case, root: Path) -> tuple[ProjectStore, Any]:
    path = root / "data.json"
    path.write_bytes(_dump(case.data))
    store = ProjectStore.create(root / "p.maskloop", IMAGES_DIR)
    return store, import_coco(path, store)


_WARNING = re.compile(r"^skipped (image|category|annotation) #(\d+) \(.+\): \S.*$")


@FUZZ
@given(cases())
def test_fuzzed_coco_imports_every_valid_item_and_names_every_bad_one(case: Case) -> None:
    with tempfile.TemporaryDirectory(dir=SCRATCH) as tmp:
        store, report = _import(case, Path(tmp))
        with store:
            named = set()
            for line in report.warnings:
                assert "\n" not in line
                match = _WARNING.match(line)
                if match:  # an id clash among *valid* categories is a note, not a skip
                    named.add((match.group(1), int(match.group(2))))
            assert named == case.bad
            assert (
                report.images_skipped + report.categories_skipped + report.annotations_skipped
                == len(case.bad)
            )

            stored = {im.file_name: (im.width, im.height) for im in store.list_images()}
            assert stored == case.images
            by_name = {c.name: c.id for c in store.categories()}
            assert set(by_name) == set(case.categories.values())
            image_ids = {im.file_name: im.id for im in store.list_images()}
            assert store.annotation_count() == len(case.annotations)
            for ann_id, item in case.annotations.items():
                got = store.get_annotation(ann_id)
                assert got.image_id == image_ids[case.image_files[item["image_id"]]]
                assert got.category_id == by_name[case.categories[item["category_id"]]]
                if "bbox" in item:
                    assert list(got.bbox) == item["bbox"]
                assert got.segmentation == item.get("segmentation")
                assert got.iscrowd == item.get("iscrowd", 0)

            again = import_coco(Path(tmp) / "data.json", store)  # idempotent: adds nothing
            assert again.images_imported == again.annotations_imported == 0
            export_coco(store, Path(tmp) / "out.json")
            exported = json.loads((Path(tmp) / "out.json").read_text(encoding="utf-8"))
            assert {a["id"] for a in exported["annotations"]} == set(case.annotations)


@st.composite
def broken_files(draw: st.DrawFn) -> bytes:
    whole = _dump(draw(cases()).data)
    how = draw(st.sampled_from(["truncate", "bytes", "garbage", "nest"]))
    if how == "truncate":
        return whole[: draw(st.integers(0, len(whole) - 1))]
    if how == "bytes":
        at = draw(st.integers(0, len(whole) - 1))
        return (
            whole[:at]
            + draw(st.sampled_from([b"\xff", b"\xc3", b"\x00", b"\xed\xa0\x80"]))
            + whole[at:]
        )
    if how == "garbage":
        return draw(st.binary(max_size=64))
    depth = draw(st.integers(1, 200_000))
    return b'{"images": [], "x": ' + b"[" * depth + b"]" * depth + b"}"


@FUZZ
@given(broken_files())
def test_fuzzed_broken_files_raise_only_maskloop_errors(content: bytes) -> None:
    with tempfile.TemporaryDirectory(dir=SCRATCH) as tmp:
        root = Path(tmp)
        path = root / "data.json"
        path.write_bytes(content)
        with ProjectStore.create(root / "p.maskloop", IMAGES_DIR) as store:
            try:
                import_coco(path, store)
            except MaskLoopError as exc:
                assert "\n" not in str(exc) and str(path) in str(exc)
        # The app's path: guess the images folder, then import into a new project.
        coco_images_dir(path)
        with contextlib.suppress(MaskLoopError):
            import_coco_project(path, root / "q.maskloop", IMAGES_DIR, lambda *_: None,
                                lambda: False)  # fmt: skip


def _one(**overrides: Any) -> dict[str, Any]:
    data = {
        "images": [{"id": 1, "file_name": FILES[0], "width": 8, "height": 8}],
        "categories": [{"id": 1, "name": "x"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2]}],
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    ("data", "reason"),
    [  # each of these raised from deep inside (or crashed the process) before it was vetted
        (
            _one(
                images=[{"id": 2**70, "file_name": FILES[0], "width": 8, "height": 8}],
                annotations=[],
            ),
            "id is missing or not an integer",
        ),  # fmt: skip
        (
            _one(
                images=[{"id": [], "file_name": FILES[0], "width": 8, "height": 8}], annotations=[]
            ),
            "id is missing or not an integer",
        ),  # fmt: skip
        (_one(categories=[{"id": 2**70, "name": "x"}], annotations=[]), "not an integer"),
        (
            _one(
                images=[{"id": 1, "file_name": FILES[0], "width": 2**70, "height": 8}],
                annotations=[],
            ),
            "1,048,576 pixels a side",
        ),  # fmt: skip
        (
            _one(
                images=[{"id": 1, "file_name": FILES[0], "width": 100_000, "height": 100_000}],
                annotations=[],
            ),
            "at most 1,073,741,824",
        ),  # fmt: skip
        (_one(categories=[{"id": 1, "name": "\udc80"}], annotations=[]), "not valid Unicode"),
        (
            _one(
                annotations=[
                    {
                        "id": 1,
                        "image_id": 1,
                        "category_id": 1,
                        "area": 2**2000,
                        "bbox": [1, 1, 2, 2],
                    }
                ]
            ),
            "area",
        ),  # fmt: skip
        (
            _one(
                annotations=[{"id": 1, "image_id": 1, "category_id": 1, "bbox": [2**2000, 1, 2, 2]}]
            ),
            "bbox",
        ),  # fmt: skip
        (
            _one(
                annotations=[
                    {
                        "id": 1,
                        "image_id": 1,
                        "category_id": 1,
                        "segmentation": [[1e9, 1, 5, 1, 5, 5]],
                    }
                ]
            ),
            "far outside",
        ),  # fmt: skip
        (
            _one(
                annotations=[
                    {
                        "id": 1,
                        "image_id": 1,
                        "category_id": 1,
                        "segmentation": {"size": [8, 8], "counts": "1"},
                    }
                ]
            ),
            "cover 1 pixels",
        ),  # fmt: skip
        (
            _one(
                annotations=[
                    {
                        "id": 1,
                        "image_id": 1,
                        "category_id": 1,
                        "segmentation": {"size": [8, 8], "counts": "PP"},
                    }
                ]
            ),
            "middle of a number",
        ),  # fmt: skip
    ],
)
def test_a_hostile_value_skips_its_item_with_one_warning(
    tmp_path: Path, data: dict[str, Any], reason: str
) -> None:
    path = tmp_path / "data.json"
    path.write_bytes(_dump(data))
    with ProjectStore.create(tmp_path / "p.maskloop", IMAGES_DIR) as store:
        report = import_coco(path, store)
    assert reason in report.warnings[0] and "\n" not in report.warnings[0]


def test_a_second_annotation_with_the_same_id_is_named_not_silently_dropped(
    tmp_path: Path,
) -> None:
    first = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2]}
    path = tmp_path / "data.json"
    path.write_bytes(_dump(_one(annotations=[first, {**first, "bbox": [3, 3, 1, 1]}])))
    with ProjectStore.create(tmp_path / "p.maskloop", IMAGES_DIR) as store:
        report = import_coco(path, store)
        assert report.warnings == ["skipped annotation #1 (id 1): its id 1 appears twice"]
        assert store.get_annotation(1).bbox == (1.0, 1.0, 2.0, 2.0)


def test_lone_surrogates_in_unknown_fields_are_kept_and_exported(tmp_path: Path) -> None:
    data = _one(surprise="\udc81")
    data["images"][0]["note"] = "\ud800"
    path = tmp_path / "data.json"
    path.write_bytes(_dump(data))
    with ProjectStore.create(tmp_path / "p.maskloop", IMAGES_DIR) as store:
        import_coco(path, store)
        export_coco(store, tmp_path / "out.json")
    out = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert out["images"][0]["note"] == "\ud800" and out["surprise"] == "\udc81"


def test_a_file_nested_too_deeply_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_bytes(b'{"images": [], "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    with (
        ProjectStore.create(tmp_path / "p.maskloop", IMAGES_DIR) as store,
        pytest.raises(MaskLoopError, match="nests lists or objects too deeply"),
    ):
        import_coco(path, store)


def test_guessing_the_images_folder_survives_file_names_that_are_not_text(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text(json.dumps({"images": [{"file_name": 5}, {"file_name": None}]}))
    assert coco_images_dir(path) == tmp_path
