"""Papercuts in the docks: instance columns wide enough for their text, the image list's status
filter showing exactly its status (also after a status changes), and uncertainty per image."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QColor  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from core.records import Annotation, ImageStatus, ReviewState, Source  # noqa: E402
from core.store import ProjectStore  # noqa: E402
from gui.docks.image_list import STATUS_ROLE, ImageListDock  # noqa: E402
from gui.docks.instances import COLUMNS, InstancesDock  # noqa: E402
from tests._dock_helpers import StoreDocument  # noqa: E402


def _proposal(image_id: int, category_id: int, score: float, ann_id: int | None = None):
    return Annotation(
        image_id,
        category_id,
        (1, 1, 5, 5),
        source=Source.MODEL,
        score=score,
        state=ReviewState.PROPOSED,
        id=ann_id,
    )


@pytest.fixture
def store(tmp_path: Path):
    store = ProjectStore.create(tmp_path / "p.maskloop", tmp_path)
    store.add_category("traffic light", category_id=1)
    for n in range(6):
        store.add_image(f"img_{n}.png", 32, 32)
    yield store
    store.close()


# ---- instances table ----------------------------------------------------------------------
def test_instance_columns_fit_a_five_digit_id_and_their_texts(qtbot, store):
    # Many short ids first: a table sized from its visible rows only misses the long one.
    for ann_id in range(1, 41):
        store.add_annotation(Annotation(1, 1, (2, 2, 4, 4), state=ReviewState.ACCEPTED, id=ann_id))
    store.add_annotation(_proposal(1, 1, 0.875, ann_id=12345))
    dock = InstancesDock()
    qtbot.addWidget(dock)
    dock.resize(260, 300)  # a narrow dock, as docked beside the canvas
    dock.show()
    qtbot.waitExposed(dock)
    dock.set_document(StoreDocument(store, 1))
    QApplication.processEvents()  # let the scroll bar appear and the header lay out
    table = dock.table
    metrics = table.fontMetrics()
    header = table.horizontalHeader()
    assert table.item(table.rowCount() - 1, 0).text() == "12345"
    for column in range(len(COLUMNS)):
        width = table.columnWidth(column)
        texts = [table.item(r, column).text() for r in range(table.rowCount())]
        texts.append(COLUMNS[column])
        for text in texts:
            assert metrics.horizontalAdvance(text) <= width, (column, text, width)
        assert width >= header.minimumSectionSize()
    table.scrollToBottom()
    rect = table.visualRect(table.model().index(table.rowCount() - 1, 0))
    assert metrics.horizontalAdvance("12345") <= rect.width()


def test_accepting_an_images_proposals_rewrites_their_rows_without_reloading(
    qtbot, store, monkeypatch
):
    """A crowd image's accept-all emits one change per proposal; a whole reload for each was
    quadratic (2,000 proposals: 2,000 reloads of 2,000 rows). Each row is rewritten in place,
    the selection kept, and the table ends as a fresh reload would show it."""
    from gui.commands import accept_all_above
    from gui.document import ImageDocument

    for n in range(300):
        store.add_annotation(_proposal(1, 1, 0.3 + n / 1000))
    document = ImageDocument(store, 1)
    dock = InstancesDock()
    qtbot.addWidget(dock)
    reloads: list[int] = []
    reload = dock.reload
    monkeypatch.setattr(dock, "reload", lambda *args: (reloads.append(1), reload(*args)))
    dock.set_document(document)
    dock.set_score_threshold(0.5)
    dock.show_selection([document.annotations()[250].id])
    command = accept_all_above(document, 0.5)
    assert command is not None
    document.undo_stack.push(command)
    assert reloads == [1]  # set_document's only

    def rows() -> list[tuple[str, ...]]:
        table = dock.table
        return [
            (*(table.item(r, c).text() for c in range(len(COLUMNS))), table.isRowHidden(r))
            for r in range(table.rowCount())
        ]

    states = [row[4] for row in rows()]
    assert states.count("accepted") == 100 and states.count("proposed") == 200
    assert dock.selected_ids() == [document.annotations()[250].id]
    shown = rows()
    reload()
    assert rows() == shown
    document.undo_stack.undo()  # back to proposals: rows rewritten again, still no reload
    assert reloads == [1] and [row[4] for row in rows()] == ["proposed"] * 300


# ---- image list status filter -------------------------------------------------------------
def _listed(dock: ImageListDock) -> list[tuple[int, ImageStatus]]:
    model = dock.model
    return [
        (model.image_id_at(r), model.data(model.index(r), STATUS_ROLE))
        for r in range(model.rowCount())
    ]


def _states_store(store: ProjectStore) -> None:
    """Images 1, 4: unlabelled; 2, 5: proposed; 3, 6: reviewed (6 with proposals left)."""
    for image_id in (2, 5, 6):
        store.replace_proposals(image_id, [_proposal(image_id, 1, 0.6)], "model-a")
    store.set_reviewed(3)
    store.set_reviewed(6)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (ImageStatus.UNLABELLED, [1, 4]),
        (ImageStatus.PROPOSED, [2, 5]),
        (ImageStatus.REVIEWED, [3, 6]),
    ],
)
def test_each_status_filter_lists_exactly_that_status(qtbot, store, status, expected):
    _states_store(store)
    dock = ImageListDock()
    qtbot.addWidget(dock)
    dock.set_store(store)
    dock.status_filter.setCurrentIndex(dock.status_filter.findText(status.value.capitalize()))
    assert _listed(dock) == [(i, status) for i in expected]


def test_image_whose_status_changes_leaves_and_joins_the_filtered_list(qtbot, store):
    _states_store(store)
    dock = ImageListDock()
    qtbot.addWidget(dock)
    dock.show()
    dock.set_store(store)
    dock.status_filter.setCurrentIndex(dock.status_filter.findText("Unlabelled"))
    dock.select_image(1)
    activated: list[int] = []
    dock.imageActivated.connect(activated.append)

    store.set_reviewed(1)  # reviewed and proposed images must not stay under "Unlabelled"
    store.replace_proposals(4, [_proposal(4, 1, 0.7)], "model-a")
    dock.refresh_images([1, 4])
    assert _listed(dock) == []
    assert activated == []  # dropping the current row does not open another image

    store.set_reviewed(3, False)  # 3 has no proposals: it is unlabelled again
    dock.refresh_images([3])
    assert _listed(dock) == [(3, ImageStatus.UNLABELLED)]
    assert dock.count_label.text() == "1 images"


def test_next_image_after_the_current_one_left_the_filter(qtbot, store):
    dock = ImageListDock()
    qtbot.addWidget(dock)
    dock.set_store(store)
    dock.status_filter.setCurrentIndex(dock.status_filter.findText("Unlabelled"))
    assert [i for i, _ in _listed(dock)] == [1, 2, 3, 4, 5, 6]
    dock.select_image(3)
    store.set_reviewed(3)  # "accept, mark reviewed, next" on image 3
    dock.refresh_images([3])
    assert dock.neighbour(3, 1) == 4
    assert dock.neighbour(3, -1) == 2


# ---- uncertainty beside each image ---------------------------------------------------------
def _bar_pixels(dock: ImageListDock, row: int) -> int:
    """How many pixels of the row's right end have the uncertainty bar's colour."""
    from gui.docks.image_list import UNCERTAINTY_BAR_COLOR

    rect = dock.view.visualRect(dock.model.index(row))
    image = dock.view.viewport().grab().toImage()
    bar = QColor(UNCERTAINTY_BAR_COLOR)
    count = 0
    for x in range(rect.right() - 60, rect.right()):
        for y in range(rect.top(), rect.bottom()):
            if image.pixelColor(x, y) == bar:
                count += 1
    return count


def test_uncertainty_shows_as_a_bar_and_in_the_tooltip(qtbot, store):
    dock = ImageListDock()
    qtbot.addWidget(dock)
    dock.resize(300, 400)
    dock.show()
    qtbot.waitExposed(dock)
    dock.set_store(store)
    tooltip = Qt.ItemDataRole.ToolTipRole
    assert "uncertainty" not in dock.model.data(dock.model.index(0), tooltip)
    assert _bar_pixels(dock, 0) == 0

    dock.set_uncertainty({1: 0.43, 2: 0.9})
    assert "uncertainty 0.43 (mean score margin of pending proposals)" in dock.model.data(
        dock.model.index(0), tooltip
    )
    assert "uncertainty 0.90" in dock.model.data(dock.model.index(1), tooltip)
    assert "uncertainty" not in dock.model.data(dock.model.index(2), tooltip)  # no score known
    low, high = _bar_pixels(dock, 0), _bar_pixels(dock, 1)
    assert 0 < low < high  # the bar grows with the score
    assert _bar_pixels(dock, 2) == 0

    dock.set_uncertainty(None)
    assert "uncertainty" not in dock.model.data(dock.model.index(0), tooltip)
    assert _bar_pixels(dock, 0) == 0
