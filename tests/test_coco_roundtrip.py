"""COCO import -> store -> export gives the file back; export options do what they say."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import TinyCoco, make_tiny_coco, rle_of, write_png
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from core.coco.exporter import export_coco
from core.coco.importer import import_coco
from core.errors import ProjectError
from core.files import atomic as atomic_files
from core.masks import decode, encode_mask, mask_iou
from core.records import Annotation, ReviewState, Source
from core.store import ProjectStore


def _project(tiny: TinyCoco, name: str = "p.maskloop") -> ProjectStore:
    store = ProjectStore.create(tiny.json_path.parent / name, tiny.images_dir)
    import_coco(tiny.json_path, store)
    return store


def _export(store: ProjectStore, **options: Any) -> dict[str, Any]:
    out = store.path.parent / "out.json"
    export_coco(store, out, **options)
    return json.loads(out.read_text(encoding="utf-8"))


def test_round_trip_gives_back_every_field(tiny_coco: TinyCoco) -> None:
    original = tiny_coco.data
    with _project(tiny_coco) as store:
        out = _export(store)
    assert out["info"] == original["info"] and out["licenses"] == original["licenses"]
    assert out["images"] == original["images"]  # ids, names (sub-folder, space, ü), extras
    assert out["categories"] == original["categories"]  # ids 1, 5, 90, supercategory, extras
    assert len(out["annotations"]) == len(original["annotations"])
    for got, want in zip(out["annotations"], original["annotations"], strict=True):
        assert got["bbox"] == pytest.approx(want["bbox"], abs=0.5)
        for key in set(want) - {"bbox"}:
            assert got[key] == want[key], (want["id"], key)
        assert set(got) - set(want) <= {"area"}
    box_only = out["annotations"][3]
    assert "segmentation" not in box_only and box_only["area"] == 10 * 12


def test_importing_the_same_file_twice_changes_nothing(tiny_coco: TinyCoco) -> None:
    with _project(tiny_coco) as store:
        first = _export(store)
        report = import_coco(tiny_coco.json_path, store)
        assert (report.images_imported, report.annotations_imported) == (0, 0)
        assert (report.images_existing, report.annotations_existing) == (3, 4)
        assert _export(store) == first


def test_imported_images_with_annotations_are_marked_reviewed(tiny_coco: TinyCoco) -> None:
    with _project(tiny_coco) as store:
        assert {im.file_name: im.reviewed for im in store.list_images()} == {
            "a.png": True,
            "sub dir/b c.png": True,
            "sub dir/ünï.png": False,  # the file gives it no annotation
        }
        ann = store.get_annotation(100)
        assert (ann.source, ann.state) == (Source.HUMAN, ReviewState.ACCEPTED)


def test_merging_a_second_dataset_remaps_clashing_ids(tiny_coco: TinyCoco, tmp_path: Path) -> None:
    with _project(tiny_coco) as store:
        write_png(tiny_coco.images_dir / "new.png", 10, 10)
        second = {
            "images": [{"id": 7, "file_name": "new.png", "width": 10, "height": 10}],
            "categories": [{"id": 1, "name": "bird"}, {"id": 5, "name": "dog"}],
            "annotations": [
                {"id": 100, "image_id": 7, "category_id": 1, "bbox": [0, 0, 2, 2]},
                {"id": 101, "image_id": 7, "category_id": 5, "bbox": [1, 1, 2, 2]},
            ],
        }
        path = tmp_path / "second.json"
        path.write_text(json.dumps(second))
        for _ in range(2):  # the second import of it adds nothing
            import_coco(path, store)
        new_image = store.image_by_file_name("new.png")
        assert new_image.id == 13  # 7 was taken; 12 is the largest id
        bird, dog = store.annotations(new_image.id)
        assert (bird.id, dog.id) == (206, 207)  # 100 and 101 were taken
        assert store.get_category(bird.category_id).name == "bird" and bird.category_id == 91
        assert dog.category_id == 5  # merged with the existing "dog" by name
        assert store.annotation_count() == 6


def test_masks_rle_converts_every_mask_to_compressed_rle_with_the_same_pixels(
    tiny_coco: TinyCoco,
) -> None:
    with _project(tiny_coco) as store:
        kept = {a["id"]: a for a in _export(store)["annotations"]}
        as_rle = {a["id"]: a for a in _export(store, masks="rle")["annotations"]}
    for ann_id in (100, 101, 102):
        seg = as_rle[ann_id]["segmentation"]
        assert isinstance(seg, dict) and isinstance(seg["counts"], str)
        same = np.array_equal(decode(seg, 30, 40), decode(kept[ann_id]["segmentation"], 30, 40))
        assert same, ann_id


def test_masks_polygon_traces_edited_masks_and_keeps_holes_as_rle(tiny_coco: TinyCoco) -> None:
    with _project(tiny_coco) as store:
        edited = np.zeros((30, 40), bool)
        edited[3:9, 30:38] = True
        edited[12:15, 33:36] = True
        ann = store.add_annotation(
            Annotation(
                image_id=7, category_id=1, bbox=(30, 3, 8, 12), segmentation=encode_mask(edited)
            )
        )
        out = {a["id"]: a for a in _export(store, masks="polygon")["annotations"]}
    traced = out[ann.id]["segmentation"]
    assert isinstance(traced, list) and len(traced) == 2  # both parts kept
    assert np.array_equal(decode(traced, 30, 40), edited)
    assert out[ann.id]["area"] == edited.sum()
    assert out[100]["segmentation"] == tiny_coco.data["annotations"][0]["segmentation"]
    assert out[101]["segmentation"] == tiny_coco.data["annotations"][1]["segmentation"]  # hole
    assert isinstance(out[102]["segmentation"], dict)  # crowd regions stay RLE


def test_rejected_never_exported_and_proposals_only_on_request_with_score(
    tiny_coco: TinyCoco,
) -> None:
    with _project(tiny_coco) as store:
        proposal = Annotation(image_id=12, category_id=5, bbox=(1, 1, 5, 5), score=0.75)
        pending, rejected, accepted = store.replace_proposals(12, [proposal] * 3, "lite")
        store.set_annotation_state(rejected.id, ReviewState.REJECTED)
        store.set_annotation_state(accepted.id, ReviewState.ACCEPTED)
        store.set_annotation_state(100, ReviewState.REJECTED)
        default = {a["id"]: a for a in _export(store)["annotations"]}
        with_proposals = {a["id"]: a for a in _export(store, include_proposals=True)["annotations"]}
    assert set(default) == {101, 102, 205, accepted.id}
    assert "score" not in default[accepted.id]
    assert set(with_proposals) == {101, 102, 205, accepted.id, pending.id}
    assert with_proposals[pending.id]["score"] == 0.75


def test_reviewed_only_exports_only_reviewed_images(tiny_coco: TinyCoco) -> None:
    with _project(tiny_coco) as store:
        store.set_reviewed(8, False)
        out = _export(store, reviewed_only=True)
    assert [im["id"] for im in out["images"]] == [7]
    assert {a["image_id"] for a in out["annotations"]} == {7}


def test_exported_file_loads_in_pycocotools_and_scores_perfect_ap_against_itself(
    tmp_path: Path,
) -> None:
    images_dir = tmp_path / "images"
    data: dict[str, Any] = {
        "images": [],
        "annotations": [],
        "categories": [{"id": 3, "name": "sq"}],
    }
    for i in range(4):
        write_png(images_dir / f"{i}.png", 32, 32)
        data["images"].append({"id": i + 1, "file_name": f"{i}.png", "width": 32, "height": 32})
        for j in range(2):
            mask = np.zeros((32, 32), np.uint8)
            mask[2 + 12 * j : 10 + 12 * j + i, 4 : 14 + i] = 1
            seg = rle_of(mask) if j else [[4, 2, 14 + i, 2, 14 + i, 10 + i, 4, 10 + i]]
            data["annotations"].append(
                {"id": 10 * i + j + 1, "image_id": i + 1, "category_id": 3, "segmentation": seg,
                 "bbox": [4, 2 + 12 * j, 10 + i, 8 + i], "iscrowd": 0}
            )  # fmt: skip
    (tmp_path / "gt.json").write_text(json.dumps(data))
    with ProjectStore.create(tmp_path / "p.maskloop", images_dir) as store:
        import_coco(tmp_path / "gt.json", store)
        export_coco(store, tmp_path / "out.json", masks="polygon")
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(tmp_path / "out.json"))
        results = [{**a, "score": 1.0} for a in gt.dataset["annotations"]]
        for iou_type in ("segm", "bbox"):
            ev = COCOeval(gt, gt.loadRes(results), iou_type)
            ev.evaluate(), ev.accumulate(), ev.summarize()
            assert ev.stats[0] == pytest.approx(1.0), iou_type
    assert len(gt.getAnnIds()) == 8 and gt.getCatIds() == [3]


def test_export_to_a_full_disk_leaves_the_previous_file_intact(
    tiny_coco: TinyCoco, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _project(tiny_coco) as store:
        out = store.path.parent / "out.json"
        out.write_text("previous export")

        def write_then_fail(fh: Any, data: Any) -> None:
            fh.write('{"images": [')
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(atomic_files, "_write_json", write_then_fail)
        with pytest.raises(ProjectError, match="No space left on device"):
            export_coco(store, out)
    assert out.read_text() == "previous export"
    assert [p.name for p in out.parent.iterdir() if p.suffix == ".tmp"] == []


def test_import_stopped_after_some_batches_is_completed_by_importing_again(tmp_path: Path) -> None:
    tiny = make_tiny_coco(tmp_path)
    data = tiny.data
    for i in range(20):  # more images so that batches of 2 need many commits
        write_png(tiny.images_dir / f"more/{i}.png", 8, 8)
        data["images"].append({"id": 50 + i, "file_name": f"more/{i}.png", "width": 8, "height": 8})
        data["annotations"].append({"id": 500 + i, "image_id": 50 + i, "category_id": 1,
                                    "bbox": [0, 0, 2, 2], "iscrowd": 0})  # fmt: skip
    tiny.json_path.write_text(json.dumps(data))
    with ProjectStore.create(tmp_path / "whole.maskloop", tiny.images_dir) as whole:
        import_coco(tiny.json_path, whole)
        expected = _export(whole)

    class Stop(Exception):
        pass

    def stop_after_three_batches(done: int, total: int) -> None:
        if done >= 6:
            raise Stop

    with ProjectStore.create(tmp_path / "p.maskloop", tiny.images_dir) as store:
        with pytest.raises(Stop):
            import_coco(tiny.json_path, store, batch_size=2, progress=stop_after_three_batches)
        assert 0 < store.image_count() < len(data["images"])
        import_coco(tiny.json_path, store)
        assert _export(store) == expected


def test_mask_only_annotation_gets_its_box_from_the_mask(tmp_path: Path) -> None:
    write_png(tmp_path / "images" / "a.png", 10, 10)
    mask = np.zeros((10, 10), np.uint8)
    mask[2:5, 3:9] = 1
    data = {
        "images": [{"id": 1, "file_name": "a.png", "width": 10, "height": 10}],
        "categories": [{"id": 1, "name": "x"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": rle_of(mask)}],
    }
    (tmp_path / "d.json").write_text(json.dumps(data))
    with ProjectStore.create(tmp_path / "p.maskloop", tmp_path / "images") as store:
        import_coco(tmp_path / "d.json", store)
        (ann,) = _export(store)["annotations"]
    assert ann["bbox"] == [3.0, 2.0, 6.0, 3.0] and ann["area"] == 18


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    mask=arrays(np.bool_, st.tuples(st.integers(1, 20), st.integers(1, 20))),
    mode=st.sampled_from(["keep", "rle", "polygon"]),
)
def test_random_masks_survive_rle_store_export_exactly(
    tmp_path_factory: pytest.TempPathFactory, mask: np.ndarray, mode: str
) -> None:
    root = tmp_path_factory.mktemp("prop")
    (root / "images").mkdir()
    h, w = mask.shape
    rle = encode_mask(mask)
    with ProjectStore.create(root / "p.maskloop", root / "images") as store:
        image = store.add_image("a.png", w, h)
        category = store.add_category("x")
        ann = Annotation(image_id=image.id, category_id=category.id, bbox=(0, 0, w, h))
        stored = store.add_annotation(replace(ann, segmentation=rle))
        (exported,) = _export(store, masks=mode)["annotations"]
    seg = exported["segmentation"]
    assert np.array_equal(decode(seg, h, w), mask)
    if mode != "polygon":
        assert seg == rle
    assert exported["id"] == stored.id and exported["area"] == mask.sum()
    if mask.any():
        assert mask_iou(seg, rle, h, w) == 1.0
