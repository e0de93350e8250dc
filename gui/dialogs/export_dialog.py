"""File > Export COCO…: the same options as `maskloop export`, then core.coco.exporter."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)

from core.coco.exporter import ExportReport, MaskFormat, export_coco
from core.errors import MaskLoopError
from core.store import ProjectStore
from gui.dialogs.errors import show_error

# (label, core.coco.exporter mask mode, what it does); the first is the default, as in the CLI.
MASK_MODES: tuple[tuple[str, str, str], ...] = (
    (
        "Keep as stored",
        "keep",
        "Each mask as it is in the project: imported polygons and RLE come back unchanged, "
        "masks drawn or edited in MaskLoop are written as RLE. Import then export gives the "
        "same file.",
    ),
    (
        "RLE (exact)",
        "rle",
        "Every mask as compressed RLE: exact and compact, read by pycocotools and most "
        "training code.",
    ),
    (
        "Polygons (RLE where a mask has holes)",
        "polygon",
        "Masks traced into polygons for tools that read only polygons; masks with holes and "
        "crowd regions stay RLE, so no mask changes shape.",
    ),
)


def run_export(
    store: ProjectStore,
    out_path: Path,
    *,
    masks: MaskFormat,
    reviewed_only: bool,
    include_proposals: bool,
) -> ExportReport:
    return export_coco(
        store,
        out_path,
        masks=masks,
        reviewed_only=reviewed_only,
        include_proposals=include_proposals,
    )


class ExportDialog(QDialog):
    """Asks for the output file and options, exports on OK; errors keep the dialog open."""

    def __init__(self, store: ProjectStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.report: ExportReport | None = None
        self.setWindowTitle("Export COCO")
        form = QFormLayout(self)
        row = QHBoxLayout()
        # Never default to <project>.json: for an imported project that is the user's source file.
        default = Path(store.path).with_name(f"{Path(store.path).stem}-export.json")
        self.path_edit = QLineEdit(str(default), self)
        self.path_edit.setObjectName("export_path")
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse)
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)
        form.addRow("Output file:", row)
        self.masks_combo = QComboBox(self)
        self.masks_combo.setObjectName("export_masks")
        for label, mode, tip in MASK_MODES:
            self.masks_combo.addItem(label, mode)
            self.masks_combo.setItemData(
                self.masks_combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole
            )
        self.masks_combo.setToolTip(
            "<br>".join(f"<b>{label}</b>: {tip}" for label, _, tip in MASK_MODES)
        )
        self.masks_combo.setCurrentIndex(0)  # "keep", as `maskloop export` does by default
        form.addRow("Masks:", self.masks_combo)
        self.reviewed_only = QCheckBox("Only reviewed images", self)
        self.reviewed_only.setObjectName("export_reviewed_only")
        form.addRow("", self.reviewed_only)
        self.include_proposals = QCheckBox("Include unreviewed proposals (with scores)", self)
        self.include_proposals.setObjectName("export_include_proposals")
        form.addRow("", self.include_proposals)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self.resize(520, 0)

    def accept(self) -> None:
        text = self.path_edit.text().strip()
        if not text:
            show_error(self, "Choose an output file.", "Export COCO")
            return
        try:
            self.report = run_export(
                self.store,
                Path(text),
                masks=self.masks_combo.currentData(),
                reviewed_only=self.reviewed_only.isChecked(),
                include_proposals=self.include_proposals.isChecked(),
            )
        except MaskLoopError as exc:
            show_error(self, exc, "Export failed")
            return
        except OSError as exc:
            show_error(self, f"Cannot write {text}: {exc.strerror or exc}", "Export failed")
            return
        super().accept()

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export COCO", self.path_edit.text(), "COCO JSON (*.json)"
        )
        if path:
            self.path_edit.setText(path)
