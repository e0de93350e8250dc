"""Two-process training and prediction with torchrun on the CPU (gloo backend)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.detection.checkpoint import load_checkpoint
from tests._training_helpers import QUICK_CLI_ARGS, shapes_with_ids

REPO = Path(__file__).resolve().parents[1]


def _torchrun(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "main.py",
        *args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    return shapes_with_ids(tmp_path_factory.mktemp("ddp-shapes"), n_images=20, seed=41)


@pytest.fixture(scope="module")
def ddp_run(shapes, tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    result = _torchrun(
        "train",
        str(shapes),
        "--images",
        str(shapes.parent / "images"),
        "--out",
        str(out / "model.pt"),
        "--epochs",
        "1",
        *QUICK_CLI_ARGS,
        "--progress",
        "jsonl",
        "--debug-dump-weights",
        str(out / "digests"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result, out


def test_both_replicas_end_with_identical_weights(ddp_run):
    _, out = ddp_run
    digests = [json.loads((out / "digests" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert digests[0]["steps"] == digests[1]["steps"] > 0
    assert digests[0]["sha256"] == digests[1]["sha256"]


def test_only_rank_zero_reports_and_writes_the_checkpoint(ddp_run):
    result, out = ddp_run
    events = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert [e["event"] for e in events].count("start") == 1
    start = events[0]
    assert start["world_size"] == 2
    # 18 training images, 9 per replica, 2 per step: 4 steps of 4 images in all.
    assert [e["step"] for e in events if e["event"] == "step"] == [1, 2, 3, 4]
    assert events[-1]["event"] == "done" and not events[-1]["cancelled"]
    _, meta = load_checkpoint(out / "model.pt")
    assert meta.label_category_ids == [0, 3, 7, 11] and meta.training["batch_size"] == 4


def test_sharded_predict_equals_single_process_predict(ddp_run, shapes, tmp_path):
    _, out = ddp_run
    common = [
        "--images",
        str(shapes.parent / "images"),
        "--coco",
        str(shapes),
        "--model",
        str(out / "model.pt"),
        "--device",
        "cpu",
        "--quiet",
        "--score-threshold",
        "0.001",
    ]
    sharded = _torchrun("predict", *common, "--out", str(tmp_path / "sharded.json"))
    assert sharded.returncode == 0, sharded.stderr[-3000:]
    single = subprocess.run(
        [sys.executable, "main.py", "predict", *common, "--out", str(tmp_path / "single.json")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert single.returncode == 0, single.stderr[-3000:]
    # Same thread count in both runs: float sums in another order could move a box by 0.01.
    sharded_results = json.loads((tmp_path / "sharded.json").read_text())
    single_results = json.loads((tmp_path / "single.json").read_text())
    assert sharded_results and sharded_results == single_results
