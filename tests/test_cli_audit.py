"""`maskloop audit` through the real command-line entry point: CSV columns and order, a COCO
file or a project as ground truth, and user mistakes as one-line errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from core.cli import main
from core.coco.importer import import_coco
from core.detection.detector import Detector
from core.evaluation.audit import audit_images_from_coco
from core.evaluation.audit_kfold import assign_folds
from core.evaluation.audit_predict import ModelForAudit, predict_for_audit
from core.files.images import read_image
from core.masks import decode
from core.store import ProjectStore
from tests._detector_helpers import checkpoint_ground_truth, shapes_dataset, trained_lite_checkpoint

pytestmark = pytest.mark.slow  # the shared lite checkpoint trains for tens of seconds once


@pytest.fixture(scope="module")
def checkpoint():
    return trained_lite_checkpoint()


@pytest.fixture(scope="module")
def audit_set(tmp_path_factory):
    """Three shape images, one of whose labels has the wrong class."""
    root = tmp_path_factory.mktemp("audit")
    images = root / "images"
    images.mkdir()
    gt = checkpoint_ground_truth(shapes_dataset())
    gt["images"] = gt["images"][:3]
    kept = {i["id"] for i in gt["images"]}
    gt["annotations"] = [a for a in gt["annotations"] if a["image_id"] in kept]
    for image in gt["images"]:
        source = shapes_dataset().parent / "images" / image["file_name"]
        (images / image["file_name"]).write_bytes(source.read_bytes())
    gt["annotations"][0]["category_id"] = 7 if gt["annotations"][0]["category_id"] != 7 else 3
    (root / "gt.json").write_text(json.dumps(gt))
    return root, images, root / "gt.json", gt


def _read(path):
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_audit_writes_ranked_rows_with_the_label_columns(checkpoint, audit_set, capsys):
    root, images, gt_path, gt = audit_set
    out = root / "audit.csv"
    args = ["audit", str(gt_path), "--images", str(images), "--model", str(checkpoint)]
    code = main([*args, "--out", str(out), "--quiet", "--min-score", "0"])
    assert code == 0
    rows = _read(out)
    header = out.read_text().splitlines()[0].split(",")
    assert header[:8] == ["file_name", "annotation_id", "issue", "score", "x", "y", "w", "h"]
    # min-score 0: every label has its row, ranked by score
    label_ids = {str(a["id"]) for a in gt["annotations"]}
    assert {r["annotation_id"] for r in rows if r["annotation_id"]} == label_ids
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert {r["issue"] for r in rows} <= {"overlooked", "wrong_class", "bad_location", "spurious"}
    by_id = {a["id"]: a for a in gt["annotations"]}
    for row in rows:
        if row["annotation_id"]:
            label = by_id[int(row["annotation_id"])]
            assert [float(row[k]) for k in "xywh"] == pytest.approx(label["bbox"], abs=0.05)
        else:
            assert row["issue"] == "overlooked"
    assert {r["predicted_by"] for r in rows} == {f"the model as is: {checkpoint.name}"}
    assert "predictions from the model as is" in capsys.readouterr().out


def test_audit_of_a_project_names_the_projects_annotation_ids(checkpoint, audit_set, tmp_path):
    _root, images, gt_path, _gt = audit_set
    project = tmp_path / "p.maskloop"
    with ProjectStore.create(project, images) as store:
        import_coco(gt_path, store)
        stored = {ann.id for ann in store.iter_annotations()}
    out = tmp_path / "audit.csv"
    code = main(["audit", str(project), "--model", str(checkpoint), "--out", str(out), "--quiet",
                 "--min-score", "0"])  # fmt: skip
    assert code == 0
    ids = {int(r["annotation_id"]) for r in _read(out) if r["annotation_id"]}
    assert ids == stored


def test_kfold_with_too_few_images_is_a_one_line_error(checkpoint, audit_set, tmp_path, capsys):
    _root, images, gt_path, _gt = audit_set
    out = tmp_path / "audit.csv"
    args = ["audit", str(gt_path), "--images", str(images), "--model", "lite", "--out", str(out)]
    assert main([*args, "--kfold", "2", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("maskloop: error:") and "2-fold needs at least 4 labelled images" in err
    assert not out.exists()


def test_audit_predictions_are_the_detectors_own_and_masks_stay_in_label_boxes(
    checkpoint, audit_set
):
    _root, images, _gt_path, gt = audit_set
    detector = Detector.load(str(checkpoint), device="cpu")
    model = ModelForAudit.of(detector, [(c["id"], c["name"]) for c in gt["categories"]])
    image = audit_images_from_coco(gt)[0]
    pixels = read_image(images / image.file_name)
    found = predict_for_audit(model, pixels, image)
    reference = detector.predict([pixels], score_threshold=0.05)[0]
    assert [(d.category_id, d.score, d.bbox, d.rle) for d in found.detections] == [
        (d.category_id, d.score, d.bbox, d.rle) for d in reference
    ]
    assert set(found.label_box_masks) == {lab.annotation_id for lab in image.labels}
    for label in image.labels:
        mask = decode(found.label_box_masks[label.annotation_id], image.height, image.width)
        x, y, w, h = label.bbox
        outside = mask.copy()
        outside[int(y) : int(np.ceil(y + h)), int(x) : int(np.ceil(x + w))] = False
        assert not outside.any()


def test_folds_are_balanced_and_reproducible():
    folds = assign_folds(list(range(1, 11)), 3, seed=0)
    assert sorted(folds) == list(range(1, 11))
    counts = [list(folds.values()).count(f) for f in range(3)]
    assert sorted(counts) == [3, 3, 4]
    assert assign_folds(list(range(10, 0, -1)), 3, seed=0) == folds
