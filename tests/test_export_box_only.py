"""Box-only annotations in an export: pycocotools can read them, a round trip keeps them."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from _labelme_helpers import make_labelme_coco
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from core.coco.exporter import export_coco
from core.coco.importer import import_coco
from core.records import Annotation
from core.store import ProjectStore
from core.training.data import load_coco_dataset
from core.training.finetune_data import prepare_finetune_data


def _quiet_coco(path: Path) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


@pytest.fixture
def project(tmp_path: Path):
    """The labelme dataset imported, plus a box drawn in the app on image 0."""
    source = make_labelme_coco(tmp_path, images=2)
    data = source.data
    data["annotations"].append(  # box-only in the file: no "segmentation" key at all
        {"id": 50, "image_id": 1, "category_id": 1, "bbox": [2, 2, 5, 6], "iscrowd": 0}
    )
    data["annotations"].append(  # and one with a null segmentation
        {"id": 51, "image_id": 1, "category_id": 2, "segmentation": None, "area": 9.0,
         "bbox": [30, 30, 3, 3], "iscrowd": 0}
    )  # fmt: skip
    source.json_path.write_text(json.dumps(data), encoding="utf-8")
    with ProjectStore.create(tmp_path / "p.maskloop", source.images_dir) as store:
        assert not import_coco(source.json_path, store).warnings
        drawn = store.add_annotation(Annotation(0, 1, (10.0, 12.0, 8.0, 4.0)))
        for image in store.list_images():
            store.set_reviewed(image.id)
        yield store, source, drawn.id


def _by_id(path: Path) -> dict[int, dict]:
    return {a["id"]: a for a in json.loads(path.read_text(encoding="utf-8"))["annotations"]}


@pytest.mark.parametrize("masks", ["keep", "rle", "polygon"])
def test_a_drawn_box_reads_in_pycocotools_as_an_empty_mask(project, tmp_path, masks):
    store, _, drawn_id = project
    out = tmp_path / f"{masks}.json"
    export_coco(store, out, masks=masks)
    coco = _quiet_coco(out)
    ann = coco.anns[drawn_id]
    assert "segmentation" in ann
    rle = coco.annToRLE(ann)  # KeyError before the fix
    assert coco.annToMask(ann).shape == (48, 64) and not coco.annToMask(ann).any()
    assert rle["size"] == [48, 64]
    assert ann["area"] == 8 * 4 and ann["bbox"] == [10.0, 12.0, 8.0, 4.0]


def test_a_segm_evaluation_of_the_export_runs(project, tmp_path):
    store, _, _ = project
    out = tmp_path / "out.json"
    export_coco(store, out, masks="rle")
    gt = _quiet_coco(out)
    with_mask = [a for a in gt.anns.values() if gt.annToMask(a).any()]
    assert len(with_mask) == 4 and len(gt.anns) == 7
    results = [
        {"image_id": a["image_id"], "category_id": a["category_id"], "score": 1.0,
         "segmentation": a["segmentation"]}
        for a in with_mask
    ]  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        evaluation = COCOeval(gt, gt.loadRes(results), "segm")
        evaluation.evaluate()  # KeyError on the box-only annotations before the fix
    matched = [
        match
        for entry in evaluation.evalImgs
        if entry is not None and entry["aRng"] == [0, 1e10]
        for match in entry["dtMatches"][0]  # at IoU 0.5
    ]
    # Each detection matched its own annotation (labelme's ids start at 0).
    assert sorted(int(m) for m in matched) == sorted(a["id"] for a in with_mask) == [0, 1, 2, 3]


def test_keep_mode_writes_imported_box_only_annotations_as_the_file_had_them(project, tmp_path):
    store, _, _ = project
    export_coco(store, tmp_path / "keep.json", masks="keep")
    export_coco(store, tmp_path / "rle.json", masks="rle")
    keep, rle = _by_id(tmp_path / "keep.json"), _by_id(tmp_path / "rle.json")
    assert "segmentation" not in keep[50]
    assert keep[51]["segmentation"] is None
    for ann_id in (50, 51):  # converted exports are for tools: an empty mask
        assert rle[ann_id]["segmentation"]["size"] == [48, 64]


def test_the_export_imports_again_without_warnings(project, tmp_path):
    store, source, _ = project
    out = tmp_path / "out.json"
    export_coco(store, out, masks="rle")
    with ProjectStore.create(tmp_path / "again.maskloop", source.images_dir) as again:
        report = import_coco(out, again)
    assert not report.warnings and report.annotations_imported == len(_by_id(out))


def test_training_skips_empty_masks_as_box_only(project, tmp_path):
    store, _, _ = project
    data = prepare_finetune_data(store, tmp_path / "run", val_fraction=0.0)
    dataset = load_coco_dataset(data.train_json, data.images_dir)
    assert sum(len(s.instances) for s in dataset.samples) == 4  # the labelme polygons only
    assert any("3 annotations have no mask" in w for w in dataset.warnings)
    mask_counts = [np.count_nonzero(s.instances) for s in dataset.samples]
    assert mask_counts == [2, 2]
