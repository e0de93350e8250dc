"""Training throughput of `maskloop train` against a bare torchvision training loop.

    python benchmarks/train_throughput.py [--steps 40] [--batch-size 4] [--rounds 2]

Both run in this process on the same model (lite, same seed and initial weights), the same
training images (core.demo.shapes shapes, the trainer's own 90% split), the same augmentation
(flip, colour distortion and scale jitter), batch size and CPU thread count:

- baseline: the loop torchvision's detection references boil down to: a DataLoader, then
  `loss = sum(model(images, targets).values()); loss.backward(); optimizer.step()`;
- `maskloop train`: `core.training.train`, with everything a user gets: aspect-ratio
  batches, load-failure reporting, gradient clipping, the non-finite guard, the time-budget
  planner, progress events. Its rate is read from its own step events (the first steps and
  the closing evaluation are left out, as the baseline leaves out its warm-up).

A third line, the model on batches already decoded and held in memory, shows what the data
pipeline itself costs. Target: `maskloop train` at >= 0.95 of the baseline. The rounds
alternate the two so that a busy machine slows both alike; the best round of each counts.
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from benchmarks._report import context, figure  # noqa: E402
from core.demo.shapes import generate_shapes_dataset  # noqa: E402
from core.training import train  # noqa: E402
from core.training.config import TrainConfig, default_workers  # noqa: E402
from core.training.data import InstanceDataset, load_coco_dataset, split_holdout  # noqa: E402
from core.training.engine import targets_to_device  # noqa: E402
from core.training.setup import build_start_model, seed_everything  # noqa: E402
from core.training.transforms import augmentation_transforms  # noqa: E402

WARMUP_STEPS = 3


def _bare_loop_rate(
    train_set, *, steps: int, batch_size: int, workers: int, lr: float, seed: int
) -> float:
    seed_everything(seed)
    model = build_start_model("lite", train_set).model
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    loader = DataLoader(
        InstanceDataset(train_set.samples, augmentation_transforms("full")),
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        collate_fn=lambda batch: tuple(zip(*batch, strict=True)),
    )
    batches = itertools.chain.from_iterable(itertools.repeat(loader))
    began = 0.0
    for step in range(WARMUP_STEPS + steps):
        if step == WARMUP_STEPS:
            began = time.perf_counter()
        images, targets = next(batches)
        images = [image.as_subclass(torch.Tensor) for image in images]
        loss_dict = model(images, targets_to_device(targets, torch.device("cpu")))
        optimizer.zero_grad()
        sum(loss_dict.values()).backward()
        optimizer.step()
    return steps * batch_size / (time.perf_counter() - began)


def _trainer_rate(
    json_path: Path, images: Path, out: Path, *, steps: int, batch_size: int, workers: int,
    steps_per_epoch: int, lr: float, seed: int,
) -> float:  # fmt: skip
    step_times: list[float] = []

    def on_event(event: dict) -> None:
        if event["event"] == "step":
            step_times.append(event["elapsed_s"])

    train(
        TrainConfig(
            train_json=json_path,
            images_dir=images,
            out=out,
            model="lite",
            epochs=(WARMUP_STEPS + steps) / steps_per_epoch,
            batch_size=batch_size,
            lr=lr,
            threads=torch.get_num_threads(),
            workers=workers,
            evals=1,
            seed=seed,
            augment="full",  # the baseline's transforms
        ),
        on_event=on_event,
    )
    measured = step_times[WARMUP_STEPS - 1 :]  # from the end of warm-up to the last step
    return (len(measured) - 1) * batch_size / (measured[-1] - measured[0])


def _in_memory_rate(train_set, *, steps: int, batch_size: int, lr: float, seed: int) -> float:
    seed_everything(seed)
    model = build_start_model("lite", train_set).model
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    dataset = InstanceDataset(train_set.samples, augmentation_transforms("full"))
    held = [
        [dataset[(s * batch_size + k) % len(dataset)] for k in range(batch_size)]
        for s in range(WARMUP_STEPS + steps)
    ]
    began = 0.0
    for step, batch in enumerate(held):
        if step == WARMUP_STEPS:
            began = time.perf_counter()
        images = [image.as_subclass(torch.Tensor) for image, _ in batch]
        loss_dict = model(images, targets_to_device([t for _, t in batch], torch.device("cpu")))
        optimizer.zero_grad()
        sum(loss_dict.values()).backward()
        optimizer.step()
    return steps * batch_size / (time.perf_counter() - began)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=default_workers())
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="maskloop-throughput-"))
    json_path = generate_shapes_dataset(work, n_images=200, seed=3)
    train_set, _ = split_holdout(load_coco_dataset(json_path, work / "images"))
    steps_per_epoch = len(train_set.samples) // args.batch_size
    lr, seed = 0.02, 0
    context(
        f"lite, batch {args.batch_size}, {args.steps} measured steps after {WARMUP_STEPS} "
        f"warm-up, torch threads {torch.get_num_threads()}, {args.workers} loader workers, CPU; "
        "target: maskloop train >= 0.95 of the bare loop"
    )
    bare: list[float] = []
    trainer: list[float] = []
    for round_index in range(args.rounds):
        bare.append(
            _bare_loop_rate(
                train_set, steps=args.steps, batch_size=args.batch_size, workers=args.workers,
                lr=lr, seed=seed,
            )
        )  # fmt: skip
        trainer.append(
            _trainer_rate(
                json_path, work / "images", work / f"round{round_index}.pt", steps=args.steps,
                batch_size=args.batch_size, workers=args.workers,
                steps_per_epoch=steps_per_epoch, lr=lr, seed=seed,
            )
        )  # fmt: skip
        context(
            f"round {round_index + 1}: bare loop {bare[-1]:.2f} images/s, "
            f"maskloop train {trainer[-1]:.2f} images/s"
        )
    memory = _in_memory_rate(
        train_set, steps=args.steps, batch_size=args.batch_size, lr=lr, seed=seed
    )
    baseline = max(bare)
    best = max(trainer)
    round_ratios = [t / b for t, b in zip(trainer, bare, strict=True)]
    context(f"median round ratio {statistics.median(round_ratios):.2f}")
    figure("bare torchvision loop", baseline, "images/s")
    figure("maskloop train", best, "images/s", baseline=baseline, baseline_name="bare loop")
    # What loading and augmenting cost: the model on batches held in memory.
    figure(
        "model on batches held in memory",
        memory,
        "images/s",
        baseline=baseline,
        baseline_name="bare loop",
    )
    return 0 if math.isfinite(best) else 1


if __name__ == "__main__":
    sys.exit(main())
