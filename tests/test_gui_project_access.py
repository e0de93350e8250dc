"""Two windows on one project, and a read-only project, in the app."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _window_helpers import make_project, shown_window, wait_until
from PySide6.QtWidgets import QMessageBox

from core.records import Annotation
from core.store.project_lock import lock_path
from gui.commands import AddAnnotation


@pytest.fixture
def warnings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _p, _t, text, *a, **k: shown.append(text))
    return shown


def _draw_box(window) -> bool:
    """Push one 'drawn box' edit through the current image's undo stack; True if it stuck."""
    document = window.navigation.current_document
    category = window.store.categories()[0].id
    command = AddAnnotation(document, Annotation(document.image_id, category, (2, 2, 8, 8)))
    document.undo_stack.push(command)
    return document.undo_stack.count() > 0 and not command.isObsolete()


def test_a_second_window_on_an_open_project_is_offered_read_only_and_cannot_edit(
    qtbot, tmp_path: Path, warnings: list[str]
) -> None:
    project = make_project(tmp_path, count=2)
    first = shown_window(qtbot, tmp_path / "a")
    assert first.project.open_project(project)
    assert first.project.read_only_banner.text() == ""
    assert lock_path(project).exists()

    second = shown_window(qtbot, tmp_path / "b")
    asked: list[str] = []
    second.project.ask_read_only = lambda message: asked.append(message) or True
    assert second.project.open_project(project)
    assert len(asked) == 1 and "open in another window" in asked[0] and str(os.getpid()) in asked[0]
    banner = second.project.read_only_banner.text()
    assert banner.startswith("This project is read-only: it is open in another window")

    wait_until(qtbot, lambda: second.navigation.current_document is not None)
    wait_until(qtbot, lambda: first.navigation.current_document is not None)
    assert not _draw_box(second)
    assert warnings and "This project is read-only" in warnings[-1]
    assert second.store.annotation_count() == 0

    assert _draw_box(first)  # the first window edits as usual
    assert second.store.annotation_count() == 1  # and the second reads what it wrote


def test_declining_read_only_leaves_the_second_window_on_its_start_page(
    qtbot, tmp_path: Path
) -> None:
    project = make_project(tmp_path, count=1)
    first = shown_window(qtbot, tmp_path / "a")
    assert first.project.open_project(project)
    second = shown_window(qtbot, tmp_path / "b")
    second.project.ask_read_only = lambda _message: False
    assert not second.project.open_project(project)
    assert second.store is None

    first.project.close_project()  # the lock goes with the project
    assert not lock_path(project).exists()
    assert second.project.open_project(project)
    assert second.store.read_only_reason is None and second.project.read_only_banner.text() == ""


def test_a_project_file_that_cannot_be_written_opens_with_the_banner(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warnings: list[str]
) -> None:
    project = make_project(tmp_path, count=1)
    real = os.access
    monkeypatch.setattr(
        os,
        "access",
        lambda p, mode, *a, **k: False if Path(p) == project and mode & os.W_OK else real(p, mode),
    )
    window = shown_window(qtbot, tmp_path / "a")
    assert window.project.open_project(project)
    assert "read-only: the file test.maskloop cannot be written" in (
        window.project.read_only_banner.text()
    )
    wait_until(qtbot, lambda: window.navigation.current_document is not None)
    assert not _draw_box(window)
    assert "This project is read-only" in warnings[-1]
