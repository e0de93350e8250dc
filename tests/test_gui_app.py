"""Starting the app: start page, `maskloop gui PATH` on a project, a folder, a COCO file."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from _window_helpers import make_project, write_images  # noqa: E402
from PySide6.QtCore import QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from core.records import ImageStatus  # noqa: E402
from core.store import ProjectStore  # noqa: E402
from gui.main_window import MainWindow  # noqa: E402
from gui.open_path import classify, folder_project_path  # noqa: E402
from gui.settings import AppSettings  # noqa: E402


@pytest.fixture
def settings(tmp_path: Path) -> AppSettings:
    return AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


def test_start_page_lists_recent_projects_and_opens_one(qtbot, tmp_path, settings):
    project = make_project(tmp_path, count=2)
    settings.add_recent_project(project)
    window = MainWindow(settings)
    qtbot.addWidget(window)
    assert window.stack.currentWidget() is window.start_page
    assert window.windowTitle() == "MaskLoop"
    assert not window.image_list.isVisibleTo(window)
    recent = window.start_page.recent_list
    assert recent.count() == 1 and str(project.resolve()) in recent.item(0).text()
    window.start_page.openPathRequested.emit(str(project))
    assert window.store is not None and window.stack.currentWidget() is window.canvas
    window.actions["close_project"].trigger()
    assert window.store is None and window.stack.currentWidget() is window.start_page


def test_opening_a_folder_creates_a_project_beside_it_with_every_image(qtbot, tmp_path, settings):
    folder = tmp_path / "shots"
    write_images(folder, 3, size=(50, 40))
    write_images(folder / "more", 1, size=(30, 20))
    (folder / "notes.txt").write_text("not an image")
    window = MainWindow(settings)
    qtbot.addWidget(window)
    assert window.open_path(folder)  # prepared in the background, the window stays live
    qtbot.waitUntil(lambda: window.store is not None, timeout=30_000)
    project = folder_project_path(folder)
    assert project == tmp_path / "shots.maskloop" and project.is_file()
    store = window.store
    names = [r.file_name for r in store.list_images()]
    assert names == ["img_0000.png", "img_0001.png", "img_0002.png", "more/img_0000.png"]
    assert (store.get_image(4).width, store.get_image(4).height) == (30, 20)
    assert window.windowTitle() == "MaskLoop — shots.maskloop — img_0000.png"
    window.close_project()
    write_images(folder / "new", 1)
    assert window.open_path(folder)  # reopening adds what appeared since, keeps the rest
    qtbot.waitUntil(lambda: window.store is not None, timeout=30_000)
    assert window.store.image_count() == 5


def test_opening_a_coco_file_imports_it_next_to_the_json(qtbot, tmp_path, settings):
    from core.demo.shapes import generate_shapes_dataset

    json_path = generate_shapes_dataset(tmp_path / "demo", n_images=3, seed=1)
    window = MainWindow(settings)
    qtbot.addWidget(window)
    assert window.open_path(json_path)
    qtbot.waitUntil(lambda: window.store is not None, timeout=30_000)
    assert Path(window.store.path) == json_path.with_suffix(".maskloop")
    assert window.store.image_count() == 3
    assert window.store.annotation_count() > 0
    assert window.image_list.model.rowCount() == 3
    assert window.store.image_path(window.current_image_id).is_file()


def test_classify_rejects_files_that_are_not_projects(tmp_path):
    from core.errors import ProjectError

    other = tmp_path / "x.txt"
    other.write_text("?")
    with pytest.raises(ProjectError, match="choose a .maskloop project"):
        classify(other)
    assert classify(tmp_path) == "folder"


def test_broken_project_file_shows_an_error_instead_of_a_traceback(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    shown: list[str] = []
    monkeypatch.setattr(
        QMessageBox, "warning", staticmethod(lambda _p, _t, text, *a, **k: shown.append(text))
    )
    broken = tmp_path / "broken.maskloop"
    broken.write_bytes(b"this is not sqlite")
    window = MainWindow(AppSettings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)))
    qtbot.addWidget(window)
    assert window.open_path(broken)  # a .maskloop file is opened as it is, at once
    assert len(shown) == 1 and "broken.maskloop" in shown[0]
    assert window.stack.currentWidget() is window.start_page


def test_main_gui_command_runs_the_app_on_a_project(qtbot, tmp_path, monkeypatch):
    import main

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "cfg"))
    project = make_project(tmp_path, count=2)
    seen: list[str] = []

    def close_when_open() -> None:
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, MainWindow) and widget.store is not None:
                seen.append(widget.windowTitle())
                widget.close()
                return
        QTimer.singleShot(50, close_when_open)

    QTimer.singleShot(50, close_when_open)
    try:
        assert main.main(["gui", str(project)]) == 0
    finally:
        QSettings.setDefaultFormat(QSettings.Format.NativeFormat)
    assert seen == ["MaskLoop — test.maskloop — img_0000.png"]
    with ProjectStore.open(project) as store:
        assert store.image_count(ImageStatus.UNLABELLED) == 2


def test_the_window_never_imports_torch_on_the_ui_thread(tmp_path):
    """Only the proposal worker thread may import torch; opening and browsing must not."""
    import os
    import subprocess
    import sys

    project = make_project(tmp_path, count=3)
    script = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from gui.main_window import MainWindow\n"
        "w = MainWindow()\n"
        f"assert w.open_project({str(project)!r})\n"
        "w.navigation.next_image(); w.navigation.next_image()\n"
        "w.close()\n"
        "print('torch' in sys.modules)\n"
    )
    env = dict(
        os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path)
    )
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "False"
