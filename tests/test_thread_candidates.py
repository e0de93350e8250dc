"""Which CPU thread counts a training run tries, per device.

A GPU run without --threads handed ThreadChooser [None], and int(None) raised TypeError
before the first step (found by mypy: cfg.threads is `int | None`).
"""

from __future__ import annotations

import torch

from core.training.engine import ThreadChooser, thread_candidates


def test_gpu_run_without_threads_keeps_torchs_count() -> None:
    candidates = thread_candidates(None, "cuda")
    assert candidates == [torch.get_num_threads()]
    assert ThreadChooser(candidates).chosen == torch.get_num_threads()


def test_cpu_run_measures_all_cores_and_one_unless_told() -> None:
    assert thread_candidates(None, "cpu") == [torch.get_num_threads(), 1]
    assert thread_candidates(3, "cpu") == [3]
    assert thread_candidates(2, "cuda") == [2]
