"""Training events and the two ways `maskloop train` reports them.

Events are plain dicts (ARCHITECTURE.md): `start`, `step`, `eval`, `checkpoint`, `done`,
`error`, plus `warning` for problems the run survives. `JsonlReporter` prints one JSON object
per line on stdout and flushes it, because the GUI's fine-tune dialog reads that stream live;
human text (warnings) goes to stderr so stdout stays machine-readable. `TerminalReporter`
prints readable lines and throttles step lines so a fast run does not flood the terminal.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

Event = dict[str, Any]


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity (Qt's parser rejects them): report them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def start_event(
    *,
    total_steps: int | None,
    epochs: float | None,
    budget_s: float | None,
    train_images: int,
    val_images: int,
    val_source: str,
    arch: str,
    base_model: str,
    device: str,
    batch_size: int,
    lr: float,
    categories: list[dict[str, Any]],
    world_size: int,
) -> Event:
    return {
        "event": "start",
        "total_steps": total_steps,
        "epochs": epochs,
        "budget_s": budget_s,
        "train_images": train_images,
        "val_images": val_images,
        "val_source": val_source,
        "arch": arch,
        "base_model": base_model,
        "device": device,
        "batch_size": batch_size,
        "lr": lr,
        "categories": categories,
        "world_size": world_size,
    }


def step_event(
    *,
    step: int,
    total_steps: int | None,  # None while a time budget is still being planned
    epoch: int,
    losses: Mapping[str, float],
    lr: float,
    images_per_s: float,
    eta_s: float | None,
    elapsed_s: float,
) -> Event:
    return {
        "event": "step",
        "step": step,
        "total_steps": total_steps,
        "epoch": epoch,
        "loss": float(sum(losses.values())),
        "losses": {k: float(v) for k, v in losses.items()},
        "lr": lr,
        "images_per_s": images_per_s,
        "eta_s": eta_s,
        "elapsed_s": elapsed_s,
    }


def eval_event(
    *, step: int, epoch: int, segm_ap: float, bbox_ap: float, elapsed_s: float, seconds: float
) -> Event:
    return {
        "event": "eval",
        "step": step,
        "epoch": epoch,
        "segm_ap": segm_ap,
        "bbox_ap": bbox_ap,
        "elapsed_s": elapsed_s,
        "eval_s": seconds,
    }


def checkpoint_event(*, path: str, step: int, segm_ap: float | None) -> Event:
    return {"event": "checkpoint", "path": path, "step": step, "segm_ap": segm_ap}


def done_event(
    *,
    checkpoint: str | None,
    best_segm_ap: float | None,
    ap_before: float | None,
    cancelled: bool,
    steps: int,
    elapsed_s: float,
) -> Event:
    return {
        "event": "done",
        "checkpoint": checkpoint,
        "best_segm_ap": best_segm_ap,
        "ap_before": ap_before,
        "cancelled": cancelled,
        "steps": steps,
        "elapsed_s": elapsed_s,
    }


def error_event(message: str) -> Event:
    return {"event": "error", "message": message}


def warning_event(message: str) -> Event:
    return {"event": "warning", "message": message}


class JsonlReporter:
    """One JSON object per line on `stream` (stdout), flushed at once; warnings on stderr."""

    def __init__(self, stream: TextIO | None = None, err: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout
        self._err = err or sys.stderr
        self.reader_gone = False

    def __call__(self, event: Event) -> None:
        if event.get("event") == "warning":
            print(f"maskloop: warning: {event.get('message')}", file=self._err, flush=True)
            return
        if self.reader_gone:
            return
        try:
            self._stream.write(json.dumps(_finite(event)) + "\n")
            self._stream.flush()
        except BrokenPipeError:
            # The program reading the events quit. Training is not its to lose: the run
            # goes on (or stops, if it was also asked to) and still writes its checkpoint.
            self.reader_gone = True
            self._silence_stream()
            print(
                "maskloop: warning: the progress reader closed its pipe; training goes on "
                "without progress events",
                file=self._err,
                flush=True,
            )

    def _silence_stream(self) -> None:
        if self._stream is not sys.stdout:
            return
        # Python flushes stdout at exit; pointing it at /dev/null keeps that flush from
        # raising BrokenPipeError again (the recipe in Python's signal documentation).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(0, int(round(seconds)))
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def _ap(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


class TerminalReporter:
    """Readable progress lines; step lines at most every `step_interval_s` seconds."""

    def __init__(
        self,
        stream: TextIO | None = None,
        err: TextIO | None = None,
        *,
        step_interval_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream or sys.stdout
        self._err = err or sys.stderr
        self._interval = step_interval_s
        self._clock = clock
        self._last_step_line: float | None = None

    def _line(self, text: str, stream: TextIO | None = None) -> None:
        print(text, file=stream or self._stream, flush=True)

    def __call__(self, event: Event) -> None:
        kind = event.get("event")
        if kind == "start":
            length = (
                f"{event['total_steps']} steps"
                if event.get("budget_s") is None
                else f"{_duration(event['budget_s'])} budget"
            )
            self._line(
                f"training {event['arch']} from {event['base_model']} on {event['device']}: "
                f"{event['train_images']} train / {event['val_images']} val images "
                f"({event['val_source']}), {len(event['categories'])} categories, "
                f"batch {event['batch_size']}, lr {event['lr']:g}, {length}"
            )
        elif kind == "step":
            now = self._clock()
            total = event.get("total_steps")
            last = total is not None and event["step"] >= total
            if (
                not last
                and self._last_step_line is not None
                and (now - self._last_step_line < self._interval)
            ):
                return
            self._last_step_line = now
            parts = " ".join(
                f"{k.removeprefix('loss_')} {v:.3f}" for k, v in event["losses"].items()
            )
            self._line(
                f"step {event['step']}/{total or '?'} epoch {event['epoch']} "
                f"loss {event['loss']:.3f} ({parts}) lr {event['lr']:.4f} "
                f"{event['images_per_s']:.1f} img/s eta {_duration(event['eta_s'])}"
            )
        elif kind == "eval":
            self._line(
                f"eval at step {event['step']}: mask AP {_ap(event['segm_ap'])}, "
                f"box AP {_ap(event['bbox_ap'])} ({event['eval_s']:.1f}s)"
            )
        elif kind == "checkpoint":
            self._line(f"saved {event['path']} (mask AP {_ap(event.get('segm_ap'))})")
        elif kind == "done":
            state = "cancelled" if event["cancelled"] else "finished"
            before = (
                f", before {_ap(event['ap_before'])}" if event.get("ap_before") is not None else ""
            )
            self._line(
                f"{state} after {event['steps']} steps in {_duration(event['elapsed_s'])}: "
                f"best mask AP {_ap(event['best_segm_ap'])}{before}; checkpoint "
                f"{event['checkpoint']}"
            )
        elif kind == "warning":
            self._line(f"maskloop: warning: {event['message']}", self._err)
        elif kind == "error":
            self._line(f"maskloop: error: {event['message']}", self._err)
