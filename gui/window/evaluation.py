"""The analyst's view: evaluate labels against predictions without leaving the annotator.

`EvaluationController` owns the Evaluation dock's data. "Evaluate" starts the evaluation's
own process (gui/workers/evaluation_process.py): it reads the sources, prepares
`EvaluationData` (IoUs computed once) and runs COCOeval there, so Python's lock they hold
for seconds is never the window's. The process keeps the data; moving the score or IoU
slider asks it to re-match, throttled, never re-running a model, and the answer comes back
as arrays (core.evaluation.compact) that the counts, the per-class table, the confusion
matrix, the image list's order and the canvas's TP/FP/FN marks read what they show from.
Next/previous error walk the match's errors by position.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRectF
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget
from superqt.utils import qdebounced, qthrottled

from core.errors import Cancelled, MaskLoopError
from core.evaluation.compact import MatchArrays
from core.evaluation.matching import (
    BACKGROUND,
    ClassMetrics,
    Counts,
    ErrorRef,
    MatchSettings,
)
from core.evaluation.metrics import EvalResult
from core.store import ProjectStore
from gui.canvas.match_overlay import MatchMark
from gui.canvas.view import CanvasView
from gui.categories import ProjectCategories
from gui.docks.evaluation_dock import (
    GT_FILE,
    GT_PROJECT,
    ORDER_F1,
    ORDER_FN,
    ORDER_FP,
    PRED_FILE,
    PRED_MODEL,
    PRED_NONE,
    PRED_PROPOSALS,
    EvaluationDock,
    InstanceRef,
    SourceRow,
)
from gui.docks.image_list import ImageListDock
from gui.document import ImageDocument, is_proposal
from gui.window.navigation import NavigationController
from gui.window.status import WorkStatus
from gui.workers.evaluation_process import EvaluationSession
from gui.workers.evaluation_run import (
    IOU_TYPES,
    MODEL_SOURCE_PREFIX,
    EvaluationOutcome,
    EvaluationRequest,
    MatchView,
    model_source,
)
from gui.workers.tasks import Task

# Tasks still running when their project closed: kept alive (and cut off from the view)
# until their worker ends, so no worker thread ever reports to a deleted object.
_DETACHED: set[Task] = set()


def _detach(task: Task | None) -> None:
    if task is None or task.done:
        return
    task.cancel()
    with warnings.catch_warnings():  # PySide6 warns for a signal with nothing connected
        warnings.simplefilter("ignore", RuntimeWarning)
        for signal in (task.progressed, task.succeeded, task.failed, task.finished):
            signal.disconnect()
    _DETACHED.add(task)
    task.finished.connect(lambda t=task: _DETACHED.discard(t))


REMATCH_THROTTLE_MS = 80  # a dragged slider re-matches at most this often
CURVES_DELAY_MS = 500  # PR curves follow the IoU slider once it rests this long
REFRESH_AFTER_EDITS_MS = 1200  # edits re-evaluate once they pause this long
CELL_ROWS_SHOWN = 1000  # a confusion cell lists at most this many (a TP cell can hold 40,000)
BOX_TOLERANCE_PX = 0.75  # a stored proposal is the prediction when their boxes agree this well


class EvaluationController(QObject):
    """Evaluate, re-match live, mark the canvas, order the image list, walk the errors."""

    def __init__(
        self,
        *,
        dock: EvaluationDock,
        canvas: CanvasView,
        image_list: ImageListDock,
        navigation: NavigationController,
        work_status: WorkStatus,
        evaluate_action: QAction,
        next_error_action: QAction,
        prev_error_action: QAction,
        dialog_parent: QWidget,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.dock = dock
        self._canvas = canvas
        self._image_list = image_list
        self._navigation = navigation
        self._status = work_status
        self._dialog_parent = dialog_parent
        self._store: ProjectStore | None = None
        self.task: Task | None = None
        self._running: EvaluationSession | None = None  # the process evaluating now
        self._session: EvaluationSession | None = None  # the process of the shown outcome
        self.outcome: EvaluationOutcome | None = None
        self.result: MatchArrays | None = None
        self._error_pos: int | None = None
        self.current_error: ErrorRef | None = None
        # Set by the miss causes (gui/window/miss_causes.py): F8 visits only what it accepts.
        self.error_filter: Callable[[ErrorRef], bool] | None = None
        self._image_counts: dict[int, Counts] = {}  # by project image id
        self._list_hooked = False
        self._shown_classes_for: tuple[str, float] | None = None
        self._curves_at: dict[str, float] = {}  # IoU step of each type's PR curves
        self._curves_task: Task | None = None
        self._curves_pending = False
        self._curves_soon = qdebounced(self._recompute_curves, timeout=CURVES_DELAY_MS, parent=self)
        self.view: MatchView | None = None
        self._eval_of: dict[int, int] = {}  # project image id -> evaluation image id
        self._match_task: Task | None = None
        self._match_pending = False
        self._rematch_soon = qthrottled(
            self.rematch_in_background, timeout=REMATCH_THROTTLE_MS, parent=self
        )
        self._refresh_soon = qdebounced(
            self._refresh_after_edit, timeout=REFRESH_AFTER_EDITS_MS, parent=self
        )
        self._watched: ImageDocument | None = None
        self._pending_refresh = False
        dock.hide()
        dock.toggleViewAction().setVisible(False)  # View > Evaluate is its toggle
        evaluate_action.setCheckable(True)
        evaluate_action.toggled.connect(dock.setVisible)
        dock.visibilityChanged.connect(self._on_visibility)
        self._evaluate_action = evaluate_action
        next_error_action.triggered.connect(self.next_error)
        prev_error_action.triggered.connect(self.prev_error)
        dock.evaluateRequested.connect(self.evaluate)
        dock.cancelRequested.connect(self.cancel)
        dock.settingsChanged.connect(self._rematch_soon)
        dock.imageOrderChanged.connect(self._apply_image_order)
        dock.errorStep.connect(self.step_error)
        dock.confusionCellClicked.connect(self._show_cell)
        dock.instanceActivated.connect(self._go_to_ref)
        dock.imageRequested.connect(self._go_to_eval_image)
        navigation.imageShown.connect(lambda *_a: self._refresh_overlay())
        navigation.documentChanged.connect(self._watch)

    # ---- project ---------------------------------------------------------------------------
    def open(self, store: ProjectStore, _categories: ProjectCategories) -> None:
        self._store = store

    def close(self) -> None:
        self._refresh_soon.cancel()
        self._rematch_soon.cancel()
        self._pending_refresh = False
        self._curves_soon.cancel()
        self._curves_pending = False
        _detach(self.task)
        _detach(self._match_task)
        _detach(self._curves_task)
        for session in (self._running, self._session):
            if session is not None:
                session.terminate()
        self._running = self._session = None
        self._curves_task = None
        self.task = None
        self._match_task = None
        self._store = None
        self.outcome = None
        self.result = None
        self.view = None
        self._match_pending = False
        self._eval_of = {}
        self._error_pos, self.current_error = None, None
        self._image_counts = {}
        self._unhook_list()
        self._canvas.set_match_overlay(None)
        self._evaluate_action.setChecked(False)

    # ---- evaluating ------------------------------------------------------------------------
    def request(self) -> EvaluationRequest | None:
        """What the dock asks for; None (and a message) when a file is missing."""
        if self._store is None:
            return None
        d = self.dock
        gt_file = d.ground_truth.path.text().strip() if d.ground_truth.choice() == GT_FILE else None
        pred = d.predictions.choice()
        if pred == PRED_FILE:
            pred = d.predictions.path.text().strip()
        b: str | None = d.compare_with.choice()
        if b == PRED_NONE:
            b = None
        elif b == PRED_FILE:
            b = d.compare_with.path.text().strip()
        if gt_file == "" or pred == "" or b == "":
            d.status.setText("Choose a COCO file for every source set to a file.")
            return None
        return EvaluationRequest(
            Path(self._store.path), gt_file, pred, b, d.settings(), d.backend_choice()
        )

    def compare_models(self, base_model: str, checkpoint: str, val_json: str) -> Task | None:
        """The fine-tune dialog's "Compare before and after…": both models run now on the
        run's validation images, the one before as A, the new one as B."""
        return self.evaluate_sources(
            model_source(base_model),
            compare_with=model_source(checkpoint),
            ground_truth_file=val_json,
        )

    def evaluate_sources(
        self,
        predictions: str,
        compare_with: str | None = None,
        *,
        ground_truth_file: str | None = None,
    ) -> Task | None:
        """Open the view on these sources and evaluate: each of `predictions` and
        `compare_with` is PRED_PROPOSALS, PRED_MODEL or a COCO results file's path (for the
        fine-tune dialog's "AP before and after": the file of the model before as A, the
        current model as B)."""
        d = self.dock

        def choose(row: SourceRow, source: str | None) -> None:
            if source is None:
                row.set_choice(PRED_NONE)
            elif source in (PRED_PROPOSALS, PRED_MODEL):
                row.set_choice(source)
            elif source.startswith(MODEL_SOURCE_PREFIX):
                row.set_model(source, Path(source[len(MODEL_SOURCE_PREFIX) :]).stem)
            else:
                row.set_choice(PRED_FILE, source)

        choose(d.predictions, predictions)
        choose(d.compare_with, compare_with)
        if ground_truth_file is None:
            d.ground_truth.set_choice(GT_PROJECT)
        else:
            d.ground_truth.set_choice(GT_FILE, ground_truth_file)
        self._evaluate_action.setChecked(True)
        if compare_with is not None:
            d.tabs.setCurrentIndex(d.tabs.count() - 1)
        return self.evaluate()

    def evaluate(self) -> Task | None:
        """Start the evaluation in its own process (progress and Cancel in the dock)."""
        if self.task is not None and not self.task.done:
            return self.task
        request = self.request()
        if request is None:
            return None
        self.dock.set_running(True)
        self.dock.status.setText("Evaluating…")
        session = EvaluationSession(request)
        self._running = session
        task = session.evaluation
        task.progressed.connect(self.dock.set_progress)
        task.succeeded.connect(lambda outcome, t=task: self._on_done(t, outcome))
        task.failed.connect(lambda error, t=task: self._on_failed(t, error))
        self.task = task
        return task

    def cancel(self) -> None:
        if self.task is not None and not self.task.done:
            self.task.cancel()

    def _on_done(self, task: Task, outcome: EvaluationOutcome) -> None:
        if task is not self.task:
            return  # the project closed or another evaluation started
        if self._session is not None:
            self._session.terminate()  # its data is no longer shown
        self._session, self._running = self._running, None
        self._match_task = self._curves_task = None  # answers of the old process
        self._match_pending = self._curves_pending = False
        self.dock.set_running(False)
        if self._pending_refresh:
            self._pending_refresh = False
            self._refresh_soon()
        self.outcome = outcome
        step = coco_iou_step(outcome.request.settings.iou_threshold)
        self._curves_at = {iou_type: step for iou_type in IOU_TYPES}
        self._eval_of = {p: e for e, p in outcome.project_ids.items()}
        self.dock.show_metrics([outcome.metrics[t][0] for t in IOU_TYPES])
        self._shown_classes_for = None
        self._show_comparison()
        self.dock.status.setText(_outcome_line(outcome))
        if outcome.view is not None and outcome.view.result.settings == self.dock.settings():
            self._apply_view(outcome.view)
        else:  # the sliders moved while it ran
            self.rematch_in_background()

    def _on_failed(self, task: Task, error: object) -> None:
        if task is not self.task:
            return
        self._running = None  # its process has ended or is ending
        self.dock.set_running(False)
        if self._pending_refresh:
            self._pending_refresh = False
            self._refresh_soon()
        if isinstance(error, Cancelled):
            self.dock.status.setText("Evaluation cancelled.")
        elif isinstance(error, MaskLoopError):
            self.dock.status.setText(str(error))
        else:
            self.dock.status.setText(f"Evaluation failed: {error}")

    # ---- re-matching (sliders) -------------------------------------------------------------
    def rematch_in_background(self) -> None:
        """A slider moved: the evaluation's process re-matches (at 5,000 images a match
        takes longer than a frame); while one runs, the latest thresholds wait for it and
        go next."""
        outcome, session = self.outcome, self._session
        if outcome is None or session is None:
            return
        if self._match_task is not None and not self._match_task.done:
            self._match_pending = True
            return
        task = session.submit("match", self.dock.settings())
        task.succeeded.connect(lambda view, o=outcome: self._on_matched(o, view))
        task.finished.connect(self._after_match)
        self._match_task = task

    def _on_matched(self, outcome: EvaluationOutcome, view: MatchView) -> None:
        if outcome is self.outcome and not self._match_pending:
            self._apply_view(view)

    def _after_match(self) -> None:
        if self._match_pending:
            self._match_pending = False
            self.rematch_in_background()

    def _apply_view(self, view: MatchView) -> None:
        """Show one match everywhere: counts, table, curves' points, confusion, list, canvas."""
        outcome = self.outcome
        if outcome is None:
            return
        result = view.result
        settings = result.settings
        table = outcome.tables[settings.iou_type]
        self.view = view
        self.result = result
        pos = result.index_of(self.current_error) if self.current_error else None
        if pos is None:
            self.current_error = None
        self._error_pos = pos
        curves_at = self._curves_at.get(settings.iou_type, coco_iou_step(settings.iou_threshold))
        if self._shown_classes_for != (settings.iou_type, curves_at):
            self._shown_classes_for = (settings.iou_type, curves_at)
            self.dock.show_classes(outcome.metrics[settings.iou_type][1], curves_at)
        if coco_iou_step(settings.iou_threshold) != curves_at:
            self._curves_soon()
        self.dock.class_model.set_counts(view.class_counts)
        for category_id, counts in view.class_counts.items():
            instances = counts.tp + counts.fn
            point = (counts.recall, counts.precision) if instances else None
            self.dock.pr_curves.set_operating_point(category_id, point)
        self.dock.show_counts(view.total)
        names = [
            "background" if c == BACKGROUND else table.category_names.get(c, str(c))
            for c in view.confusion_ids
        ]
        self.dock.show_confusion(names, view.confusion_counts)
        ids, tp, fp, fn = result.image_count_arrays()
        project_ids = outcome.project_ids
        self._image_counts = {
            project_ids[i]: Counts(t, p, f)
            for i, t, p, f in zip(ids.tolist(), tp.tolist(), fp.tolist(), fn.tolist(), strict=True)
            if i in project_ids
        }
        self._apply_image_order()
        self._refresh_overlay()

    # ---- PR curves at another IoU ----------------------------------------------------------
    def _recompute_curves(self) -> None:
        """COCOeval again at the slider's IoU step, in a task (seconds on a big project)."""
        outcome, session = self.outcome, self._session
        if outcome is None or session is None:
            return
        if self._curves_task is not None and not self._curves_task.done:
            self._curves_pending = True
            return
        settings = self.dock.settings()
        task = session.submit("curves", settings)
        task.succeeded.connect(
            lambda metrics, o=outcome, s=settings: self._on_curves(o, s, metrics)
        )
        task.finished.connect(self._after_curves)
        self._curves_task = task

    def _on_curves(
        self,
        outcome: EvaluationOutcome,
        settings: MatchSettings,
        metrics: tuple[EvalResult, list[ClassMetrics]],
    ) -> None:
        if outcome is not self.outcome:
            return
        outcome.metrics[settings.iou_type] = metrics
        self._curves_at[settings.iou_type] = coco_iou_step(settings.iou_threshold)
        if self.view is not None:
            self._apply_view(self.view)

    def _after_curves(self) -> None:
        if self._curves_pending:
            self._curves_pending = False
            self._recompute_curves()

    # ---- image list ------------------------------------------------------------------------
    def image_counts(self) -> dict[int, Counts]:
        """TP/FP/FN per project image at the current thresholds."""
        return dict(self._image_counts)

    def _apply_image_order(self) -> None:
        order = self.dock.image_order()
        errors_only = self.dock.errors_only()
        if self.result is None or (order not in (ORDER_FP, ORDER_FN, ORDER_F1) and not errors_only):
            self._unhook_list()
            return
        counts = self._image_counts
        none = Counts(0, 0, 0)

        def key(image_id: int) -> tuple[int, float, int]:
            c = counts.get(image_id)
            if c is None:
                return (1, 0.0, image_id)  # not evaluated: after every evaluated image
            value = {ORDER_FP: -c.fp, ORDER_FN: -c.fn, ORDER_F1: c.f1}.get(order, 0.0)
            return (0, float(value), image_id)

        self._list_hooked = True
        self._image_list.set_sort_key(key if order in (ORDER_FP, ORDER_FN, ORDER_F1) else None)
        if errors_only:
            self._image_list.set_predicate(
                lambda i: (counts.get(i, none).fp + counts.get(i, none).fn) > 0
            )
        else:
            self._image_list.set_predicate(None)

    def _unhook_list(self) -> None:
        # Only undo what this view did: the unsure-first order owns the sort key otherwise.
        if self._list_hooked:
            self._list_hooked = False
            self._image_list.set_sort_key(None)
            self._image_list.set_predicate(None)

    # ---- canvas ----------------------------------------------------------------------------
    def marks_for(self, project_image_id: int) -> list[MatchMark]:
        """TP, FP and FN of one image at the current thresholds, as the canvas draws them."""
        outcome, result = self.outcome, self.result
        eval_id = self._eval_of.get(project_image_id)
        if outcome is None or result is None or eval_id is None:
            return []
        table = outcome.tables[result.settings.iou_type]
        names = table.category_names
        error = self.current_error
        marks = []
        for p in result.predictions_of(eval_id):
            box = table.prediction_box(p.index)
            current = error is not None and error.prediction == p.index
            if p.outcome == "tp":
                marks.append(MatchMark("tp", box, f"TP {p.score:.2f}", current))
                continue
            label = f"FP {p.score:.2f} · IoU {p.best_iou:.2f}"
            if p.confused_with is not None:
                label += f" · {names.get(p.confused_with, '?')} as {names.get(p.category_id, '?')}"
            marks.append(MatchMark("fp", box, label, current))
        for g in result.misses_of(eval_id):
            gt_box = table.gt_box_of(g.annotation_id)
            if gt_box is None:
                continue
            current = error is not None and error.annotation_id == g.annotation_id
            label = f"FN {names.get(g.category_id, '?')}"
            if g.best_prediction is not None:
                label += f" · best IoU {g.best_iou:.2f}"
            marks.append(MatchMark("fn", gt_box, label, current))
        return marks

    def _refresh_overlay(self) -> None:
        image_id = self._navigation.current_image_id
        if self.result is None or not self.dock.isVisible() or image_id is None:
            self._canvas.set_match_overlay(None)
            return
        self._canvas.set_match_overlay(self.marks_for(image_id))

    # ---- refresh after edits ---------------------------------------------------------------
    def _watch(self, document: ImageDocument | None) -> None:
        """Follow the current image's edits: an FP rejected or an FN fixed re-evaluates."""
        signals = ("annotationAdded", "annotationChanged", "annotationRemoved", "reviewedChanged")
        if self._watched is not None:
            for name in signals:
                getattr(self._watched, name).disconnect(self._on_edit)
        self._watched = document
        if document is not None:
            for name in signals:
                getattr(document, name).connect(self._on_edit)

    def _on_edit(self, *_args: object) -> None:
        if self.outcome is not None and self.dock.auto_refresh.isChecked():
            self._refresh_soon()

    def _refresh_after_edit(self) -> None:
        if self.outcome is None or self._store is None:
            return
        if self.task is not None and not self.task.done:
            self._pending_refresh = True  # evaluate again when this one ends
            return
        self.evaluate()

    def _on_visibility(self, visible: bool) -> None:
        if visible and self._store is None:
            # A window state saved with the dock open must not show it on the start page.
            self.dock.hide()
            return
        if self._evaluate_action.isChecked() != self.dock.isVisible():
            self._evaluate_action.setChecked(self.dock.isVisible())
        self._refresh_overlay()

    # ---- walking the errors ----------------------------------------------------------------
    def next_error(self) -> ErrorRef | None:
        return self.step_error(1)

    def prev_error(self) -> ErrorRef | None:
        return self.step_error(-1)

    def step_error(self, step: int) -> ErrorRef | None:
        """Go to the next (+1) or previous (-1) FP/FN, from the image on screen."""
        result = self.result
        if result is None or not result.error_count:
            self._status.show_message(
                "No errors at these thresholds."
                if result is not None
                else "Evaluate first (View > Evaluate)."
            )
            return None
        count = result.error_count
        pos = self._error_pos
        outcome = self.outcome
        current = self._navigation.current_image_id
        here = (
            outcome is not None
            and pos is not None
            and outcome.project_ids.get(result.error_at(pos).image_id) == current
        )
        if pos is None or not here:
            eval_id = self._eval_of.get(current) if current is not None else None
            pos = result.first_error_from(eval_id, step)
        else:
            pos = (pos + step) % count
        if self.error_filter is not None:
            for _ in range(count):
                if self.error_filter(result.error_at(pos)):
                    break
                pos = (pos + step) % count
            else:
                self._status.show_message("No errors of the chosen cause at these thresholds.")
                return None
        self._error_pos = pos
        ref = result.error_at(pos)
        self.current_error = ref
        hint = self._go_to_ref(InstanceRef(ref.image_id, ref.prediction, ref.annotation_id))
        self._status.show_message(
            f"Error {pos + 1} of {count} ({ref.kind.upper()}).{hint}", about_image=True
        )
        return ref

    def _go_to_ref(self, ref: InstanceRef) -> str:
        """Show the instance: its image, its mark current, centred, selected for a fix."""
        outcome, result = self.outcome, self.result
        if outcome is None or result is None:
            return ""
        project_id = outcome.project_ids.get(ref.image_id)
        if project_id is None:
            return " That image is not in this project."
        if self.current_error is None or (
            self.current_error.prediction != ref.prediction
            or self.current_error.annotation_id != ref.annotation_id
        ):
            fp = ref.prediction is not None and ref.annotation_id is None
            self.current_error = ErrorRef(
                "fp" if fp else "fn", ref.image_id, ref.prediction, ref.annotation_id
            )
        self._navigation.go_to_image(project_id)
        self._refresh_overlay()
        table = outcome.tables[result.settings.iou_type]
        box: tuple[float, float, float, float] | None = None
        prediction = ref.prediction
        if ref.annotation_id is not None:
            box = table.gt_box_of(ref.annotation_id)
            if prediction is None:
                match = result.ground_truth_match(ref.annotation_id)
                prediction = match.best_prediction if match is not None else None
            if prediction is None:
                # Missed at this score cut: the best-overlapping prediction at any score (the
                # low-score proposal the analyst may accept).
                prediction = table.candidate(ref.annotation_id)
        elif prediction is not None:
            box = table.prediction_box(prediction)
        if box is not None:
            self._canvas.centerOn(QRectF(*box).center())
        return self._select_for_fix(ref, prediction)

    def _select_for_fix(self, ref: InstanceRef, prediction: int | None) -> str:
        """Select what the analyst most likely fixes: the stored proposal (Enter accepts it,
        Delete rejects it) or else, on the project's own labels, the missed label. Returns
        a hint for the status bar when the proposal cannot be selected."""
        outcome = self.outcome
        document = self._navigation.current_document
        if outcome is None or document is None:
            return ""
        if prediction is not None and outcome.request.predictions == PRED_PROPOSALS:
            table = outcome.tables["segm"]
            category = int(table.pred_category[prediction])
            box = table.prediction_box(prediction)
            proposal = _stored_proposal(document.annotations(), category, box)
            item = self._canvas.item_for(proposal) if proposal is not None else None
            if proposal is not None and item is not None and item.isVisible():
                self._canvas.select_annotation(proposal)
                return " Enter accepts the selected proposal."
            if proposal is not None:
                score = float(table.pred_score[prediction])
                return (
                    f" Its proposal ({score:.2f}) is hidden below the proposal threshold:"
                    " lower it in the Model dock to accept it."
                )
        if (
            ref.annotation_id is not None
            and outcome.request.ground_truth_file is None
            and document.has_annotation(ref.annotation_id)
        ):
            self._canvas.select_annotation(ref.annotation_id)
        return ""

    def _go_to_eval_image(self, eval_image_id: int) -> None:
        outcome = self.outcome
        project_id = outcome.project_ids.get(eval_image_id) if outcome is not None else None
        if project_id is not None:
            self._navigation.go_to_image(project_id)

    # ---- confusion and comparison ----------------------------------------------------------
    def _show_cell(self, row: int, column: int) -> None:
        outcome, result = self.outcome, self.result
        if outcome is None or result is None:
            return
        table = outcome.tables[result.settings.iou_type]
        names = table.category_names
        rows: list[tuple[str, InstanceRef | None]] = []
        entries = result.cell(row, column)
        for entry in entries[:CELL_ROWS_SHOWN]:
            if isinstance(entry, ErrorRef):
                ref = InstanceRef(entry.image_id, entry.prediction, entry.annotation_id)
                what = entry.kind.upper()
            else:
                gt_id, prediction = entry
                image_id, gt_category = table.gt_of(gt_id) or (-1, BACKGROUND)
                ref = InstanceRef(image_id, prediction, gt_id)
                what = (
                    f"{names.get(gt_category, '?')} as "
                    f"{names.get(int(table.pred_category[prediction]), '?')} "
                    f"({float(table.pred_score[prediction]):.2f})"
                )
            rows.append((f"{table.file_names.get(ref.image_id, ref.image_id)} · {what}", ref))
        if len(entries) > CELL_ROWS_SHOWN:
            rows.append((f"… and {len(entries) - CELL_ROWS_SHOWN} more", None))
        self.dock.show_cell_instances(rows)

    def _show_comparison(self) -> None:
        outcome = self.outcome
        comparison = outcome.comparison if outcome is not None else None
        if outcome is None or comparison is None:
            self.dock.show_comparison([], [])
            return
        table = outcome.tables["segm"]
        before, after = comparison.overall
        rows = [
            (
                table.category_names.get(c, str(c)),
                before.per_class.get(c, math.nan),
                after.per_class.get(c, math.nan),
                delta,
            )
            for c, delta in comparison.ap_delta.items()
        ]
        worse = [
            (
                f"{table.file_names.get(change.image_id, change.image_id)} · "
                f"TP lost {change.tp_lost} · FP gained {change.fp_gained}",
                change.image_id,
            )
            for change in comparison.worse_images
        ]
        self.dock.show_comparison(rows, worse)


def _outcome_line(outcome: EvaluationOutcome) -> str:
    """What the dock says about a finished evaluation, with what to do when it is empty."""
    images = len(outcome.tables["segm"].image_ids)
    predictions = outcome.tables["segm"].prediction_count
    if not images and outcome.request.ground_truth_file is None:
        return (
            "No reviewed images yet: their labels are the ground truth. Mark the images "
            "you checked reviewed (Ctrl+M), then Evaluate."
        )
    line = f"{images} images, {predictions} predictions."
    if images and not predictions and outcome.request.predictions == PRED_PROPOSALS:
        # Proposals are kept for images still to review, so reviewed ones usually have none.
        line += (
            " None of these images has stored proposals: choose Predictions "
            "'Current model, run now' to run the model on them."
        )
    return line


def coco_iou_step(iou: float) -> float:
    """COCOeval's IoU step (0.50, 0.55 ... 0.95) nearest `iou`: where its PR curves are."""
    return min(max(round(iou * 20) / 20, 0.5), 0.95)


def _stored_proposal(
    annotations: list[Any], category_id: int, box: tuple[float, float, float, float]
) -> int | None:
    """The document's pending proposal that is this prediction (same class, same box)."""
    for ann in annotations:
        if not is_proposal(ann) or ann.category_id != category_id:
            continue
        if all(abs(a - b) <= BOX_TOLERANCE_PX for a, b in zip(ann.bbox, box, strict=True)):
            return int(ann.id)
    return None
