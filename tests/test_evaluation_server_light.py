"""The evaluation's own process stays light: it never imports Qt (nor torch, unless a model
is run), so starting it costs an interpreter and numpy, not a second GUI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_evaluation_server_imports_neither_qt_nor_torch() -> None:
    code = (
        "import sys, gui.workers.evaluation_server\n"
        "print(sorted(m for m in ('PySide6', 'torch', 'torchvision') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
