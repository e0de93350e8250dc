"""Broken image files in the app: a message naming the file, and the rest keeps working."""

from __future__ import annotations

from pathlib import Path

from _window_helpers import make_project, shown_window, wait_until
from test_hostile_images import _png_claiming

from core.store import ProjectStore


def test_a_broken_image_is_named_in_the_status_bar_and_the_next_one_opens(
    qtbot, tmp_path: Path
) -> None:
    project = make_project(tmp_path, count=3)
    with ProjectStore.open(project) as store:
        images = store.list_images()
        broken = store.image_path(images[1].id)
        bomb = store.image_path(images[2].id)
    broken.write_bytes(broken.read_bytes()[:40])  # truncated
    bomb.write_bytes(_png_claiming(100_000, 100_000))
    window = shown_window(qtbot, tmp_path)
    assert window.project.open_project(project)
    status = window.work_status

    window.navigation.go_to_image(images[1].id)
    wait_until(qtbot, lambda: broken.name in status.message())
    assert "corrupt" in status.message() or "cannot" in status.message()

    window.navigation.go_to_image(images[2].id)
    wait_until(qtbot, lambda: "refused before decoding" in status.message())
    assert "100,000 x 100,000" in status.message()

    window.navigation.go_to_image(images[0].id)  # a good image still opens
    wait_until(qtbot, lambda: not window.canvas.scene().itemsBoundingRect().isEmpty())
    assert images[0].file_name not in status.message()


def test_opening_a_folder_names_the_files_its_project_left_out(qtbot, tmp_path: Path) -> None:
    import os

    from conftest import write_png

    folder = tmp_path / "photos"
    write_png(folder / "good.png", 8, 6)
    (folder / "empty.png").write_bytes(b"")
    write_png(folder / os.fsdecode(b"caf\xe9.png"), 8, 6)  # not valid UTF-8
    window = shown_window(qtbot, tmp_path)
    assert window.project.open_path(folder)
    wait_until(qtbot, lambda: window.store is not None)
    wait_until(qtbot, lambda: "Left out 2 files" in window.work_status.message())
    message = window.work_status.message()
    assert "empty.png" in message and "not valid UTF-8" in message
    assert [im.file_name for im in window.store.list_images()] == ["good.png"]
