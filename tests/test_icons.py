"""Icons: every shipped SVG renders, actions get theirs, the app has one, wheels carry them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtGui import QImage  # noqa: E402
from PySide6.QtWidgets import QWidget  # noqa: E402

import resources  # noqa: E402
from gui.actions import ACTION_SPECS, create_actions  # noqa: E402
from gui.icons import app_icon, icon, render  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

# Named in the brief: every tool and main action, the app, and the ones later dialogs use.
REQUIRED = {
    "tool_select", "tool_box", "tool_polygon", "tool_brush", "tool_eraser", "fill_holes",
    "prev_image", "next_image", "fit", "zoom_100", "zoom_in", "zoom_out", "accept", "reject",
    "accept_all", "accept_review_next", "toggle_reviewed", "undo", "redo", "open_project",
    "open_folder", "import_coco", "export_coco", "propose_current", "propose_all",
    "choose_model", "cancel_work", "app", "finetune", "model_history", "box_to_mask",
}  # fmt: skip


def _opaque_pixels(image: QImage) -> int:
    image = image.convertToFormat(QImage.Format.Format_ARGB32)
    return sum(
        1
        for y in range(image.height())
        for x in range(image.width())
        if image.pixelColor(x, y).alpha() > 0
    )


def test_every_required_icon_ships():
    assert set(resources.icon_names()) >= REQUIRED


@pytest.mark.parametrize("name", sorted(resources.icon_names()))
def test_icon_loads_and_draws_pixels_at_24px(qapp, name):
    assert resources.icon_path(name).read_bytes().startswith(b"<svg")
    qicon = icon(name)
    assert not qicon.isNull()
    assert icon(name) is qicon  # cached
    drawn = _opaque_pixels(qicon.pixmap(24, 24).toImage())
    # Some ink but not a filled square (the app icon is a filled rounded square by design).
    assert drawn >= 24
    assert drawn < 24 * 24 or name == "app"
    assert _opaque_pixels(render(name, 24).toImage()) == pytest.approx(drawn, rel=0.2)


def test_unknown_icon_names_the_ones_that_exist():
    with pytest.raises(FileNotFoundError, match="tool_box"):
        resources.icon_path("no_such_icon")


def test_each_action_with_an_icon_gets_it(qtbot):
    parent = QWidget()
    qtbot.addWidget(parent)
    actions = create_actions(parent)
    names = set(resources.icon_names())
    with_icon = [spec.name for spec in ACTION_SPECS if spec.name in names]
    assert len(with_icon) >= 27
    for name in with_icon:
        got = actions[name].icon()
        assert not got.isNull(), name
        assert got.cacheKey() == icon(name).cacheKey(), name
    for spec in ACTION_SPECS:
        if spec.name not in names:
            assert actions[spec.name].icon().isNull(), spec.name


def test_app_icon_has_large_sizes_and_is_set_on_the_application(qapp):
    from gui.app import DESKTOP_FILE_NAME, ensure_application

    assert {16, 32, 256} <= {s.width() for s in app_icon().availableSizes()}
    big = app_icon().pixmap(256, 256).toImage()
    assert big.width() == 256 and _opaque_pixels(big.scaled(64, 64)) > 64 * 64 // 2
    names = (qapp.organizationName(), qapp.applicationName(), qapp.applicationDisplayName())
    try:
        app = ensure_application()
        assert app is qapp
        assert app.windowIcon().cacheKey() == app_icon().cacheKey()
        assert app.desktopFileName() == DESKTOP_FILE_NAME
    finally:
        qapp.setOrganizationName(names[0])
        qapp.setApplicationName(names[1])
        qapp.setApplicationDisplayName(names[2])


def test_a_built_wheel_contains_every_icon(tmp_path):
    # Build from a copy so the shared work tree gets no build/ or egg-info churn.
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "*.pyc")
    for folder in ("core", "gui", "resources"):
        shutil.copytree(REPO / folder, src / folder, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "main.py"):
        shutil.copy2(REPO / name, src / name)
    out = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(src)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = out.glob("maskloop-*.whl")
    inside = set(zipfile.ZipFile(wheel).namelist())
    assert "resources/__init__.py" in inside
    for name in REQUIRED:
        assert f"resources/icons/{name}.svg" in inside
    # Imported from the wheel itself (a zip, so files must come through importlib.resources)
    # and from its unpacked copy, as a pip install lays it out.
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import resources; "
        "assert resources.__file__.startswith(sys.argv[1]), resources.__file__; "
        "p = resources.icon_path('app'); assert p.read_bytes().startswith(b'<svg'); "
        "print(len(resources.icon_names()))"
    )
    for location in (wheel, unpacked):
        done = subprocess.run(
            [sys.executable, "-I", "-c", probe, str(location)],
            check=True, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert int(done.stdout) == len(resources.icon_names())
