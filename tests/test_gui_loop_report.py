"""The Loop report from a scripted annotation run in the real window, with a hand-driven clock."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from _gui_helpers import drag  # noqa: E402
from _window_helpers import make_project, shown_window, wait_until  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402

from core.evaluation.loop_report import loop_report  # noqa: E402
from core.records import Annotation, ReviewState, Source  # noqa: E402
from core.store import ProjectStore  # noqa: E402
from core.store.effort import Outcome  # noqa: E402
from gui.dialogs.loop_report_dialog import COLUMNS  # noqa: E402
from gui.main_window import MainWindow  # noqa: E402

MODEL_KEY = "/models/round-1.pt#0123456789ab"
BOXES = [(5.0, 5.0, 15.0, 15.0), (30.0, 5.0, 15.0, 15.0), (55.0, 5.0, 15.0, 15.0)]
BOXES.append((5.0, 45.0, 15.0, 15.0))


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Three images; the first holds four box proposals of MODEL_KEY (no model is loaded)."""
    path = make_project(tmp_path, count=3)
    with ProjectStore.open(path) as store:
        image_id = store.image_ids()[0]
        proposals = [
            Annotation(image_id, 1, box, source=Source.MODEL, state=ReviewState.PROPOSED, score=0.9)
            for box in BOXES
        ]
        store.replace_proposals(image_id, proposals, MODEL_KEY)
    return path


def _open(qtbot, tmp_path: Path, project: Path) -> tuple[MainWindow, FakeClock]:
    window = shown_window(qtbot, tmp_path, proposal_score_threshold=0.01)
    clock = FakeClock()
    window.effort.set_clock(clock)
    assert window.open_project(project)
    wait_until(qtbot, lambda: window.canvas.image_size == (96, 80))
    with qtbot.waitActive(window):  # shortcuts reach only the active window
        window.activateWindow()
    window.canvas.setFocus()
    return window, clock


def _key(qtbot, window: MainWindow, key: Qt.Key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(window.canvas, key, modifier)


def _select(window: MainWindow, ann_id: int) -> None:
    window.canvas.select_annotation(ann_id)


def test_report_equals_a_hand_count_of_a_scripted_run(qtbot, tmp_path, project):
    window, clock = _open(qtbot, tmp_path, project)
    image_id = window.current_image_id
    first, second, moved, rejected = (a.id for a in window.current_document.annotations())

    clock.advance(3.0)
    _select(window, first)
    _key(qtbot, window, Qt.Key.Key_Return)  # accept: 3 s
    clock.advance(2.0)
    _select(window, second)
    _key(qtbot, window, Qt.Key.Key_Return)  # accept: 2 s
    clock.advance(4.0)
    _select(window, moved)
    drag(window.canvas, (62.0, 12.0), (66.0, 16.0))  # move the box: 4 s
    clock.advance(1.0)
    _key(qtbot, window, Qt.Key.Key_Return)  # and accept it: 1 s
    clock.advance(120.0)  # away from the desk: not counted
    _select(window, rejected)
    _key(qtbot, window, Qt.Key.Key_Delete)  # reject
    clock.advance(5.0)
    _key(qtbot, window, Qt.Key.Key_B)  # box tool: 5 s
    clock.advance(3.0)
    drag(window.canvas, (40.0, 45.0), (70.0, 70.0))  # draw a box: 3 s
    clock.advance(2.0)
    _key(qtbot, window, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)  # reviewed: 2 s

    store = window.store
    assert store.get_image(image_id).reviewed
    states = {a.id: a.state for a in store.annotations(image_id, include_rejected=True)}
    assert states[moved] == ReviewState.ACCEPTED and states[rejected] == ReviewState.REJECTED
    # moved about 4 px right and down (the view's zoom rounds the drag to its pixels)
    assert store.get_annotation(moved).bbox == pytest.approx((59.0, 9.0, 15.0, 15.0), abs=0.5)
    (entry,) = loop_report(store)
    assert entry.model == MODEL_KEY and entry.name == "round-1.pt"
    assert (entry.images_reviewed, entry.active_s) == (1, 3.0 + 2.0 + 4.0 + 1.0 + 5.0 + 3.0 + 2.0)
    assert entry.outcomes == {
        Outcome.ACCEPTED: 2,
        Outcome.EDITED: 1,
        Outcome.REJECTED: 1,
        Outcome.DRAWN: 1,
        Outcome.BOX_TO_MASK: 0,
    }
    assert entry.seconds_per_image == 20.0 and entry.seconds_per_instance == 4.0
    assert entry.accepted_share == 2 / 5

    window.actions["loop_report"].trigger()
    dialog = window.effort.dialog
    assert dialog is not None and dialog.isVisible()
    wait_until(qtbot, lambda: len(dialog.entries) == 1)
    row = {COLUMNS[c]: dialog.table.item(0, c).text() for c in range(dialog.table.columnCount())}
    assert dialog.table.rowCount() == 1
    assert row == {
        "Model": "round-1.pt",
        "Images": "1",
        "Active time": "20 s",
        "s / image": "20.0",
        "s / instance": "4.0",
        "No edit": "40 %",
        "Accepted": "2",
        "Edited": "1",
        "Rejected": "1",
        "Drawn": "1",
        "Box-to-mask": "0",
    }


def test_undoing_an_accept_moves_the_instance_back(qtbot, tmp_path, project):
    window, clock = _open(qtbot, tmp_path, project)
    first = window.current_document.annotations()[0].id
    clock.advance(3.0)
    _select(window, first)
    _key(qtbot, window, Qt.Key.Key_Return)
    window.current_document.set_reviewed(True)
    (entry,) = loop_report(window.store)
    assert entry.outcomes[Outcome.ACCEPTED] == 1
    _key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.store.get_annotation(first).state == ReviewState.PROPOSED
    (entry,) = loop_report(window.store)
    assert entry.instances == 0


def test_time_goes_to_the_image_left_and_idle_time_is_not_counted(qtbot, tmp_path, project):
    window, clock = _open(qtbot, tmp_path, project)
    first_image = window.current_image_id
    clock.advance(7.0)
    _key(qtbot, window, Qt.Key.Key_D)  # next image: 7 s on the first
    second_image = window.current_image_id
    assert second_image != first_image
    clock.advance(90.0)  # idle on the second image
    _key(qtbot, window, Qt.Key.Key_D)
    clock.advance(4.0)
    window.close_project()  # closing counts the open image's last gap
    with ProjectStore.open(project) as store:
        seconds = {(r.image_id, r.model): r.active_s for r in store.effort_time()}
    third_image = next(i for i in (1, 2, 3) if i not in (first_image, second_image))
    # the second image was visited, all of it idle
    expected = {(first_image, MODEL_KEY): 7.0, (second_image, ""): 0.0, (third_image, ""): 4.0}
    assert seconds == expected


def test_keys_and_clicks_count_as_activity_even_without_an_edit(qtbot, tmp_path, project):
    window, clock = _open(qtbot, tmp_path, project)
    clock.advance(40.0)
    _key(qtbot, window, Qt.Key.Key_B)  # a tool change: no edit, but the annotator is there
    clock.advance(40.0)
    drag(window.canvas, (40.0, 45.0), (70.0, 70.0))  # a box: 40 s after the key
    clock.advance(40.0)
    _key(qtbot, window, Qt.Key.Key_V)  # the select tool: again no edit
    clock.advance(40.0)
    window.current_document.set_reviewed(True)  # marking reviewed writes the time so far
    (entry,) = loop_report(window.store)
    assert entry.active_s == 160.0  # four gaps of 40 s; without the keys two would be 80 s
