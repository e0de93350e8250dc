"""Bad COCO input: a broken file is refused whole; bad items are skipped one warning each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TinyCoco, write_png

from core.coco.importer import import_coco
from core.errors import CocoFormatError
from core.store import ProjectStore


@pytest.fixture
def store(tmp_path: Path):
    (tmp_path / "images").mkdir()
    with ProjectStore.create(tmp_path / "p.maskloop", tmp_path / "images") as s:
        yield s


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not a JSON file"),
        (b"\xff\xfe\x00garbage", "not a JSON file"),
        (b'[{"image_id": 1, "score": 0.5}]', "results file"),
        (b'{"annotations": []}', 'no "images" list'),
        (b'{"images": [], "annotations": {}}', '"annotations" is not a list'),
        (b"42", 'no "images" list'),
    ],
)
def test_a_file_that_is_not_a_coco_dataset_raises_coco_format_error(
    store: ProjectStore, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(CocoFormatError, match=message):
        import_coco(path, store)
    assert store.image_count() == 0


def test_a_missing_coco_file_raises_coco_format_error(store: ProjectStore, tmp_path: Path) -> None:
    with pytest.raises(CocoFormatError, match="No COCO file"):
        import_coco(tmp_path / "absent.json", store)


def test_each_bad_item_is_skipped_with_one_warning_and_valid_items_are_imported(
    store: ProjectStore, tmp_path: Path
) -> None:
    images_dir = store.images_dir
    write_png(images_dir / "ok.png", 20, 20)
    write_png(tmp_path / "outside.png", 20, 20)  # exists, but outside the images folder
    images = [
        {"id": 1, "file_name": "ok.png", "width": 20, "height": 20},
        {"id": 2, "file_name": "missing.png", "width": 20, "height": 20},
        {"id": 3, "file_name": "../outside.png", "width": 20, "height": 20},
        {"id": 4, "file_name": "../../etc/passwd", "width": 20, "height": 20},
        {"id": 5, "file_name": str(tmp_path / "outside.png"), "width": 20, "height": 20},
        {"id": 6, "file_name": "ok.png", "width": -5, "height": 20},
    ]
    good = {"image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "iscrowd": 0}
    annotations = [
        {"id": 10, **good},
        {"id": 11, **good, "image_id": 99},
        {"id": 12, **good, "category_id": 77},
        {"id": 13, **good, "bbox": [1, 1, -5, 5]},
        {"id": 14, **good, "bbox": [1, float("nan"), 5, 5]},
        {"id": 15, **good, "segmentation": [[1, 1, 5, 5]]},
        {"id": 16, **good, "segmentation": [[1, 1, 5, 1, float("nan"), 5]]},
        {"id": 17, **good, "segmentation": {"size": [10, 10], "counts": "abc"}},
        {"id": 18, **good, "image_id": 2},  # its image is skipped: no warning of its own
        {"id": 19, **good, "segmentation": [[1, 1, 5, 1, 5, 5]], "area": 8.0},
    ]
    categories = [{"id": 1, "name": "ok"}, {"id": 2}]
    path = tmp_path / "mixed.json"
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )

    seen: list[str] = []
    report = import_coco(path, store, on_warning=seen.append)

    assert seen == report.warnings
    expected_names = [
        "category #1",
        "'missing.png'",
        "'../outside.png'",
        "'../../etc/passwd'",
        "outside.png",
        "image #5",
        "id 11",
        "id 12",
        "id 13",
        "id 14",
        "id 15",
        "id 16",
        "id 17",
        "1 annotations of the skipped image id 2",
    ]
    assert len(seen) == len(expected_names)
    for line, name in zip(seen, expected_names, strict=True):
        assert name in line and "\n" not in line
    assert "fewer than 3 points" in seen[10] and "NaN" in seen[9]
    assert "leads outside the images folder" in seen[3] and "absolute path" in seen[4]
    assert [im.file_name for im in store.list_images()] == ["ok.png"]
    assert sorted(a.id for a in store.annotations(1)) == [10, 19]
    assert (report.images_skipped, report.annotations_skipped, report.categories_skipped) == (
        5,
        8,
        1,
    )


def test_import_reads_nothing_outside_the_images_folder(
    tiny_coco: TinyCoco, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = dict(tiny_coco.data)
    data["images"] = [
        *data["images"],
        {"id": 99, "file_name": "../tiny.json", "width": 5, "height": 5},
    ]
    tiny_coco.json_path.write_text(json.dumps(data))
    images_root = str(tiny_coco.images_dir)
    checked: list[str] = []
    import os.path

    real_isfile = os.path.isfile

    def spy(path: object) -> bool:
        checked.append(str(path))
        return real_isfile(path)

    monkeypatch.setattr(os.path, "isfile", spy)
    with ProjectStore.create(tmp_path / "p.maskloop", tiny_coco.images_dir) as store:
        report = import_coco(tiny_coco.json_path, store)
    assert len(checked) == 3 and all(p.startswith(images_root) and ".." not in p for p in checked)
    assert report.images_imported == 3 and report.images_skipped == 1
