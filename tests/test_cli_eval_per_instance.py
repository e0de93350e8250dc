"""`maskloop eval --per-instance OUT.csv [--model M --images DIR]`: one row per instance and
per prediction, each miss with its cause; without --model the command stays light."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from _detector_helpers import shapes_dataset, trained_lite_checkpoint
from test_cli_eval_per_image import files  # noqa: F401  (the fixture)
from test_cli_stays_light import _heavy_modules_after

from core.cli.eval_per_instance import PER_INSTANCE_COLUMNS
from core.detection.detector import Detector
from core.detection.stages import inspect_detector
from core.evaluation.matching import EvaluationData, MatchSettings
from core.evaluation.miss_causes import CAUSES, WRONG_CLASS, explain_misses
from core.files.images import read_image
from main import main


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_one_row_per_instance_and_prediction_with_outcomes_and_causes(
    files: tuple,  # noqa: F811
    tmp_path: Path,
) -> None:
    gt_path, pred_path, gt, preds = files
    out = tmp_path / "instances.csv"
    assert main(["eval", str(gt_path), str(pred_path), "--per-instance", str(out)]) == 0
    with open(out, encoding="utf-8", newline="") as fh:
        assert next(csv.reader(fh)) == list(PER_INSTANCE_COLUMNS)
    rows = _rows(out)
    matched = EvaluationData.from_coco(gt, preds).match(MatchSettings())
    gt_rows = {int(r["id"]): r for r in rows if r["kind"] == "gt"}
    assert {a: r["outcome"] for a, r in gt_rows.items()} == {
        g.annotation_id: g.outcome.upper() for g in matched.ground_truth
    }
    prediction_rows = {int(r["id"]): r for r in rows if r["kind"] == "prediction"}
    assert {i: r["outcome"] for i, r in prediction_rows.items()} == {
        p.index: p.outcome.upper() for p in matched.predictions if not p.ignored_by_crowd
    }
    # Annotation 30 (a cat) was found only as a dog: the wrong class.
    assert gt_rows[30]["outcome"] == "FN" and gt_rows[30]["cause"] == WRONG_CLASS
    assert gt_rows[30]["category"] == "cat" and gt_rows[30]["file_name"] == "img3.png"
    assert [float(v) for v in (gt_rows[30][k] for k in "xywh")] == gt["annotations"][2]["bbox"]
    assert all(r["cause"] == "" for r in rows if r["outcome"] != "FN")
    assert float(prediction_rows[0]["score"]) == pytest.approx(0.9)


@pytest.mark.slow  # trains the shared lite checkpoint when no other test has yet
def test_model_stages_explain_each_miss(tmp_path: Path) -> None:
    source = shapes_dataset()
    dataset = json.loads(source.read_text())
    dataset["images"] = dataset["images"][:4]
    kept = {image["id"] for image in dataset["images"]}
    dataset["annotations"] = [a for a in dataset["annotations"] if a["image_id"] in kept]
    gt_path, pred_path, out = tmp_path / "gt.json", tmp_path / "pred.json", tmp_path / "rows.csv"
    gt_path.write_text(json.dumps(dataset), encoding="utf-8")
    images, checkpoint = source.parent / "images", str(trained_lite_checkpoint())
    predict = ["predict", "--images", str(images), "--coco", str(gt_path), "--model", checkpoint]
    assert main([*predict, "--out", str(pred_path)]) == 0
    argv = ["eval", str(gt_path), str(pred_path), "--score", "0.8", "--per-instance", str(out)]
    assert main([*argv, "--model", checkpoint, "--images", str(images)]) == 0

    data = EvaluationData.from_coco(gt_path, pred_path)
    matched = data.match(MatchSettings(0.5, 0.8))
    detector = Detector.load(checkpoint, device="cpu")
    views = {
        image["id"]: inspect_detector(
            detector, read_image(images / image["file_name"]), score_threshold=0.8
        )
        for image in dataset["images"]
    }
    expected = {m.annotation_id: m.cause for m in explain_misses(data, matched, views)}
    assert expected, "a briefly trained model at score 0.8 misses some shapes"
    rows = {int(r["id"]): r["cause"] for r in _rows(out) if r["outcome"] == "FN"}
    assert rows == expected
    assert set(rows.values()) <= set(CAUSES)


def test_model_without_images_is_a_user_error(
    files: tuple,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gt_path, pred_path, _, _ = files
    argv = ["eval", str(gt_path), str(pred_path), "--per-instance", str(tmp_path / "o.csv")]
    assert main([*argv, "--model", "lite"]) == 2
    assert "maskloop: error: --model needs --images" in capsys.readouterr().err


def test_per_instance_without_a_model_loads_no_torch(files: tuple, tmp_path: Path) -> None:  # noqa: F811
    gt_path, pred_path, _, _ = files
    out = tmp_path / "o.csv"
    assert (
        _heavy_modules_after("eval", str(gt_path), str(pred_path), "--per-instance", str(out)) == []
    )
    assert out.is_file()
