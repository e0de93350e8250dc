"""`maskloop segment`: masks for box-only annotations, everything else kept as it was."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from core.cli import main
from core.demo.shapes import generate_shapes_dataset
from core.detection.segment_coco import has_mask

# lite's fixed-seed random weights: the command's bookkeeping does not depend on mask quality
# (that is tests/test_box_to_mask.py's job), and no training is needed.
MODEL = "lite"


@pytest.fixture(scope="module")
def box_dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """Shapes with every other annotation stripped to its box in one of the ways COCO files
    say "no mask", plus unknown fields at every level and a crowd region."""
    root = tmp_path_factory.mktemp("segment")
    json_path = generate_shapes_dataset(root, n_images=3, seed=11)
    data = json.loads(json_path.read_text())
    data["licenses"] = [{"id": 1, "name": "CC-BY", "url": "http://example.org"}]
    data["custom_top_level"] = {"keep": [1, 2, 3]}
    data["images"][0]["license"] = 1
    data["categories"][0]["keypoints"] = []
    no_mask = [lambda a: a.pop("segmentation"), [], None, {}, [[]]]
    for i, ann in enumerate(data["annotations"]):
        ann["id"] = 100 + 7 * i  # ids that are not positions
        ann["note"] = f"annotator {i % 3}"
        if i % 2 == 0:
            empty = no_mask[(i // 2) % len(no_mask)]
            if callable(empty):
                empty(ann)
            else:
                ann["segmentation"] = copy.deepcopy(empty)
            ann["area"] = ann["bbox"][2] * ann["bbox"][3]
    crowd = copy.deepcopy(data["annotations"][1])
    crowd.update(id=999, iscrowd=1, segmentation=[])
    data["annotations"].append(crowd)
    json_path.write_text(json.dumps(data))
    return json_path, data


def _segment(json_path: Path, out: Path, *extra: str) -> dict[str, Any]:
    code = main(
        [
            "segment",
            str(json_path),
            "--images",
            str(json_path.parent / "images"),
            "--model",
            MODEL,
            "--out",
            str(out),
            "--quiet",
            *extra,
        ]
    )
    assert code == 0
    return json.loads(out.read_text())


def _assert_mask_fits(ann: dict[str, Any], image: dict[str, Any]) -> None:
    rle = ann["segmentation"]
    assert isinstance(rle, dict) and isinstance(rle["counts"], str)
    mask = mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()})
    assert mask.shape == (image["height"], image["width"])
    assert mask.any()
    assert ann["area"] == pytest.approx(float(mask.sum()))
    x, y, w, h = ann["bbox"]
    rows, cols = np.nonzero(mask)
    assert cols.min() >= np.floor(x) and cols.max() < np.ceil(x + w)
    assert rows.min() >= np.floor(y) and rows.max() < np.ceil(y + h)


def test_only_box_only_annotations_get_masks_and_nothing_else_changes(box_dataset, tmp_path):
    json_path, before = box_dataset
    after = _segment(json_path, tmp_path / "out.json")
    assert list(after) == list(before)
    for key in before:
        if key != "annotations":
            assert after[key] == before[key], key
    images = {image["id"]: image for image in before["images"]}
    assert [a["id"] for a in after["annotations"]] == [a["id"] for a in before["annotations"]]
    touched = 0
    for old, new in zip(before["annotations"], after["annotations"], strict=True):
        if has_mask(old) or old.get("iscrowd"):
            assert new == old
            continue
        touched += 1
        _assert_mask_fits(new, images[old["image_id"]])
        unchanged = {k: v for k, v in old.items() if k not in ("segmentation", "area")}
        assert {k: v for k, v in new.items() if k not in ("segmentation", "area")} == unchanged
    assert touched == (len(before["annotations"]) - 1 + 1) // 2


def test_all_re_segments_every_annotation_but_crowds(box_dataset, tmp_path):
    json_path, before = box_dataset
    after = _segment(json_path, tmp_path / "out.json", "--all")
    images = {image["id"]: image for image in before["images"]}
    for old, new in zip(before["annotations"], after["annotations"], strict=True):
        if old.get("iscrowd"):
            assert new == old
            continue
        _assert_mask_fits(new, images[old["image_id"]])
        assert new["segmentation"] != old.get("segmentation")
        assert {k: new[k] for k in old if k not in ("segmentation", "area")} == {
            k: v for k, v in old.items() if k not in ("segmentation", "area")
        }


def test_a_missing_image_leaves_its_annotations_and_fails_the_run(box_dataset, tmp_path):
    json_path, before = box_dataset
    data = copy.deepcopy(before)
    data["images"][0]["file_name"] = "gone.png"
    broken = json_path.parent / "broken.json"
    broken.write_text(json.dumps(data))
    out = tmp_path / "out.json"
    code = main(
        ["segment", str(broken), "--images", str(json_path.parent / "images")]
        + ["--model", MODEL, "--out", str(out), "--quiet"]
    )
    assert code == 1
    after = json.loads(out.read_text())
    first = data["images"][0]["id"]
    for old, new in zip(data["annotations"], after["annotations"], strict=True):
        if old["image_id"] == first:
            assert new == old


def test_ctrl_c_keeps_the_images_finished_so_far(box_dataset):
    from core.detection.box_to_mask import BoxSegmenter
    from core.detection.detector import Detector
    from core.detection.segment_coco import segment_dataset

    json_path, before = box_dataset
    data = copy.deepcopy(before)

    def interrupt_after_first(done: int, total: int, name: str, written: int) -> None:
        raise KeyboardInterrupt

    report = segment_dataset(
        data,
        json_path.parent / "images",
        BoxSegmenter(Detector.load(MODEL, device="cpu")),
        progress=interrupt_after_first,
    )
    assert report.interrupted and report.images_done == 1 and report.images_total == 3
    first = before["images"][0]["id"]
    for old, new in zip(before["annotations"], data["annotations"], strict=True):
        if old["image_id"] != first or has_mask(old) or old.get("iscrowd"):
            assert new == old
        else:
            assert has_mask(new)


def test_boxes_segmented_a_few_at_a_time_give_the_same_masks(box_dataset, monkeypatch):
    from core.detection import segment_coco
    from core.detection.box_to_mask import BoxSegmenter
    from core.detection.detector import Detector

    json_path, before = box_dataset
    segmenter = BoxSegmenter(Detector.load(MODEL, device="cpu"))
    together, one_by_one = copy.deepcopy(before), copy.deepcopy(before)
    kwargs = {"all_annotations": True}
    segment_coco.segment_dataset(together, json_path.parent / "images", segmenter, **kwargs)
    monkeypatch.setattr(segment_coco, "BOXES_PER_CALL", 1)
    segment_coco.segment_dataset(one_by_one, json_path.parent / "images", segmenter, **kwargs)
    assert together != before
    for a, b in zip(together["annotations"], one_by_one["annotations"], strict=True):
        geometry = ("segmentation", "area")
        assert {k: v for k, v in a.items() if k not in geometry} == {
            k: v for k, v in b.items() if k not in geometry
        }
        if has_mask(a):
            # Batched float maths may differ in the last bit; no pixel may move beyond that.
            assert mask_utils.iou([_pycoco(a)], [_pycoco(b)], [0])[0][0] >= 0.99


def _pycoco(ann: dict[str, Any]) -> dict[str, Any]:
    rle = ann["segmentation"]
    if isinstance(rle, dict) and isinstance(rle.get("counts"), str):
        return {"size": rle["size"], "counts": rle["counts"].encode()}
    return rle
