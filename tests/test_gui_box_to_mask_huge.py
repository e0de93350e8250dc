"""The Box-to-mask tool (M) on an image above the tiling threshold: the worker segments the
box in a window around it at the model's scale, read from the tile pyramid."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("pytestqt")

from _detector_helpers import trained_lite_checkpoint  # noqa: E402
from _gui_helpers import drag  # noqa: E402
from _window_helpers import shown_window, wait_until  # noqa: E402
from pycocotools import mask as mask_utils  # noqa: E402

from core.demo.shapes import generate_shapes_dataset  # noqa: E402
from core.detection.box_to_mask import BoxSegmenter  # noqa: E402
from core.detection.detector import Detector  # noqa: E402
from core.files import images as image_files  # noqa: E402
from core.files.images import read_image  # noqa: E402
from core.records import Source  # noqa: E402
from core.store import ProjectStore  # noqa: E402

WIDTH, HEIGHT = 4200, 600  # just above the tiling threshold (4,096 px a side)
PASTE_X, PASTE_Y = 3500, 250  # a shape image pasted far from the origin


def _huge_project(tmp_path: Path) -> tuple[Path, np.ndarray, dict, np.ndarray]:
    """A project of one 4,200 px image holding a held-out shapes image; returns the project,
    the pixels, the largest object's annotation and its truth mask on the big image."""
    json_path = generate_shapes_dataset(tmp_path / "shapes", n_images=2, seed=99)
    truth = json.loads(json_path.read_text())
    info = truth["images"][0]
    sample = read_image(json_path.parent / "images" / info["file_name"])
    h, w = sample.shape[:2]
    big = np.full((HEIGHT, WIDTH, 3), np.median(sample.reshape(-1, 3), axis=0), dtype=np.uint8)
    big[PASTE_Y : PASTE_Y + h, PASTE_X : PASTE_X + w] = sample
    images = tmp_path / "images"
    images.mkdir()
    assert cv2.imwrite(str(images / "huge.png"), cv2.cvtColor(big, cv2.COLOR_RGB2BGR))
    target = max(
        (a for a in truth["annotations"] if a["image_id"] == info["id"]), key=lambda a: a["area"]
    )
    mask = np.zeros((HEIGHT, WIDTH), dtype=bool)
    mask[PASTE_Y : PASTE_Y + h, PASTE_X : PASTE_X + w] = mask_utils.decode(target["segmentation"])
    project = tmp_path / "huge.maskloop"
    with ProjectStore.create(project, images) as store:
        for category in truth["categories"]:
            store.add_category(category["name"], category_id=category["id"])
        image_id = store.add_image("huge.png", WIDTH, HEIGHT).id
        store.set_reviewed(image_id)  # no tiled proposals to wait for: the tool is the test
        store.set_setting("model", str(trained_lite_checkpoint()))
    return project, big, target, mask


def test_drag_a_box_on_a_huge_image_segments_it_in_a_window_at_full_resolution(
    qtbot, tmp_path, monkeypatch
):
    project, big, target, truth = _huge_project(tmp_path)
    whole_decodes: list[object] = []
    real_read = image_files.read_image
    monkeypatch.setattr(
        "core.detection.proposals.read_image",
        lambda path: whole_decodes.append(path) or real_read(path),
    )
    window = shown_window(qtbot, tmp_path)
    window.open_project(project)
    wait_until(qtbot, lambda: window.proposals.model_ready, 120_000)
    wait_until(qtbot, lambda: window.canvas.image_size == (WIDTH, HEIGHT))
    window.actions["box_to_mask"].trigger()
    assert window.canvas.tool_name == "box_to_mask"
    # At 100 % around the object, so the mouse lands on whole image pixels.
    x, y, bw, bh = target["bbox"]
    window.canvas.zoom.zoom_100()
    window.canvas.centerOn(PASTE_X + x + bw / 2, PASTE_Y + y + bh / 2)
    drag(window.canvas, (PASTE_X + x, PASTE_Y + y), (PASTE_X + x + bw, PASTE_Y + y + bh))
    human = lambda: [  # noqa: E731
        a for a in window.current_document.annotations() if a.source == Source.HUMAN
    ]
    wait_until(qtbot, lambda: len(human()) == 1, 60_000)

    (ann,) = human()
    mask = mask_utils.decode(
        {"size": [HEIGHT, WIDTH], "counts": ann.segmentation["counts"].encode()}
    ).astype(bool)
    assert mask.any()
    assert (mask & truth).sum() >= 0.3 * mask.sum()  # mostly on the object
    # The worker segmented in windows read from the tile pyramid, never a whole decode.
    worker = window.proposals.service.worker
    segmenter = worker.segmenter
    key = (segmenter.detector.model_key, window.current_image_id)
    windows = segmenter.windows(key)
    assert windows and all(x1 - x0 <= 2 * max(bw, bh) + 256 for x0, _y0, x1, _y1 in windows)
    assert whole_decodes == []
    assert any((tmp_path / "huge.tiles").iterdir())
    # Pixel for pixel what the whole-image path gives on the pixels of the window that held
    # the released box, shifted back: the full-resolution answer, mapped back exactly.
    box = window.box_to_mask.last_result.request.box
    detector = Detector.load(str(trained_lite_checkpoint()), device="cpu")
    answers = []
    for x0, y0, x1, y1 in windows:
        if x0 <= box[0] and y0 <= box[1] and box[2] <= x1 and box[3] <= y1:
            plain = BoxSegmenter(detector)
            plain.prepare("crop", np.ascontiguousarray(big[y0:y1, x0:x1]))
            (want,) = plain.segment("crop", np.array([box]) - [x0, y0, x0, y0])
            full = np.zeros((HEIGHT, WIDTH), dtype=bool)
            full[y0:y1, x0:x1] = want.mask
            answers.append(np.array_equal(full, mask))
    assert any(answers)
