"""faster-coco-eval as COCOeval's backend gives pycocotools' figures, and says how to get it
when it is missing."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from test_eval_matching import _random_case, constructed  # noqa: F401 - a fixture

from core.errors import MaskLoopError
from core.evaluation.matching import EvaluationData, MatchSettings
from core.evaluation.metrics import evaluate_with_evaluator


def _faster_installed() -> bool:
    try:
        import faster_coco_eval  # noqa: F401
    except ImportError:
        return False
    return True


needs_faster = pytest.mark.skipif(not _faster_installed(), reason="faster-coco-eval not installed")


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-12)


def _assert_same_figures(gt: dict, preds: list, iou_type: str) -> None:
    slow, slow_eval = evaluate_with_evaluator(gt, preds, iou_type=iou_type)
    fast, fast_eval = evaluate_with_evaluator(gt, preds, iou_type=iou_type, backend="faster")
    assert fast.stats == pytest.approx(slow.stats, abs=1e-12)
    for name in ("ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large"):
        assert _same(getattr(fast, name), getattr(slow, name)), name
    assert fast.per_class.keys() == slow.per_class.keys()
    assert all(_same(fast.per_class[k], slow.per_class[k]) for k in slow.per_class)
    np.testing.assert_allclose(fast_eval.eval["precision"], slow_eval.eval["precision"], atol=1e-12)
    assert "Average Precision" in fast.summary


@needs_faster
def test_constructed_cases_give_the_same_ap_with_both_backends(
    constructed: tuple[dict, list],  # noqa: F811
) -> None:
    gt, preds = constructed
    for iou_type in ("segm", "bbox"):
        _assert_same_figures(gt, preds, iou_type)


@needs_faster
@pytest.mark.parametrize("iou_type", ["segm", "bbox"])
@pytest.mark.parametrize("seed", range(3))
def test_random_cases_give_the_same_ap_with_both_backends(seed: int, iou_type: str) -> None:
    _assert_same_figures(*_random_case(seed, iou_type), iou_type)


@needs_faster
def test_per_class_metrics_and_curves_agree_across_backends(
    constructed: tuple[dict, list],  # noqa: F811
) -> None:
    gt, preds = constructed
    settings = MatchSettings(0.75, 0.3)
    slow = EvaluationData.from_coco(gt, preds).metrics(settings)[1]
    fast = EvaluationData.from_coco(gt, preds, backend="faster").metrics(settings)[1]
    for a, b in zip(slow, fast, strict=True):
        assert (a.category_id, a.counts, a.instances) == (b.category_id, b.counts, b.instances)
        assert _same(a.ap, b.ap) and _same(a.ap50, b.ap50)
        np.testing.assert_allclose(a.precision, b.precision, atol=1e-12)


@needs_faster
def test_cli_backend_faster_prints_the_default_s_figures(
    constructed: tuple[dict, list],  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from main import main

    gt, preds = constructed
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "pred.json").write_text(json.dumps(preds))
    figures = []
    for extra in ([], ["--backend", "faster"]):
        argv = ["eval", str(tmp_path / "gt.json"), str(tmp_path / "pred.json"), "--json", *extra]
        assert main(argv) == 0
        figures.append(json.loads(capsys.readouterr().out))
    assert figures[1].keys() == figures[0].keys()
    for key, value in figures[0].items():
        if isinstance(value, float):
            assert figures[1][key] == pytest.approx(value, abs=1e-12), key
        else:
            assert figures[1][key] == value, key


def test_the_faster_backend_says_how_to_install_it_when_missing(
    constructed: tuple[dict, list],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "faster_coco_eval", None)  # import fails as if absent
    gt, preds = constructed
    with pytest.raises(MaskLoopError, match=r"pip install \"maskloop\[fast\]\""):
        EvaluationData.from_coco(gt, preds, backend="faster")
    with pytest.raises(MaskLoopError, match="pycocotools"):
        evaluate_with_evaluator(gt, preds, backend="faster")
