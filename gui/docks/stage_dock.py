"""The Stage view's dock: which layers of Mask R-CNN's two stages the canvas shows, and the
final detections, one of which can be selected to see where it came from."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDockWidget,
    QFormLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.detection.stage_view import StageView
from gui.canvas.stage_overlay import StageLayers


class StageDock(QDockWidget):
    """Signals: layersChanged(StageLayers), detectionSelected(int or -1), closed() (its own
    close button: the view turns off, as the menu item does)."""

    layersChanged = Signal(object)
    detectionSelected = Signal(int)
    closed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Stage view", parent)
        self.setObjectName("stage_dock")
        body = QWidget(self)
        layout = QVBoxLayout(body)
        form = QFormLayout()
        self.proposals = QCheckBox("RPN proposals, coloured by objectness", body)
        self.proposals.setChecked(True)
        self.proposals.setToolTip("The region proposal network's best boxes after its own NMS")
        self.top_n = QSpinBox(body)
        self.top_n.setRange(1, 2000)
        self.top_n.setValue(30)
        self.top_n.setToolTip("How many proposals to draw, highest objectness first")
        self.detections = QCheckBox("Final detections (white)", body)
        self.detections.setChecked(True)
        self.suppressed = QCheckBox("Removed by NMS (magenta dashed)", body)
        self.suppressed.setToolTip("Detections above the threshold that a better one removed")
        self.under = QCheckBox("Under the score threshold (grey dotted)", body)
        form.addRow(self.proposals)
        form.addRow("Top N", self.top_n)
        form.addRow(self.detections)
        form.addRow(self.suppressed)
        form.addRow(self.under)
        layout.addLayout(form)
        layout.addWidget(QLabel("Detections (select one for its two stages):", body))
        self.list = QListWidget(body)
        self.list.setToolTip(
            "Its source proposal (cyan dashed), regressed box (yellow), top-3 class scores "
            "and mask logits as a heat map"
        )
        self.list.setMinimumHeight(110)
        layout.addWidget(self.list, 1)
        self.details = QLabel("", body)
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.details)
        self.status = QLabel("", body)
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.setWidget(body)
        for box in (self.proposals, self.detections, self.suppressed, self.under):
            box.toggled.connect(self._emit_layers)
        self.top_n.valueChanged.connect(self._emit_layers)
        self.list.currentRowChanged.connect(self._on_row)
        self._view: StageView | None = None

    def layers(self) -> StageLayers:
        return StageLayers(
            proposals=self.proposals.isChecked(),
            top_n=self.top_n.value(),
            detections=self.detections.isChecked(),
            suppressed=self.suppressed.isChecked(),
            under_threshold=self.under.isChecked(),
        )

    def set_view(self, view: StageView | None) -> None:
        """List the final detections (all of them: the threshold only dims some)."""
        self._view = view
        self.list.blockSignals(True)
        self.list.clear()
        if view is not None:
            for detection in view.final:
                text = f"{view.label_name(detection.label)} {detection.score:.2f}"
                if detection.score < view.score_threshold:
                    text += " (under threshold)"
                QListWidgetItem(text, self.list)
        self.list.blockSignals(False)
        self.details.setText("")
        if view is not None:
            removed = sum(1 for d in view.suppressed if d.score >= view.score_threshold)
            self.status.setText(
                f"{len(view.proposals)} proposals, {len(view.detections)} detections, "
                f"{removed} removed by NMS, {len(view.under_threshold)} under the threshold"
            )

    def set_status(self, text: str) -> None:
        self.status.setText(text)

    def _on_row(self, row: int) -> None:
        view = self._view
        if view is not None and 0 <= row < len(view.final):
            detection = view.final[row]
            scores = ", ".join(f"{view.label_name(c)} {p:.2f}" for c, p in detection.top_classes)
            p, b = detection.proposal_box, detection.box
            self.details.setText(
                f"Proposal #{detection.proposal_index} (objectness "
                f"{float(view.objectness[detection.proposal_index]):.2f}) "
                f"[{p[0]:.0f}, {p[1]:.0f}, {p[2]:.0f}, {p[3]:.0f}] → regressed "
                f"[{b[0]:.0f}, {b[1]:.0f}, {b[2]:.0f}, {b[3]:.0f}]\nClass scores: {scores}"
            )
        self.detectionSelected.emit(row if view is not None else -1)

    def closeEvent(self, event: QCloseEvent) -> None:
        super().closeEvent(event)
        self.closed.emit()

    def _emit_layers(self) -> None:
        self.layersChanged.emit(self.layers())
