"""The analyst's view with the current model run fresh on the evaluated images."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")
pytest.importorskip("torch")

from PySide6.QtCore import Qt  # noqa: E402

from core.store import ProjectStore  # noqa: E402
from gui.docks.evaluation_dock import PRED_MODEL  # noqa: E402
from tests._evaluation_helpers import make_evaluation_project  # noqa: E402
from tests._window_helpers import make_lite_checkpoint, shown_window, wait_until  # noqa: E402


def test_current_model_run_now_predicts_every_evaluated_image_and_stores_nothing(
    qtbot, tmp_path: Path
) -> None:
    from core.detection.detector import Detector
    from core.files.images import read_image
    from gui.workers.fresh_predictions import FRESH_SCORE_THRESHOLD

    path, ids, _cats = make_evaluation_project(tmp_path)
    with ProjectStore.open(path) as store:
        checkpoint = make_lite_checkpoint(tmp_path / "lite.pt", store.categories())
        store.set_active_model(str(checkpoint))
        stored_before = {i: len(store.annotations(i)) for i in ids}
        pixels = [read_image(store.image_path(i)) for i in ids]
    detector = Detector.load(str(checkpoint))
    expected = [
        len(found)
        for found in detector.predict(pixels, score_threshold=FRESH_SCORE_THRESHOLD, batch_size=1)
    ]
    assert sum(expected) > 0  # random weights score about 1/4 on every class
    window = shown_window(qtbot, tmp_path)
    assert window.open_project(path)
    window.actions["evaluate"].trigger()
    dock = window.evaluation_dock
    dock.predictions.set_choice(PRED_MODEL)
    qtbot.mouseClick(dock.evaluate_button, Qt.MouseButton.LeftButton)
    task = window.evaluation.task
    wait_until(qtbot, lambda: task.done, timeout_ms=120_000)
    assert window.evaluation.outcome is not None, dock.status.text()
    table = window.evaluation.outcome.tables["segm"]
    per_image = [int((table.pred_image == i).sum()) for i in ids]
    assert per_image == expected
    assert (table.pred_score >= FRESH_SCORE_THRESHOLD).all()
    with ProjectStore.open(path) as store:
        assert {i: len(store.annotations(i)) for i in ids} == stored_before


def test_compare_before_and_after_runs_both_models_on_the_validation_images(
    qtbot, tmp_path: Path
) -> None:
    """The fine-tune dialog's link: the model before as A, the new one as B, on val.json."""
    import json

    import torch

    from core.detection.checkpoint import load_checkpoint, save_checkpoint

    path, ids, _cats = make_evaluation_project(tmp_path)
    with ProjectStore.open(path) as store:
        before = make_lite_checkpoint(tmp_path / "before.pt", store.categories())
        state, meta = load_checkpoint(before)
        torch.manual_seed(1)
        after_state = {k: v + 0.01 * torch.randn_like(v) if v.is_floating_point() else v
                       for k, v in state.items()}  # fmt: skip
        after = save_checkpoint(tmp_path / "after.pt", after_state, meta)
        images = [store.get_image(i) for i in ids]
        val = {
            "images": [
                {"id": n, "file_name": r.file_name, "width": r.width, "height": r.height}
                for n, r in enumerate(images, start=1)
            ],
            "annotations": [
                {
                    "id": n,
                    "image_id": n,
                    "category_id": 1,
                    "bbox": [10, 10, 30, 30],
                    "area": 900,
                    "iscrowd": 0,
                    "segmentation": [[10, 10, 40, 10, 40, 40, 10, 40]],
                }
                for n in range(1, len(images) + 1)
            ],  # fmt: skip
            "categories": [{"id": c.id, "name": c.name} for c in store.categories()],
        }
    val_json = tmp_path / "val.json"
    val_json.write_text(json.dumps(val))
    window = shown_window(qtbot, tmp_path)
    assert window.open_project(path)
    task = window.evaluation.compare_models(str(before), str(after), str(val_json))
    assert task is not None
    dock = window.evaluation_dock
    assert dock.predictions.choice() == f"model:{before}"
    assert dock.compare_with.choice() == f"model:{after}"
    assert "before, run now" in dock.predictions.combo.currentText()
    wait_until(qtbot, lambda: task.done, timeout_ms=120_000)
    assert window.evaluation.outcome is not None, dock.status.text()
    assert dock.delta_table.rowCount() == len(val["categories"])
    assert dock.tabs.currentIndex() == dock.tabs.count() - 1  # the A vs B tab
