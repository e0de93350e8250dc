"""Export at scale: the streamed JSON writer, progress, and a cancel that leaves no trace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import TinyCoco

from core.coco.exporter import export_coco
from core.coco.importer import import_coco
from core.errors import Cancelled
from core.files.atomic import EncodedJson, JsonArray, write_json_atomically
from core.masks import encode_mask
from core.store import ProjectStore


def test_streamed_json_equals_the_plain_encoding(tmp_path: Path) -> None:
    data = {
        "info": {"name": "ünï", "n": [1, 2.5, None]},
        "items": JsonArray(iter([{"a": i} for i in range(5000)] + [EncodedJson('{"raw":[1,2]}')])),
        "empty": JsonArray(iter([])),
        "tail": EncodedJson('"as is"'),
    }
    write_json_atomically(tmp_path / "out.json", data)
    back = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert back == {
        "info": {"name": "ünï", "n": [1, 2.5, None]},
        "items": [{"a": i} for i in range(5000)] + [{"raw": [1, 2]}],
        "empty": [],
        "tail": "as is",
    }


def _project_with(tmp_path: Path, n_annotations: int) -> ProjectStore:
    """One 40x30 image with `n_annotations` copies of a 200-pixel RLE mask and no stored area
    (the costly case: export computes each area)."""
    images_dir = tmp_path / "images"
    images_dir.mkdir()
    (images_dir / "a.png").touch()
    mask = np.zeros((30, 40), np.uint8)
    mask[5:15, 10:30] = 1
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "width": 40, "height": 30}],
        "categories": [{"id": 1, "name": "thing"}],
        "annotations": [
            {
                "id": i + 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [10, 5, 20, 10],
                "segmentation": encode_mask(mask),
                "iscrowd": 0,
                "note": f"n{i}",
            }
            for i in range(n_annotations)
        ],  # fmt: skip
    }
    (tmp_path / "in.json").write_text(json.dumps(coco))
    store = ProjectStore.create(tmp_path / "p.maskloop", images_dir)
    import_coco(tmp_path / "in.json", store)
    return store


def test_each_annotation_is_written_exactly_as_json_encodes_it(tmp_path: Path) -> None:
    """Most rows are written as text by hand: every kind must read back as json writes it."""
    images_dir = tmp_path / "images"
    images_dir.mkdir()
    (images_dir / "a.png").touch()
    mask = np.zeros((30, 40), np.uint8)
    mask[5:15, 10:30] = 1
    rle = encode_mask(mask)
    square = [[10, 5, 30, 5, 30, 15, 10, 15]]
    fields = [
        {"bbox": [10, 5, 20, 10], "segmentation": rle},  # area counted from the mask
        {"bbox": [10, 5, 20, 10], "segmentation": rle, "area": 123.5},
        {"bbox": [0.1, 1e-07, 12.345678901234567, 3.3], "segmentation": rle, "iscrowd": 1},
        {"bbox": [10, 5, 20, 10], "segmentation": square},  # polygon: area from the polygon
        {"bbox": [1, 2, 3, 4]},  # box only: the box's area
        {"bbox": [10, 5, 20, 10], "segmentation": rle, "note": "ünï"},  # an extra field
    ]
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "width": 40, "height": 30}],
        "categories": [{"id": 1, "name": "thing"}],
        "annotations": [
            {"id": n + 1, "image_id": 1, "category_id": 1, **f} for n, f in enumerate(fields)
        ],
    }
    (tmp_path / "in.json").write_text(json.dumps(coco))
    with ProjectStore.create(tmp_path / "p.maskloop", images_dir) as store:
        import_coco(tmp_path / "in.json", store)
        store.replace_proposals(1, [_scored(rle, 0.25)], "m")
        export_coco(store, tmp_path / "out.json", include_proposals=True)
    text = (tmp_path / "out.json").read_text(encoding="utf-8")
    data = json.loads(text)
    assert text == json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    written = data["annotations"]
    assert [a["area"] for a in written] == [200.0, 123.5, 200.0, 200.0, 12.0, 200.0, 200.0]
    assert written[2]["bbox"] == [0.1, 1e-07, 12.345678901234567, 3.3]
    assert written[2]["iscrowd"] == 1
    assert written[5]["note"] == "ünï" and written[6]["score"] == 0.25
    assert "segmentation" not in written[4]


def _scored(rle: dict[str, Any], score: float) -> Any:
    from core.records import Annotation

    return Annotation(1, 1, (10.0, 5.0, 20.0, 10.0), segmentation=rle, score=score)


def test_export_reports_progress_and_computes_every_area(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    with _project_with(tmp_path, 9000) as store:
        report = export_coco(
            store, tmp_path / "out.json", progress=lambda d, t: calls.append((d, t))
        )
    data = json.loads((tmp_path / "out.json").read_text())
    assert report.annotations == len(data["annotations"]) == 9000
    assert calls[0] == (4096, 9000) and calls[-1] == (9000, 9000)
    assert [a["area"] for a in data["annotations"]] == [200.0] * 9000
    assert data["annotations"][8999]["note"] == "n8999"


def test_a_cancelled_export_leaves_the_previous_file(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    out.write_text("previous export")

    def cancel_halfway(done: int, total: int) -> None:
        raise Cancelled("Export cancelled.")

    with _project_with(tmp_path, 5000) as store, pytest.raises(Cancelled):
        export_coco(store, out, progress=cancel_halfway)
    assert out.read_text() == "previous export"
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".tmp") == []


@pytest.mark.parametrize("masks", ["keep", "rle", "polygon"])
def test_every_mask_mode_exports_what_it_imported(tiny_coco: TinyCoco, masks: Any) -> None:
    store = ProjectStore.create(tiny_coco.json_path.parent / "p.maskloop", tiny_coco.images_dir)
    with store:
        import_coco(tiny_coco.json_path, store)
        export_coco(store, tiny_coco.json_path.parent / "out.json", masks=masks)
    out = json.loads((tiny_coco.json_path.parent / "out.json").read_text())
    by_id = {a["id"]: a for a in out["annotations"]}
    for original in tiny_coco.data["annotations"]:
        exported = by_id[original["id"]]
        for key in ("image_id", "category_id", "iscrowd"):
            assert exported[key] == original[key]
        if masks == "keep" and "segmentation" in original:
            assert exported["segmentation"] == original["segmentation"]
