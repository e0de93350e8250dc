"""The window never shows a stale snapshot: review flags, categories and messages follow the
store, and a failed edit leaves no phantom undo step (issues: house #11, new-user #12)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from _window_helpers import make_project, shown_window, write_images  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from core.errors import ProjectError  # noqa: E402
from core.records import Annotation, ImageStatus, ReviewState, Source  # noqa: E402
from core.store import ProjectStore  # noqa: E402
from gui.commands import AddAnnotation  # noqa: E402
from gui.main_window import MainWindow  # noqa: E402


def _window(qtbot, tmp_path: Path) -> MainWindow:
    return shown_window(qtbot, tmp_path)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path, count=6)


def _box(window: MainWindow, category_id: int, box=(10.0, 10.0, 20.0, 15.0)) -> AddAnnotation:
    document = window.current_document
    assert document is not None
    ann = Annotation(
        id=None,
        image_id=document.image_id,
        category_id=category_id,
        bbox=box,
        segmentation=None,
        area=box[2] * box[3],
        source=Source.HUMAN,
        state=ReviewState.ACCEPTED,
    )
    return AddAnnotation(document, ann)


def _stored_reviewed(window: MainWindow, image_id: int) -> bool:
    assert window.store is not None
    return window.store.get_image(image_id).reviewed


def test_ctrl_m_on_a_revisited_image_follows_the_store(qtbot, tmp_path, project):
    window = _window(qtbot, tmp_path)
    window.open_project(project)
    first = window.current_image_id
    window.actions["next_image"].trigger()
    window.actions["prev_image"].trigger()  # back to a cached document
    window.actions["toggle_reviewed"].trigger()
    assert _stored_reviewed(window, first) is True
    window.actions["next_image"].trigger()
    window.actions["prev_image"].trigger()  # its document was loaded before the mark
    assert window.current_document.image.reviewed is True
    assert window.actions["toggle_reviewed"].isChecked() is True
    window.actions["toggle_reviewed"].trigger()  # Ctrl+M again: un-marks
    assert _stored_reviewed(window, first) is False
    assert window.actions["toggle_reviewed"].isChecked() is False


def test_ctrl_m_under_a_status_filter_then_d_goes_to_the_next_image(qtbot, tmp_path, project):
    window = _window(qtbot, tmp_path)
    window.open_project(project)
    window.image_list.set_status_filter(ImageStatus.UNLABELLED)
    window.actions["next_image"].trigger()
    window.actions["next_image"].trigger()
    assert window.current_document.image.file_name == "img_0002.png"
    window.actions["toggle_reviewed"].trigger()  # leaves the "unlabelled" list
    assert window.image_list.model.row_of(window.current_image_id) is None
    window.actions["next_image"].trigger()
    assert window.current_document.image.file_name == "img_0003.png"
    window.actions["prev_image"].trigger()
    assert window.current_document.image.file_name == "img_0001.png"


def test_renaming_and_recolouring_a_category_keep_every_undo_history(qtbot, tmp_path, project):
    window = _window(qtbot, tmp_path)
    window.open_project(project)
    categories = window.project.categories
    circle = categories.all()[0]
    window.current_document.undo_stack.push(_box(window, circle.id))
    first_stack = window.current_document.undo_stack
    window.actions["next_image"].trigger()
    window.current_document.undo_stack.push(_box(window, circle.id))
    categories.rename(circle.id, "disc")
    categories.set_color(circle.id, "#123456")
    assert window.current_document.undo_stack.count() == 1
    assert first_stack.count() == 1
    assert window.store.get_category(circle.id).name == "disc"
    assert window.labels_dock.category_name(circle.id) == "disc"
    window.actions["undo"].trigger()  # still undoes the box
    assert window.current_document.annotations() == []


def test_merging_categories_is_one_undoable_step(qtbot, tmp_path, project):
    window = _window(qtbot, tmp_path)
    window.open_project(project)
    circle, square, _ = window.project.categories.all()
    window.current_document.undo_stack.push(_box(window, circle.id))
    window.current_document.undo_stack.push(_box(window, square.id, (40.0, 40.0, 9.0, 9.0)))
    window.labels_dock.mergeRequested.emit(circle.id, square.id)
    assert {a.category_id for a in window.current_document.annotations()} == {square.id}
    assert circle.id not in {c.id for c in window.store.categories()}
    assert window.current_document.undo_stack.count() == 3
    window.actions["undo"].trigger()
    restored = window.store.get_category(circle.id)
    assert (restored.name, restored.color) == (circle.name, circle.color)
    assert sorted(a.category_id for a in window.current_document.annotations()) == sorted(
        [circle.id, square.id]
    )
    window.actions["redo"].trigger()
    assert {a.category_id for a in window.current_document.annotations()} == {square.id}


def test_a_new_folder_project_keeps_its_first_polygon(qtbot, tmp_path):
    folder = tmp_path / "photos"
    write_images(folder, 2, size=(200, 160))
    window = _window(qtbot, tmp_path)
    assert window.open_path(folder)
    qtbot.waitUntil(lambda: window.store is not None, timeout=30_000)
    assert window.store.categories() == []
    window.actions["tool_polygon"].trigger()
    canvas = window.canvas
    qtbot.waitUntil(lambda: not canvas.sceneRect().isEmpty())
    canvas.zoom.fit()
    viewport = canvas.viewport()
    for x, y in ((40, 40), (120, 40), (120, 110), (40, 110)):
        point = canvas.mapFromScene(x, y)
        QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    QTest.keyClick(viewport, Qt.Key.Key_Return)
    anns = window.current_document.annotations()
    assert len(anns) == 1
    (category,) = window.store.categories()
    assert category.name == "object" and anns[0].category_id == category.id
    assert window.labels_dock.category_name(category.id) == "object"
    assert "no categories" in window.work_status.message()
    assert window.current_document.undo_stack.count() == 1
    window.actions["undo"].trigger()
    assert window.current_document.annotations() == []


def test_a_store_error_during_an_edit_is_shown_and_leaves_no_undo_step(
    qtbot, tmp_path, project, monkeypatch
):
    shown: list[str] = []
    monkeypatch.setattr(
        QMessageBox, "warning", staticmethod(lambda _p, _title, text, *a, **k: shown.append(text))
    )
    window = _window(qtbot, tmp_path)
    window.open_project(project)
    category = window.project.categories.all()[0]

    def disk_full(_ann):
        raise ProjectError("Cannot write to test.maskloop: database or disk is full")

    monkeypatch.setattr(window.store, "add_annotation", disk_full)
    window.current_document.undo_stack.push(_box(window, category.id))
    assert shown and "disk is full" in shown[0]
    assert window.current_document.undo_stack.count() == 0
    assert not window.actions["undo"].isEnabled()
    assert window.current_document.annotations() == []


def test_per_image_messages_are_cleared_on_the_next_image(qtbot, tmp_path, project):
    window = _window(qtbot, tmp_path)
    window.open_project(project)
    window.actions["toggle_reviewed"].trigger()
    assert "marked reviewed" in window.work_status.message()
    window.actions["next_image"].trigger()
    assert window.work_status.message() == ""


def test_digits_skip_a_background_category_and_say_what_they_retag(qtbot, tmp_path):
    images = tmp_path / "images"
    names = write_images(images, 1)
    path = tmp_path / "labelme.maskloop"
    with ProjectStore.create(path, images) as store:
        store.add_category("_background_", category_id=0)
        store.add_category("cat", category_id=1)
        store.add_category("dog", category_id=2)
        store.add_image(names[0], 96, 80)
    window = _window(qtbot, tmp_path)
    window.open_project(path)
    assert window.labels_dock.category_id_at(1) == 1
    assert window.labels_dock.category_id_at(2) == 2
    window.actions["category_2"].trigger()
    assert window.canvas.current_category_id == 2
    assert "New shapes are “dog”" in window.work_status.message()


def test_unsure_first_is_remembered_by_the_project(qtbot, tmp_path, project):
    window = _window(qtbot, tmp_path)
    window.open_project(project)
    window.actions["unsure_first"].trigger()
    assert window.store.get_setting("image_order") == "unsure_first"
    window.close_project()
    window.actions["unsure_first"].setChecked(False)  # a fresh window would start unchecked
    window.open_project(project)
    assert window.actions["unsure_first"].isChecked()


def test_the_toolbar_shows_icons_for_the_tools(qtbot, tmp_path, project):
    window = _window(qtbot, tmp_path)
    window.open_project(project)
    for name in ("tool_select", "tool_box", "tool_polygon", "tool_brush", "tool_eraser"):
        assert not window.actions[name].icon().isNull(), name
    assert window.menus.toolbar.isVisible()


def test_an_image_not_yet_decoded_shows_the_decoding_notice_until_its_pixels(
    qtbot, tmp_path, project
):
    window = _window(qtbot, tmp_path)
    window.open_project(project)
    qtbot.waitUntil(lambda: not window.canvas.is_decoding(), timeout=30_000)
    last = window.image_list.model.image_id_at(5)  # beyond what the first image prefetches
    decoding: list[int] = []
    window.image_loader.decodingStarted.connect(decoding.append)
    window.go_to_image(last)  # the notice goes up at once; the pixels come through the loop
    assert decoding == [last]
    assert window.canvas.is_decoding()
    qtbot.waitUntil(lambda: not window.canvas.is_decoding(), timeout=30_000)
    assert window.canvas.image_size == (96, 80)


def test_brush_size_keys_say_the_size_in_the_status_bar(qtbot, tmp_path, project):
    window = _window(qtbot, tmp_path)
    window.open_project(project)
    window.actions["tool_brush"].trigger()
    before = window.canvas.brush_size
    window.actions["brush_larger"].trigger()
    assert window.canvas.brush_size > before
    assert window.work_status.message().startswith(f"Brush {window.canvas.brush_size} px")
