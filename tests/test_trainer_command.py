"""The app starts its trainer as `python -m core.cli train ...`, not by finding main.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from gui.workers.training_process import maskloop_command  # noqa: E402


def test_trainer_command_runs_the_cli_from_any_folder(tmp_path: Path) -> None:
    command = maskloop_command(["train", "--help"])
    assert command.program == sys.executable
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [command.program, *command.arguments],
        cwd=command.working_dir or tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: maskloop train")
    assert "main.py" not in " ".join(command.arguments)
