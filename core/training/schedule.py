"""Learning-rate schedules and the wall-clock planner behind `maskloop train --minutes`.

A schedule is linear warm-up followed by a cosine or step decay over `total_steps`. With a
time budget the number of steps is not known up front: `BudgetPlanner` measures how long a
step takes during warm-up, plans `total_steps` so the decay ends when the budget does, and
re-plans when the speed drifts. `LrSchedule.replan` keeps the decay continuous across a
re-plan, so the learning rate never jumps back up.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass

DECAY_KINDS = ("cosine", "step")


@dataclass(frozen=True)
class ScheduleSpec:
    base_lr: float
    warmup_steps: int
    kind: str = "cosine"
    warmup_factor: float = 0.001  # the first step runs at base_lr * warmup_factor
    final_factor: float = 0.01  # cosine ends at base_lr * final_factor
    milestones: tuple[float, ...] = (0.67, 0.89)  # step decay: fractions of the decay phase
    gamma: float = 0.1  # step decay: factor applied at each milestone

    def __post_init__(self) -> None:
        if self.kind not in DECAY_KINDS:
            raise ValueError(f"unknown schedule {self.kind!r}; choose one of {DECAY_KINDS}")
        if self.base_lr <= 0:
            raise ValueError(f"the learning rate must be positive, got {self.base_lr}")


class LrSchedule:
    """Learning rate as a function of the number of optimizer steps already taken.

    The decay phase is parametrised by `d` in [0, 1]. Initially `d` grows linearly from the
    end of warm-up to `total_steps`; after `replan(step, new_total)` it grows linearly from its
    value at `step` to 1 at `new_total`, so the curve bends but never jumps.
    """

    def __init__(self, spec: ScheduleSpec, total_steps: int) -> None:
        self.spec = spec
        self._total = max(1, int(total_steps))
        # Warm-up never takes more than a quarter of a short run.
        self._warmup = min(max(0, spec.warmup_steps), self._total // 4)
        self._anchor_step = self._warmup
        self._anchor_decay = 0.0

    @property
    def total_steps(self) -> int:
        return self._total

    @property
    def warmup_steps(self) -> int:
        return self._warmup

    def decay_fraction(self, step: int) -> float:
        """How far into the decay phase `step` is (0 during warm-up, 1 at the end)."""
        if step <= self._anchor_step:
            return self._anchor_decay if step >= self._warmup else 0.0
        span = max(1, self._total - self._anchor_step)
        fraction = (
            self._anchor_decay + (1.0 - self._anchor_decay) * (step - self._anchor_step) / span
        )
        return min(1.0, fraction)

    def lr_at(self, step: int) -> float:
        spec = self.spec
        if step < self._warmup:
            alpha = step / self._warmup
            return spec.base_lr * (spec.warmup_factor * (1.0 - alpha) + alpha)
        d = self.decay_fraction(step)
        if spec.kind == "cosine":
            cosine = 0.5 * (1.0 + math.cos(math.pi * d))
            return spec.base_lr * (spec.final_factor + (1.0 - spec.final_factor) * cosine)
        drops = sum(1 for m in spec.milestones if d >= m)
        return spec.base_lr * spec.gamma**drops

    def replan(self, at_step: int, total_steps: int) -> None:
        """Make the schedule end at `total_steps` instead, continuing smoothly from `at_step`."""
        total_steps = max(int(total_steps), at_step + 1)
        if at_step < self._warmup:
            # Still warming up: the decay has not started, so only its length changes; a
            # shorter run may also shorten the warm-up (never below the steps already done).
            self._total = total_steps
            self._warmup = max(min(self._warmup, total_steps // 4), at_step)
            self._anchor_step, self._anchor_decay = self._warmup, 0.0
            return
        self._anchor_decay = self.decay_fraction(at_step)
        self._anchor_step = at_step
        self._total = total_steps


class BudgetPlanner:
    """Plans how many steps fit in a wall-clock budget from measured step times.

    The trainer reports each step's duration with `observe_step`; `plan` returns a new total
    once `measure_steps` steps were seen (the first ones, which include allocator and cache
    warm-up, are skipped), and afterwards whenever the planned total drifts by more than
    `tolerance` from the current one. Time the trainer will spend outside steps (evaluations,
    the final checkpoint) is passed in as `reserved_s` so the plan leaves room for it.
    """

    def __init__(
        self,
        budget_s: float,
        *,
        skip_steps: int = 2,
        measure_steps: int = 8,
        window: int = 30,
        tolerance: float = 0.08,
    ) -> None:
        if budget_s <= 0:
            raise ValueError(f"the time budget must be positive, got {budget_s}")
        self.budget_s = float(budget_s)
        self._skip = skip_steps
        self._measure = measure_steps
        self._tolerance = tolerance
        self._seen = 0
        self._recent: deque[float] = deque(maxlen=window)
        self.planned_total: int | None = None

    def observe_step(self, seconds: float) -> None:
        self._seen += 1
        if self._seen > self._skip:
            self._recent.append(seconds)

    def restart(self) -> None:
        """Forget the measured steps (the speed changed on purpose, e.g. fewer threads)."""
        self._recent.clear()
        self.planned_total = None

    @property
    def seconds_per_step(self) -> float | None:
        if len(self._recent) < min(self._measure, self._recent.maxlen or 1):
            return None
        return statistics.median(self._recent)

    def plan(self, step: int, elapsed_s: float, reserved_s: float = 0.0) -> int | None:
        """A new total step count, or None when there is nothing to change (yet)."""
        per_step = self.seconds_per_step
        if per_step is None:
            return None
        remaining_s = self.budget_s - elapsed_s - reserved_s
        total = step + max(1, int(remaining_s / max(per_step, 1e-6)))
        current = self.planned_total
        if current is not None and abs(total - current) <= self._tolerance * max(current, 1):
            return None
        self.planned_total = total
        return total

    def out_of_time(self, elapsed_s: float, reserved_s: float = 0.0) -> bool:
        """True when another step would overrun the budget (a hard stop behind the plan)."""
        per_step = self.seconds_per_step or 0.0
        return elapsed_s + per_step + reserved_s > self.budget_s
