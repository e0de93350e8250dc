"""`maskloop eval --iou --score --per-image --confusion`: the view's matching, as CSV files."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_eval_matching import _dataset, _gt, _pred

from core.evaluation.matching import EvaluationData, MatchSettings
from main import main


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, dict, list]:
    gt = _dataset(
        [
            _gt(10, 1, 1, (0, 10, 0, 10)),
            _gt(20, 2, 1, (0, 10, 0, 10)),
            _gt(30, 3, 1, (0, 20, 0, 20)),
            _gt(40, 4, 2, (5, 25, 5, 25)),
        ],
        5,
    )
    preds = [
        _pred(1, 1, (0, 10, 0, 10), 0.9),
        _pred(2, 1, (0, 10, 4, 14), 0.8),  # IoU 60/140: a TP at 0.4, an FP at 0.5
        _pred(3, 2, (0, 20, 0, 20), 0.95),  # wrong class
        _pred(4, 2, (5, 25, 5, 25), 0.45),  # under the default score cut
        _pred(5, 7, (0, 5, 0, 5), 0.6),  # on background
    ]
    gt_path, pred_path = tmp_path / "gt.json", tmp_path / "pred.json"
    gt_path.write_text(json.dumps(gt), encoding="utf-8")
    pred_path.write_text(json.dumps(preds), encoding="utf-8")
    return gt_path, pred_path, gt, preds


def _rows(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


@pytest.mark.parametrize(("iou", "score"), [(0.5, 0.5), (0.4, 0.3)])
def test_per_image_rows_equal_the_match_result(
    files: tuple, tmp_path: Path, iou: float, score: float
) -> None:
    gt_path, pred_path, gt, preds = files
    out = tmp_path / "per_image.csv"
    argv = ["eval", str(gt_path), str(pred_path), "--iou", str(iou), "--score", str(score)]
    assert main([*argv, "--per-image", str(out)]) == 0
    rows = _rows(out)
    assert rows[0] == ["file_name", "image_id", "tp", "fp", "fn", "precision", "recall", "f1"]
    expected = EvaluationData.from_coco(gt, preds).match(MatchSettings(iou, score)).image_counts()
    assert [int(r[1]) for r in rows[1:]] == [1, 2, 3, 4, 5]
    for row in rows[1:]:
        counts = expected[int(row[1])]
        assert row[0] == f"img{row[1]}.png"
        assert [int(v) for v in row[2:5]] == [counts.tp, counts.fp, counts.fn]
        assert [float(v) for v in row[5:]] == pytest.approx(
            [counts.precision, counts.recall, counts.f1], abs=1e-6
        )


def test_thresholds_change_the_rows(files: tuple, tmp_path: Path) -> None:
    gt_path, pred_path, _, _ = files
    strict, loose = tmp_path / "strict.csv", tmp_path / "loose.csv"
    assert main(["eval", str(gt_path), str(pred_path), "--per-image", str(strict)]) == 0
    argv = ["eval", str(gt_path), str(pred_path), "--iou", "0.4", "--score", "0.3"]
    assert main([*argv, "--per-image", str(loose)]) == 0
    assert _rows(strict)[2][2:5] == ["0", "1", "1"]  # image 2: the shifted box misses at 0.5
    assert _rows(loose)[2][2:5] == ["1", "0", "0"]
    assert _rows(strict)[4][2:5] == ["0", "0", "1"]  # image 4: its hit scores 0.45
    assert _rows(loose)[4][2:5] == ["1", "0", "0"]


def test_confusion_csv_has_names_and_background(files: tuple, tmp_path: Path) -> None:
    gt_path, pred_path, _, _ = files
    out = tmp_path / "confusion.csv"
    assert main(["eval", str(gt_path), str(pred_path), "--confusion", str(out)]) == 0
    assert _rows(out) == [
        ["ground truth \\ predicted", "cat", "dog", "ant", "background"],
        ["cat", "1", "1", "0", "2"],
        ["dog", "0", "0", "0", "1"],
        ["ant", "0", "0", "0", "0"],
        ["background", "1", "0", "1", "0"],
    ]


def test_totals_are_printed_and_in_json(files: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    gt_path, pred_path, _, _ = files
    assert main(["eval", str(gt_path), str(pred_path), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert (figures["tp"], figures["fp"], figures["fn"]) == (1, 3, 3)
    assert (figures["iou"], figures["score"]) == (0.5, 0.5)
    assert main(["eval", str(gt_path), str(pred_path)]) == 0
    assert "at IoU 0.5, score 0.5: TP 1  FP 3  FN 3" in capsys.readouterr().out


def test_a_threshold_outside_zero_one_is_refused(files: tuple) -> None:
    gt_path, pred_path, _, _ = files
    with pytest.raises(SystemExit) as exc:
        main(["eval", str(gt_path), str(pred_path), "--iou", "1.5"])
    assert exc.value.code == 2


def test_building_the_eval_parser_loads_no_numpy_nor_pycocotools() -> None:
    probe = (
        "import sys, argparse\n"
        "from core.cli import eval_cmd\n"
        "eval_cmd.add_parser(argparse.ArgumentParser().add_subparsers())\n"
        "print([m for m in ('numpy', 'pycocotools', 'torch') if m in sys.modules])\n"
    )
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=repo, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
