"""Box-to-mask on a huge image: the backbone sees a window around the box at the model's scale."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from core.detection.architectures import build_model
from core.detection.box_to_mask import BoxSegmenter
from core.detection.box_windows import serves, window_for
from core.detection.detector import Detector
from core.detection.tiling import Tiling
from core.records import Category

TILE = 96  # the random detector's min_size: its native scale


def _random_detector() -> Detector:
    torch.manual_seed(0)
    model = build_model("lite", num_classes=3, min_size=TILE, max_size=128)
    return Detector(
        model,
        arch="lite",
        label_category_ids=[0, 5, 9],
        categories=[Category(5, "cat"), Category(9, "dog")],
        model_key="lite-test",
        device="cpu",
    )


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def _windowed(detector: Detector, **kwargs) -> BoxSegmenter:
    """A segmenter that treats any image over 300 px as huge (the real threshold is 4,096)."""
    return BoxSegmenter(detector, tiling=Tiling(min_side=300), **kwargs)


def test_a_window_is_a_square_at_the_models_scale_moved_inside_the_image() -> None:
    # A small box far from the edges: a tile-sized square centred on it.
    assert window_for((1000, 2000, 1040, 2030), 256, 5000, 5000) == (892, 1887, 1148, 2143)
    # Near the corner: the same square, moved (not cut) to stay inside the image.
    assert window_for((3, 4980, 40, 4999), 256, 5000, 5000) == (0, 4744, 256, 5000)
    # Larger than a tile: twice its longer side, so the object is seen with context.
    assert window_for((1000, 1000, 1600, 1300), 256, 5000, 5000) == (700, 550, 1900, 1750)
    # An image narrower than the window: cut to the image on that side only.
    assert window_for((100, 10, 300, 60), 256, 5000, 120) == (0, 0, 400, 120)
    # A cached window serves a box inside it, unless the box would be seen shrunk in it.
    big = (700, 550, 1900, 1750)
    assert serves(big, (1000, 1000, 1600, 1300), 256)
    assert not serves(big, (1000, 1000, 1040, 1040), 256)  # 40 px in a 1,200 px window
    assert not serves(big, (1800, 1000, 2000, 1300), 256)  # reaches outside it


def test_boxes_in_one_window_share_one_backbone_run_and_a_box_elsewhere_gets_its_own() -> None:
    segmenter = _windowed(_random_detector(), max_windows=2)
    image = _image(600, 800)
    segmenter.prepare("big", image)
    assert segmenter.backbone_runs == 0  # only the pixels are kept until a box comes
    # Two boxes in one call: the second lies in the window the first opened.
    segmenter.segment("big", np.array([[400, 300, 430, 330], [420, 310, 450, 340]]))
    assert segmenter.backbone_runs == 1
    (window,) = segmenter.windows("big")
    assert window[2] - window[0] == TILE and window[3] - window[1] == TILE
    for dx in range(0, 20, 4):  # the live preview of a box dragged inside the window
        segmenter.segment("big", np.array([[400 + dx, 300, 430 + dx, 330]]))
    assert segmenter.backbone_runs == 1
    # A box near the corner: a new window, square and inside the image.
    segmenter.segment("big", np.array([[2, 580, 20, 599]]))
    assert segmenter.backbone_runs == 2
    assert segmenter.windows("big")[-1] == (0, 600 - TILE, TILE, 600)
    # A box bigger than a tile: a window twice its longer side, centred on it.
    (mask,) = segmenter.segment("big", np.array([[100, 100, 250, 200]]))
    assert segmenter.backbone_runs == 3
    assert segmenter.windows("big")[-1] == (25, 0, 325, 300)
    assert mask.image_size == (600, 800)
    # Only max_windows are kept, least recently used out first.
    assert len(segmenter.windows("big")) == 2 and window not in segmenter.windows("big")
    segmenter.segment("big", np.array([[400, 300, 430, 330]]))
    assert segmenter.backbone_runs == 4


def test_a_windows_masks_are_the_crops_of_its_pixels_shifted_exactly() -> None:
    """The window's result is, pixel for pixel, the whole-image path run on the window's
    pixels alone, moved by the window's corner; the RLE is the image-sized mask's."""
    detector = _random_detector()
    image = _image(500, 700, seed=3)
    windowed = _windowed(detector)
    windowed.prepare("big", image)
    boxes = np.array([[311.4, 207.6, 352.2, 251.9], [300.5, 200.5, 340.0, 240.0]])
    results = windowed.segment("big", boxes, category_id=9)
    (window,) = windowed.windows("big")
    x0, y0, x1, y1 = window
    plain = BoxSegmenter(detector)
    plain.prepare("crop", np.ascontiguousarray(image[y0:y1, x0:x1]))
    expected = plain.segment("crop", boxes - [x0, y0, x0, y0], category_id=9)
    for got, want in zip(results, expected, strict=True):
        assert (got.crop.x, got.crop.y) == (want.crop.x + x0, want.crop.y + y0)
        np.testing.assert_array_equal(got.crop.mask, want.crop.mask)
        # float32 boxes shifted before or after the cast: equal to rounding.
        assert [c for c, _ in got.choices] == [c for c, _ in want.choices]
        assert [p for _, p in got.choices] == pytest.approx([p for _, p in want.choices])
        assert got.mask_score == pytest.approx(want.mask_score)
        full = np.zeros((500, 700), dtype=bool)
        full[y0:y1, x0:x1] = want.mask
        np.testing.assert_array_equal(got.mask, full)
        rle = got.rle()
        assert rle["size"] == [500, 700]
        decoded = mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()})
        np.testing.assert_array_equal(decoded.astype(bool), full)


def test_a_small_image_keeps_the_whole_image_path_and_a_huge_one_is_read_in_windows(
    tmp_path,
) -> None:
    detector = _random_detector()
    segmenter = BoxSegmenter(detector)  # the real threshold: 4,096 px a side
    segmenter.prepare("small", _image(300, 400))
    assert segmenter.backbone_runs == 1 and segmenter.windows("small") == []

    # A 4,200 px image memory-mapped (as the tile pyramid's level 0 is): the backbone only
    # ever sees windows, never the whole image.
    path = tmp_path / "level-0.npy"
    huge = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(200, 4200, 3))
    huge[:] = 90
    huge.flush()
    seen: list[tuple[int, ...]] = []
    real = segmenter._features
    segmenter._features = lambda pixels: seen.append(pixels.shape) or real(pixels)  # type: ignore[method-assign]
    segmenter.prepare("huge", np.load(path, mmap_mode="r"))
    segmenter.segment("huge", np.array([[4000, 50, 4040, 90]]))
    assert seen == [(TILE, TILE, 3)]
    assert segmenter.windows("huge") == [
        (4020 - TILE // 2, 70 - TILE // 2, 4020 + TILE // 2, 70 + TILE // 2)
    ]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


@pytest.mark.slow
def test_a_small_object_on_a_huge_image_gets_the_mask_a_crop_around_it_gets() -> None:
    """A trained lite model on a 4,200 px image: the masks of small shapes far from the
    origin are as good as on a 256 px crop around each of them, where the whole image shrunk
    to the model's size (the old path, tiling=None) loses them entirely."""
    from _detector_helpers import CHECKPOINT_CATEGORIES, shapes_dataset, trained_lite_checkpoint

    from core.files.images import read_image

    detector = Detector.load(str(trained_lite_checkpoint()), device="cpu")
    dataset_path = shapes_dataset()
    dataset = json.loads(dataset_path.read_text())
    side, crop_side = 4200, 256
    big = np.full((side, side, 3), 128, dtype=np.uint8)
    objects = []  # (box on the big image, truth crop, its corner, checkpoint category)
    for k, info in enumerate(dataset["images"][-12:]):
        sample = read_image(dataset_path.parent / "images" / info["file_name"])
        h, w = sample.shape[:2]
        px, py = 2200 + 450 * (k % 4), 2800 + 450 * (k // 4)
        big[py : py + h, px : px + w] = sample
        for ann in dataset["annotations"]:
            if ann["image_id"] == info["id"]:
                x, y, bw, bh = ann["bbox"]
                truth = mask_utils.decode(ann["segmentation"]).astype(bool)
                cid = CHECKPOINT_CATEGORIES[ann["category_id"]][0]
                objects.append(((x + px, y + py, x + px + bw, y + py + bh), truth, px, py, cid))
    windowed = BoxSegmenter(detector)
    windowed.prepare("big", big)
    whole = BoxSegmenter(detector, tiling=None)
    whole.prepare("big", big)

    def on_sample(crop, px: int, py: int, shape: tuple[int, int]) -> np.ndarray:
        """A mask crop's pixels over the pasted sample image."""
        out = np.zeros((py + shape[0] + 1, px + shape[1] + 1), dtype=bool)
        out[crop.y : crop.y + crop.height, crop.x : crop.x + crop.width] = crop.mask[
            : max(0, out.shape[0] - crop.y), : max(0, out.shape[1] - crop.x)
        ]
        return out[py : py + shape[0], px : px + shape[1]]

    ious = []
    for box, truth, px, py, cid in objects:
        boxes = np.array([box])
        (in_window,) = windowed.segment("big", boxes, category_id=cid)
        (shrunk,) = whole.segment("big", boxes, category_id=cid)
        cx = int((box[0] + box[2]) / 2) - crop_side // 2
        cy = int((box[1] + box[3]) / 2) - crop_side // 2
        plain = BoxSegmenter(detector)
        plain.prepare("crop", np.ascontiguousarray(big[cy : cy + crop_side, cx : cx + crop_side]))
        (in_crop,) = plain.segment("crop", boxes - [cx, cy, cx, cy], category_id=cid)
        ious.append(
            [
                _iou(on_sample(in_window.crop, px, py, truth.shape), truth),
                _iou(on_sample(in_crop.crop, px - cx, py - cy, truth.shape), truth),
                _iou(on_sample(shrunk.crop, px, py, truth.shape), truth),
            ]
        )
    window_iou, crop_iou, whole_iou = np.mean(ious, axis=0)
    assert len(objects) >= 20
    assert crop_iou > 0.2  # the briefly trained model does segment these shapes in a crop
    assert window_iou >= crop_iou - 0.05  # as well on the huge image
    assert window_iou >= whole_iou + 0.2  # and far better than the whole image shrunk
    assert windowed.backbone_runs < len(objects)  # shapes of one sample share a window


def test_the_app_worker_reads_a_huge_images_windows_from_its_tile_pyramid(
    tmp_path, monkeypatch
) -> None:
    """The proposal worker's box-to-mask job on a 4,200 px project image: pixels come from
    the tile pyramid beside the project (memory-mapped), never from a whole decode."""
    import cv2

    from core.files import images as image_files
    from core.store import ProjectStore
    from gui.workers.box_mask_job import BoxMaskRequest, run_request

    images = tmp_path / "images"
    images.mkdir()
    pixels = _image(300, 4200, seed=7)
    cv2.imwrite(str(images / "strip.png"), cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
    whole_decodes: list[object] = []
    real_read = image_files.read_image
    monkeypatch.setattr(
        "core.detection.proposals.read_image",
        lambda path: whole_decodes.append(path) or real_read(path),
    )
    segmenter = BoxSegmenter(_random_detector())
    with ProjectStore.create(tmp_path / "p.maskloop", images) as store:
        store.add_category("dog", category_id=2)
        image_id = store.add_image("strip.png", 4200, 300).id
        request = BoxMaskRequest(1, image_id, (3900.0, 130.0, 3940.0, 170.0), 2, final=True)
        result = run_request(segmenter, store, request)
    assert whole_decodes == []
    assert any((tmp_path / "p.tiles").iterdir())
    assert segmenter.backbone_runs == 1
    (window,) = segmenter.windows(("lite-test", image_id))
    assert window == (3920 - TILE // 2, 150 - TILE // 2, 3920 + TILE // 2, 150 + TILE // 2)
    assert result.category_id == 2 and result.category_name == "dog"
    # The same answer as the window's pixels segmented on their own, shifted back.
    x0, y0, x1, y1 = window
    plain = BoxSegmenter(segmenter.detector)
    plain.prepare("crop", np.ascontiguousarray(pixels[y0:y1, x0:x1]))
    (want,) = plain.segment("crop", np.array([[3900 - x0, 130 - y0, 3940 - x0, 170 - y0]]), 9)
    if result.crop is None:
        assert not want.crop.mask.any()
    else:
        full = np.zeros((300, 4200), dtype=bool)
        full[y0:y1, x0:x1] = want.mask
        got = np.zeros((300, 4200), dtype=bool)
        c = result.crop
        got[c.y : c.y + c.height, c.x : c.x + c.width] = c.mask
        np.testing.assert_array_equal(got, full)
