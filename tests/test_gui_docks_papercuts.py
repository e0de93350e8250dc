"""Papercuts in the docks: instance columns wide enough for their text, the image list's status
filter showing exactly its status (also after a status changes), and uncertainty per image."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtWidgets import QApplication  # noqa: E402

from core.records import Annotation, ReviewState, Source  # noqa: E402
from core.store import ProjectStore  # noqa: E402
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
