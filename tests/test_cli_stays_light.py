"""The light commands (`--help`, `import`, `export`, `eval`) never load torch or Qt.

Building the `train` parser once imported the architectures module, and with it torch and
torchvision: `maskloop --help` took 3 s and 840 MB. Each command runs in a fresh
interpreter here, and the modules it loaded are read back afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TinyCoco

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "PySide6")

PROBE = f"""
import json, sys
import main
try:
    code = main.main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({{"code": code, "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""


def _heavy_modules_after(*argv: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["code"] in (0, None), result.stderr
    return report["heavy"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["import", "--help"],
        ["export", "--help"],
        ["eval", "--help"],
        ["train", "--help"],
    ],
)
def test_help_loads_no_torch_and_no_qt(argv: list[str]) -> None:
    assert _heavy_modules_after(*argv) == []


def test_main_py_help_loads_no_torch_and_no_qt() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(REPO / "main.py"), "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "core.cli" in imported
    assert imported.isdisjoint(HEAVY)


def test_import_then_export_load_no_torch_and_no_qt(tiny_coco: TinyCoco, tmp_path: Path) -> None:
    project = tmp_path / "p.maskloop"
    imported = _heavy_modules_after(
        "import",
        str(tiny_coco.json_path),
        "--images",
        str(tiny_coco.images_dir),
        "--project",
        str(project),
    )
    assert imported == [] and project.is_file()
    out = tmp_path / "out.json"
    assert _heavy_modules_after("export", str(project), "--out", str(out)) == []
    assert len(json.loads(out.read_text(encoding="utf-8"))["images"]) == 3


def test_eval_loads_no_torch_and_no_qt(tiny_coco: TinyCoco, tmp_path: Path) -> None:
    ring = next(a for a in tiny_coco.data["annotations"] if a["id"] == 101)
    ground_truth = tmp_path / "gt.json"
    with_masks = [a for a in tiny_coco.data["annotations"] if "segmentation" in a]
    ground_truth.write_text(json.dumps({**tiny_coco.data, "annotations": with_masks}))
    predictions = tmp_path / "pred.json"
    predictions.write_text(
        json.dumps(
            [
                {
                    "image_id": ring["image_id"],
                    "category_id": ring["category_id"],
                    "segmentation": ring["segmentation"],
                    "score": 0.9,
                }
            ]
        ),
        encoding="utf-8",
    )
    assert _heavy_modules_after("eval", str(ground_truth), str(predictions), "--json") == []
