"""Every model a project has used, with what is known about each: what Model > Model history
shows and which of them can be used again.

Three sources, merged by model: the fine-tuning runs (store.model_runs), the models that
loaded (store.models_used: pretrained architectures and checkpoints from elsewhere, such as
the demo's), and the active model (an older project may have one that was never recorded as
loaded). A run's checkpoint that also loaded is one entry, with the run's facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.records import ModelRun
from core.store.models_used import is_model_file

if TYPE_CHECKING:
    from core.store import ProjectStore

PRETRAINED = "pretrained"
CHECKPOINT = "checkpoint"  # a model file that no run of this project produced
FINE_TUNED = "fine-tuned"


@dataclass(frozen=True)
class ModelEntry:
    model: str  # architecture name or absolute checkpoint path, as the store hands it out
    kind: str  # PRETRAINED, CHECKPOINT or FINE_TUNED
    date: str  # ISO 8601 UTC: when the run was recorded, else when the model first loaded
    last_used: str | None = None
    run: ModelRun | None = None

    @property
    def name(self) -> str:
        """How the model is called in the list: a run's name, a file's name, an architecture."""
        if self.run is not None and self.run.extra.get("run_name"):
            return str(self.run.extra["run_name"])
        if not is_model_file(self.model):
            return self.model
        path = Path(self.model)
        # runs of earlier versions all named their file model.pt; their folder tells them apart
        return f"{path.parent.name}/{path.name}" if path.name == "model.pt" else path.name

    @property
    def file_present(self) -> bool:
        return not is_model_file(self.model) or Path(self.model).is_file()

    @property
    def status(self) -> str:
        """finished, cancelled or failed for a run; "" for a model that was not trained here."""
        if self.run is None:
            return ""
        recorded = self.run.extra.get("status")
        if recorded:
            return str(recorded)
        return "cancelled" if self.run.extra.get("cancelled") else "finished"

    @property
    def training(self) -> str:
        """How long the run trained, as far as it was recorded: "120 steps (10 epochs)"."""
        if self.run is None:
            return ""
        extra = self.run.extra
        planned = ""
        if extra.get("epochs"):
            planned = f"{extra['epochs']} epochs"
        elif extra.get("minutes"):
            planned = f"{extra['minutes']:g} min"
        steps = extra.get("steps")
        if steps:
            return f"{steps} steps ({planned})" if planned else f"{steps} steps"
        return planned

    def unusable_reason(self) -> str | None:
        """Why this model cannot be used again, for a tooltip; None when it can."""
        if not self.file_present:
            return (
                f"The model file is missing: it was expected at {self.model}. Put it back "
                "there to use this model again."
            )
        run = self.run
        if run is not None and self.status == "cancelled" and run.ap_after is None:
            return (
                "This run was cancelled before its first evaluation, so its model was never "
                "measured; it may be worse than the one it started from."
            )
        if run is not None and self.status == "failed":
            return "This run failed; its model is not trustworthy."
        return None


def model_history(store: ProjectStore) -> list[ModelEntry]:
    """Every model the project has used or trained, newest first."""
    used = {use.model: use for use in store.models_used()}
    entries: dict[str, ModelEntry] = {}
    for run in store.model_runs():
        use = used.get(run.checkpoint_path)
        entries[run.checkpoint_path] = ModelEntry(
            run.checkpoint_path,
            FINE_TUNED,
            run.created_at,
            last_used=use.last_used if use else None,
            run=run,
        )
    for model, use in used.items():
        if model not in entries:
            kind = CHECKPOINT if is_model_file(model) else PRETRAINED
            entries[model] = ModelEntry(model, kind, use.first_used, last_used=use.last_used)
    active = store.active_model()
    if active and active not in entries:
        kind = CHECKPOINT if is_model_file(active) else PRETRAINED
        entries[active] = ModelEntry(active, kind, "")
    return sorted(
        entries.values(),
        key=lambda e: (e.date, e.run.id if e.run else 0),
        reverse=True,
    )
