"""What a training run is asked to do (`TrainConfig`) and the defaults that make it work.

Per-architecture defaults (`ARCH_DEFAULTS`) are chosen so a run needs no tuning:
- `lite` trains from scratch, which needs a high-ish learning rate after a warm-up: 0.02 for
  a batch of 4, and little more. 2-minute runs on 300 shapes images at 128 px reached
  held-out mask AP 0.206 with lr 0.02 against 0.122 with 0.03 (no augmentation), and 0.128
  against 0.021 with 0.04 (flip and scale jitter). A batch of 8 at lr 0.04 reached 0.374 in
  4 minutes at 96 px against 0.447 for 4 at 0.02: on a CPU, more and smaller steps win
  (benchmarks/train_acceptance.py).
- the ResNet-50 models start from COCO weights and are fine-tuned with torchvision's
  reference learning rate (0.02 for 16 images) scaled linearly to the batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.errors import TrainingError
from core.training.choices import AUGMENTATIONS
from core.training.schedule import DECAY_KINDS


@dataclass(frozen=True)
class ArchDefaults:
    lr: float
    batch_size: int
    warmup_steps: int
    epochs: float  # used when neither epochs nor minutes is given
    weight_decay: float = 1e-4
    momentum: float = 0.9
    clip_norm: float = 10.0


_LITE_DEFAULTS = ArchDefaults(lr=0.02, batch_size=4, warmup_steps=60, epochs=40)
ARCH_DEFAULTS: dict[str, ArchDefaults] = {
    "lite": _LITE_DEFAULTS,
    "lite-c5": _LITE_DEFAULTS,  # lite's older layout, fine-tuned from its checkpoints
    "r50-fpn": ArchDefaults(lr=0.005, batch_size=2, warmup_steps=100, epochs=12),
    "r50-fpn-v2": ArchDefaults(lr=0.005, batch_size=2, warmup_steps=100, epochs=12),
}

# Fine-tuning an already trained model needs a gentler start than training from scratch.
FINETUNE_LR_FACTOR = 0.5


def default_workers() -> int:
    """DataLoader workers: none on a machine of 2 cores or fewer, else one per 4 cores, at most 4.

    On 2 cores a worker process steals the core the model's threads need: measured with
    benchmarks/train_throughput.py, lite ran at 0.88 of the in-memory speed with no worker
    and 0.78 with one.
    """
    cores = os.cpu_count() or 1
    return 0 if cores <= 2 else max(1, min(4, cores // 4))


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Paths may be relative to the working directory."""

    train_json: Path
    images_dir: Path
    out: Path
    model: str = "lite"  # an architecture (lite: from scratch; r50-*: COCO weights) or a checkpoint
    val_json: Path | None = None
    val_images_dir: Path | None = None  # defaults to images_dir
    epochs: float | None = None
    minutes: float | None = None  # wall-clock budget the schedule is planned for
    batch_size: int | None = None  # per process; default per architecture
    # Each batch in this many parts, gradients accumulated: less memory, the same step.
    micro_batches: int = 1
    lr: float | None = None  # default per architecture
    schedule: str = "cosine"
    device: str | None = None  # "cpu", "cuda", "cuda:1"; None: cuda when available
    amp: bool = False  # mixed precision (GPU only)
    seed: int = 0
    workers: int | None = None
    threads: int | None = None  # CPU threads; None: the fastest of 1 and all, measured
    val_fraction: float = 0.1  # held out when no val_json is given
    evals: int = 4  # evaluations spread over the run (the last one at the end)
    min_size: int | None = None  # image rescaling; default from the model or the data
    max_size: int | None = None
    augment: str = "auto"  # one of AUGMENTATIONS; auto: flip + scale jitter for long runs only
    hub_dir: Path | None = None  # torch hub cache for COCO weights
    debug_dump_weights: Path | None = None  # tests: each rank writes its weights' hash here

    def validate(self) -> None:
        """Raise TrainingError for settings that cannot work, before any heavy work starts."""
        if self.epochs is not None and self.minutes is not None:
            raise TrainingError("give either --epochs or --minutes, not both")
        if self.epochs is not None and self.epochs <= 0:
            raise TrainingError(f"--epochs must be positive, got {self.epochs}")
        if self.minutes is not None and self.minutes <= 0:
            raise TrainingError(f"--minutes must be positive, got {self.minutes}")
        if self.batch_size is not None and self.batch_size < 1:
            raise TrainingError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.micro_batches < 1:
            raise TrainingError(f"--micro-batches must be at least 1, got {self.micro_batches}")
        if self.batch_size is not None and self.micro_batches > self.batch_size:
            raise TrainingError(
                f"--micro-batches {self.micro_batches} is more than the {self.batch_size} "
                "images of a batch; give at most --batch-size"
            )
        if self.lr is not None and self.lr <= 0:
            raise TrainingError(f"--lr must be positive, got {self.lr}")
        if self.schedule not in DECAY_KINDS:
            raise TrainingError(f"--schedule must be one of {', '.join(DECAY_KINDS)}")
        if not 0 <= self.val_fraction < 1:
            raise TrainingError(f"the held-out fraction must be in [0, 1), got {self.val_fraction}")
        if self.augment not in AUGMENTATIONS:
            raise TrainingError(f"--augment must be one of {', '.join(AUGMENTATIONS)}")
        if self.evals < 1:
            raise TrainingError("at least one evaluation is needed to pick the best checkpoint")
        if self.workers is not None and self.workers < 0:
            raise TrainingError(f"--workers must be 0 or more, got {self.workers}")
        if Path(self.out).is_dir():
            raise TrainingError(f"--out {self.out} is a folder; give the checkpoint's file name")
