"""Model > Fine-tune…: train on the reviewed labels while the annotator keeps working.

The dialog is non-modal. Start exports the labels into a run folder beside the project
(core.training.finetune_data) in a worker thread, with progress and Cancel (a large project
takes a while), then runs `maskloop train --progress jsonl` in a separate process
(gui.workers.training_process), whose events feed the live charts. When the run ends the
dialog shows the validation AP before and after, records the run in the project, and offers
"Use this model", which hot-swaps the proposal worker's detector through the host.

It sees the window only as a `ModelHost` (gui/model_host.py): the open project's store, the
model in use and a way to switch it. The model in use is asked for whenever the dialog is
shown and when a run starts, never remembered: the dialog lives on between runs, and the
model changes under it ("Use this model", Model history, Model > Choose…).
"""

from __future__ import annotations

import functools
import shutil
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import FunctionWorker

from core.detection.names import FROM_SCRATCH_ARCHITECTURES
from core.errors import MaskLoopError
from core.records import ModelRun
from core.store import ProjectStore
from core.training.finetune_data import (
    FinetuneData,
    TrainOptions,
    evaluate_model_ap,
    record_run,
    train_cli_args,
)
from gui.model_host import ModelHost
from gui.widgets.training_charts import TrainingCharts
from gui.workers.evaluation_task import ApEvaluator, ExportTask, start_evaluation
from gui.workers.training_process import (
    TrainerCommand,
    TrainingOutcome,
    TrainingProcess,
    maskloop_command,
)

BASE_ARCHITECTURES = ("lite", "r50-fpn-v2")
CHECKPOINT_CHOICE = "__checkpoint__"
CURRENT_CHOICE = "__current__"  # resolved to host.active_model() when asked, never cached
DEFAULT_MODEL = "lite"

CommandFactory = Callable[[FinetuneData, TrainOptions], TrainerCommand]


def default_trainer_command(data: FinetuneData, options: TrainOptions) -> TrainerCommand:
    return maskloop_command(train_cli_args(data, options))


@functools.lru_cache(maxsize=1)
def cuda_probably_available() -> bool:
    """Whether to offer "cuda", without importing torch on the GUI thread just for this.

    If torch is already loaded (the proposal worker imports it) its answer is exact;
    otherwise an NVIDIA driver tool on PATH is a good sign. The trainer reports a clear
    error if the guess is wrong, and the dialog shows it.
    """
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            return bool(torch.cuda.is_available())
        except Exception:  # a broken CUDA install must not stop the dialog opening
            return False
    return shutil.which("nvidia-smi") is not None


class FinetuneDialog(QDialog):
    """Choose a base model and data, train in a separate process, watch, compare, use.

    Signals:
        runFinished(TrainingOutcome): the trainer process ended (any way).
        startFailed(str): the export before training failed or was cancelled; no run.
        runRecorded(object): the ModelRun stored in the project for a run with a checkpoint.
        modelApplied(str): "Use this model" swapped the window's model to this checkpoint.
        compareRequested(str, str, str): "Compare before and after…": the base model, the new
            checkpoint and the validation ground truth (val.json), for the Evaluate view.
    """

    runFinished = Signal(object)
    startFailed = Signal(str)
    runRecorded = Signal(object)
    modelApplied = Signal(str)
    compareRequested = Signal(str, str, str)

    def __init__(
        self,
        host: ModelHost,
        parent: QWidget | None = None,
        *,
        trainer_command: CommandFactory = default_trainer_command,
        ap_evaluator: ApEvaluator = evaluate_model_ap,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fine-tune the model")
        self.setModal(False)  # annotating goes on while the model trains
        self._host = host
        self._trainer_command = trainer_command
        self._ap_evaluator = ap_evaluator
        self.process: TrainingProcess | None = None
        self.data: FinetuneData | None = None
        self.options: TrainOptions | None = None
        self.outcome: TrainingOutcome | None = None
        self.ap_before: float | None = None
        self.ap_after: float | None = None
        self._total_steps: int | None = None
        self._last_step: int | None = None
        self._ap_worker: FunctionWorker | None = None
        self._export: ExportTask | None = None
        self._stop_evaluation = threading.Event()
        self.project_path: Path | None = None  # the project the current run belongs to
        self._build()
        self._set_running(False)

    # -- layout -----------------------------------------------------------------------------
    def _build(self) -> None:
        self.checkpoint_edit = QLineEdit()
        self.checkpoint_edit.setPlaceholderText("path to a MaskLoop checkpoint (.pt)")
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self._browse_checkpoint)
        self.base_model_combo = QComboBox()
        self.refresh_base_models()
        self.base_model_combo.currentIndexChanged.connect(self._update_checkpoint_row)

        self.images_combo = QComboBox()
        self.images_combo.addItem("Reviewed images only", True)
        self.images_combo.addItem("All images with accepted labels", False)

        self.val_spin = QSpinBox()
        self.val_spin.setRange(5, 50)
        self.val_spin.setSuffix(" % of images")
        self.val_spin.setValue(20)

        self.epochs_radio = QRadioButton("Epochs")
        self.minutes_radio = QRadioButton("Minutes")
        self.epochs_radio.setChecked(True)
        self._duration_group = QButtonGroup(self)
        self._duration_group.addButton(self.epochs_radio)
        self._duration_group.addButton(self.minutes_radio)
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 1000)
        self.epochs_spin.setValue(10)
        self.minutes_spin = QDoubleSpinBox()
        self.minutes_spin.setRange(0.1, 24 * 60)
        self.minutes_spin.setValue(10.0)
        self.minutes_spin.setDecimals(1)

        self.device_combo = QComboBox()
        self.device_combo.addItem("CPU", "cpu")
        if cuda_probably_available():
            self.device_combo.addItem("GPU (CUDA)", "cuda")
            self.device_combo.setCurrentIndex(1)
        self.amp_check = QCheckBox("Mixed precision (autocast, GPU only)")
        self.device_combo.currentIndexChanged.connect(self._update_amp)
        self._update_amp()

        form = QFormLayout()
        form.addRow("Start from", self.base_model_combo)
        checkpoint_row = QHBoxLayout()
        checkpoint_row.addWidget(self.checkpoint_edit)
        checkpoint_row.addWidget(self.browse_button)
        form.addRow("Checkpoint", checkpoint_row)
        form.addRow("Train on", self.images_combo)
        form.addRow("Validation", self.val_spin)
        duration = QHBoxLayout()
        for widget in (self.epochs_radio, self.epochs_spin, self.minutes_radio, self.minutes_spin):
            duration.addWidget(widget)
        form.addRow("Train for", duration)
        form.addRow("Device", self.device_combo)
        form.addRow("", self.amp_check)
        self.settings_box = QGroupBox("Settings")
        self.settings_box.setLayout(form)
        self._update_checkpoint_row()

        self.charts = TrainingCharts()
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(0)
        self.status_label = QLabel("Ready.")
        self.status_label.setWordWrap(True)
        self.speed_label = QLabel("")
        self.eta_label = QLabel("")
        self.result_label = QLabel("")
        self.result_label.setWordWrap(True)

        self.start_button = QPushButton("Start training")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel training")
        self.cancel_button.clicked.connect(self.cancel)
        self.use_model_button = QPushButton("Use this model")
        self.use_model_button.setEnabled(False)
        self.use_model_button.clicked.connect(self.use_trained_model)
        self.compare_button = QPushButton("Compare before and after…")
        self.compare_button.setToolTip(
            "Open View > Evaluate on the validation images: the model before against the "
            "new one, per class, and the images where the new one got worse"
        )
        self.compare_button.setEnabled(False)
        self.compare_button.clicked.connect(self.request_comparison)
        self.close_button = QPushButton("Close")
        self.close_button.setToolTip(
            "Training goes on in the background; Model > Fine-tune… shows it again."
        )
        self.close_button.clicked.connect(self.hide)

        stats = QHBoxLayout()
        stats.addWidget(self.speed_label)
        stats.addStretch(1)
        stats.addWidget(self.eta_label)
        buttons = QHBoxLayout()
        buttons_in_row = (
            self.start_button,
            self.cancel_button,
            self.use_model_button,
            self.compare_button,
        )
        for button in buttons_in_row:
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.settings_box)
        layout.addWidget(self.charts, 1)
        layout.addWidget(self.progress_bar)
        layout.addLayout(stats)
        layout.addWidget(self.status_label)
        layout.addWidget(self.result_label)
        layout.addLayout(buttons)
        self.resize(900, 640)

    def _current_model(self) -> str | None:
        value = self._host.active_model()
        return str(value) if value else None

    def refresh_base_models(self) -> None:
        """Rebuild "Start from" around the model in use now, keeping the user's choice."""
        combo = self.base_model_combo
        chosen = combo.currentData() if combo.count() else CURRENT_CHOICE
        current = self._current_model()
        combo.blockSignals(True)
        combo.clear()
        if current:
            combo.addItem(f"Current model ({Path(current).name})", CURRENT_CHOICE)
        for arch in BASE_ARCHITECTURES:
            if arch != current:
                how = "from scratch" if arch == "lite" else "COCO-pretrained"
                combo.addItem(f"{arch} ({how})", arch)
        combo.addItem("Checkpoint file…", CHECKPOINT_CHOICE)
        index = combo.findData(chosen)
        combo.setCurrentIndex(max(index, 0))
        combo.blockSignals(False)
        self._update_checkpoint_row()

    def showEvent(self, event: QShowEvent) -> None:
        if not self.is_running():  # the settings are locked while a run uses them
            self.refresh_base_models()
        super().showEvent(event)

    def _update_checkpoint_row(self) -> None:
        wants_file = self.base_model_combo.currentData() == CHECKPOINT_CHOICE
        self.checkpoint_edit.setEnabled(wants_file)
        self.browse_button.setEnabled(wants_file)

    def _update_amp(self) -> None:
        on_gpu = self.device_combo.currentData() == "cuda"
        self.amp_check.setEnabled(on_gpu)
        if not on_gpu:
            self.amp_check.setChecked(False)

    def _browse_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a checkpoint", "", "MaskLoop checkpoints (*.pt *.pth);;All files (*)"
        )
        if path:
            self.checkpoint_edit.setText(path)

    # -- choices ----------------------------------------------------------------------------
    def base_model(self) -> str:
        choice = self.base_model_combo.currentData()
        if choice == CURRENT_CHOICE:
            current = self._current_model()
            if current is None:
                raise MaskLoopError(
                    "No model is in use any more; choose a pretrained model to start from."
                )
            return current
        if choice != CHECKPOINT_CHOICE:
            return str(choice)
        path = self.checkpoint_edit.text().strip()
        if not path:
            raise MaskLoopError("Choose a checkpoint file to start from, or a pretrained model.")
        if not Path(path).is_file():
            raise MaskLoopError(f"The checkpoint {path} does not exist.")
        return path

    def configure_run(self, base_model: str, *, minutes: float) -> None:
        """Preset the next run (the demo's first model): start from `base_model` (an
        architecture trains from scratch or from its COCO weights) for `minutes`."""
        index = self.base_model_combo.findData(base_model)
        if index < 0:
            raise MaskLoopError(f"{base_model} is not a model this dialog can start from.")
        self.base_model_combo.setCurrentIndex(index)
        self.minutes_radio.setChecked(True)
        self.minutes_spin.setValue(max(self.minutes_spin.minimum(), minutes))

    def train_options(self) -> TrainOptions:
        by_epochs = self.epochs_radio.isChecked()
        return TrainOptions(
            base_model=self.base_model(),
            epochs=self.epochs_spin.value() if by_epochs else None,
            minutes=None if by_epochs else self.minutes_spin.value(),
            device=str(self.device_combo.currentData()),
            amp=self.amp_check.isChecked(),
        )

    # -- running ----------------------------------------------------------------------------
    def is_running(self) -> bool:
        """Whether a run is under way: its labels being exported, or its trainer running."""
        return self.is_exporting() or (self.process is not None and self.process.is_running())

    def is_exporting(self) -> bool:
        return self._export is not None and self._export.is_running()

    @Slot()
    def start(self) -> bool:
        """Start a run: export the labels in a worker thread, then start the trainer.

        False (with the reason shown) if it cannot start at all. The export's own failures
        (too few reviewed images, a full disk) arrive later: status shown, startFailed(str).
        `process` exists from here on, so its events can be connected before it runs.
        """
        if self.is_running():
            return False
        store = self._host.store
        if store is None:
            self._show_status("Open a project first.", error=True)
            return False
        self.refresh_base_models()  # "Current model" is the one in use at this moment
        try:
            options = self.train_options()
        except MaskLoopError as exc:
            self._show_status(str(exc), error=True)
            return False
        self.options, self.data = options, None
        self.project_path = Path(store.path)
        self.outcome, self.ap_before, self.ap_after = None, None, None
        self._total_steps, self._last_step = None, None
        self.charts.clear()
        self.progress_bar.setValue(0)
        self.result_label.setText("")
        self.use_model_button.setEnabled(False)
        self.compare_button.setEnabled(False)
        self.speed_label.setText("")
        self.eta_label.setText("")

        self.process = TrainingProcess(self)
        self.process.trainerEvent.connect(self._on_event)
        self.process.finished.connect(self._on_finished)
        self._export = ExportTask(
            self.project_path,
            base_model=options.base_model,
            reviewed_only=bool(self.images_combo.currentData()),
            val_fraction=self.val_spin.value() / 100.0,
            parent=self,
        )
        self._export.progress.connect(self._on_export_progress)
        self._export.exported.connect(self._on_exported)
        self._export.failed.connect(self._on_export_failed)
        self._export.cancelled.connect(self._on_export_cancelled)
        self._set_running(True)
        self._show_status("Exporting the labels for training…")
        self._export.start()
        return True

    @Slot(int, int)
    def _on_export_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress_bar.setValue(int(round(1000 * min(done / total, 1.0))))
        self._show_status(f"Exporting the labels for training: {done} of {total}…")

    @Slot(object)
    def _on_exported(self, data: FinetuneData) -> None:
        assert self.process is not None and self.options is not None
        self.data = data
        self.progress_bar.setValue(0)
        self._show_status(
            f"Training on {data.train_images} images ({data.train_annotations} labels), "
            f"validating on {data.val_images}; run folder {data.run_dir}."
        )
        self.process.start(self._trainer_command(data, self.options))

    @Slot(str)
    def _on_export_failed(self, message: str) -> None:
        self._end_export()
        self._show_status(message, error=True)
        self.startFailed.emit(message)

    @Slot()
    def _on_export_cancelled(self) -> None:
        self._end_export()
        self._show_status("Cancelled before training started; no run folder was kept.")
        self.startFailed.emit("cancelled")

    def _end_export(self) -> None:
        self.process = None
        self.progress_bar.setValue(0)
        self._set_running(False)

    @Slot()
    def cancel(self) -> None:
        export, process = self._export, self.process
        if export is not None and export.is_running():
            self._show_status("Cancelling the export…")
            self.cancel_button.setEnabled(False)
            export.cancel()
        elif process is not None and process.is_running():
            self._show_status("Cancelling: the trainer saves its best checkpoint and stops…")
            self.cancel_button.setEnabled(False)
            process.cancel()

    def shutdown(self) -> None:
        """Stop everything this dialog started (the app is quitting)."""
        if self._export is not None:
            self._export.cancel()  # the worker removes its half-written run folder
        if self.process is not None and self.process.is_running():
            self.process.kill()
            self.process.wait_for_finished(5000)
        self._stop_evaluation.set()  # the evaluation worker stops at its next image

    def _set_running(self, running: bool) -> None:
        self.settings_box.setEnabled(not running)
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def _show_status(self, text: str, *, error: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet("color: #b00020;" if error else "")

    @Slot(dict)
    def _on_event(self, event: dict) -> None:
        kind = event.get("event")
        self.charts.add_event(event)
        if kind == "start":
            total = event.get("total_steps")
            self._total_steps = (
                int(total) if isinstance(total, (int, float)) and total > 0 else None
            )
        elif kind == "step":
            self._show_step(event)
        elif kind == "eval":
            ap = event.get("segm_ap")
            if isinstance(ap, (int, float)):
                self._show_status(f"Step {event.get('step')}: validation mask AP {ap:.3f}")
        elif kind == "checkpoint":
            self._show_status(f"Saved a better model: {event.get('path')}")

    def _show_step(self, event: dict) -> None:
        step, eta, elapsed = event.get("step"), event.get("eta_s"), event.get("elapsed_s")
        if isinstance(step, int):
            self._last_step = step
        if self._total_steps and isinstance(step, (int, float)):
            fraction = step / self._total_steps
        elif (
            isinstance(eta, (int, float))
            and isinstance(elapsed, (int, float))
            and eta + elapsed > 0
        ):
            fraction = elapsed / (elapsed + eta)  # a time-budgeted run knows time, not steps
        else:
            fraction = None
        if fraction is not None:
            self.progress_bar.setValue(int(round(1000 * min(max(fraction, 0.0), 1.0))))
        speed = event.get("images_per_s")
        if isinstance(speed, (int, float)):
            self.speed_label.setText(f"{speed:.1f} images/s")
        if isinstance(eta, (int, float)):
            self.eta_label.setText(f"about {_duration(eta)} left")
        loss = event.get("loss")
        if isinstance(loss, (int, float)):
            self._show_status(f"Epoch {event.get('epoch')}, step {step}: loss {loss:.4f}")

    @Slot(object)
    def _on_finished(self, outcome: TrainingOutcome) -> None:
        self.outcome = outcome
        self._set_running(False)
        self.eta_label.setText("")
        if outcome.status == "finished":
            self.progress_bar.setValue(1000)
        if outcome.status == "failed":
            self._show_status(
                "Training failed; your annotations are safe.\n" + outcome.message, error=True
            )
        elif outcome.status == "cancelled":
            kept = (
                f" The last good model is kept: {outcome.checkpoint}" if outcome.checkpoint else ""
            )
            self._show_status("Training cancelled." + kept)
        else:
            self._show_status(f"Training finished. Model saved to {outcome.checkpoint}")
        self.runFinished.emit(outcome)
        if outcome.checkpoint is None or outcome.status == "failed":
            return
        self.ap_after = outcome.best_segm_ap
        self.ap_before = outcome.ap_before
        from_scratch = self.options is not None and (
            self.options.base_model in FROM_SCRATCH_ARCHITECTURES
        )
        if self.ap_before is None and from_scratch:
            self._conclude("Trained from scratch: there is no model before to compare with.")
        elif self.ap_before is None and self.data is not None and self.data.val_images:
            self._evaluate_base_model()
        else:
            self._conclude()

    def _evaluate_base_model(self) -> None:
        assert self.data is not None and self.options is not None
        self.result_label.setText("Measuring the base model's validation AP…")
        self._ap_worker = start_evaluation(
            self._ap_evaluator,
            self.options.base_model,
            self.data,
            self.options.device,
            self._stop_evaluation,
            on_result=self._on_ap_before,
            on_failed=self._on_ap_before_failed,
        )

    @Slot(object)
    def _on_ap_before(self, ap: float | None) -> None:
        self.ap_before = ap
        self._conclude()

    @Slot(str)
    def _on_ap_before_failed(self, message: str) -> None:
        self._conclude(note=f"(The base model could not be evaluated: {message})")

    def _conclude(self, note: str = "") -> None:
        """Show before/after, record the run, offer the model."""
        assert self.outcome is not None and self.data is not None and self.options is not None
        text = f"Validation mask AP: before {_ap(self.ap_before)}, after {_ap(self.ap_after)}"
        if self.ap_before is not None and self.ap_after is not None:
            text += f" ({self.ap_after - self.ap_before:+.3f})"
        self.result_label.setText(f"{text}. {note}".strip())
        try:
            run = self._record_run()
        except MaskLoopError as exc:
            self._show_status(f"The run could not be recorded in the project: {exc}", error=True)
        else:
            self.runRecorded.emit(run)
        # A listener of runRecorded may have put the model to use already (the demo).
        in_use = self._host.active_model() == self.outcome.checkpoint
        self.use_model_button.setEnabled(self.project_is_open() and not in_use)
        # A model trained from scratch has no "before" worth comparing with.
        has_before = self.options.base_model not in FROM_SCRATCH_ARCHITECTURES
        self.compare_button.setEnabled(
            self.project_is_open() and has_before and bool(self.data.val_images)
        )

    def project_is_open(self) -> bool:
        """Whether the window still shows the project this run was trained for."""
        store = self._host.store
        return store is not None and Path(store.path) == self.project_path

    def _record_run(self) -> ModelRun:
        outcome, data, options = self.outcome, self.data, self.options
        assert outcome is not None and data is not None and options is not None
        assert outcome.checkpoint is not None and self.project_path is not None
        extra = {
            "cancelled": outcome.status == "cancelled",
            "status": outcome.status,
            "epochs": options.epochs,
            "minutes": options.minutes,
            "steps": self._last_step,
            "device": options.device,
        }

        def record(store: ProjectStore) -> ModelRun:
            return record_run(
                store,
                data,
                base_model=options.base_model,
                checkpoint=outcome.checkpoint or "",
                ap_before=self.ap_before,
                ap_after=self.ap_after,
                extra=extra,
            )

        store = self._host.store
        if store is not None and self.project_is_open():
            return record(store)
        # The annotator switched projects while this one trained: record it where it belongs.
        with ProjectStore.open(self.project_path) as own:
            return record(own)

    @Slot()
    def request_comparison(self) -> None:
        """Ask the window's Evaluate view to compare the base model with the new one."""
        if self.outcome is None or not self.outcome.checkpoint or self.options is None:
            return
        if self.data is None or not self.project_is_open():
            return
        self.compareRequested.emit(
            self.options.base_model, self.outcome.checkpoint, str(self.data.val_json)
        )

    def use_trained_model(self) -> None:
        """Hot-swap: proposals for unreviewed images come from the new model from now on."""
        if self.outcome is None or not self.outcome.checkpoint or not self.project_is_open():
            return
        self._host.apply_model(self.outcome.checkpoint)
        self.use_model_button.setEnabled(False)
        self._show_status(f"Now proposing with {self.outcome.checkpoint}")
        self.modelApplied.emit(self.outcome.checkpoint)


def _ap(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
