"""Two-process training and prediction with torchrun on the CPU (gloo backend)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core.detection.architectures import build_model
from core.detection.checkpoint import load_checkpoint
from tests._training_helpers import QUICK_CLI_ARGS, shapes_with_ids

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # every test launches torchrun and trains


TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _torchrun(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*TORCHRUN, "main.py", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
    )


def _events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def _digests(folder: Path) -> list[dict]:
    return [json.loads((folder / f"rank{r}.json").read_text()) for r in (0, 1)]


def _train_args(shapes: Path, out: Path, *length: str) -> list[str]:
    return [
        "train",
        str(shapes),
        "--images",
        str(shapes.parent / "images"),
        "--out",
        str(out / "model.pt"),
        *length,
        *QUICK_CLI_ARGS,
        "--progress",
        "jsonl",
        "--debug-dump-weights",
        str(out / "digests"),
    ]


def _worker_pid(launcher_pid: int, rank: int) -> int:
    """The pid of the torchrun worker with RANK=`rank` (Linux: read from /proc)."""
    children = Path(f"/proc/{launcher_pid}/task/{launcher_pid}/children").read_text().split()
    for pid in children:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        if f"RANK={rank}".encode() in environ:
            return int(pid)
    raise AssertionError(f"no worker with RANK={rank} among {children}")


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    return shapes_with_ids(tmp_path_factory.mktemp("ddp-shapes"), n_images=20, seed=41)


@pytest.fixture(scope="module")
def ddp_run(shapes, tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    result = _torchrun(*_train_args(shapes, out, "--epochs", "1"))
    assert result.returncode == 0, result.stderr[-3000:]
    return result, out


def test_both_replicas_end_with_identical_weights(ddp_run):
    _, out = ddp_run
    digests = _digests(out / "digests")
    assert digests[0]["steps"] == digests[1]["steps"] > 0
    assert digests[0]["sha256"] == digests[1]["sha256"]


def test_only_rank_zero_reports_and_writes_the_checkpoint(ddp_run):
    result, out = ddp_run
    events = _events(result.stdout)
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


# Loaded by every process through PYTHONPATH: rank 1's clock runs 50 times too fast, so
# it is sure to think the budget spent before rank 0 does.
_FAST_CLOCK_ON_RANK_1 = """
import os, time
if os.environ.get("RANK") == "1":
    _real = time.monotonic
    _base = _real()
    time.monotonic = lambda: _base + 50 * (_real() - _base)
"""


def test_a_time_budget_ends_every_rank_at_the_same_step_as_finished(shapes, tmp_path):
    """Each rank used to judge the budget on its own clock: when rank 1's ran out first,
    rank 0 ended "cancelled" and rank 1 died at a barrier rank 0 never reached (exit 1)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_FAST_CLOCK_ON_RANK_1)
    result = subprocess.run(
        [*TORCHRUN, "main.py", *_train_args(shapes, tmp_path, "--minutes", "0.2")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**ENV, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    digests = _digests(tmp_path / "digests")
    assert digests[0]["steps"] == digests[1]["steps"] > 0
    assert digests[0]["sha256"] == digests[1]["sha256"]
    done = _events(result.stdout)[-1]
    assert done["event"] == "done" and done["cancelled"] is False
    assert done["steps"] == digests[0]["steps"]
    load_checkpoint(tmp_path / "model.pt")


def test_sigterm_to_rank_zero_stops_every_rank_cleanly(shapes, tmp_path):
    """Only rank 0 is signalled; rank 1 learns it from the per-step agreement."""
    launcher = subprocess.Popen(
        [*TORCHRUN, "main.py", *_train_args(shapes, tmp_path, "--epochs", "100")],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert launcher.stdout is not None
        lines = []
        for line in launcher.stdout:
            lines.append(line)
            if '"event": "step"' in line:
                break
        os.kill(_worker_pid(launcher.pid, 0), signal.SIGTERM)
        rest, stderr = launcher.communicate(timeout=120)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
    assert launcher.returncode == 0, stderr[-3000:]
    events = _events("".join(lines) + rest)
    done = events[-1]
    assert done["event"] == "done" and done["cancelled"] is True
    digests = _digests(tmp_path / "digests")
    assert digests[0]["steps"] == digests[1]["steps"] == done["steps"]
    assert 0 < done["steps"] < 100 * 4  # stopped long before the 100 epochs
    assert digests[0]["sha256"] == digests[1]["sha256"]
    state_dict, meta = load_checkpoint(tmp_path / "model.pt")
    assert meta.training["steps"] <= done["steps"] and state_dict


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_two_nodes_reach_the_weights_of_one_process_with_the_same_global_batch(tmp_path):
    """Two torchrun "nodes" of one process each (c10d rendezvous on localhost) against one
    process whose batch of 4 is split into 2 micro-batches: the same images per slice, the
    same random draws per slice (seeded by step and slice), so the same parameters.

    64 x 64 images: torchvision's MultiScaleRoIAlign infers its feature scales from the
    first batch it sees and keeps them; with images far from a multiple of 32 two processes
    that start on different batches would pool at different scales.
    """
    shapes = shapes_with_ids(tmp_path / "data", n_images=20, seed=41, min_size=64, max_size=64)
    common = [
        "train",
        str(shapes),
        "--images",
        str(shapes.parent / "images"),
        "--epochs",
        "1",
        "--workers",
        "0",
        "--min-size",
        "64",
        "--max-size",
        "64",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--augment",
        "none",
        "--progress",
        "jsonl",
    ]
    endpoint = f"127.0.0.1:{_free_port()}"
    nodes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nnodes",
                "2",
                "--nproc-per-node",
                "1",
                "--node-rank",
                str(node),
                "--rdzv-backend",
                "c10d",
                "--rdzv-endpoint",
                endpoint,
                "--rdzv-id",
                "maskloop-test",
                "main.py",
                *common,
                "--batch-size",
                "2",
                "--out",
                str(tmp_path / "two.pt"),
                "--debug-dump-weights",
                str(tmp_path / "two"),
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )  # fmt: skip
        for node in (0, 1)
    ]
    for node in nodes:
        _, stderr = node.communicate(timeout=300)
        assert node.returncode == 0, stderr[-3000:]
    single = subprocess.run(
        [sys.executable, "main.py", *common, "--batch-size", "4", "--micro-batches", "2",
         "--out", str(tmp_path / "one.pt"), "--debug-dump-weights", str(tmp_path / "one")],
        cwd=REPO, capture_output=True, text=True, timeout=300, env=ENV,
    )  # fmt: skip
    assert single.returncode == 0, single.stderr[-3000:]

    two_nodes = torch.load(tmp_path / "two" / "rank0.pt")
    one_process = torch.load(tmp_path / "one" / "rank0.pt")
    assert json.loads((tmp_path / "one" / "rank0.json").read_text())["steps"] == 4
    assert _digests(tmp_path / "two")[0]["steps"] == 4
    # Parameters only: BatchNorm running statistics are estimates each replica keeps from
    # its own slice (DDP keeps rank 0's), and one process updates them once per micro-batch.
    model = build_model("lite", num_classes=4)
    names = [name for name, _ in model.named_parameters()]
    assert len(names) > 50
    for name in names:
        torch.testing.assert_close(one_process[name], two_nodes[name], rtol=1e-5, atol=1e-6)
    changed = [n for n in names if not torch.equal(two_nodes[n], model.state_dict()[n])]
    assert changed  # the runs did train
