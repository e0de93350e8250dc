"""`maskloop import` / `maskloop export`: flags, exit codes, one-line errors, stdout/stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TinyCoco

from core.cli import main as cli_main
from core.records import ReviewState
from core.store import ProjectStore

REPO = Path(__file__).resolve().parents[1]


def _run_main(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "main.py"), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def test_main_py_imports_and_exports_a_round_trip(
    tiny_coco: TinyCoco, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import main  # `python main.py ...` is the same program as `maskloop ...`

    project, out = tmp_path / "p.maskloop", tmp_path / "out.json"
    args = ["--images", str(tiny_coco.images_dir), "--project", str(project)]
    assert main.main(["import", str(tiny_coco.json_path), *args]) == 0
    assert capsys.readouterr().out.strip() == "Imported 3 images, 4 annotations and 3 categories."
    assert main.main(["export", str(project), "--out", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["images"] == tiny_coco.data["images"]


def test_a_broken_coco_file_gives_exit_2_and_one_line_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    result = _run_main(
        "import",
        str(bad),
        "--images",
        str(tmp_path / "images"),
        "--project",
        str(tmp_path / "p.maskloop"),
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("maskloop: error:") and "not a JSON file" in result.stderr


@pytest.mark.parametrize("command", ["import", "export"])
def test_each_subcommand_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli_main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    flags = ["--images", "--project"] if command == "import" else [
        "--out", "--masks", "--reviewed-only", "--include-proposals"]  # fmt: skip
    assert all(flag in text for flag in flags)


def test_import_warnings_go_to_stderr_one_per_line_and_summary_to_stdout(
    tiny_coco: TinyCoco, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = dict(tiny_coco.data)
    data["images"] = [*data["images"], {"id": 40, "file_name": "gone.png", "width": 5, "height": 5},
                      {"id": 41, "file_name": "/etc/passwd", "width": 5, "height": 5}]  # fmt: skip
    tiny_coco.json_path.write_text(json.dumps(data))
    code = cli_main(["import", str(tiny_coco.json_path), "--images", str(tiny_coco.images_dir),
                     "--project", str(tmp_path / "p.maskloop")])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0
    lines = err.splitlines()
    assert len(lines) == 2 and all(
        line.startswith("maskloop: warning: skipped image") for line in lines
    )
    assert "'gone.png'" in lines[0] and "'/etc/passwd'" in lines[1]
    assert out.splitlines() == [
        "Imported 3 images, 4 annotations and 3 categories; skipped 2 bad items (2 warnings)."
    ]


def test_export_flags_select_reviewed_images_proposals_and_mask_format(
    tiny_coco: TinyCoco, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project, out = tmp_path / "p.maskloop", tmp_path / "out.json"
    assert cli_main(["import", str(tiny_coco.json_path), "--images", str(tiny_coco.images_dir),
                     "--project", str(project)]) == 0  # fmt: skip
    with ProjectStore.open(project) as store:
        (proposal,) = store.replace_proposals(
            7, [store.get_annotation(101)], "lite"
        )  # same ring mask, as a model would propose it
        store.set_reviewed(8, False)
    assert cli_main(["export", str(project), "--out", str(out), "--masks", "rle", "--reviewed-only",
                     "--include-proposals"]) == 0  # fmt: skip
    data = json.loads(out.read_text(encoding="utf-8"))
    assert [im["id"] for im in data["images"]] == [7]
    ids = {a["id"] for a in data["annotations"]}
    assert ids == {100, 101, 102, proposal.id}
    assert all(isinstance(a["segmentation"], dict) for a in data["annotations"])
    assert capsys.readouterr().out.splitlines()[-1].startswith("Exported 1 images, 4 annotations")
    assert proposal.state is ReviewState.PROPOSED


def test_import_into_a_project_with_another_images_folder_is_refused(
    tiny_coco: TinyCoco, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "p.maskloop"
    ProjectStore.create(project, tiny_coco.images_dir).close()
    other = tmp_path / "other"
    other.mkdir()
    code = cli_main(
        ["import", str(tiny_coco.json_path), "--images", str(other), "--project", str(project)]
    )
    assert code == 2
    assert "pass that folder to --images" in capsys.readouterr().err


def test_export_of_a_missing_project_fails_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli_main(["export", str(tmp_path / "none.maskloop"), "--out", str(tmp_path / "o.json")])
    assert code == 2
    assert capsys.readouterr().err.strip().startswith("maskloop: error: No project file")
