"""A stand-in for `maskloop train --progress jsonl`, for fast deterministic dialog tests.

It prints the same event protocol as core.training (ARCHITECTURE.md: start, step, eval,
checkpoint, done, error), one JSON object per line on stdout, with a fixed pace so the
dialog's charts and cancel path can be driven in a second or two. SIGTERM is a cancel, as
in the real trainer: the run stops after the current step and reports the last checkpoint.

    python tests/_fake_trainer.py --steps 20 --interval 0.05 --checkpoint out/model.pt
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path


def emit(event: dict) -> None:
    print(json.dumps(event), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.05, help="seconds per step")
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--ap-before", type=float, default=0.10)
    parser.add_argument("--omit-ap-before", action="store_true")
    parser.add_argument("--fail-at", type=int, default=None, help="step at which to crash")
    parser.add_argument(
        "--copy-from", type=Path, default=None, help="a real checkpoint to publish as the result"
    )
    parser.add_argument("--hang", action="store_true", help="ignore SIGTERM (tests the kill path)")
    args = parser.parse_args(argv)

    cancel_requested = False

    def on_sigterm(signum, frame):  # the real trainer treats SIGTERM as "stop and keep the best"
        nonlocal cancel_requested
        cancel_requested = True

    signal.signal(signal.SIGTERM, signal.SIG_IGN if args.hang else on_sigterm)

    emit({"event": "start", "total_steps": args.steps, "train_images": 8, "val_images": 2})
    best_ap: float | None = None
    checkpoint_written = False
    started = time.monotonic()
    for step in range(1, args.steps + 1):
        if cancel_requested:
            break
        time.sleep(args.interval)
        if args.fail_at is not None and step == args.fail_at:
            print("RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB", file=sys.stderr)
            emit({"event": "error", "message": f"Out of memory at step {step}"})
            return 1
        loss_mask = 1.0 / step
        loss_box = 0.5 / step
        elapsed = time.monotonic() - started
        emit(
            {
                "event": "step",
                "step": step,
                "epoch": (step - 1) // 10,
                "loss": loss_mask + loss_box,
                "losses": {"loss_mask": loss_mask, "loss_box_reg": loss_box},
                "lr": 0.01,
                "images_per_s": 4.0,
                "eta_s": (args.steps - step) * args.interval,
                "elapsed_s": elapsed,
            }
        )
        if step % args.eval_every == 0:
            segm_ap = 0.1 + 0.5 * step / args.steps
            emit(
                {
                    "event": "eval",
                    "step": step,
                    "epoch": (step - 1) // 10,
                    "segm_ap": segm_ap,
                    "bbox_ap": segm_ap + 0.05,
                }
            )
            if best_ap is None or segm_ap > best_ap:
                best_ap = segm_ap
                args.checkpoint.parent.mkdir(parents=True, exist_ok=True)
                if args.copy_from is not None:
                    args.checkpoint.write_bytes(args.copy_from.read_bytes())
                else:
                    args.checkpoint.write_bytes(f"fake checkpoint at step {step}".encode())
                checkpoint_written = True
                emit({"event": "checkpoint", "path": str(args.checkpoint), "segm_ap": segm_ap})
    done = {
        "event": "done",
        "checkpoint": str(args.checkpoint) if checkpoint_written else None,
        "best_segm_ap": best_ap,
        "cancelled": cancel_requested,
    }
    if not args.omit_ap_before:
        done["ap_before"] = args.ap_before
    emit(done)
    return 0


if __name__ == "__main__":
    sys.exit(main())
