"""The Box-to-mask tool in the window: drag a box, the trained model's mask appears."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from _detector_helpers import trained_lite_checkpoint  # noqa: E402
from _gui_helpers import drag  # noqa: E402
from _window_helpers import shown_window, wait_until  # noqa: E402
from pycocotools import mask as mask_utils  # noqa: E402

from core.demo.shapes import generate_shapes_dataset  # noqa: E402
from core.detection.box_to_mask import BoxSegmenter  # noqa: E402
from core.records import Source  # noqa: E402
from core.store import ProjectStore  # noqa: E402
from core.store.effort import Origin  # noqa: E402
from gui.canvas.box_to_mask_tool import NO_MODEL  # noqa: E402
from gui.workers.box_mask_job import BoxMaskRequests  # noqa: E402


def _shapes_project(tmp_path: Path, *, model: str | None) -> tuple[Path, dict[str, Any]]:
    """Two held-out shape images, no labels; the truth is returned for checking."""
    json_path = generate_shapes_dataset(tmp_path / "shapes", n_images=2, seed=99)
    truth = json.loads(json_path.read_text())
    project = tmp_path / "shapes.maskloop"
    with ProjectStore.create(project, json_path.parent / "images") as store:
        for category in truth["categories"]:  # circle 1, square 2, triangle 3
            store.add_category(category["name"], category_id=category["id"])
        for image in truth["images"]:
            store.add_image(image["file_name"], image["width"], image["height"])
        if model is not None:
            store.set_setting("model", model)
    return project, truth


def _largest_object(truth: dict[str, Any], image_index: int) -> dict[str, Any]:
    image_id = truth["images"][image_index]["id"]
    return max(
        (a for a in truth["annotations"] if a["image_id"] == image_id), key=lambda a: a["area"]
    )


def _ready_window(qtbot, tmp_path: Path, project: Path):
    window = shown_window(qtbot, tmp_path)
    window.open_project(project)
    wait_until(qtbot, lambda: window.proposals.model_ready, 120_000)
    image_id = window.current_image_id
    # Let the model's own proposals land first: they reset the document when they arrive.
    wait_until(qtbot, lambda: window.store.proposals_model(image_id) is not None, 120_000)
    wait_until(qtbot, lambda: window.canvas.image_size != (0, 0))
    window.actions["box_to_mask"].trigger()
    assert window.canvas.tool_name == "box_to_mask"
    return window


def _human(window) -> list:
    return [a for a in window.current_document.annotations() if a.source == Source.HUMAN]


def _drag_box(window, box: list[float]) -> None:
    x, y, w, h = box
    drag(window.canvas, (x, y), (x + w, y + h))


def test_drag_a_box_gives_the_objects_mask_in_one_undo_step_off_the_ui_thread(
    qtbot, tmp_path, monkeypatch
):
    threads: list[int] = []
    segment = BoxSegmenter.segment

    def recording_segment(self, *args, **kwargs):
        threads.append(threading.get_ident())
        return segment(self, *args, **kwargs)

    monkeypatch.setattr(BoxSegmenter, "segment", recording_segment)
    project, truth = _shapes_project(tmp_path, model=str(trained_lite_checkpoint()))
    window = _ready_window(qtbot, tmp_path, project)
    target = _largest_object(truth, 0)
    steps_before = window.current_document.undo_stack.count()
    # Choosing the tool has the image's features computed before the first box.
    worker = window.proposals.service.worker
    wait_until(qtbot, lambda: worker.segmenter is not None and worker.segmenter.backbone_runs)

    _drag_box(window, target["bbox"])
    wait_until(qtbot, lambda: len(_human(window)) == 1)

    (ann,) = _human(window)
    w, h = window.canvas.image_size
    mask = mask_utils.decode(
        {"size": [h, w], "counts": ann.segmentation["counts"].encode()}
    ).astype(bool)
    x, y, bw, bh = target["bbox"]
    rows, cols = np.nonzero(mask)
    assert cols.min() >= np.floor(x) and cols.max() < np.ceil(x + bw)
    assert rows.min() >= np.floor(y) and rows.max() < np.ceil(y + bh)
    truth_mask = mask_utils.decode(target["segmentation"]).astype(bool)
    assert (mask & truth_mask).sum() >= 0.3 * mask.sum()  # mostly on the object
    assert ann.area == mask.sum()
    # Where it came from is recorded for the Loop report.
    origins = {row.annotation_id: row.origin for row in window.store.effort_instances()}
    assert origins[ann.id] == Origin.BOX_TO_MASK
    # The model ran, and never on the UI thread.
    assert threads and threading.main_thread().ident not in threads
    assert window.box_to_mask.last_result.thread_id != threading.main_thread().ident
    assert window.box_to_mask.last_result.choices[0].name in ("circle", "square", "triangle")
    assert "Box to mask" in window.work_status.message()
    # Every move of the box asked again; the image's backbone ran once, the heads each time.
    assert worker.segmenter.backbone_runs == 1

    stack = window.current_document.undo_stack
    assert stack.count() == steps_before + 1
    stack.undo()
    assert _human(window) == []
    with ProjectStore.open(project) as store:
        assert [a for a in store.annotations(window.current_image_id) if a.id == ann.id] == []
    stack.redo()
    assert [a.id for a in _human(window)] == [ann.id]


def test_a_category_picked_on_the_image_wins_over_the_models(qtbot, tmp_path):
    project, truth = _shapes_project(tmp_path, model=str(trained_lite_checkpoint()))
    window = _ready_window(qtbot, tmp_path, project)
    target = _largest_object(truth, 0)
    window.menus.pick_category_number(2)  # "square", whatever the model thinks
    _drag_box(window, target["bbox"])
    wait_until(qtbot, lambda: len(_human(window)) == 1)
    assert _human(window)[0].category_id == 2
    assert window.box_to_mask.last_result.request.category_id == 2
    assert "the category you picked" in window.work_status.message()


def test_a_newer_box_replaces_a_preview_the_worker_has_not_taken_but_never_a_released_one():
    requests = BoxMaskRequests()
    for x in (10.0, 12.0, 14.0):
        requests.submit(1, (x, 10.0, x + 20, 30.0), None, final=False)
    first = requests.submit(1, (16.0, 10.0, 36.0, 30.0), None, final=True)
    requests.submit(1, (50.0, 50.0, 60.0, 60.0), None, final=False)
    newest = requests.submit(1, (52.0, 50.0, 62.0, 60.0), None, final=False)
    assert requests.take() == first
    assert requests.take() == newest
    assert requests.take() is None
    assert requests.dropped == 4


def test_a_second_box_drawn_before_the_first_mask_arrives_gets_its_own(qtbot, tmp_path):
    project, truth = _shapes_project(tmp_path, model=str(trained_lite_checkpoint()))
    window = _ready_window(qtbot, tmp_path, project)
    image_id = truth["images"][0]["id"]
    objects = sorted(
        (a for a in truth["annotations"] if a["image_id"] == image_id), key=lambda a: -a["area"]
    )[:2]
    for target in objects:  # no event loop turn in between: no answer has arrived yet
        _drag_box(window, target["bbox"])
    wait_until(qtbot, lambda: len(_human(window)) == 2)
    assert window.current_document.undo_stack.count() == 2


def test_without_a_model_the_tool_says_what_to_do(qtbot, tmp_path):
    project, _ = _shapes_project(tmp_path, model=None)
    window = shown_window(qtbot, tmp_path)
    window.open_project(project)
    wait_until(qtbot, lambda: window.canvas.image_size != (0, 0))
    window.actions["box_to_mask"].trigger()
    drag(window.canvas, (10, 10), (60, 50))
    assert window.work_status.message() == NO_MODEL
    assert _human(window) == []
