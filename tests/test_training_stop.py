"""How a single-process run ends: divergence, and the outcome a stop reports.

The multi-process side (all ranks stopping at the same step) is in test_distributed.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from core.errors import TrainingError
from core.training.data import Batch
from core.training.engine import MAX_NONFINITE_STEPS, StepRunner
from core.training.trainer import train
from tests._training_helpers import events_of, shapes_with_ids, small_config


class _NanLoss(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(()))

    def forward(self, images, targets):
        return {"loss": self.weight * float("nan")}


def _batch() -> Batch:
    target = {
        "boxes": torch.zeros((0, 4)),
        "labels": torch.zeros(0, dtype=torch.int64),
        "masks": torch.zeros((0, 4, 4), dtype=torch.uint8),
    }
    return Batch([(torch.ones((3, 4, 4)), target)], [])


def test_the_runner_flags_divergence_and_never_applies_a_non_finite_update():
    """It flags rather than raises, so the trainer can make every rank fail together."""
    model = _NanLoss()
    runner = StepRunner(
        model, torch.optim.SGD(model.parameters(), lr=1.0), device=torch.device("cpu")
    )
    for done in range(1, MAX_NONFINITE_STEPS + 1):
        outcome = runner.run(_batch())
        assert outcome.updated is False
        assert runner.diverged is (done == MAX_NONFINITE_STEPS)
    assert model.weight.item() == 1.0


def test_a_diverging_run_fails_with_a_message_that_says_what_to_do(tmp_path: Path, monkeypatch):
    json_path = shapes_with_ids(tmp_path / "data", n_images=8, seed=5)
    # Every step's gradients are non-finite, as with a far too high learning rate.
    monkeypatch.setattr(
        torch.nn.utils, "clip_grad_norm_", lambda params, max_norm: torch.tensor(float("nan"))
    )
    events: list[dict] = []
    with pytest.raises(TrainingError, match=r"diverged.*lower the learning rate"):
        train(small_config(json_path, tmp_path / "m.pt", epochs=4), on_event=events.append)
    assert len(events_of(events, "step")) == MAX_NONFINITE_STEPS


def test_a_time_budget_ends_the_run_finished_not_cancelled(tmp_path: Path):
    json_path = shapes_with_ids(tmp_path / "data", n_images=8, seed=6)
    events: list[dict] = []
    config = small_config(json_path, tmp_path / "m.pt", epochs=None, minutes=3 / 60, threads=1)
    result = train(config, on_event=events.append)
    done = events_of(events, "done")[0]
    assert result.cancelled is False and done["cancelled"] is False
    assert done["steps"] == result.steps > 0 and result.checkpoint is not None
    assert result.checkpoint.is_file()


def test_a_stop_request_ends_the_run_cancelled_with_a_checkpoint(tmp_path: Path):
    json_path = shapes_with_ids(tmp_path / "data", n_images=8, seed=7)
    events: list[dict] = []

    def after_two_steps() -> bool:
        return len(events_of(events, "step")) >= 2

    config = small_config(json_path, tmp_path / "m.pt", epochs=50)
    result = train(config, on_event=events.append, should_stop=after_two_steps)
    done = events_of(events, "done")[0]
    assert result.cancelled is True and done["cancelled"] is True
    assert result.steps == 2 and result.checkpoint is not None and result.checkpoint.is_file()
