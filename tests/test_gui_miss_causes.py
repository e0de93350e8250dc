"""Why did it miss? in the Evaluation dock: the model's stages name each FN's cause in the
background, counted per class, and a chosen cause narrows the F8 walk to its misses."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")
pytest.importorskip("torch")

from PySide6.QtCore import Qt  # noqa: E402

from core.evaluation.miss_causes import CAUSES  # noqa: E402
from core.store import ProjectStore  # noqa: E402
from tests._evaluation_helpers import make_evaluation_project  # noqa: E402
from tests._window_helpers import make_lite_checkpoint, shown_window, wait_until  # noqa: E402


def test_explained_misses_are_counted_per_class_and_filter_the_error_walk(
    qtbot, tmp_path: Path
) -> None:
    path, _ids, _cats = make_evaluation_project(tmp_path)
    with ProjectStore.open(path) as store:
        checkpoint = make_lite_checkpoint(tmp_path / "lite.pt", store.categories())
        store.set_active_model(str(checkpoint))
    window = shown_window(qtbot, tmp_path)
    assert window.open_project(path)
    window.actions["evaluate"].trigger()
    dock = window.evaluation_dock
    qtbot.mouseClick(dock.evaluate_button, Qt.MouseButton.LeftButton)
    wait_until(qtbot, lambda: window.evaluation.task.done, timeout_ms=120_000)
    evaluation = window.evaluation
    errors = evaluation.result.errors()
    fns = [e for e in errors if e.kind == "fn"]
    assert len(fns) == 2 and len(errors) > len(fns)  # the helper's FNs, and FPs besides

    wait_until(qtbot, lambda: window.proposals.model_ready)
    panel = window.miss_cause_panel
    qtbot.mouseClick(panel.explain, Qt.MouseButton.LeftButton)
    task = window.miss_causes.task
    wait_until(qtbot, lambda: task.done, timeout_ms=120_000)
    table = window.miss_causes.table
    assert table is not None, panel.status.text()
    causes = {e.annotation_id: table.cause_of(e.annotation_id) for e in fns}
    assert set(causes.values()) <= set(CAUSES)  # a model ran: every cause is a real one
    assert sum(sum(row.values()) for row in table.counts.values()) == 2
    assert panel.table.rowCount() == len(table.counts)
    shown = sum(
        int(panel.table.item(r, c).text())
        for r in range(panel.table.rowCount())
        for c in range(1, panel.table.columnCount())
    )
    assert shown == 2

    cause = next(iter(causes.values()))
    panel.walk.setCurrentIndex(panel.walk.findData(cause))
    visited = [evaluation.next_error() for _ in range(4)]
    assert {ref.annotation_id for ref in visited} == {a for a, c in causes.items() if c == cause}
    assert all(ref.kind == "fn" for ref in visited)
    absent = next(c for c in CAUSES if c not in causes.values())
    panel.walk.setCurrentIndex(panel.walk.findData(absent))
    assert evaluation.next_error() is None
    panel.walk.setCurrentIndex(0)  # every error again
    assert {evaluation.next_error().kind for _ in range(len(errors))} == {"fn", "fp"}
