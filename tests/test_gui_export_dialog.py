"""File > Export COCO: the CLI's default "keep" mode is the dialog's default too."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pytestqt")

from conftest import TinyCoco  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QDialogButtonBox  # noqa: E402

from core.coco.importer import import_coco  # noqa: E402
from core.store import ProjectStore  # noqa: E402
from gui.dialogs import export_dialog  # noqa: E402
from gui.dialogs.export_dialog import ExportDialog  # noqa: E402


@pytest.fixture
def store(tiny_coco: TinyCoco):
    path = tiny_coco.json_path.parent / "p.maskloop"
    with ProjectStore.create(path, tiny_coco.images_dir) as s:
        import_coco(tiny_coco.json_path, s)
        yield s


def _export_with_button(qtbot, dialog: ExportDialog, out: Path) -> dict:
    dialog.path_edit.setText(str(out))
    button = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.is_exporting(), timeout=20_000)
    assert dialog.result() == ExportDialog.DialogCode.Accepted and dialog.report is not None
    return json.loads(out.read_text(encoding="utf-8"))


def test_keep_is_the_default_and_gives_the_imported_file_back(qtbot, store, tiny_coco):
    dialog = ExportDialog(store)
    qtbot.addWidget(dialog)
    combo = dialog.masks_combo
    assert [combo.itemData(i) for i in range(combo.count())] == ["keep", "rle", "polygon"]
    assert combo.currentData() == "keep"
    out = _export_with_button(qtbot, dialog, tiny_coco.json_path.parent / "keep.json")
    original = {a["id"]: a for a in tiny_coco.data["annotations"]}
    for ann in out["annotations"]:
        if "segmentation" in original[ann["id"]]:  # polygons stay polygons, RLE stays RLE
            assert ann["segmentation"] == original[ann["id"]]["segmentation"]


def test_each_mode_says_what_it_does(qtbot, store):
    dialog = ExportDialog(store)
    qtbot.addWidget(dialog)
    combo = dialog.masks_combo
    tips = [combo.itemData(i, Qt.ItemDataRole.ToolTipRole) for i in range(combo.count())]
    assert "unchanged" in tips[0] and "compressed RLE" in tips[1] and "polygons" in tips[2]
    for i in range(combo.count()):
        assert combo.itemText(i) in combo.toolTip() and tips[i] in combo.toolTip()


def test_choosing_rle_with_the_keyboard_exports_rle(qtbot, store, tiny_coco):
    dialog = ExportDialog(store)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.masks_combo.setFocus()
    qtbot.keyClick(dialog.masks_combo, Qt.Key.Key_Down)
    assert dialog.masks_combo.currentData() == "rle"
    out = _export_with_button(qtbot, dialog, tiny_coco.json_path.parent / "rle.json")
    masks = [a["segmentation"] for a in out["annotations"] if "segmentation" in a]
    assert masks and all(isinstance(m, dict) and isinstance(m["counts"], str) for m in masks)


def _hold_export(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Make the dialog's export wait for the returned event before it starts writing."""
    release = threading.Event()
    real_export = export_dialog.export_coco

    def held(*args: Any, **kwargs: Any) -> Any:
        assert release.wait(20)
        return real_export(*args, **kwargs)

    monkeypatch.setattr(export_dialog, "export_coco", held)
    return release


def test_the_export_runs_in_the_background_and_cancel_keeps_the_previous_file(
    qtbot, store, tiny_coco, monkeypatch
):
    out = tiny_coco.json_path.parent / "out.json"
    out.write_text("previous export")
    release = _hold_export(monkeypatch)
    dialog = ExportDialog(store)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.path_edit.setText(str(out))
    qtbot.mouseClick(
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton
    )
    # The window's thread is free while the export waits: the dialog shows its progress.
    assert dialog.is_exporting() and dialog.progress.isVisible()
    assert not dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()
    qtbot.mouseClick(
        dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel), Qt.MouseButton.LeftButton
    )
    release.set()
    qtbot.waitUntil(lambda: not dialog.is_exporting(), timeout=20_000)
    assert dialog.isVisible() and dialog.report is None  # stays open with the user's choices
    assert dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()
    assert out.read_text() == "previous export"
    # Cancel again, with nothing running, closes the dialog.
    qtbot.mouseClick(
        dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel), Qt.MouseButton.LeftButton
    )
    assert dialog.result() == ExportDialog.DialogCode.Rejected and not dialog.isVisible()


def test_a_failed_export_says_why_and_keeps_the_dialog(qtbot, store, tiny_coco, monkeypatch):
    shown: list[str] = []
    monkeypatch.setattr(
        export_dialog, "show_error", lambda _parent, message, _title: shown.append(str(message))
    )
    dialog = ExportDialog(store)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.path_edit.setText(str(tiny_coco.json_path.parent / "no such folder" / "out.json"))
    qtbot.mouseClick(
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton
    )
    qtbot.waitUntil(lambda: not dialog.is_exporting(), timeout=20_000)
    assert len(shown) == 1 and "Cannot write" in shown[0] and "no such folder" in shown[0]
    assert dialog.isVisible() and dialog.report is None
