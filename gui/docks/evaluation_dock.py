"""The Evaluation dock: sources, thresholds, COCO metrics, per-class table, PR curves,
confusion matrix and model-against-model comparison.

A view only: it shows what the EvaluationController (gui/window/evaluation.py) gives it and
says what the analyst asked for with signals. It never evaluates anything itself.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSlider,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.evaluation.matching import ClassMetrics, Counts, IouType, MatchSettings
from core.evaluation.metrics import EvalResult
from gui.canvas.match_overlay import MARK_COLORS
from gui.widgets.pr_curves import PrCurves
from gui.workers.evaluation_run import (
    GT_FILE,
    GT_PROJECT,
    PRED_FILE,
    PRED_MODEL,
    PRED_NONE,
    PRED_PROPOSALS,
)

# Image list order choices.
ORDER_NONE, ORDER_FP, ORDER_FN, ORDER_F1 = "none", "fp", "fn", "f1"
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
REF_ROLE = Qt.ItemDataRole.UserRole + 2
CLASS_COLUMNS = ("Class", "AP", "AP50", "TP", "FP", "FN", "Instances")


@dataclass(frozen=True)
class InstanceRef:
    """One instance a list row points at: its (evaluation) image and what to show there."""

    image_id: int
    prediction: int | None = None  # PredictionMatch.index
    annotation_id: int | None = None  # ground-truth annotation id


@dataclass
class ClassRow:
    category_id: int
    name: str
    ap: float
    ap50: float
    counts: Counts
    instances: int


def _fmt(value: float) -> str:
    return "–" if math.isnan(value) or value < 0 else f"{value:.3f}"


class ClassTableModel(QAbstractTableModel):
    """Per-class rows; SORT_ROLE gives numbers so the proxy sorts 10 after 9."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[ClassRow] = []

    def set_rows(self, rows: list[ClassRow]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def set_counts(self, counts: dict[int, Counts]) -> None:
        """New thresholds: only TP/FP/FN change (AP does not depend on them)."""
        for row in self.rows:
            row.counts = counts.get(row.category_id, Counts(0, 0, row.instances))
        if self.rows:
            self.dataChanged.emit(self.index(0, 3), self.index(len(self.rows) - 1, 5))

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(CLASS_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return CLASS_COLUMNS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        values: tuple[str | float | int, ...] = (
            row.name,
            row.ap,
            row.ap50,
            row.counts.tp,
            row.counts.fp,
            row.counts.fn,
            row.instances,
        )
        value = values[index.column()]
        if role == SORT_ROLE:
            if isinstance(value, float) and math.isnan(value):
                return -1.0  # classes without ground truth sort below every scored one
            return value.casefold() if isinstance(value, str) else value
        if role == Qt.ItemDataRole.DisplayRole:
            return _fmt(value) if isinstance(value, float) else str(value)
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class _Slider(QWidget):
    """A 0..1 slider in hundredths with its value beside it."""

    def __init__(self, name: str, low: int, value: int, parent: QWidget) -> None:
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setObjectName(f"eval_{name}_slider")
        self.slider.setRange(low, 99 if low > 0 else 100)
        self.slider.setSingleStep(5)  # arrow keys move by 0.05
        self.slider.setValue(value)
        self.label = QLabel(self)
        self.label.setMinimumWidth(34)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.label)
        self.slider.valueChanged.connect(self._show)
        self._show(value)

    def value(self) -> float:
        return self.slider.value() / 100.0

    def _show(self, value: int) -> None:
        self.label.setText(f"{value / 100:.2f}")


class SourceRow(QWidget):
    """A source combo and, for a file choice, the file's path with a Browse button."""

    def __init__(self, name: str, choices: Sequence[tuple[str, str]], parent: QWidget) -> None:
        super().__init__(parent)
        self.combo = QComboBox(self)
        self.combo.setObjectName(f"eval_{name}_source")
        for text, data in choices:
            self.combo.addItem(text, data)
        self.path = QLineEdit(self)
        self.path.setObjectName(f"eval_{name}_path")
        self.path.setPlaceholderText("COCO JSON file")
        self.browse = QToolButton(self)
        self.browse.setText("…")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo)
        layout.addWidget(self.path, 1)
        layout.addWidget(self.browse)
        self.combo.currentIndexChanged.connect(self._update)
        self.browse.clicked.connect(self._choose)
        self._update()

    def choice(self) -> str:
        return str(self.combo.currentData())

    def set_choice(self, choice: str, path: str = "") -> None:
        self.combo.setCurrentIndex(self.combo.findData(choice))
        self.path.setText(path)

    def set_model(self, source: str, name: str) -> None:
        """Choose a model run now (`source` is "model:<spec>"), adding it to the combo."""
        if self.combo.findData(source) < 0:
            self.combo.addItem(f"{name}, run now", source)
        self.set_choice(source)

    def _update(self) -> None:
        is_file = self.choice() == "file"
        self.path.setVisible(is_file)
        self.browse.setVisible(is_file)

    def _choose(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "COCO JSON file", "", "JSON (*.json)")
        if path:
            self.path.setText(path)


class EvaluationDock(QDockWidget):
    """Signals: evaluateRequested(), cancelRequested(), settingsChanged() (sliders or IoU
    type; read `settings()`), imageOrderChanged() (sort or filter; read `image_order()` and
    `errors_only()`), confusionCellClicked(int, int), instanceActivated(InstanceRef),
    imageRequested(int evaluation image id), errorStep(int: +1 next, -1 previous)."""

    evaluateRequested = Signal()
    cancelRequested = Signal()
    settingsChanged = Signal()
    imageOrderChanged = Signal()
    confusionCellClicked = Signal(int, int)
    instanceActivated = Signal(object)
    imageRequested = Signal(int)
    errorStep = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Evaluation", parent)
        self.setObjectName("dock_evaluation")
        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        form = QFormLayout()
        self.ground_truth = SourceRow(
            "gt", [("Reviewed labels", GT_PROJECT), ("COCO file", GT_FILE)], body
        )
        self.predictions = SourceRow(
            "pred",
            [
                ("Stored proposals", PRED_PROPOSALS),
                ("Current model, run now", PRED_MODEL),
                ("COCO results", PRED_FILE),
            ],
            body,
        )
        self.compare_with = SourceRow(
            "compare",
            [
                ("Nothing", PRED_NONE),
                ("Stored proposals", PRED_PROPOSALS),
                ("Current model, run now", PRED_MODEL),
                ("COCO results", PRED_FILE),
            ],
            body,
        )
        form.addRow("Ground truth", self.ground_truth)
        form.addRow("Predictions (A)", self.predictions)
        form.addRow("Compare with (B)", self.compare_with)
        self.iou_type = QComboBox(body)
        self.iou_type.setObjectName("eval_iou_type")
        self.iou_type.addItem("Masks (segm)", "segm")
        self.iou_type.addItem("Boxes (bbox)", "bbox")
        form.addRow("Match", self.iou_type)
        self.backend = QComboBox(body)
        self.backend.setObjectName("eval_backend")
        self.backend.addItem("pycocotools", "pycocotools")
        faster = importlib.util.find_spec("faster_coco_eval") is not None
        self.backend.addItem("faster-coco-eval" + ("" if faster else " (not installed)"), "faster")
        self.backend.setToolTip(
            "COCOeval's implementation for AP and the PR curves: pycocotools, or "
            "faster-coco-eval (the same figures, faster on big sets; pip install "
            '"maskloop[fast]")'
        )
        form.addRow("COCOeval", self.backend)
        self.score = _Slider("score", 0, 50, body)
        self.iou = _Slider("iou", 5, 50, body)
        form.addRow("Score ≥", self.score)
        form.addRow("IoU ≥", self.iou)
        layout.addLayout(form)

        buttons = QHBoxLayout()
        self.evaluate_button = QPushButton("Evaluate", body)
        self.evaluate_button.setObjectName("eval_run")
        self.cancel_button = QPushButton("Cancel", body)
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar(body)
        self.progress.setVisible(False)
        buttons.addWidget(self.evaluate_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.progress, 1)
        self.auto_refresh = QCheckBox("Refresh after edits", body)
        self.auto_refresh.setObjectName("eval_auto_refresh")
        self.auto_refresh.setChecked(True)
        self.auto_refresh.setToolTip(
            "Evaluate again once your edits pause, so fixing an error updates the numbers"
        )
        buttons.addWidget(self.auto_refresh)
        layout.addLayout(buttons)
        self.status = QLabel("Choose the sources and press Evaluate.", body)
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.metrics_label = QLabel(body)
        self.metrics_label.setObjectName("eval_metrics")
        self.metrics_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.metrics_label)
        self.counts_label = QLabel(body)
        self.counts_label.setObjectName("eval_counts")
        layout.addWidget(self.counts_label)

        order = QHBoxLayout()
        self.order = QComboBox(body)
        self.order.setObjectName("eval_image_order")
        for text, data in (
            ("Image order", ORDER_NONE),
            ("Most FPs first", ORDER_FP),
            ("Most FNs first", ORDER_FN),
            ("Lowest F1 first", ORDER_F1),
        ):
            self.order.addItem(text, data)
        self.errors_only_box = QCheckBox("Only images with errors", body)
        self.errors_only_box.setObjectName("eval_errors_only")
        self.prev_error = QToolButton(body)
        self.prev_error.setText("◀ error")
        self.next_error = QToolButton(body)
        self.next_error.setText("error ▶")
        order.addWidget(self.order)
        order.addWidget(self.errors_only_box)
        order.addStretch(1)
        order.addWidget(self.prev_error)
        order.addWidget(self.next_error)
        layout.addLayout(order)

        self.tabs = QTabWidget(body)
        self.class_model = ClassTableModel(self)
        self.class_proxy = QSortFilterProxyModel(self)
        self.class_proxy.setSourceModel(self.class_model)
        self.class_proxy.setSortRole(SORT_ROLE)
        self.class_table = QTableView(body)
        self.class_table.setObjectName("eval_class_table")
        self.class_table.setModel(self.class_proxy)
        self.class_table.setSortingEnabled(True)
        self.class_table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.class_table.verticalHeader().setVisible(False)
        self.class_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.class_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tabs.addTab(self.class_table, "Classes")
        self.pr_curves = PrCurves(body)
        self.tabs.addTab(self.pr_curves, "PR curves")
        self.confusion_table = QTableWidget(body)
        self.confusion_table.setObjectName("eval_confusion")
        self.confusion_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.confusion_list = QListWidget(body)
        self.confusion_list.setObjectName("eval_confusion_list")
        self.tabs.addTab(_stacked(body, self.confusion_table, self.confusion_list, 3), "Confusion")
        self.delta_table = QTableWidget(0, 4, body)
        self.delta_table.setObjectName("eval_ap_delta")
        self.delta_table.setHorizontalHeaderLabels(["Class", "AP A", "AP B", "Δ AP"])
        self.delta_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.delta_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.worse_list = QListWidget(body)
        self.worse_list.setObjectName("eval_worse_images")
        self.tabs.addTab(_stacked(body, self.delta_table, self.worse_list, 2), "A vs B")
        layout.addWidget(self.tabs, 1)
        # Scrolled, so the dock can be shorter than its contents: unscrolled, it made the
        # window at least 1,080 px tall (taller than many screens) once shown.
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        scroll.setMinimumWidth(body.minimumSizeHint().width())  # scrolls up and down only
        self.setWidget(scroll)

        self.evaluate_button.clicked.connect(self.evaluateRequested)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.score.slider.valueChanged.connect(self.settingsChanged)
        self.iou.slider.valueChanged.connect(self.settingsChanged)
        self.iou_type.currentIndexChanged.connect(self.settingsChanged)
        self.order.currentIndexChanged.connect(self.imageOrderChanged)
        self.errors_only_box.toggled.connect(self.imageOrderChanged)
        self.prev_error.clicked.connect(lambda: self.errorStep.emit(-1))
        self.next_error.clicked.connect(lambda: self.errorStep.emit(1))
        self.confusion_table.cellClicked.connect(self.confusionCellClicked)
        self.confusion_list.itemActivated.connect(self._activate_item)
        self.worse_list.itemClicked.connect(self._request_image)

    # ---- what the controller reads ---------------------------------------------------------
    def settings(self) -> MatchSettings:
        iou_type: IouType = "bbox" if self.iou_type.currentData() == "bbox" else "segm"
        return MatchSettings(
            iou_threshold=self.iou.value(), score_threshold=self.score.value(), iou_type=iou_type
        )

    def backend_choice(self) -> str:
        return str(self.backend.currentData())

    def image_order(self) -> str:
        return str(self.order.currentData())

    def errors_only(self) -> bool:
        return self.errors_only_box.isChecked()

    # ---- what the controller shows ---------------------------------------------------------
    def set_running(self, running: bool) -> None:
        self.evaluate_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.progress.setVisible(running)
        if running:
            self.progress.setRange(0, 0)

    def set_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    def show_metrics(self, results: Sequence[EvalResult]) -> None:
        lines = [
            f"<b>{r.iou_type}</b>: AP {_fmt(r.ap)} · AP50 {_fmt(r.ap50)} · AP75 {_fmt(r.ap75)}"
            f" · APs {_fmt(r.ap_small)} · APm {_fmt(r.ap_medium)} · APl {_fmt(r.ap_large)}"
            for r in results
        ]
        self.metrics_label.setText("<br>".join(lines))

    def show_counts(self, total: Counts) -> None:
        self.counts_label.setText(
            f"TP {total.tp} · FP {total.fp} · FN {total.fn} · precision {total.precision:.3f}"
            f" · recall {total.recall:.3f} · F1 {total.f1:.3f}"
        )

    def show_classes(self, classes: Sequence[ClassMetrics], iou: float) -> None:
        self.class_model.set_rows(
            [ClassRow(c.category_id, c.name, c.ap, c.ap50, c.counts, c.instances) for c in classes]
        )
        self.pr_curves.set_classes(classes, iou)

    def show_confusion(self, names: Sequence[str], counts: Sequence[Sequence[int]]) -> None:
        table = self.confusion_table
        table.clear()
        table.setRowCount(len(names))
        table.setColumnCount(len(names))
        table.setHorizontalHeaderLabels([f"as {n}" for n in names])
        table.setVerticalHeaderLabels(list(names))
        last = len(names) - 1  # background: its row holds FPs, its column FNs
        most = max((v for row in counts for v in row), default=0) or 1
        for r, row in enumerate(counts):
            for c, value in enumerate(row):
                item = QTableWidgetItem(str(value))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if value:
                    # The canvas's colours (TP green, FP red, FN orange), deeper for more.
                    kind = "tp" if r == c else "fn" if c == last else "fp"
                    color = QColor(MARK_COLORS[kind])
                    color.setAlpha(40 + int(140 * value / most))
                    item.setBackground(color)
                table.setItem(r, c, item)
        table.resizeColumnsToContents()
        self.confusion_list.clear()

    def show_cell_instances(self, rows: Sequence[tuple[str, InstanceRef | None]]) -> None:
        """One row per instance; a row without a reference is a note (not activated)."""
        self.confusion_list.clear()
        for text, ref in rows:
            item = QListWidgetItem(text, self.confusion_list)
            item.setData(REF_ROLE, ref)

    def show_comparison(
        self, rows: Sequence[tuple[str, float, float, float]], worse: Sequence[tuple[str, int]]
    ) -> None:
        """`rows`: (class, AP A, AP B, delta); `worse`: (text, evaluation image id)."""
        table = self.delta_table
        table.setRowCount(len(rows))
        for r, (name, ap_a, ap_b, delta) in enumerate(rows):
            for c, text in enumerate((name, _fmt(ap_a), _fmt(ap_b), f"{delta:+.3f}")):
                if c == 3 and math.isnan(delta):
                    text = "–"
                item = QTableWidgetItem(text)
                if c == 3 and not math.isnan(delta) and delta < 0:
                    item.setForeground(Qt.GlobalColor.red)
                table.setItem(r, c, item)
        self.worse_list.clear()
        for text, image_id in worse:
            row = QListWidgetItem(text, self.worse_list)
            row.setData(REF_ROLE, image_id)

    def _activate_item(self, item: QListWidgetItem) -> None:
        ref = item.data(REF_ROLE)
        if isinstance(ref, InstanceRef):
            self.instanceActivated.emit(ref)

    def _request_image(self, item: QListWidgetItem) -> None:
        image_id = item.data(REF_ROLE)
        if isinstance(image_id, int):
            self.imageRequested.emit(image_id)


def _stacked(parent: QWidget, top: QWidget, bottom: QWidget, top_stretch: int) -> QSplitter:
    """A table above the list of its instances, the table `top_stretch` times as tall."""
    splitter = QSplitter(Qt.Orientation.Vertical, parent)
    splitter.addWidget(top)
    splitter.addWidget(bottom)
    splitter.setStretchFactor(0, top_stretch)
    splitter.setStretchFactor(1, 1)
    return splitter
