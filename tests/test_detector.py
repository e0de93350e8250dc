"""core.detection.detector and core.detection.proposals with real (tiny) models: an untrained lite model and a
briefly trained lite checkpoint whose category ids are 3, 7 and 11."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from core.detection.detector import Detection, Detector
from core.detection.proposals import CategoryMapper, detections_to_annotations, propose_images
from core.errors import CheckpointError
from core.evaluation.metrics import evaluate
from core.files.images import read_image
from core.records import Category, ReviewState, Source
from core.store import ProjectStore
from tests._detector_helpers import (
    CHECKPOINT_IDS,
    checkpoint_ground_truth,
    shapes_dataset,
    trained_lite_checkpoint,
)


@pytest.fixture(scope="module")
def checkpoint():
    return trained_lite_checkpoint()


@pytest.fixture(scope="module")
def shape_images():
    data = json.loads(shapes_dataset().read_text())
    images = data["images"][:6]
    return images, [read_image(shapes_dataset().parent / "images" / i["file_name"]) for i in images]


def _assert_well_formed(detections: list[Detection], image: np.ndarray) -> None:
    h, w = image.shape[:2]
    scores = [d.score for d in detections]
    assert scores == sorted(scores, reverse=True)
    for det in detections:
        x, y, bw, bh = det.bbox
        assert x >= 0 and y >= 0 and bw >= 0 and bh >= 0
        assert x + bw <= w + 1e-3 and y + bh <= h + 1e-3
        assert det.rle["size"] == [h, w] and isinstance(det.rle["counts"], str)
        mask = mask_utils.decode(det.rle)
        assert mask.shape == (h, w) and mask.sum() > 0
        assert det.area == mask.sum()


def test_untrained_lite_predicts_well_formed_detections(shape_images):
    _, pixels = shape_images
    detector = Detector.load("lite", device="cpu")
    assert detector.model_key == "lite-untrained"
    assert [c.name for c in detector.categories] == ["circle", "square", "triangle"]
    results = detector.predict(pixels[:3], score_threshold=0.0, max_detections=20, batch_size=2)
    assert len(results) == 3
    assert any(results)
    for detections, image in zip(results, pixels[:3], strict=True):
        assert len(detections) <= 20
        assert {d.category_id for d in detections} <= {1, 2, 3}
        _assert_well_formed(detections, image)


def test_trained_checkpoint_uses_its_own_category_ids(checkpoint, shape_images):
    images, pixels = shape_images
    detector = Detector.load(str(checkpoint), device="cpu")
    assert detector.label_category_ids == [0, *CHECKPOINT_IDS]
    results = detector.predict(pixels, score_threshold=0.05)
    found = [d for dets in results for d in dets]
    assert found, "a trained model finds shapes"
    assert {d.category_id for d in found} <= set(CHECKPOINT_IDS)
    for detections, image in zip(results, pixels, strict=True):
        _assert_well_formed(detections, image)


def test_trained_checkpoint_beats_untrained_model_on_shapes(checkpoint, shape_images):
    images, pixels = shape_images
    gt = checkpoint_ground_truth(shapes_dataset())
    gt["images"] = images
    gt["annotations"] = [a for a in gt["annotations"] if a["image_id"] in {i["id"] for i in images}]

    def ap50(detector: Detector, id_map: dict[int, int]) -> float:
        preds = [
            {
                "image_id": img["id"],
                "category_id": id_map.get(d.category_id, d.category_id),
                "score": d.score,
                "segmentation": d.rle,
            }
            for img, dets in zip(images, detector.predict(pixels), strict=True)
            for d in dets
        ]
        return evaluate(gt, preds).ap50

    trained = ap50(Detector.load(str(checkpoint), device="cpu"), {})
    untrained = ap50(
        Detector.load("lite", device="cpu"), dict(zip([1, 2, 3], CHECKPOINT_IDS, strict=True))
    )
    assert trained > untrained
    assert trained > 0.01


def test_score_threshold_and_max_detections_limit_output(shape_images):
    _, pixels = shape_images
    detector = Detector.load("lite", device="cpu")
    (many,) = detector.predict(pixels[:1], score_threshold=0.0, max_detections=100)
    (few,) = detector.predict(pixels[:1], score_threshold=0.0, max_detections=3)
    assert len(few) <= 3 < len(many)
    cut = sorted(d.score for d in many)[len(many) // 2]
    (high,) = detector.predict(pixels[:1], score_threshold=cut)
    assert high and all(d.score >= cut for d in high)


def test_grayscale_input_is_accepted_and_bad_input_refused():
    detector = Detector.load("lite", device="cpu")
    (found,) = detector.predict([np.full((50, 70), 128, np.uint8)], score_threshold=0.0)
    for det in found:
        assert det.rle["size"] == [50, 70]
    with pytest.raises(ValueError, match="uint8 RGB"):
        detector.predict([np.zeros((10, 10, 3), np.float32)])


def test_model_key_changes_when_checkpoint_is_rewritten(checkpoint, tmp_path):
    copy = tmp_path / "model.pt"
    copy.write_bytes(checkpoint.read_bytes())
    first = Detector.load(str(copy)).model_key
    assert str(copy) in first and Detector.load(str(copy)).model_key == first
    stat = copy.stat()
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert Detector.load(str(copy)).model_key != first


def test_unknown_model_name_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="neither an architecture"):
        Detector.load(str(tmp_path / "nope.pt"))


def _project(tmp_path, categories: list[tuple[int, str]]) -> ProjectStore:
    images_dir = shapes_dataset().parent / "images"
    store = ProjectStore.create(tmp_path / "p.maskloop", images_dir)
    data = json.loads(shapes_dataset().read_text())
    for image in data["images"][:4]:
        store.add_image(image["file_name"], image["width"], image["height"], image_id=image["id"])
    for cid, name in categories:
        store.add_category(name, category_id=cid)
    return store


def test_proposals_map_categories_by_name_and_drop_unmatched(checkpoint, tmp_path):
    detector = Detector.load(str(checkpoint), device="cpu")
    with _project(tmp_path, [(1, "CIRCLE"), (2, "Square"), (5, "star")]) as store:
        human = store.add_annotation(
            __import__("core.records", fromlist=["Annotation"]).Annotation(
                image_id=1, category_id=5, bbox=(1, 1, 5, 5)
            )
        )
        report = propose_images(store, detector, store.image_ids(), score_threshold=0.05)
        assert report.images_done == 4 and not report.cancelled
        proposals = [
            a for i in store.image_ids() for a in store.annotations(i) if a.source == Source.MODEL
        ]
        assert len(proposals) == report.proposals > 0
        assert {a.category_id for a in proposals} <= {1, 2}  # triangles (id 11) are dropped
        assert all(a.state == ReviewState.PROPOSED and a.score >= 0.05 for a in proposals)
        assert {c.name for c in store.categories()} == {"CIRCLE", "Square", "star"}
        assert store.proposals_model(1) == detector.model_key
        assert store.get_annotation(human.id).category_id == 5  # human work untouched
        for ann in proposals:
            image = store.get_image(ann.image_id)
            assert mask_utils.decode(ann.segmentation).shape == (image.height, image.width)


def test_empty_project_adopts_the_detected_categories(checkpoint, tmp_path):
    detector = Detector.load(str(checkpoint), device="cpu")
    with _project(tmp_path, []) as store:
        report = propose_images(store, detector, store.image_ids(), score_threshold=0.05)
        used = {a.category_id for i in store.image_ids() for a in store.annotations(i)}
        categories = {c.id: c.name for c in store.categories()}
        assert report.proposals > 0
        assert set(categories) == used  # only categories actually detected are added
        assert used <= set(CHECKPOINT_IDS)  # the model's ids are kept when free
        names = dict(zip(CHECKPOINT_IDS, ["circle", "square", "triangle"], strict=True))
        assert all(categories[cid] == names[cid] for cid in used)


def test_stop_request_keeps_finished_images(checkpoint, tmp_path):
    detector = Detector.load(str(checkpoint), device="cpu")
    calls = {"n": 0}

    def stop_after_first_batch() -> bool:
        calls["n"] += 1
        return calls["n"] > 1

    with _project(tmp_path, [(1, "circle"), (2, "square"), (3, "triangle")]) as store:
        report = propose_images(
            store, detector, store.image_ids(), batch_size=2, should_stop=stop_after_first_batch
        )
        assert report.cancelled and report.images_done == 2
        assert [store.proposals_model(i) is not None for i in store.image_ids()] == [
            True,
            True,
            False,
            False,
        ]


def test_detections_to_annotations_builds_model_proposals():
    class _Store:
        def categories(self):
            return [Category(40, "Person")]

    rle = mask_utils.encode(np.asfortranarray(np.ones((4, 4), np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    mapper = CategoryMapper(_Store(), [Category(1, "person"), Category(3, "car")])
    detections = [
        Detection(1, 0.91234567, (0.0, 0.0, 4.0, 4.0), rle),
        Detection(3, 0.8, (0, 0, 4, 4), rle),
    ]
    (ann,) = detections_to_annotations(detections, 7, mapper)
    assert (ann.image_id, ann.category_id, ann.score, ann.area) == (7, 40, 0.9123, 16.0)
    assert ann.source == Source.MODEL and ann.state == ReviewState.PROPOSED
    assert mapper.matched() == {1: 40}
