"""File > Export COCO: the CLI's default "keep" mode is the dialog's default too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from conftest import TinyCoco  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QDialogButtonBox  # noqa: E402

from core.coco.importer import import_coco  # noqa: E402
from core.store import ProjectStore  # noqa: E402
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
