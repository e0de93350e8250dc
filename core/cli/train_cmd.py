"""`maskloop train`: train or fine-tune a Mask R-CNN on a COCO file.

    maskloop train COCO_JSON --images DIR --out CKPT.pt [--model ARCH|CKPT] [--val COCO_JSON]
                   [--epochs N | --minutes M] [--batch-size B] [--lr LR] [--device cpu|cuda]
                   [--amp] [--progress jsonl] [--seed S]

With `--progress jsonl` stdout carries only the event stream (one JSON object per line,
flushed), which the GUI's fine-tune dialog reads; everything meant for a person goes to
stderr. SIGINT and SIGTERM stop the run after the current step and still leave a usable
checkpoint; a second SIGINT aborts at once. Under `torchrun --nproc-per-node N` the same
command trains with DistributedDataParallel.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType

from core.detection.names import ARCHITECTURES
from core.errors import MaskLoopError
from core.training.choices import AUGMENTATIONS, AUTO_AUGMENT_MIN_EPOCHS
from core.training.config import TrainConfig
from core.training.progress import JsonlReporter, TerminalReporter, error_event
from core.training.schedule import DECAY_KINDS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train or fine-tune a model on a COCO file",
        description="Train a Mask R-CNN on COCO instance masks. Starting from a checkpoint or "
        "from COCO weights (r50-fpn, r50-fpn-v2) fine-tunes it; --model lite trains a small "
        "model from scratch. The checkpoint with the best validation mask AP is kept.",
    )
    parser.add_argument("coco_json", type=Path, help="COCO file with the training labels")
    parser.add_argument("--images", type=Path, required=True, help="folder of the images")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint file to write")
    parser.add_argument(
        "--model",
        default="lite",
        help=f"start model: {', '.join(ARCHITECTURES)} or a MaskLoop checkpoint (default lite)",
    )
    parser.add_argument(
        "--val",
        type=Path,
        help="COCO file to validate on (default: hold out 10%% of the training images)",
    )
    parser.add_argument("--val-images", type=Path, help="images folder of --val (default --images)")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=float, help="passes over the training images")
    length.add_argument(
        "--minutes",
        type=float,
        help="wall-clock budget; the learning-rate schedule is planned to end with it",
    )
    parser.add_argument("--batch-size", type=int, help="images per step (per GPU under torchrun)")
    parser.add_argument(
        "--micro-batches",
        type=int,
        default=1,
        help="split each batch into this many parts and accumulate their gradients: less "
        "memory for the same step (one process with --batch-size 8 --micro-batches 2 trains "
        "like two torchrun processes with --batch-size 4)",
    )
    parser.add_argument("--lr", type=float, help="peak learning rate (default per architecture)")
    parser.add_argument("--schedule", choices=DECAY_KINDS, default="cosine")
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--amp", action="store_true", help="mixed precision on the GPU")
    parser.add_argument("--workers", type=int, help="data loading processes")
    parser.add_argument(
        "--threads", type=int, help="CPU threads (default: the faster of 1 and all, measured)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--augment",
        choices=AUGMENTATIONS,
        default="auto",
        help="full: horizontal flip, colour distortion and scale jitter; light: flip and "
        f"colour; flip; none; auto (default): full for runs of {AUTO_AUGMENT_MIN_EPOCHS:g}+ "
        "epochs, light for shorter ones, which scale jitter slows down more than it helps",
    )
    parser.add_argument("--min-size", type=int, help="rescale images to this short side")
    parser.add_argument("--max-size", type=int, help="... and at most this long side")
    parser.add_argument(
        "--progress",
        choices=("text", "jsonl"),
        default="text",
        help="jsonl: one JSON event per line on stdout, for programs",
    )
    parser.add_argument("--debug-dump-weights", type=Path, help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


class StopRequest:
    """Set by SIGINT/SIGTERM; a second SIGINT raises KeyboardInterrupt to abort at once."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        print(
            "maskloop: stopping after the current step (Ctrl+C again to abort)",
            file=sys.stderr,
            flush=True,
        )


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        train_json=args.coco_json,
        images_dir=args.images,
        out=args.out,
        model=args.model,
        val_json=args.val,
        val_images_dir=args.val_images,
        epochs=args.epochs,
        minutes=args.minutes,
        batch_size=args.batch_size,
        micro_batches=args.micro_batches,
        lr=args.lr,
        schedule=args.schedule,
        device=args.device,
        amp=args.amp,
        seed=args.seed,
        workers=args.workers,
        threads=args.threads,
        min_size=args.min_size,
        max_size=args.max_size,
        augment=args.augment,
        debug_dump_weights=args.debug_dump_weights,
    )


def run(args: argparse.Namespace) -> int:
    from core.training.trainer import train  # torch loads only when a run starts

    reporter = JsonlReporter() if args.progress == "jsonl" else TerminalReporter()
    stop = StopRequest()
    previous = {sig: signal.signal(sig, stop.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        train(config_from_args(args), on_event=reporter, should_stop=stop)
    except MaskLoopError as exc:
        if args.progress == "jsonl":
            reporter(error_event(str(exc)))
        raise  # the CLI prints it on one line and exits 2
    except Exception as exc:
        if args.progress == "jsonl":  # the GUI still learns why the run ended
            reporter(error_event(f"internal error: {type(exc).__name__}: {exc}"))
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
