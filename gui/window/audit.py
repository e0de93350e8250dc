"""The Audit queue: run the label audit in the background, walk its rows, fix each in one key.

The audit itself is core's (core/evaluation/audit_run.py) on the project's reviewed labels,
run by a background task with progress and Cancel (k-fold trains its models in that task).
Clicking a row opens its image, selects the label (or outlines the overlooked detection), and
every fix goes through the image's document as an undoable command:

- take (T): the label becomes the model's instance; an overlooked object is added;
- delete (Del): the label is deleted; an overlooked detection is dismissed;
- change class (C): the label gets the class the model sees;
- keep (K): the label is marked checked (`audit_checked`), so no audit lists it again.

After a fix the queue moves to the next row not yet dealt with.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRectF
from PySide6.QtGui import QAction, QUndoCommand

from core.errors import Cancelled
from core.evaluation.audit import CHECKED_FIELD, AuditRow, Issue
from core.evaluation.audit_run import AuditReport
from core.records import Annotation, ReviewState, Source
from core.store import ProjectStore
from gui.canvas.match_overlay import MatchMark
from gui.canvas.view import CanvasView
from gui.categories import ProjectCategories
from gui.commands import AddAnnotation, DeleteAnnotation, EditAnnotation
from gui.docks.audit_dock import AuditDock
from gui.window.navigation import NavigationController
from gui.window.status import WorkStatus
from gui.workers.tasks import Progress, ShouldStop, Task, start_task


class AuditController(QObject):
    """Runs audits, shows their rows, applies the fixes."""

    def __init__(
        self,
        *,
        dock: AuditDock,
        canvas: CanvasView,
        navigation: NavigationController,
        active_model: Callable[[], str | None],
        work_status: WorkStatus,
        audit_action: QAction,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.dock = dock
        self._canvas = canvas
        self._navigation = navigation
        self._active_model = active_model
        self._status = work_status
        self._store: ProjectStore | None = None
        self._categories: ProjectCategories | None = None
        self.task: Task | None = None
        self.report: AuditReport | None = None
        self.rows: list[AuditRow] = []
        self.done: dict[int, str] = {}  # row index -> what was done with it
        self._current: int | None = None
        dock.hide()
        dock.toggleViewAction().setVisible(False)  # View > Audit labels is its toggle
        audit_action.setCheckable(True)
        audit_action.toggled.connect(dock.setVisible)
        dock.visibilityChanged.connect(audit_action.setChecked)
        self._action = audit_action
        dock.runRequested.connect(self.run)
        dock.cancelRequested.connect(self.cancel)
        dock.rowActivated.connect(self.activate)
        dock.fixRequested.connect(self.fix)

    # ---- project ---------------------------------------------------------------------------
    def open(self, store: ProjectStore, categories: ProjectCategories) -> None:
        self._store = store
        self._categories = categories

    def close(self) -> None:
        self.cancel()
        self.task = None
        self._store = None
        self._categories = None
        self.report = None
        self.rows = []
        self.done = {}
        self._current = None
        self.dock.set_rows([], {})
        self.dock.set_running(False)
        self._action.setChecked(False)

    # ---- running ---------------------------------------------------------------------------
    def run(self) -> Task | None:
        """Audit the reviewed labels with the current model (or k-fold from it)."""
        store = self._store
        if store is None or (self.task is not None and not self.task.done):
            return None
        model = self._active_model()
        if model is None:
            self.dock.status.setText("Choose a model first (Model > Choose model…).")
            return None
        choice = self.dock.kfold_choice()
        path = Path(store.path)

        def work(progress: Progress, should_stop: ShouldStop) -> tuple[AuditReport, dict[int, str]]:
            from core.evaluation.audit_kfold import KFoldSettings
            from core.evaluation.audit_run import load_ground_truth, run_audit

            truth = load_ground_truth(path, None)
            kfold = (
                None if choice is None else KFoldSettings(k=choice[0], minutes_per_fold=choice[1])
            )
            report = run_audit(
                truth,
                model,
                kfold=kfold,
                progress=lambda done, total, _name: progress(done, total),
                should_stop=should_stop,
            )
            return report, truth.category_names

        self.dock.set_running(True)
        self.dock.status.setText(
            "Auditing with the current model…"
            if choice is None
            else f"Auditing: training {choice[0]} fold models, {choice[1]:g} min each…"
        )
        task = start_task(work, self)
        task.progressed.connect(self.dock.set_progress)
        task.succeeded.connect(lambda value, t=task: self._on_done(t, value))
        task.failed.connect(lambda error, t=task: self._on_failed(t, error))
        self.task = task
        return task

    def cancel(self) -> None:
        if self.task is not None and not self.task.done:
            self.task.cancel()

    def _on_done(self, task: Task, value: tuple[AuditReport, dict[int, str]]) -> None:
        if task is not self.task:
            return
        report, _names = value
        self.dock.set_running(False)
        self.show_report(report)

    def _on_failed(self, task: Task, error: object) -> None:
        if task is not self.task:
            return
        self.dock.set_running(False)
        if isinstance(error, Cancelled):
            self.dock.status.setText("Audit cancelled.")
        else:
            self.dock.status.setText(f"The audit failed: {error}")

    def show_report(self, report: AuditReport) -> None:
        """List `report`'s rows (tests give one directly; `run` gives the audit's)."""
        self.report = report
        self.rows = list(report.rows)
        self.done = {}
        self._current = None
        self.dock.set_rows(self.rows, self._category_names())
        self.dock.status.setText(
            f"{len(self.rows)} suspected mistakes in {report.images_audited} reviewed images, "
            f"most likely first. Predictions from {report.predicted_by}."
        )
        self.dock.set_fixes_enabled({})

    # ---- walking the rows --------------------------------------------------------------------
    def activate(self, index: int) -> None:
        """Open the row's image, select its label or outline the overlooked detection."""
        if not 0 <= index < len(self.rows):
            return
        self._current = index
        row = self.rows[index]
        self._navigation.go_to_image(row.image_id)
        self._canvas.centerOn(QRectF(*row.bbox).center())
        document = self._navigation.current_document
        label = row.annotation_id
        if label is not None and document is not None and document.has_annotation(label):
            self._canvas.select_annotation(label)
        self._canvas.set_match_overlay(self._marks(row))
        self.dock.set_fixes_enabled(self._fixes_for(index))

    def _marks(self, row: AuditRow) -> list[MatchMark]:
        names = self._category_names()
        marks = []
        model = row.model
        if model is not None and model.bbox != row.bbox:
            score = "" if model.score is None else f" {model.score:.2f}"
            name = names.get(model.category_id, str(model.category_id))
            marks.append(MatchMark("fp", model.bbox, f"model: {name}{score}"))
        tag = f"{row.issue.label} {row.score:.2f}"
        if row.issue is Issue.OVERLOOKED:
            marks.append(MatchMark("fp", row.bbox, tag, current=True))
        else:
            marks.append(MatchMark("fn", row.bbox, tag, current=True))
        return marks

    def _fixes_for(self, index: int) -> dict[str, bool]:
        if index in self.done:
            return {}
        row = self.rows[index]
        model = row.model
        if row.annotation_id is None:  # an overlooked detection
            return {"take": model is not None, "delete": True, "keep": True}
        other_class = model is not None and model.category_id != row.category_id
        return {
            "take": model is not None and model.rle is not None,
            "delete": True,
            "change_class": other_class,
            "keep": True,
        }

    def _next_open_row(self, after: int) -> int | None:
        for index in list(range(after + 1, len(self.rows))) + list(range(0, after)):
            if index not in self.done:
                return index
        return None

    # ---- fixes -------------------------------------------------------------------------------
    def fix(self, name: str) -> bool:
        """Apply fix `name` to the current row through the document; True when done."""
        index = self._current
        if index is None or index in self.done or not self._fixes_for(index).get(name):
            return False
        row = self.rows[index]
        if self._navigation.current_image_id != row.image_id:
            self.activate(index)
        document = self._navigation.current_document
        if document is None:
            return False
        if row.annotation_id is not None and not document.has_annotation(row.annotation_id):
            self._status.show_message("That label is gone (deleted or undone); skipped.")
            self._finish(index, "gone")
            return False
        command = self._command(name, row, document)
        if command is not None:
            document.undo_stack.push(command)
            if command.isObsolete():
                return False  # the store refused it; the document has shown why
        dismissed = row.annotation_id is None and name != "take"
        self._finish(index, "dismissed" if dismissed else _DONE_TEXT[name])
        return True

    def _command(self, name: str, row: AuditRow, document: Any) -> QUndoCommand | None:
        model = row.model
        if row.annotation_id is None:
            if name != "take" or model is None:
                return None  # dismissed: a detection is no label, nothing to write
            ann = Annotation(
                image_id=row.image_id,
                category_id=model.category_id,
                bbox=model.bbox,
                segmentation=copy.deepcopy(model.rle),
                source=Source.MODEL,
                score=model.score,
                state=ReviewState.ACCEPTED,
            )
            return AddAnnotation(document, ann, "Audit: add the overlooked object")
        old = document.annotation(row.annotation_id)
        if name == "delete":
            return DeleteAnnotation(document, row.annotation_id, "Audit: delete the label")
        if name == "change_class" and model is not None:
            new = replace(copy.deepcopy(old), category_id=model.category_id)
            return EditAnnotation(document, old, new, "Audit: change the label's class")
        if name == "take" and model is not None:
            new = replace(
                copy.deepcopy(old),
                category_id=model.category_id,
                bbox=model.bbox,
                segmentation=copy.deepcopy(model.rle),
                area=None,
            )
            return EditAnnotation(document, old, new, "Audit: take the model's instance")
        if name == "keep":
            new = copy.deepcopy(old)
            new.extra = {**new.extra, CHECKED_FIELD: True}
            return EditAnnotation(document, old, new, "Audit: keep the label (checked)")
        return None

    def _finish(self, index: int, what: str) -> None:
        self.done[index] = what
        self.dock.mark_done(index, what)
        following = self._next_open_row(index)
        if following is None:
            self.dock.set_fixes_enabled({})
            self._status.show_message("Every suspected mistake of this audit has been dealt with.")
            return
        self.dock.select_row(following)  # activates it

    def _category_names(self) -> dict[int, str]:
        store = self._store
        return {} if store is None else {c.id: c.name for c in store.categories()}


_DONE_TEXT = {
    "take": "took the model's",
    "delete": "deleted",
    "change_class": "class changed",
    "keep": "kept (checked)",
}
