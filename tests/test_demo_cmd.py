"""`maskloop demo`: a project with labelled and unlabelled images, a model, held-out truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.cli import build_parser, run_command
from core.demo.project import CHECKPOINT_FILE, HELDOUT_FILE, PROJECT_FILE
from core.detection.checkpoint import load_checkpoint
from core.records import ImageStatus
from core.store import ProjectStore

TINY = ["--images", "10", "--labelled", "6", "--train-seconds", "2"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The headless demo (--no-open): the first model is trained before the command returns."""
    folder = tmp_path_factory.mktemp("demo") / "maskloop-demo"
    parser, _ = build_parser()
    args = parser.parse_args(["demo", str(folder), "--no-open", *TINY])
    assert run_command(args) == 0
    return folder, args


def test_demo_opens_its_window_at_once_and_leaves_the_first_model_to_the_app(tmp_path):
    folder = tmp_path / "maskloop-demo"
    parser, _ = build_parser()
    args = parser.parse_args(["demo", str(folder), *TINY])
    assert run_command(args) == 0
    assert Path(args.open_path) == folder.resolve() / PROJECT_FILE
    assert args.first_model_seconds == 2.0  # the app trains it in the background
    assert not (folder / CHECKPOINT_FILE).exists()
    with ProjectStore.open(folder / PROJECT_FILE) as store:
        assert store.image_count(ImageStatus.REVIEWED) == 6
        assert store.active_model() is None


def test_demo_project_has_reviewed_labelled_images_and_unlabelled_ones(demo):
    folder, _ = demo
    with ProjectStore.open(folder / PROJECT_FILE) as store:
        assert store.image_count() == 10
        assert store.image_count(ImageStatus.REVIEWED) == 6
        assert store.image_count(ImageStatus.UNLABELLED) == 4
        assert [c.name for c in store.categories()] == ["circle", "square", "triangle"]
        model = store.active_model()
    assert Path(model) == folder.resolve() / CHECKPOINT_FILE
    _, meta = load_checkpoint(model)
    assert meta.arch == "lite" and meta.label_category_ids == [0, 1, 2, 3]


def test_heldout_ground_truth_covers_exactly_the_unlabelled_images(demo):
    folder, _ = demo
    truth = json.loads((folder / HELDOUT_FILE).read_text())
    with ProjectStore.open(folder / PROJECT_FILE) as store:
        unlabelled = {
            store.get_image(i).file_name: i for i in store.image_ids(status=ImageStatus.UNLABELLED)
        }
    assert {img["file_name"]: img["id"] for img in truth["images"]} == unlabelled
    assert truth["annotations"] and all(
        a["image_id"] in unlabelled.values() for a in truth["annotations"]
    )


def test_running_the_demo_again_reuses_the_folder(demo, capsys):
    folder, _ = demo
    checkpoint = folder / CHECKPOINT_FILE
    stamp = checkpoint.stat().st_mtime_ns
    parser, _ = build_parser()
    args = parser.parse_args(["demo", str(folder), "--no-open", *TINY])
    assert run_command(args) == 0
    assert args.open_path is None
    assert checkpoint.stat().st_mtime_ns == stamp
    assert "reusing the model" in capsys.readouterr().err
    with ProjectStore.open(folder / PROJECT_FILE) as store:
        assert store.image_count() == 10
