"""The image list dock: statuses with markers, status filter, name search, 100k images."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from core.records import Annotation, ImageStatus, ReviewState, Source  # noqa: E402
from core.store import ProjectStore  # noqa: E402
from gui.docks.image_list import (  # noqa: E402
    SEARCH_DELAY_MS,
    STATUS_ROLE,
    ImageListDock,
)


@pytest.fixture
def store(tmp_path: Path):
    store = ProjectStore.create(tmp_path / "p.maskloop", tmp_path)
    category = store.add_category("cat")
    for n in range(6):
        store.add_image(f"{'dog' if n % 2 else 'cat'}_{n}.png", 32, 32)
    # image 2: proposals; image 3: reviewed
    store.replace_proposals(
        2,
        [
            Annotation(
                2,
                category.id,
                (1, 1, 5, 5),
                source=Source.MODEL,
                score=0.9,
                state=ReviewState.PROPOSED,
            )
        ],
        "model-a",
    )
    store.set_reviewed(3)
    yield store
    store.close()


def _rows(dock: ImageListDock) -> list[tuple[str, ImageStatus]]:
    model = dock.model
    return [
        (
            model.data(model.index(r), Qt.ItemDataRole.DisplayRole),
            model.data(model.index(r), STATUS_ROLE),
        )
        for r in range(model.rowCount())
    ]


def test_list_shows_each_image_with_its_status(qtbot, store):
    dock = ImageListDock()
    qtbot.addWidget(dock)
    dock.set_store(store)
    rows = _rows(dock)
    assert rows[0] == ("cat_0.png", ImageStatus.UNLABELLED)
    assert rows[1] == ("dog_1.png", ImageStatus.PROPOSED)
    assert rows[2] == ("cat_2.png", ImageStatus.REVIEWED)
    icon = dock.model.data(dock.model.index(1), Qt.ItemDataRole.DecorationRole)
    color = icon.pixmap(12, 12).toImage().pixelColor(6, 6)
    assert color.name() == "#f0a30a"  # amber marker for "proposed"


def test_status_filter_and_search_narrow_the_list(qtbot, store):
    dock = ImageListDock()
    qtbot.addWidget(dock)
    dock.set_store(store)
    dock.set_status_filter(ImageStatus.UNLABELLED)
    assert [name for name, _ in _rows(dock)] == ["cat_0.png", "dog_3.png", "cat_4.png", "dog_5.png"]
    dock.search.setText("dog")
    qtbot.waitUntil(lambda: dock.model.rowCount() == 2)
    assert [name for name, _ in _rows(dock)] == ["dog_3.png", "dog_5.png"]
    dock.set_status_filter(None)
    assert dock.count_label.text() == "3 images"


def test_search_runs_once_typing_pauses_and_at_once_on_enter(qtbot, store):
    dock = ImageListDock()
    qtbot.addWidget(dock)
    dock.set_store(store)
    resets: list[int] = []
    dock.model.modelReset.connect(lambda: resets.append(dock.model.rowCount()))
    qtbot.keyClicks(dock.search, "dog")
    assert resets == []  # not one search per keystroke
    qtbot.waitUntil(lambda: resets == [3])
    assert [name for name, _ in _rows(dock)] == ["dog_1.png", "dog_3.png", "dog_5.png"]
    qtbot.keyClicks(dock.search, "_3")
    qtbot.keyClick(dock.search, Qt.Key.Key_Return)
    assert resets == [3, 1] and _rows(dock) == [("dog_3.png", ImageStatus.UNLABELLED)]
    qtbot.wait(2 * SEARCH_DELAY_MS)
    assert resets == [3, 1]  # Enter consumed the pending search


def test_rows_past_the_first_page_of_a_filtered_sorted_list_show_their_own_names(qtbot, tmp_path):
    from gui.docks.image_list import PAGE_SIZE

    store = ProjectStore.create(tmp_path / "many.maskloop", tmp_path)
    with store, store.transaction() as tx:
        tx.executemany(
            "INSERT INTO images(id, file_name, width, height, reviewed) VALUES (?, ?, 8, 8, ?)",
            ((n, f"im_{n:04d}.png", int(n % 3 == 0)) for n in range(1, 3 * PAGE_SIZE + 1)),
        )
        dock = ImageListDock()
        qtbot.addWidget(dock)
        dock.set_store(store)
        model = dock.model

        def name(row: int) -> str:
            return model.data(model.index(row), Qt.ItemDataRole.DisplayRole)

        dock.set_status_filter(ImageStatus.REVIEWED)
        assert model.rowCount() == PAGE_SIZE
        assert name(PAGE_SIZE - 1) == f"im_{3 * PAGE_SIZE:04d}.png"
        dock.set_status_filter(ImageStatus.UNLABELLED)
        assert model.rowCount() == 2 * PAGE_SIZE
        row = PAGE_SIZE + 7  # on the second page
        image_id = model.image_id_at(row)
        assert image_id % 3 != 0 and name(row) == f"im_{image_id:04d}.png"
        dock.set_sort_key(lambda i: -i)
        assert name(0) == f"im_{3 * PAGE_SIZE - 1:04d}.png"
        assert name(2 * PAGE_SIZE - 1) == "im_0001.png"
        assert model.data(model.index(2 * PAGE_SIZE - 1), STATUS_ROLE) == ImageStatus.UNLABELLED


def test_status_refreshes_after_review(qtbot, store):
    dock = ImageListDock()
    qtbot.addWidget(dock)
    dock.set_store(store)
    assert dock.model.status_of(1) == ImageStatus.UNLABELLED
    store.set_reviewed(1)
    with qtbot.waitSignal(dock.model.dataChanged):
        dock.refresh_images([1])
    assert dock.model.status_of(1) == ImageStatus.REVIEWED


def test_sort_key_hook_reorders_and_navigation_follows_it(qtbot, store):
    dock = ImageListDock()
    qtbot.addWidget(dock)
    dock.set_store(store)
    dock.set_sort_key(lambda image_id: -image_id)
    assert dock.model.image_ids() == [6, 5, 4, 3, 2, 1]
    assert [name for name, _ in _rows(dock)][:2] == ["dog_5.png", "cat_4.png"]
    assert dock.neighbour(5, 1) == 4 and dock.following(6, 2) == [5, 4]
    dock.set_sort_key(None)
    assert dock.model.image_ids() == [1, 2, 3, 4, 5, 6]


def test_hundred_thousand_images_open_in_the_window_and_scroll(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from gui.main_window import MainWindow
    from gui.settings import AppSettings

    count = 100_000
    big = ProjectStore.create(tmp_path / "big.maskloop", tmp_path)
    with big, big.transaction() as tx:  # bulk insert, as the importers do
        tx.executemany(
            "INSERT INTO images(file_name, width, height) VALUES (?, 640, 480)",
            ((f"frame_{n:06d}.jpg",) for n in range(count)),
        )
    settings = AppSettings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    window = MainWindow(settings)
    qtbot.addWidget(window)
    window.show()
    assert window.open_project(tmp_path / "big.maskloop")
    dock = window.image_list
    assert dock.model.rowCount() == count
    assert dock.count_label.text() == "100,000 images"
    qtbot.wait(10)
    assert len(dock.model._pages) <= 2  # only the rows painted so far were read
    dock.view.scrollToBottom()
    qtbot.wait(10)
    last = dock.model.index(count - 1)
    assert dock.model.data(last, Qt.ItemDataRole.DisplayRole) == "frame_099999.jpg"
    dock.view.setCurrentIndex(dock.model.index(count // 2))  # a click half way down
    assert window.current_image_id == count // 2 + 1
    assert window.windowTitle().endswith(f"frame_{count // 2:06d}.jpg")
    window.actions["next_image"].trigger()
    assert dock.current_image_id() == count // 2 + 2
    assert len(dock.model._pages) <= 4  # pages read: top, bottom, middle (+ its neighbour)
