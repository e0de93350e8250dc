"""The Loop report: per model version, what reviewing its proposals cost the annotator.

Only images marked reviewed count, time and instances alike: an image still being worked on
would make a model look cheaper than it is. Time is attributed to the model whose proposals
the image held while the time was spent, an instance to the model that proposed it (or,
for one drawn by hand or with box-to-mask, the model whose proposals were on the image then:
the one that missed it). See core/store/effort.py for how time is counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from core.records import ImageStatus
from core.store.effort import IDLE_LIMIT_S, InstanceRow, Outcome, TimeRow

if TYPE_CHECKING:
    from core.store import ProjectStore

NO_MODEL = "no model"

HOW_TIME_IS_COUNTED = (
    "Active time: from opening an image, every key press, click, wheel turn or edit on it adds "
    f"the time since the previous one, unless that gap is over {IDLE_LIMIT_S:.0f} s (the "
    "annotator was away). Only images marked reviewed count. Time goes to the model whose "
    "proposals the image held; an instance to the model that proposed it, or that missed it "
    "when it was drawn by hand. Recorded in the project file only; nothing leaves the machine."
)


@dataclass(frozen=True)
class ModelEffort:
    """What one model version's proposals cost on the reviewed images."""

    model: str  # the model key as stored ("" when no model had run)
    name: str  # how the report calls it
    images_reviewed: int
    active_s: float
    outcomes: dict[Outcome, int] = field(default_factory=dict)

    @property
    def instances(self) -> int:
        return sum(self.outcomes.values())

    @property
    def seconds_per_image(self) -> float | None:
        return self.active_s / self.images_reviewed if self.images_reviewed else None

    @property
    def seconds_per_instance(self) -> float | None:
        """Active seconds per instance handled (accepted, edited, rejected, drawn, box-to-mask)."""
        return self.active_s / self.instances if self.instances else None

    @property
    def accepted_share(self) -> float | None:
        """Share of the instances handled that are proposals accepted without an edit."""
        if not self.instances:
            return None
        return self.outcomes.get(Outcome.ACCEPTED, 0) / self.instances


def loop_report(store: ProjectStore) -> list[ModelEffort]:
    """One entry per model version that has reviewed work, oldest first."""
    reviewed = set(store.image_ids(status=ImageStatus.REVIEWED))
    return summarize(store.effort_time(), store.effort_instances(), reviewed, _names(store))


def summarize(
    times: list[TimeRow],
    instances: list[InstanceRow],
    reviewed: set[int],
    names: dict[str, str] | None = None,
) -> list[ModelEffort]:
    """The report from the recorded rows (pure: a test can feed it rows)."""
    first_seen: dict[str, float] = {}
    images: dict[str, set[int]] = {}
    seconds: dict[str, float] = {}
    outcomes: dict[str, dict[Outcome, int]] = {}
    for row in times:
        if row.image_id not in reviewed:
            continue
        first_seen[row.model] = min(first_seen.get(row.model, row.since), row.since)
        images.setdefault(row.model, set()).add(row.image_id)
        seconds[row.model] = seconds.get(row.model, 0.0) + row.active_s
    for inst in instances:
        if inst.image_id not in reviewed or inst.outcome is None:
            continue
        first_seen[inst.model] = min(first_seen.get(inst.model, inst.since), inst.since)
        counts = outcomes.setdefault(inst.model, {})
        counts[inst.outcome] = counts.get(inst.outcome, 0) + 1
    names = names or {}
    return [
        ModelEffort(
            model=model,
            name=names.get(model) or model_name(model),
            images_reviewed=len(images.get(model, ())),
            active_s=seconds.get(model, 0.0),
            outcomes={o: outcomes.get(model, {}).get(o, 0) for o in Outcome},
        )
        for model in sorted(first_seen, key=lambda m: (first_seen[m], m))
    ]


def model_name(model_key: str) -> str:
    """A model key as people read it: a checkpoint's file name, an architecture's name."""
    if not model_key:
        return NO_MODEL
    path = model_key.split("#", 1)[0]  # a checkpoint key ends in a hash of its file
    if "/" in path or "\\" in path:
        return Path(path).name
    return path


def _names(store: ProjectStore) -> dict[str, str]:
    """Fine-tuning runs by their run name, keyed by the model keys their proposals carry."""
    names: dict[str, str] = {}
    runs = {run.checkpoint_path: run for run in store.model_runs()}
    for row in store.effort_time():
        run = runs.get(row.model.split("#", 1)[0])
        if run is not None and run.extra.get("run_name"):
            names[row.model] = str(run.extra["run_name"])
    return names
