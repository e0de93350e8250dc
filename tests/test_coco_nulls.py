"""Nulls and unknown fields of an imported COCO file come back exactly as they were."""

from __future__ import annotations

import json
from pathlib import Path

from _labelme_helpers import make_labelme_coco

from core.coco.exporter import export_coco
from core.coco.importer import import_coco
from core.store import ProjectStore


def _round_trip(tmp_path: Path, data_path: Path, images_dir: Path) -> dict:
    with ProjectStore.create(tmp_path / "p.maskloop", images_dir) as store:
        report = import_coco(data_path, store)
        assert not report.warnings
        export_coco(store, tmp_path / "out.json", masks="keep")
    return json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))


def test_labelme2coco_nulls_come_back_null_field_by_field(tmp_path):
    source = make_labelme_coco(tmp_path)
    original = source.data
    out = _round_trip(tmp_path, source.json_path, source.images_dir)
    assert set(out) == set(original)  # "type" included
    assert out["type"] == "instances"
    assert out["info"] == original["info"] and out["info"]["url"] is None
    assert out["licenses"] == original["licenses"]
    assert out["images"] == original["images"]
    assert [im["url"] for im in out["images"]] == [None, None]
    assert [im["date_captured"] for im in out["images"]] == [None, None]
    assert out["categories"] == original["categories"]
    assert [c["supercategory"] for c in out["categories"]] == [None, None, None]
    assert out["annotations"] == original["annotations"]


def test_a_text_supercategory_and_a_null_one_side_by_side(tmp_path):
    source = make_labelme_coco(tmp_path, images=1)
    data = source.data
    data["categories"][1]["supercategory"] = "shape"
    data["categories"][2]["supercategory"] = ""
    data["categories"].append({"id": 7, "name": "plain"})  # no supercategory at all
    source.json_path.write_text(json.dumps(data), encoding="utf-8")
    with ProjectStore.create(tmp_path / "p.maskloop", source.images_dir) as store:
        import_coco(source.json_path, store)
        # The typed record stays text for the app's lists; null is kept for the file.
        assert [c.supercategory for c in store.categories()] == ["", "shape", "", ""]
        export_coco(store, tmp_path / "out.json")
    out = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert [c.get("supercategory", "absent") for c in out["categories"]] == [
        None,
        "shape",
        "",
        "",  # COCO's field; a file without it gets the empty one
    ]


def test_top_level_fields_of_a_second_import_do_not_overwrite_the_first(tmp_path):
    source = make_labelme_coco(tmp_path, images=1)
    with ProjectStore.create(tmp_path / "p.maskloop", source.images_dir) as store:
        import_coco(source.json_path, store)
        other = dict(source.data, type="captions", note=None)
        second = tmp_path / "second.json"
        second.write_text(json.dumps(other), encoding="utf-8")
        import_coco(second, store)
        export_coco(store, tmp_path / "out.json")
    out = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert out["type"] == "instances"
    assert "note" in out and out["note"] is None  # a field only the second file had


def test_a_null_info_comes_back_null(tmp_path):
    source = make_labelme_coco(tmp_path, images=1)
    source.json_path.write_text(json.dumps(dict(source.data, info=None)), encoding="utf-8")
    out = _round_trip(tmp_path, source.json_path, source.images_dir)
    assert "info" in out and out["info"] is None
