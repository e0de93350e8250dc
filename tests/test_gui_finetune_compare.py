"""The fine-tune dialog's link to the analyst's view: compare the model before and after."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from _finetune_helpers import RUN_TIMEOUT_MS, FakeHost, _dialog, squares_store  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402


@pytest.fixture
def store(tmp_path):
    yield from squares_store(tmp_path)


def test_compare_before_and_after_asks_for_the_evaluate_view(qtbot, store):
    dialog = _dialog(
        qtbot, FakeHost(store), "--steps", "4", "--interval", "0.01", "--eval-every", "2",
        "--omit-ap-before", evaluator=lambda *args, **kwargs: 0.1,
    )  # fmt: skip
    dialog.base_model_combo.setCurrentIndex(dialog.base_model_combo.findData("r50-fpn-v2"))
    assert not dialog.compare_button.isEnabled()
    with qtbot.waitSignal(dialog.runRecorded, timeout=RUN_TIMEOUT_MS):
        assert dialog.start()
    assert dialog.compare_button.isEnabled()
    with qtbot.waitSignal(dialog.compareRequested) as asked:
        qtbot.mouseClick(dialog.compare_button, Qt.MouseButton.LeftButton)
    base, checkpoint, val_json = asked.args
    assert base == "r50-fpn-v2"
    assert checkpoint == dialog.outcome.checkpoint and Path(val_json).name == "val.json"


def test_a_model_from_scratch_offers_no_before_and_after_comparison(qtbot, store):
    dialog = _dialog(
        qtbot, FakeHost(store), "--steps", "4", "--interval", "0.01", "--eval-every", "2",
        "--omit-ap-before",
    )  # fmt: skip
    with qtbot.waitSignal(dialog.runRecorded, timeout=RUN_TIMEOUT_MS):
        assert dialog.start()
    assert not dialog.compare_button.isEnabled()
