"""Running a model over a batch when the GPU may run out of memory.

A big image, a big batch or another program on the same GPU can exhaust its memory in the
middle of a session. Rather than fail, the work is retried with half the batch, down to one
item, and then on the CPU (slower, but the user's work goes on); each step is announced
with one line for the status bar. The model, proposals and box-to-mask all go through
`run_with_oom_fallback`, so they behave alike.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from typing import TypeVar

import torch

from core.errors import MaskLoopError

Item = TypeVar("Item")
Result = TypeVar("Result")


class OutOfMemory(MaskLoopError):
    """Even one item at a time on the CPU did not fit in memory."""


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or the RuntimeError older builds and other backends raise."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def run_with_oom_fallback(
    fn: Callable[[Sequence[Item]], list[Result]],
    items: Sequence[Item],
    *,
    batch_size: int,
    device: torch.device,
    to_cpu: Callable[[], None],
    notify: Callable[[str], None] | None = None,
) -> tuple[list[Result], int, torch.device]:
    """`fn` over `items` in batches (`fn(batch)` returns one result per item, in order).

    On running out of GPU memory the same batch is retried with half the batch size, down to
    one; then `to_cpu()` moves the model to the CPU and the work goes on there. Returns the
    results with the batch size and device that worked, for the caller to keep using them.
    """
    results: list[Result] = []
    start = 0
    while start < len(items):
        batch = items[start : start + batch_size]
        try:
            results.extend(fn(batch))
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            del exc  # its traceback holds the tensors that filled the memory
            _free(device)
            if batch_size > 1:
                batch_size = max(1, batch_size // 2)
                _say(notify, f"Out of GPU memory: retrying with batches of {batch_size}.")
            elif device.type != "cpu":
                to_cpu()
                device = torch.device("cpu")
                _say(
                    notify,
                    "Out of GPU memory even one image at a time: the model now runs on the "
                    "CPU (slower). Choose the model again to go back to the GPU.",
                )
            else:
                raise OutOfMemory(
                    "Out of memory on the CPU too, even one image at a time: close other "
                    "programs or choose a smaller model."
                ) from None
            continue
        start += len(batch)
    return results, batch_size, device


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _say(notify: Callable[[str], None] | None, message: str) -> None:
    if notify is not None:
        notify(message)
