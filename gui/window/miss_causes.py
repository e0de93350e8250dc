"""Why did it miss? in the Evaluation dock: cause counts per class and a cause filter for F8.

"Explain misses" runs `gui.workers.miss_cause_run.explain_request` in a background task (the
evaluation's sources and thresholds, the current model's two stages on each image with a
miss). The counts fill the panel's table; choosing a cause makes Next/Previous error visit
only the misses of that cause (`EvaluationController.error_filter`).
"""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import QObject

from core.errors import Cancelled
from core.evaluation.matching import ErrorRef
from gui.docks.miss_cause_panel import EVERY_ERROR, MissCausePanel
from gui.window.evaluation import EvaluationController
from gui.window.proposals import ProposalController
from gui.workers.miss_cause_run import CauseTable, explain_request
from gui.workers.tasks import Task, start_task


class MissCauseController(QObject):
    def __init__(
        self,
        *,
        evaluation: EvaluationController,
        proposals: ProposalController,
        panel: MissCausePanel,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._evaluation = evaluation
        self._proposals = proposals
        self.panel = panel
        self.table: CauseTable | None = None
        self.task: Task | None = None
        panel.explainRequested.connect(self.explain)
        panel.filterChanged.connect(self.set_cause_filter)

    def explain(self) -> Task | None:
        """Name every miss's cause in the background; None (and a message) when it cannot."""
        request = self._evaluation.request()
        model = self._proposals.active_model()
        if request is None:
            self.panel.status.setText("Open a project and choose the sources first.")
            return None
        if not model:
            self.panel.status.setText("Choose a model first (Model > Choose model…).")
            return None
        if self.task is not None and not self.task.done:
            self.task.cancel()
        settings = self._evaluation.dock.settings()
        task = start_task(partial(explain_request, request, model, settings), parent=self)
        task.progressed.connect(self._on_progress)
        task.succeeded.connect(self._on_done)
        task.failed.connect(self._on_failed)
        self.task = task
        self.panel.status.setText("Running the model's two stages on the images with misses…")
        return task

    def set_cause_filter(self, cause: str) -> None:
        if cause == EVERY_ERROR:
            self._evaluation.error_filter = None
            return
        if self.table is None:
            self.panel.status.setText("Explain misses first: the walk will then follow the cause.")
        self._evaluation.error_filter = partial(self._has_cause, cause)

    def _has_cause(self, cause: str, ref: ErrorRef) -> bool:
        table = self.table
        return ref.kind == "fn" and table is not None and table.cause_of(ref.annotation_id) == cause

    def _on_progress(self, done: int, total: int) -> None:
        self.panel.status.setText(f"Two stages: {done} of {total} images with misses…")

    def _on_done(self, table: CauseTable) -> None:
        self.table = table
        self.panel.show_table(table)

    def _on_failed(self, error: object) -> None:
        if isinstance(error, Cancelled):
            return
        self.panel.status.setText(f"Could not explain the misses: {error}")
