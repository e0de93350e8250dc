"""The model dock: which detector runs, on what device, the proposal threshold, and buttons.

The threshold only hides proposals below it (they are stored at a low fixed threshold), so
moving the slider never re-runs the model. Slider drags are throttled so the canvas
redraws at most every 50 ms, and the value reaches the project file once the drag settles.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDockWidget,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import qdebounced, qthrottled

DEFAULT_THRESHOLD = 0.5
SLIDER_STEPS = 100


class ModelDock(QDockWidget):
    """Signals:
    thresholdChanged(float): throttled while dragging; drives the canvas.
    thresholdCommitted(float): once the value settles; the window stores it in the project.
    proposeCurrentRequested(), proposeAllRequested(), chooseModelRequested().
    """

    thresholdChanged = Signal(float)
    thresholdCommitted = Signal(float)
    proposeCurrentRequested = Signal()
    proposeAllRequested = Signal()
    chooseModelRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Model", parent)
        self.setObjectName("dock_model")
        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 6, 6, 6)
        form = QFormLayout()
        self.model_label = QLabel("no model", body)
        self.model_label.setObjectName("model_name")
        self.model_label.setWordWrap(True)
        self.device_label = QLabel("—", body)
        self.state_label = QLabel("idle", body)
        self.state_label.setObjectName("model_state")
        form.addRow("Model:", self.model_label)
        form.addRow("Device:", self.device_label)
        form.addRow("Status:", self.state_label)
        layout.addLayout(form)
        threshold_row = QHBoxLayout()
        self.slider = QSlider(Qt.Orientation.Horizontal, body)
        self.slider.setObjectName("threshold_slider")
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setToolTip("Hide proposals whose score is below this threshold")
        self.spin = QDoubleSpinBox(body)
        self.spin.setObjectName("threshold_spin")
        self.spin.setRange(0.0, 1.0)
        self.spin.setSingleStep(0.05)
        self.spin.setDecimals(2)
        threshold_row.addWidget(QLabel("Threshold:", body))
        threshold_row.addWidget(self.slider, 1)
        threshold_row.addWidget(self.spin)
        layout.addLayout(threshold_row)
        buttons = QHBoxLayout()
        self.choose_button = QPushButton("Choose…", body)
        self.choose_button.setToolTip("Choose the detector (Ctrl+Shift+M)")
        self.propose_button = QPushButton("Propose this image", body)
        self.propose_button.setObjectName("propose_current_button")
        self.propose_button.setToolTip("Run the detector on this image again (Ctrl+P)")
        self.propose_all_button = QPushButton("Propose all", body)
        self.propose_all_button.setObjectName("propose_all_button")
        self.propose_all_button.setToolTip(
            "Run the detector on every unreviewed image (Ctrl+Shift+P)"
        )
        buttons.addWidget(self.choose_button)
        buttons.addWidget(self.propose_button)
        buttons.addWidget(self.propose_all_button)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self.setWidget(body)
        # Parented: a pending emission dies with the dock instead of firing on a deleted one.
        self._emit_throttled = qthrottled(self.thresholdChanged.emit, timeout=50, parent=self)
        self._commit_debounced = qdebounced(self.thresholdCommitted.emit, timeout=400, parent=self)
        self.slider.valueChanged.connect(self._on_slider)
        self.spin.valueChanged.connect(self._on_spin)
        self.choose_button.clicked.connect(self.chooseModelRequested)
        self.propose_button.clicked.connect(self.proposeCurrentRequested)
        self.propose_all_button.clicked.connect(self.proposeAllRequested)
        self._updating = False
        self.set_threshold(DEFAULT_THRESHOLD)

    def threshold(self) -> float:
        return round(self.spin.value(), 2)

    def set_threshold(self, value: float) -> None:
        """Set both widgets without emitting (e.g. when a project opens)."""
        self._updating = True
        try:
            self.spin.setValue(value)
            self.slider.setValue(round(value * SLIDER_STEPS))
        finally:
            self._updating = False

    def set_model_info(self, name: str, device: str) -> None:
        self.model_label.setText(name)
        self.device_label.setText(device)

    def set_state(self, text: str) -> None:
        self.state_label.setText(text)

    def set_model_available(self, available: bool) -> None:
        self.propose_button.setEnabled(available)
        self.propose_all_button.setEnabled(available)

    def _on_slider(self, step: int) -> None:
        if self._updating:
            return
        self._updating = True
        try:
            self.spin.setValue(step / SLIDER_STEPS)
        finally:
            self._updating = False
        self._changed()

    def _on_spin(self, value: float) -> None:
        if self._updating:
            return
        self._updating = True
        try:
            self.slider.setValue(round(value * SLIDER_STEPS))
        finally:
            self._updating = False
        self._changed()

    def _changed(self) -> None:
        self._emit_throttled(self.threshold())
        self._commit_debounced(self.threshold())
