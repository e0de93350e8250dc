"""Tiled inference: tiles cover the image, objects cut by tile edges are merged back into one
instance, and a real model finds a small object in a large image as well as in a crop."""

from __future__ import annotations

import json
from collections.abc import Sequence

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from core import masks
from core.detection.detector import Detection
from core.detection.tiling import Tiling, predict_images, predict_tiled, tile_windows

RED, GREEN = 1, 2  # the fake detector's classes: what colour the object is


class ColourBlobDetector:
    """A constructed detector: every connected red or green blob of a tile is one detection
    (class by colour, score by brightness), its mask exactly the blob's pixels there."""

    def __init__(self) -> None:
        self.tiles_seen: list[tuple[int, int]] = []

    def predict(
        self,
        images: Sequence[np.ndarray],
        *,
        score_threshold: float = 0.05,
        max_detections: int = 100,
        batch_size: int = 2,
    ) -> list[list[Detection]]:
        results = []
        for image in images:
            self.tiles_seen.append(image.shape[:2])
            found = []
            for category, channel in ((RED, 0), (GREEN, 1)):
                layer = (image[:, :, channel] > 128).astype(np.uint8)
                count, labels = cv2.connectedComponents(layer, connectivity=4)
                for label in range(1, count):
                    blob = labels == label
                    score = float(image[:, :, channel][blob].mean()) / 255
                    rle = masks.encode_mask(blob)
                    x, y, w, h = mask_utils.toBbox(
                        {"size": rle["size"], "counts": rle["counts"].encode()}
                    )
                    found.append(Detection(category, score, (x, y, w, h), rle))
            results.append(found)
        return results


def _decode(det: Detection) -> np.ndarray:
    return masks.decode(det.rle, *det.rle["size"])


def test_tile_windows_cover_the_image_with_the_last_tile_at_the_edge() -> None:
    windows = tile_windows(1000, 600, 400, 0.25)
    assert sorted({w[0] for w in windows}) == [0, 300, 600]
    assert sorted({w[1] for w in windows}) == [0, 200]
    assert all(x1 - x0 == 400 and y1 - y0 == 400 for x0, y0, x1, y1 in windows)
    covered = np.zeros((600, 1000), dtype=bool)
    for x0, y0, x1, y1 in windows:
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    assert tile_windows(300, 200, 400, 0.25) == [(0, 0, 300, 200)]


def test_an_object_across_tiles_becomes_one_instance_with_the_union_mask() -> None:
    image = np.zeros((600, 1000, 3), dtype=np.uint8)
    # A red ellipse across the tile edges at x = 300 and 400 and y = 200 and 400.
    cv2.ellipse(image, (500, 300), (240, 120), 0, 0, 360, (230, 0, 0), -1)
    # A small red square wholly inside the first tile, and a green bar touching the
    # ellipse across the x = 400 edge: other objects, which must stay apart.
    cv2.rectangle(image, (20, 20), (60, 60), (200, 0, 0), -1)
    cv2.rectangle(image, (380, 430), (700, 460), (0, 250, 0), -1)
    image[420:430, 380:700, 1] = 250  # it touches the ellipse's bottom
    detector = ColourBlobDetector()

    found = predict_tiled(detector, image, 400, overlap=0.25)

    assert set(detector.tiles_seen) == {(400, 400)}  # 3 x 2 tiles of 400 px
    assert len(detector.tiles_seen) == 6
    by_class = {RED: [], GREEN: []}
    for det in found:
        by_class[det.category_id].append(det)
    assert len(by_class[RED]) == 2 and len(by_class[GREEN]) == 1
    ellipse, square = sorted(by_class[RED], key=lambda d: -d.area)
    expected = image[:, :, 0] > 128
    expected_ellipse = expected.copy()
    expected_ellipse[:100, :100] = False
    assert np.array_equal(_decode(ellipse), expected_ellipse)
    assert tuple(round(v) for v in ellipse.bbox) == (260, 180, 481, 241)
    assert ellipse.score == pytest.approx(230 / 255)  # the best tile's score
    assert np.array_equal(_decode(square), expected & ~expected_ellipse)
    (bar,) = by_class[GREEN]
    assert np.array_equal(_decode(bar), image[:, :, 1] > 128)
    assert ellipse.rle["size"] == [600, 1000]


def test_predict_images_tiles_only_the_images_above_the_threshold() -> None:
    detector = ColourBlobDetector()
    small = np.zeros((300, 200, 3), dtype=np.uint8)
    large = np.zeros((900, 900, 3), dtype=np.uint8)
    cv2.circle(large, (450, 450), 100, (255, 0, 0), -1)
    tiling = Tiling(size=400, overlap=0.25, min_side=500)

    small_found, large_found = predict_images(detector, [small, large], tiling)

    assert small_found == []
    assert detector.tiles_seen[0] == (300, 200)  # the small image went whole
    assert set(detector.tiles_seen[1:]) == {(400, 400)}
    (circle,) = large_found
    assert np.array_equal(_decode(circle), large[:, :, 0] > 128)
    with pytest.raises(ValueError, match="at least"):
        Tiling(size=8)


def test_cli_predict_tile_writes_one_merged_instance(tmp_path, monkeypatch) -> None:
    """`maskloop predict --images DIR --tile 400 --overlap 0.25`: the ellipse across tiles is
    one annotation in the written COCO file; the default run (no --tile, a 1000 px image,
    under the automatic threshold) predicts the image whole."""
    from core.cli import main
    from core.records import Category

    images = tmp_path / "images"
    images.mkdir()
    image = np.zeros((600, 1000, 3), dtype=np.uint8)
    cv2.ellipse(image, (500, 300), (240, 120), 0, 0, 360, (230, 0, 0), -1)
    cv2.imwrite(str(images / "wide.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    detector = ColourBlobDetector()
    detector.categories = [Category(RED, "red"), Category(GREEN, "green")]
    detector.model_key = "colour-blobs"
    monkeypatch.setattr("core.cli.predict_impl.Detector.load", lambda *a, **k: detector)

    out = tmp_path / "tiled.json"
    args = ["predict", "--images", str(images), "--model", "x", "--out", str(out), "--quiet"]
    assert main([*args, "--tile", "400", "--overlap", "0.25"]) == 0
    (ann,) = json.loads(out.read_text())["annotations"]
    assert np.array_equal(masks.decode(ann["segmentation"], 600, 1000), image[:, :, 0] > 128)
    assert len(detector.tiles_seen) == 6

    detector.tiles_seen.clear()
    assert main(args) == 0
    assert detector.tiles_seen == [(600, 1000)]
    assert main([*args, "--tile", "8"]) == 2  # a user mistake: one line, status 2


def _best_match(detections: list[Detection], category: int, truth: np.ndarray):
    """(mask IoU, score) of the detection of `category` that overlaps `truth` best."""
    scored = []
    for det in detections:
        if det.category_id == category:
            found = _decode(det)
            scored.append((float((found & truth).sum() / (found | truth).sum()), det.score))
    return max(scored, default=(0.0, 0.0))


@pytest.mark.slow
def test_a_small_object_in_a_large_image_is_found_as_in_a_crop(tmp_path) -> None:
    """A trained lite model: the shape's score and mask IoU tiled match a crop around it."""
    from _detector_helpers import CHECKPOINT_CATEGORIES, shapes_dataset, trained_lite_checkpoint

    from core.detection.detector import Detector
    from core.files.images import read_image

    detector = Detector.load(str(trained_lite_checkpoint()), device="cpu")
    dataset_path = shapes_dataset()
    dataset = json.loads(dataset_path.read_text())
    # An image whose objects the briefly trained model finds at all (in a crop around them);
    # on the others it finds nothing anywhere, which would test nothing here.
    image_info = dataset["images"][-4]
    sample = read_image(dataset_path.parent / "images" / image_info["file_name"])
    anns = [a for a in dataset["annotations"] if a["image_id"] == image_info["id"]]
    h, w = sample.shape[:2]

    # The sample image (128-160 px) pasted at (1,310, 730) into a 2,000 x 2,000 image of
    # its own background colour (121 tiles); the "crop" is the 192 px window around it.
    side, px, py = 2000, 1310, 730
    big = np.empty((side, side, 3), dtype=np.uint8)
    big[:] = np.median(sample.reshape(-1, 3), axis=0).astype(np.uint8)
    big[py : py + h, px : px + w] = sample
    cx, cy = px - (192 - w) // 2, py - (192 - h) // 2
    crop = np.ascontiguousarray(big[cy : cy + 192, cx : cx + 192])

    (in_crop,) = detector.predict([crop], score_threshold=0.3)[:1]
    tiled = predict_tiled(detector, big, 192, overlap=0.25, score_threshold=0.3)

    found = 0
    for ann in anns:
        truth = np.zeros((side, side), dtype=bool)
        truth[py : py + h, px : px + w] = masks.decode(ann["segmentation"], h, w)
        truth_crop = truth[cy : cy + 192, cx : cx + 192]
        category = CHECKPOINT_CATEGORIES[ann["category_id"]][0]  # the checkpoint's own ids
        crop_iou, crop_score = _best_match(in_crop, category, truth_crop)
        if crop_iou < 0.5:
            continue  # a miss of the briefly trained model, in the crop as anywhere
        found += 1
        tiled_iou, tiled_score = _best_match(tiled, category, truth)
        assert tiled_iou >= crop_iou - 0.1  # found as well in the big image
        assert tiled_score >= crop_score - 0.1
    assert found >= 1
    # Nothing is found on the plain background far from the object.
    assert all(d.bbox[0] > 1000 and d.bbox[1] > 400 for d in tiled)


def test_proposals_of_a_tiled_image_stop_between_batches_of_tiles(tmp_path) -> None:
    """propose_images on an image cut into tiles: stored as one merged proposal, and a stop
    asked for mid-image ends the run between two batches of tiles, storing nothing for it
    (the app's worker passes its shutdown flag: a 30,000 px image is thousands of tiles)."""
    from core.detection.proposals import propose_images
    from core.records import Category, Source
    from core.store import ProjectStore

    images = tmp_path / "images"
    images.mkdir()
    image = np.zeros((600, 1000, 3), dtype=np.uint8)
    cv2.ellipse(image, (500, 300), (240, 120), 0, 0, 360, (230, 0, 0), -1)
    cv2.imwrite(str(images / "wide.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    detector = ColourBlobDetector()
    detector.categories = [Category(RED, "red"), Category(GREEN, "green")]
    detector.model_key = "colour-blobs"
    tiling = Tiling(size=400, overlap=0.25)
    with ProjectStore.create(tmp_path / "p.maskloop", images) as store:
        store.add_category("red", category_id=RED)
        image_id = store.add_image("wide.png", 1000, 600).id

        asked: list[int] = []

        def stop_after_first_batch() -> bool:
            asked.append(1)
            return len(asked) > 2  # once before the image, once before its first batch

        report = propose_images(
            store, detector, [image_id], tiling=tiling, should_stop=stop_after_first_batch
        )
        assert report.cancelled
        assert len(detector.tiles_seen) == 4  # one batch of TILE_BATCH tiles, then it stopped
        assert store.annotations(image_id) == []

        report = propose_images(store, detector, [image_id], tiling=tiling)
        (proposal,) = store.annotations(image_id)
        assert proposal.source is Source.MODEL and not report.cancelled
        mask = masks.decode(proposal.segmentation, 600, 1000)
        assert np.array_equal(mask, image[:, :, 0] > 128)


def test_proposals_for_a_huge_image_read_its_tile_pyramid(tmp_path, monkeypatch) -> None:
    """Above 4,096 px the image is tiled automatically, its pixels read from the tile
    pyramid beside the project (built if the canvas has not), never decoded whole."""
    from core.detection.proposals import propose_images
    from core.files import images as image_files
    from core.records import Category
    from core.store import ProjectStore

    images = tmp_path / "images"
    images.mkdir()
    image = np.zeros((300, 4200, 3), dtype=np.uint8)
    cv2.ellipse(image, (2100, 150), (900, 100), 0, 0, 360, (230, 0, 0), -1)
    cv2.imwrite(str(images / "strip.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    detector = ColourBlobDetector()
    detector.categories = [Category(RED, "red")]
    detector.model_key = "colour-blobs"
    whole_decodes: list[object] = []
    real_read = image_files.read_image
    monkeypatch.setattr(
        "core.detection.proposals.read_image",
        lambda path: whole_decodes.append(path) or real_read(path),
    )
    with ProjectStore.create(tmp_path / "p.maskloop", images) as store:
        store.add_category("red", category_id=RED)
        image_id = store.add_image("strip.png", 4200, 300).id
        propose_images(store, detector, [image_id])
        (proposal,) = store.annotations(image_id)
    assert whole_decodes == []
    assert any((tmp_path / "p.tiles").iterdir())
    assert set(detector.tiles_seen) == {(300, 512)}  # the fake's 512 px "native scale"
    assert np.array_equal(masks.decode(proposal.segmentation, 300, 4200), image[:, :, 0] > 128)
