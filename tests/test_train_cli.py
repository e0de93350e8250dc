"""`maskloop train` on the command line: jsonl stream, predict ids, cancel, user errors."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import main as cli_main
from core.detection.checkpoint import load_checkpoint
from core.training.progress import JsonlReporter, TerminalReporter, step_event
from tests._training_helpers import QUICK_CLI_ARGS, shapes_with_ids

REPO = Path(__file__).resolve().parents[1]
QUICK = QUICK_CLI_ARGS


def _train_args(shapes: Path, checkpoint: Path, epochs: int) -> list[str]:
    """`maskloop train` arguments for a quick jsonl run on the shapes fixture."""
    return ["train", str(shapes), "--images", str(shapes.parent / "images"), "--out",
            str(checkpoint), "--epochs", str(epochs), "--progress", "jsonl", *QUICK]  # fmt: skip


def _events(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # fails if anything else is on stdout


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    return shapes_with_ids(tmp_path_factory.mktemp("cli-shapes"), n_images=24, seed=31)


def test_train_jsonl_then_predict_emits_the_coco_files_non_contiguous_ids(shapes, tmp_path, capsys):
    checkpoint = tmp_path / "model.pt"
    code = cli_main(_train_args(shapes, checkpoint, epochs=2))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    events = _events(captured.out)
    assert events[0]["event"] == "start" and events[-1]["event"] == "done"
    assert events[-1]["checkpoint"] == str(checkpoint)
    assert {e["event"] for e in events} >= {"start", "step", "eval", "checkpoint", "done"}

    predictions = tmp_path / "predictions.json"
    code = cli_main(
        [
            "predict",
            "--images",
            str(shapes.parent / "images"),
            "--coco",
            str(shapes),
            "--model",
            str(checkpoint),
            "--out",
            str(predictions),
            "--device",
            "cpu",
            "--score-threshold",
            "0.001",
            "--quiet",
        ]
    )
    assert code == 0
    results = json.loads(predictions.read_text())
    assert results, "the trained model predicted nothing at all"
    assert {r["category_id"] for r in results} <= {3, 7, 11}
    assert len({r["category_id"] for r in results}) >= 2


def test_sigint_stops_after_a_step_and_leaves_a_checkpoint_and_a_cancelled_done_event(
    shapes, tmp_path
):
    checkpoint = tmp_path / "cancelled.pt"
    command = [sys.executable, "main.py", *_train_args(shapes, checkpoint, epochs=50)]
    process = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines = []
    try:
        for line in process.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if json.loads(line)["event"] == "step":
                process.send_signal(signal.SIGINT)
                break
        rest, err = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    events = _events("".join(lines) + rest)
    done = events[-1]
    assert done["event"] == "done" and done["cancelled"] is True
    assert done["checkpoint"] == str(checkpoint)
    assert 1 <= done["steps"] <= 3  # stopped after the step in flight, not after 50 epochs
    _, meta = load_checkpoint(checkpoint)
    assert meta.label_category_ids == [0, 3, 7, 11]
    assert "stopping after the current step" in err
    assert "Traceback" not in err


def test_reader_closing_the_pipe_then_sigterm_still_ends_with_a_checkpoint(shapes, tmp_path):
    """The program reading the jsonl stream quits (closing the pipe), then the run is
    terminated: no traceback, and the checkpoint is still written."""
    checkpoint = tmp_path / "orphan.pt"
    command = [sys.executable, "main.py", *_train_args(shapes, checkpoint, epochs=50)]
    process = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        for line in process.stdout:  # type: ignore[union-attr]
            if json.loads(line)["event"] == "step":
                break
        process.stdout.close()  # type: ignore[union-attr]
        process.send_signal(signal.SIGTERM)
        err = process.stderr.read()  # type: ignore[union-attr]
        process.wait(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert "the progress reader closed its pipe" in err
    _, meta = load_checkpoint(checkpoint)
    assert meta.training["steps"] >= 1


def test_jsonl_reporter_stops_writing_when_its_reader_is_gone():
    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    err = io.StringIO()
    report = JsonlReporter(ClosedPipe(), err)
    report({"event": "step", "step": 1})
    report({"event": "step", "step": 2})  # no second attempt, no second warning
    assert report.reader_gone
    assert err.getvalue().count("closed its pipe") == 1


def test_missing_training_file_is_one_error_line_and_an_error_event(tmp_path, capsys):
    (tmp_path / "images").mkdir()
    code = cli_main(
        [
            "train",
            str(tmp_path / "nope.json"),
            "--images",
            str(tmp_path / "images"),
            "--out",
            str(tmp_path / "m.pt"),
            "--progress",
            "jsonl",
            *QUICK,
        ]
    )
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.strip().splitlines() == [
        f"maskloop: error: the training file {tmp_path / 'nope.json'} does not exist"
    ]
    assert _events(captured.out) == [
        {"event": "error", "message": f"the training file {tmp_path / 'nope.json'} does not exist"}
    ]


def test_epochs_and_minutes_together_are_refused_by_the_parser(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(
            [
                "train",
                "a.json",
                "--images",
                str(tmp_path),
                "--out",
                "m.pt",
                "--epochs",
                "1",
                "--minutes",
                "1",
            ]
        )
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_jsonl_reporter_writes_json_lines_and_sends_warnings_to_stderr():
    out, err = io.StringIO(), io.StringIO()
    report = JsonlReporter(out, err)
    report({"event": "eval", "segm_ap": float("nan"), "bbox_ap": 0.5})
    report({"event": "warning", "message": "image x.png failed"})
    assert _events(out.getvalue()) == [{"event": "eval", "segm_ap": None, "bbox_ap": 0.5}]
    assert err.getvalue() == "maskloop: warning: image x.png failed\n"


def test_terminal_reporter_prints_readable_throttled_step_lines():
    out, err = io.StringIO(), io.StringIO()
    clock = iter([0.0, 0.5, 3.0])
    report = TerminalReporter(out, err, step_interval_s=2.0, clock=lambda: next(clock))
    for step in (1, 2, 3):
        report(
            step_event(
                step=step,
                total_steps=10,
                epoch=0,
                losses={"loss_mask": 0.5, "loss_classifier": 0.25},
                lr=0.01,
                images_per_s=3.0,
                eta_s=75.0,
                elapsed_s=1.0,
            )
        )
    lines = out.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["1/10", "3/10"]  # step 2 was throttled
    assert "loss 0.750 (mask 0.500 classifier 0.250)" in lines[0] and "eta 1m15s" in lines[0]
