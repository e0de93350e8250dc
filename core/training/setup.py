"""Building the model a run starts from, and the data loaders it trains and validates on.

Starting points (`--model`):
- `lite`: randomly initialised, trained from scratch;
- `r50-fpn`, `r50-fpn-v2`: torchvision's COCO weights, class layers adapted to the dataset;
- a MaskLoop checkpoint: its weights, class layers adapted when its categories differ.
Class layers are adapted by name (`core.detection.architectures.replace_predictors`): a category the start
model knows keeps what it learnt, a new one starts fresh.

Also here: the device and seeding a run uses, and the weights digest the distributed test
compares between replicas.
"""

from __future__ import annotations

import hashlib
import random
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler, Sampler, SequentialSampler
from torchvision.models.detection import MaskRCNN

from core.detection.architectures import build_model, image_size_settings, replace_predictors
from core.detection.checkpoint import load_checkpoint
from core.detection.names import ARCHITECTURES, DEFAULT_IMAGE_SIZES
from core.errors import TrainingError
from core.training.data import CocoTrainingSet, EvalImages, InstanceDataset, collate
from core.training.distributed import DistContext
from core.training.sampler import GroupedBatchSampler, aspect_ratio_groups


@dataclass
class StartModel:
    model: MaskRCNN
    arch: str
    base_model: str  # what the user named: an architecture or a checkpoint path
    fine_tuning: bool  # False only when training from scratch


def _round_to(value: float, multiple: int) -> int:
    return int(multiple * max(1, round(value / multiple)))


# A model trained from scratch on small images learns more in the same time at a reduced
# scale: lite on 128-160 px shapes images (median short side 144), 4 minutes, held-out mask
# AP on 200 images: 0.304 at 128 px, 0.409 at 96 px, 0.368 at 80 px. Smaller steps fit more
# of them into the budget (1090 at 96 px against 876 at 128 px), and the objects fill the
# receptive fields of a network this shallow better.
FROM_SCRATCH_SCALE = 2 / 3
_SMALLEST_SIDE = 64


def data_image_sizes(arch: str, dataset: CocoTrainingSet) -> tuple[int, int]:
    """Image sizes for a model trained from scratch on this data.

    The architecture's default (256 px for lite), unless two thirds of the data's median
    short side is smaller: then that, in multiples of 16 and at least 64 px. Photos keep
    the default; small images are trained at a reduced scale.
    """
    default_min, default_max = DEFAULT_IMAGE_SIZES[arch]
    short = statistics.median(min(s.width, s.height) for s in dataset.samples)
    min_size = min(default_min, max(_SMALLEST_SIDE, _round_to(short * FROM_SCRATCH_SCALE, 16)))
    max_size = max(min_size, round(default_max * min_size / default_min))
    return min_size, max_size


def _size_overrides(min_size: int | None, max_size: int | None) -> dict[str, int]:
    overrides = {}
    if min_size is not None:
        overrides["min_size"] = int(min_size)
    if max_size is not None:
        overrides["max_size"] = int(max_size)
    return overrides


def build_start_model(
    spec: str,
    dataset: CocoTrainingSet,
    *,
    min_size: int | None = None,
    max_size: int | None = None,
    hub_dir: Path | None = None,
) -> StartModel:
    """The model `spec` names, with one output per category of `dataset` (plus background)."""
    target_labels = dataset.label_names
    num_classes = len(target_labels)
    if spec in ARCHITECTURES:
        if spec == "lite":
            if min_size is None and max_size is None:
                min_size, max_size = data_image_sizes(spec, dataset)
            model = build_model(
                spec, num_classes=num_classes, **_size_overrides(min_size, max_size)
            )
            return StartModel(model, spec, spec, fine_tuning=False)
        from core.detection.weights import COCO_WEIGHTS, load_coco_state_dict

        state_dict = load_coco_state_dict(spec, hub_dir=hub_dir)
        coco_labels = list(COCO_WEIGHTS[spec].meta["categories"])
        model = build_model(
            spec, num_classes=len(coco_labels), **_size_overrides(min_size, max_size)
        )
        model.load_state_dict(state_dict)
        replace_predictors(model, source_labels=coco_labels, target_labels=target_labels)
        return StartModel(model, spec, f"{spec} (COCO weights)", fine_tuning=True)

    path = Path(spec)
    if not path.is_file():
        raise TrainingError(
            f"--model {spec!r} is neither an architecture ({', '.join(ARCHITECTURES)}) nor an "
            "existing checkpoint file"
        )
    state_dict, meta = load_checkpoint(path)
    sizes = {"min_size": meta.min_size, "max_size": meta.max_size}
    sizes.update(_size_overrides(min_size, max_size))
    model = build_model(meta.arch, num_classes=meta.num_classes, **sizes)
    model.load_state_dict(state_dict)
    if meta.label_names() != target_labels:
        replace_predictors(model, source_labels=meta.label_names(), target_labels=target_labels)
    return StartModel(model, meta.arch, str(path), fine_tuning=True)


def model_sizes(model: MaskRCNN) -> tuple[int, int]:
    return image_size_settings(model)


def worker_start_method() -> str:
    """How DataLoader workers start: from a fork server where the platform has one, else spawned.

    Never a plain fork: the trainer often runs inside a process that already has threads (the
    app's Qt threads and workers, pytest-qt's, torch's own pools), and a forked child inherits
    their locks in whatever state they were, which can hang or crash it. Python 3.14 makes the
    fork server Linux's default for the same reason.
    """
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    return "forkserver" if "forkserver" in methods else "spawn"


def _ignore_interrupts_in_worker(_worker_id: int) -> None:
    # Ctrl+C reaches the whole process group; only the main process decides how to stop.
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


class RankSlice(Sampler[list[int]]):
    """This rank's part of each global batch: images [rank * size, (rank + 1) * size).

    Every rank walks the same seeded global batches, so the ranks together see exactly the
    batches one process with `--batch-size size * world_size` would see, and a single
    process with as many micro-batches splits them the same way.
    """

    def __init__(self, global_batches: GroupedBatchSampler, ctx: DistContext) -> None:
        self.global_batches = global_batches
        self.ctx = ctx

    def __iter__(self) -> Iterator[list[int]]:
        size = self.global_batches.batch_size // self.ctx.world_size
        start = self.ctx.rank * size
        for batch in self.global_batches:
            yield batch[start : start + size]

    def __len__(self) -> int:
        return len(self.global_batches)


@dataclass
class TrainLoader:
    loader: DataLoader
    batch_sampler: GroupedBatchSampler

    def set_epoch(self, epoch: int) -> None:
        """Nothing to do: the seeded sampler continues its own stream from epoch to epoch."""

    def __len__(self) -> int:
        return len(self.batch_sampler)


def make_train_loader(
    dataset: InstanceDataset, *, batch_size: int, workers: int, seed: int, ctx: DistContext
) -> TrainLoader:
    """Shuffled, aspect-ratio grouped batches of `batch_size` images for this process.

    Under torchrun the global batch is `batch_size * world_size`, drawn from the same seeded
    order on every rank (not a DistributedSampler's interleaved shards), and each rank
    takes its contiguous slice: the run is then the same whatever the number of machines.
    """
    generator = torch.Generator().manual_seed(seed)
    base = RandomSampler(dataset, generator=generator)
    groups = aspect_ratio_groups(dataset.image_sizes())
    global_batches = GroupedBatchSampler(base, groups, batch_size * ctx.world_size)
    batch_sampler: Sampler[list[int]] = (
        RankSlice(global_batches, ctx) if ctx.is_distributed else global_batches
    )
    loader = DataLoader(
        dataset,
        batch_sampler=batch_sampler,
        num_workers=workers,
        collate_fn=collate,
        persistent_workers=workers > 0,
        worker_init_fn=_ignore_interrupts_in_worker if workers > 0 else None,
        multiprocessing_context=worker_start_method() if workers > 0 else None,
    )
    return TrainLoader(loader, global_batches)


def make_eval_loader(dataset: CocoTrainingSet, *, batch_size: int = 2) -> DataLoader:
    images = EvalImages(dataset.samples)
    return DataLoader(
        images, batch_size=batch_size, sampler=SequentialSampler(images), collate_fn=collate
    )


def resolve_device(requested: str | None, ctx: DistContext) -> torch.device:
    if requested is None:
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise TrainingError("--device cuda was asked for but no CUDA GPU is available")
        if requested == "cuda":
            return torch.device("cuda", ctx.local_rank if ctx.is_distributed else 0)
    elif requested != "cpu":
        raise TrainingError(f"--device must be cpu or cuda, got {requested!r}")
    return torch.device(requested)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def state_dict_digest(model: torch.nn.Module) -> str:
    """SHA-256 over every parameter and buffer, in name order (equal weights, equal digest)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
