"""Training throughput of `lite`: how much the data pipeline costs on top of the model.

    python benchmarks/train_throughput.py [--steps 20] [--batch-size 4] [--device cpu]

Baseline (same process): training steps on batches already decoded and held in memory, i.e.
the model's own cost. Then the real pipeline (`core.training` loader: image decoding, mask
decoding, flip + zoom augmentation, aspect-ratio batches) with 0 and 1 worker processes.
Prints images/s for each and its ratio to the baseline (1.0 = the pipeline is free). On a
shared 2-core CPU the figures are noisy: run it twice and compare ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from core.demo_data import generate_shapes_dataset  # noqa: E402
from core.distributed import DistContext  # noqa: E402
from core.training.data import InstanceDataset, load_coco_dataset  # noqa: E402
from core.training.engine import StepRunner  # noqa: E402
from core.training.setup import build_start_model, make_train_loader  # noqa: E402
from core.training.transforms import training_transforms  # noqa: E402


def _time_steps(runner: StepRunner, batches, steps: int, batch_size: int) -> float:
    iterator = iter(batches)
    runner.run(next(iterator))  # warm-up: allocator, mkldnn caches
    began = time.perf_counter()
    for _ in range(steps):
        runner.run(next(iterator))
    return steps * batch_size / (time.perf_counter() - began)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    work = Path(tempfile.mkdtemp(prefix="maskloop-throughput-"))
    json_path = generate_shapes_dataset(work, n_images=120, seed=3)
    dataset = load_coco_dataset(json_path, work / "images")
    torch.manual_seed(0)
    model = build_start_model("lite", dataset).model.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    runner = StepRunner(model, optimizer, device=device)
    train_images = InstanceDataset(dataset.samples, training_transforms())
    print(
        f"lite at {model.transform.min_size} px, batch {args.batch_size}, {args.steps} steps, "
        f"torch threads {torch.get_num_threads()}, device {device}"
    )

    loader = make_train_loader(
        train_images, batch_size=args.batch_size, workers=0, seed=0, ctx=DistContext()
    )
    in_memory = list(itertools.islice(itertools.cycle(loader.loader), args.steps + 1))
    baseline = _time_steps(runner, in_memory, args.steps, args.batch_size)
    print(f"  model only (batches in memory): {baseline:6.2f} images/s  ratio 1.00")
    for workers in (0, 1):
        loader = make_train_loader(
            train_images, batch_size=args.batch_size, workers=workers, seed=0, ctx=DistContext()
        )
        rate = _time_steps(runner, itertools.cycle(loader.loader), args.steps, args.batch_size)
        print(
            f"  full pipeline, {workers} worker(s): {rate:6.2f} images/s  "
            f"ratio {rate / baseline:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
