"""One optimisation step and one evaluation pass: the inner loops of `core.training`.

`StepRunner` owns the step mechanics the trainer should not care about: moving a batch to
the device, autocast and GradScaler on GPU, gradient clipping, skipping an update whose
gradients are not finite, and retrying a step that ran out of GPU memory with the batch
split into halves (gradients accumulated, so the effective batch and schedule stay the
same); `micro_batches` splits every batch that way from the start, which is also how one
process reproduces what several DistributedDataParallel processes compute.
`predict_coco_results` and `evaluate_model` turn the model's outputs into a COCO results
list with the dataset's own category ids and score it with `core.evaluation.metrics`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from core.detection.detector import detections_from_unpasted, label_category_table
from core.detection.mask_paste import forward_unpasted
from core.errors import TrainingError
from core.evaluation.metrics import evaluate
from core.training.data import Batch, LoadFailure

# Consecutive updates with non-finite gradients tolerated before the run is declared diverged.
MAX_NONFINITE_STEPS = 5


def _plain(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A tv_tensor as an ordinary tensor on `device` (the model needs no metadata)."""
    return tensor.as_subclass(torch.Tensor).to(device, non_blocking=True)


def targets_to_device(targets: Sequence[dict[str, Any]], device: torch.device) -> list[dict]:
    keys = ("boxes", "labels", "masks")
    return [{k: _plain(t[k], device) for k in keys} for t in targets]


def is_out_of_memory(exc: BaseException) -> bool:
    """GPU out-of-memory errors, and the CPU allocator's failure to find memory."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text


def slice_seed(seed: int, step: int, slice_index: int) -> int:
    """The torch seed for one slice of one step's global batch (same on every machine)."""
    return ((seed * 1_000_003 + step) * 1_009 + slice_index) % 2**63


@dataclass
class StepOutcome:
    losses: dict[str, float]
    images: int
    updated: bool  # False when the gradients were not finite and the update was skipped
    micro_batches: int  # > 1 after an out-of-memory retry
    grad_norm: float


class StepRunner:
    """Runs one training step of `model` on a batch; keeps AMP and OOM state between steps."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        device: torch.device,
        amp: bool = False,
        clip_norm: float | None = 10.0,
        micro_batches: int = 1,
        seed: int | None = None,
        rank: int = 0,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.device = device
        self.amp = amp and device.type == "cuda"
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp)
        self.clip_norm = clip_norm
        self.micro_batches = max(1, micro_batches)
        self.seed = seed
        self.rank = rank
        self.nonfinite_in_a_row = 0
        self.oom_events: list[str] = []  # messages for the trainer to report

    @property
    def diverged(self) -> bool:
        """Too many updates in a row were skipped for non-finite gradients.

        The runner does not raise itself: under torchrun the trainer first makes every rank
        agree, so all of them fail at the same step instead of one leaving the others
        waiting at a collective.
        """
        return self.nonfinite_in_a_row >= MAX_NONFINITE_STEPS

    @staticmethod
    def divergence_message() -> str:
        return (
            f"training diverged: the gradients were not finite for {MAX_NONFINITE_STEPS} "
            "steps in a row; lower the learning rate (--lr)"
        )

    def run(self, batch: Batch, step: int = 0) -> StepOutcome:
        images = [_plain(image, self.device) for image, _ in batch.items]
        targets = targets_to_device([target for _, target in batch.items], self.device)
        while True:
            try:
                return self._step(images, targets, step)
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                self.optimizer.zero_grad(set_to_none=True)
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                if self.micro_batches >= len(images):
                    raise TrainingError(
                        f"out of memory on {self.device} even with one image at a time; use "
                        "smaller images (a lower --max-size), a smaller model, or another device"
                    ) from exc
                self.micro_batches *= 2
                self.oom_events.append(
                    f"out of memory with {len(images)} images per step on {self.device}; "
                    f"continuing with {self.micro_batches} micro-batches of the same batch "
                    "(same effective batch size, slower steps)"
                )

    def _chunks(self, count: int) -> list[slice]:
        parts = min(self.micro_batches, count)
        bounds = np.linspace(0, count, parts + 1).round().astype(int)
        return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]

    def _step(self, images: list[torch.Tensor], targets: list[dict], step: int) -> StepOutcome:
        self.optimizer.zero_grad(set_to_none=True)
        totals: dict[str, float] = {}
        chunks = self._chunks(len(images))
        for index, part in enumerate(chunks):
            if self.seed is not None:
                # The model draws random numbers (the RPN's and box head's balanced sampling
                # of anchors and proposals). Seeding each slice of the global batch from
                # (seed, step, slice) makes one process with N micro-batches draw what N
                # processes with one each draw, so both reach the same weights.
                torch.manual_seed(slice_seed(self.seed, step, self.rank * len(chunks) + index))
            share = (part.stop - part.start) / len(images)
            # Only the last micro-batch lets DistributedDataParallel all-reduce gradients.
            last = index == len(chunks) - 1
            no_sync = getattr(self.model, "no_sync", None)
            sync_ctx = no_sync() if (no_sync is not None and not last) else contextlib.nullcontext()
            with sync_ctx:
                with torch.autocast(self.device.type, enabled=self.amp):
                    loss_dict = self.model(images[part], targets[part])
                loss = sum(loss_dict.values()) * share
                self.scaler.scale(loss).backward()
            for key, value in loss_dict.items():
                totals[key] = totals.get(key, 0.0) + float(value.detach()) * share
        self.scaler.unscale_(self.optimizer)
        params = [p for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None]
        max_norm = self.clip_norm if self.clip_norm is not None else math.inf
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
        finite = math.isfinite(grad_norm)
        if self.amp:
            self.scaler.step(self.optimizer)  # skips the update itself on inf/NaN gradients
            self.scaler.update()
        elif finite:
            self.optimizer.step()
        if finite or self.amp:
            self.nonfinite_in_a_row = 0
        else:
            self.nonfinite_in_a_row += 1
        return StepOutcome(totals, len(images), finite, len(chunks), grad_norm)


@torch.inference_mode()
def predict_coco_results(
    model: nn.Module,
    batches: Iterable[Batch],
    label_category_ids: Sequence[int],
    *,
    device: torch.device,
    amp: bool = False,
) -> tuple[list[dict[str, Any]], list[LoadFailure]]:
    was_training = model.training
    model.eval()
    table = label_category_table(label_category_ids)
    results: list[dict[str, Any]] = []
    failures: list[LoadFailure] = []
    try:
        for batch in batches:
            failures.extend(batch.failures)
            if not batch.items:
                continue
            images = [image.to(device, non_blocking=True) for image, _ in batch.items]
            sizes = [(int(image.shape[-2]), int(image.shape[-1])) for image in images]
            with torch.autocast(device.type, enabled=amp and device.type == "cuda"):
                # Masks pasted on their box crops only: the same results as model(images)
                # without image-size float masks (core/detection/mask_paste.py).
                outputs = forward_unpasted(model, images)
            for output, size, (_, image_id) in zip(outputs, sizes, batch.items, strict=True):
                results.extend(
                    d.coco_result(image_id) for d in detections_from_unpasted(output, table, size)
                )
    finally:
        model.train(was_training)
    return results, failures


@dataclass(frozen=True)
class ValidationScores:
    segm_ap: float
    bbox_ap: float
    failures: tuple[LoadFailure, ...] = ()


def evaluate_model(
    model: nn.Module,
    batches: Iterable[Batch],
    ground_truth: dict[str, Any],
    label_category_ids: Sequence[int],
    *,
    device: torch.device,
    amp: bool = False,
) -> ValidationScores:
    """COCO mask and box AP of `model` on the images in `batches` against `ground_truth`."""
    results, failures = predict_coco_results(
        model, batches, label_category_ids, device=device, amp=amp
    )
    segm = evaluate(ground_truth, results, iou_type="segm")
    bbox = evaluate(ground_truth, results, iou_type="bbox")
    return ValidationScores(max(segm.ap, 0.0), max(bbox.ap, 0.0), tuple(failures))


def thread_candidates(threads: int | None, device_type: str) -> list[int]:
    """The CPU thread counts a run tries: the one asked for; on a GPU, torch's current count
    (the CPU only feeds the GPU there); on a CPU, all cores and one, measured."""
    if threads:
        return [threads]
    if device_type != "cpu":
        return [torch.get_num_threads()]
    return [torch.get_num_threads(), 1]


class ThreadChooser:
    """Picks torch's CPU thread count from measured training steps.

    On a small or busy machine the default (one thread per core) can be many times slower
    than one thread: OpenMP threads spin waiting for each other while other processes hold
    the cores (measured on a shared 2-core VM: 5.9 s vs 0.46 s per lite step). So the first
    steps try each candidate and the fastest is kept for the rest of the run.
    """

    def __init__(self, candidates: Sequence[int], *, trial_steps: int = 2, warmup: int = 1):
        unique = list(dict.fromkeys(max(1, int(c)) for c in candidates))
        self._plan: list[int | None] = [None] * warmup + [
            c for c in unique for _ in range(trial_steps)
        ]
        self._times: dict[int, list[float]] = {c: [] for c in unique}
        self._index = 0
        self.chosen: int | None = unique[0] if len(unique) == 1 else None
        if self.chosen is not None:
            torch.set_num_threads(self.chosen)

    def before_step(self) -> None:
        if self.chosen is None and self._plan[self._index] is not None:
            torch.set_num_threads(self._plan[self._index])  # type: ignore[arg-type]

    def after_step(self, seconds: float) -> bool:
        """Record a step's time; True when this step completed the choice."""
        if self.chosen is not None:
            return False
        threads = self._plan[self._index]
        self._index += 1
        if threads is not None:
            self._times[threads].append(seconds)
        if self._index < len(self._plan):
            return False
        self.chosen = min(self._times, key=lambda c: min(self._times[c]))
        torch.set_num_threads(self.chosen)
        return True
