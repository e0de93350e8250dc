"""`maskloop predict` (project mode, folder mode with and without --coco) and `maskloop eval`,
run through the real command-line entry point."""

from __future__ import annotations

import json

import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from core.cli import main
from core.coco.importer import import_coco
from core.evaluation.metrics import evaluate
from core.records import ReviewState, Source
from core.store import ProjectStore
from tests._detector_helpers import (
    CHECKPOINT_IDS,
    checkpoint_ground_truth,
    shapes_dataset,
    trained_lite_checkpoint,
)


@pytest.fixture(scope="module")
def checkpoint():
    return trained_lite_checkpoint()


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    """Four shape images with a COCO file whose ids are the checkpoint's (3, 7, 11)."""
    root = tmp_path_factory.mktemp("cli")
    images = root / "images"
    images.mkdir()
    gt = checkpoint_ground_truth(shapes_dataset())
    gt["images"] = gt["images"][:4]
    for image in gt["images"]:
        image["id"] += 100  # ids that differ from the folder order
        (images / image["file_name"]).write_bytes(
            (shapes_dataset().parent / "images" / image["file_name"]).read_bytes()
        )
    kept = {i["id"] - 100 for i in gt["images"]}
    gt["annotations"] = [
        dict(a, image_id=a["image_id"] + 100) for a in gt["annotations"] if a["image_id"] in kept
    ]
    (root / "gt.json").write_text(json.dumps(gt))
    return root, images, root / "gt.json", gt


def test_predict_with_coco_writes_a_results_list_loadres_accepts(checkpoint, small_set, capsys):
    root, images, gt_path, gt = small_set
    out = root / "results.json"
    code = main(
        [
            "predict",
            "--images",
            str(images),
            "--coco",
            str(gt_path),
            "--model",
            str(checkpoint),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    results = json.loads(out.read_text())
    assert isinstance(results, list) and results
    assert {r["image_id"] for r in results} <= {i["id"] for i in gt["images"]}
    assert {r["category_id"] for r in results} <= set(CHECKPOINT_IDS)
    sizes = {i["id"]: [i["height"], i["width"]] for i in gt["images"]}
    for r in results:
        assert r["segmentation"]["size"] == sizes[r["image_id"]]
        assert 0 <= r["score"] <= 1
    coco = COCO(str(gt_path))
    assert len(coco.loadRes(str(out)).getAnnIds()) == len(results)
    assert "[4/4]" in capsys.readouterr().err  # per-image progress on stderr

    # eval prints pycocotools' figures for this file.
    assert main(["eval", str(gt_path), str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = evaluate(gt, results)
    assert printed["ap"] == expected.ap and printed["ap50"] == expected.ap50
    assert printed["per_class"] == {str(k): v for k, v in expected.per_class.items()}
    assert main(["eval", str(gt_path), str(out), "--iou-type", "bbox"]) == 0
    text = capsys.readouterr().out
    assert "Average Precision" in text and "triangle" in text


def test_predict_folder_writes_a_dataset_that_import_accepts(
    checkpoint, small_set, tmp_path, capsys
):
    root, images, gt_path, gt = small_set
    out = tmp_path / "predictions.json"
    assert (
        main(
            [
                "predict",
                "--images",
                str(images),
                "--model",
                str(checkpoint),
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    dataset = json.loads(out.read_text())
    names = sorted(i["file_name"] for i in gt["images"])
    assert [i["file_name"] for i in dataset["images"]] == names
    assert [i["id"] for i in dataset["images"]] == [1, 2, 3, 4]
    assert [c["id"] for c in dataset["categories"]] == CHECKPOINT_IDS
    assert dataset["annotations"]
    for ann in dataset["annotations"]:
        image = dataset["images"][ann["image_id"] - 1]
        assert mask_utils.decode(ann["segmentation"]).shape == (image["height"], image["width"])
        assert ann["score"] > 0 and ann["iscrowd"] == 0
    # The same file is a valid prediction set for eval (dataset form) ...
    remapped = {i["file_name"]: i["id"] for i in gt["images"]}
    by_new_id = {i["id"]: remapped[i["file_name"]] for i in dataset["images"]}
    as_gt_ids = {
        **dataset,
        "annotations": [dict(a, image_id=by_new_id[a["image_id"]]) for a in dataset["annotations"]],
    }
    assert evaluate(gt, as_gt_ids).num_predictions == len(dataset["annotations"])
    # ... and imports into a project with its scores.
    with ProjectStore.create(tmp_path / "p.maskloop", images) as store:
        import_coco(out, store)
        assert store.image_count() == 4
        assert store.annotation_count() == len(dataset["annotations"])
        assert {c.name for c in store.categories()} == {"circle", "square", "triangle"}


def test_predict_into_project_stores_proposals(checkpoint, small_set, tmp_path, capsys):
    root, images, gt_path, gt = small_set
    project = tmp_path / "shapes.maskloop"
    with ProjectStore.create(project, images) as store:
        for image in gt["images"]:
            store.add_image(
                image["file_name"], image["width"], image["height"], image_id=image["id"]
            )
        for name in ("circle", "square", "triangle"):
            store.add_category(name)
        store.set_reviewed(gt["images"][0]["id"])
    code = main(
        [
            "predict",
            str(project),
            "--model",
            str(checkpoint),
            "--unreviewed-only",
            "--score-threshold",
            "0.05",
            "--batch-size",
            "3",
        ]
    )
    assert code == 0
    assert "stored" in capsys.readouterr().out
    with ProjectStore.open(project) as store:
        reviewed, *others = [i["id"] for i in gt["images"]]
        assert store.proposals_model(reviewed) is None
        assert all(store.proposals_model(i) is not None for i in others)
        proposals = [a for i in others for a in store.annotations(i)]
        assert proposals
        assert all(a.source == Source.MODEL and a.state == ReviewState.PROPOSED for a in proposals)
        project_ids = {c.id for c in store.categories()}
        assert {a.category_id for a in proposals} <= project_ids


def test_predict_reports_user_errors_in_one_line(small_set, tmp_path, capsys):
    root, images, gt_path, gt = small_set
    assert (
        main(
            [
                "predict",
                "--images",
                str(images),
                "--model",
                str(tmp_path / "missing.pt"),
                "--out",
                str(tmp_path / "o.json"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "neither an architecture" in err and len(err.strip().splitlines()) == 1
    assert main(["predict", "--images", str(images), "--model", "lite"]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["eval", str(gt_path), str(tmp_path / "none.json")]) == 2
    assert "none.json" in capsys.readouterr().err
