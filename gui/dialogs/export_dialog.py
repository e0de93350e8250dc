"""File > Export COCO…: the same options as `maskloop export`, then core.coco.exporter.

The export runs in a background task with its own store connection (SQLite connections
belong to their thread), so a project of a million annotations shows a progress bar with
Cancel instead of freezing the window; a cancel leaves any previous file untouched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    QProgressBar,
    QPushButton,
    QWidget,
)

from core.coco.exporter import ExportReport, MaskFormat, export_coco
from core.errors import Cancelled, MaskLoopError
from core.store import ProjectStore
from gui.dialogs.errors import show_error
from gui.workers.tasks import Progress, ShouldStop, Task, start_task

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
    project_path: Path,
    out_path: Path,
    *,
    masks: MaskFormat,
    reviewed_only: bool,
    include_proposals: bool,
    progress: Progress,
    should_stop: ShouldStop,
) -> ExportReport:
    """The export on a worker thread: its own connection to the project, progress, cancel."""

    def report(done: int, total: int) -> None:
        if should_stop():
            raise Cancelled("Export cancelled; nothing was written.")
        progress(done, total)

    with ProjectStore.open(project_path) as store:
        return export_coco(
            store,
            out_path,
            masks=masks,
            reviewed_only=reviewed_only,
            include_proposals=include_proposals,
            progress=report,
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
        self.progress = QProgressBar(self)
        self.progress.setObjectName("export_progress")
        self.progress.setFormat("%v of %m annotations")
        self.progress.hide()
        form.addRow(self.progress)
        self.task: Task | None = None
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setToolTip(
            "Close; while exporting, stop the export and keep any previous file as it was."
        )
        form.addRow(self.buttons)
        self.resize(520, 0)

    def accept(self) -> None:
        """Start the export in the background; the dialog closes when it has succeeded."""
        if self.task is not None:
            return
        text = self.path_edit.text().strip()
        if not text:
            show_error(self, "Choose an output file.", "Export COCO")
            return
        out, options = Path(text), self._options()
        self._set_running(True)
        project = Path(self.store.path)
        self.task = start_task(
            lambda progress, stop: run_export(
                project, out, **options, progress=progress, should_stop=stop
            ),
            self,
        )
        self.task.progressed.connect(self._on_progress)
        self.task.succeeded.connect(self._on_exported)
        self.task.failed.connect(self._on_failed)

    def reject(self) -> None:
        """Cancel closes the dialog, or first stops a running export."""
        if self.task is not None:
            self.task.cancel()
            return
        super().reject()

    def is_exporting(self) -> bool:
        return self.task is not None

    def _options(self) -> dict[str, Any]:
        return {
            "masks": self.masks_combo.currentData(),
            "reviewed_only": self.reviewed_only.isChecked(),
            "include_proposals": self.include_proposals.isChecked(),
        }

    def _set_running(self, running: bool) -> None:
        for widget in (
            self.path_edit,
            self.masks_combo,
            self.reviewed_only,
            self.include_proposals,
        ):
            widget.setEnabled(not running)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not running)
        self.progress.setVisible(running)
        self.progress.setRange(0, 0)  # busy until the first count arrives

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(min(done, total))

    def _on_exported(self, report: ExportReport) -> None:
        self.task = None
        self.report = report
        super().accept()

    def _on_failed(self, error: BaseException) -> None:
        self.task = None
        self._set_running(False)
        if isinstance(error, Cancelled):
            return  # the user asked; the dialog stays open with its choices
        if isinstance(error, OSError):
            show_error(self, f"Cannot write {self.path_edit.text()}: {error.strerror or error}",
                       "Export failed")  # fmt: skip
        elif isinstance(error, MaskLoopError):
            show_error(self, error, "Export failed")
        else:
            show_error(self, f"The export failed: {error}", "Export failed")

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export COCO", self.path_edit.text(), "COCO JSON (*.json)"
        )
        if path:
            self.path_edit.setText(path)
