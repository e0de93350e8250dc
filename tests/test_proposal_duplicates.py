"""Re-proposing an image never stacks a proposal on an object already labelled."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.detection.detector import Detection
from core.detection.proposals import drop_labelled_duplicates, propose_images
from core.masks import encode_mask, mask_iou
from core.records import Annotation, Category, ReviewState, Source
from core.store import ProjectStore

H, W = 40, 60


def _rect(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    mask = np.zeros((H, W), dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


def _bbox(mask: np.ndarray) -> tuple[float, float, float, float]:
    ys, xs = np.nonzero(mask)
    return (
        float(xs.min()),
        float(ys.min()),
        float(xs.max() - xs.min() + 1),
        float(ys.max() - ys.min() + 1),
    )


LABELLED = _rect(10, 10, 30, 30)  # 400 px
DUPLICATE = _rect(10, 10, 30, 35)  # 500 px covering the label: IoU 400 / 500 = 0.8
NEW_OBJECT = _rect(40, 5, 55, 20)


class _StandInDetector:
    """Answers every image with a duplicate of the label (another class) and a new object."""

    categories = [Category(1, "square"), Category(2, "circle")]
    model_key = "stand-in"

    def predict(self, images, **kwargs):
        return [
            [
                Detection(2, 0.9, _bbox(DUPLICATE), encode_mask(DUPLICATE)),
                Detection(1, 0.8, _bbox(NEW_OBJECT), encode_mask(NEW_OBJECT)),
            ]
            for _ in images
        ]


@pytest.fixture
def store(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(images / name)
    with ProjectStore.create(tmp_path / "p.maskloop", images) as s:
        s.add_category("square", category_id=1)
        s.add_category("circle", category_id=2)
        s.add_image("a.png", W, H, image_id=1)
        s.add_image("b.png", W, H, image_id=2)
        yield s


def _proposed(store: ProjectStore, image_id: int) -> list[Annotation]:
    return [a for a in store.annotations(image_id) if a.state is ReviewState.PROPOSED]


def test_a_proposal_repeating_an_accepted_label_is_not_stored(store):
    assert mask_iou(encode_mask(DUPLICATE), encode_mask(LABELLED), H, W) == pytest.approx(0.8)
    accepted = store.add_annotation(  # a proposal the annotator accepted, image not reviewed
        Annotation(1, 1, _bbox(LABELLED), encode_mask(LABELLED), source=Source.MODEL,
                   score=0.7, state=ReviewState.ACCEPTED)
    )  # fmt: skip
    report = propose_images(store, _StandInDetector(), [1, 2])

    (only,) = _proposed(store, 1)
    assert only.segmentation == encode_mask(NEW_OBJECT) and only.category_id == 1
    assert [a.id for a in store.annotations(1) if a.state is ReviewState.ACCEPTED] == [accepted.id]
    assert len(_proposed(store, 2)) == 2  # an image without labels gets both
    assert (report.proposals, report.duplicates_dropped) == (3, 1)


def test_hand_drawn_polygons_and_box_only_labels_are_respected_too(store):
    x, y, w, h = _bbox(LABELLED)
    polygon = [[x, y, x + w, y, x + w, y + h, x, y + h]]  # the same square, as a polygon
    store.add_annotation(Annotation(1, 1, (x, y, w, h), polygon))
    store.add_annotation(Annotation(2, 1, (x, y, w, h), None))  # box only
    propose_images(store, _StandInDetector(), [1, 2])
    for image_id in (1, 2):
        assert [a.segmentation for a in _proposed(store, image_id)] == [encode_mask(NEW_OBJECT)]


def test_only_an_overlap_of_half_or_more_makes_a_duplicate():
    label = Annotation(1, 1, _bbox(LABELLED), encode_mask(LABELLED))
    half = _rect(20, 10, 40, 30)  # IoU 200 / 600
    proposals = [
        Annotation(1, 1, _bbox(half), encode_mask(half), source=Source.MODEL,
                   state=ReviewState.PROPOSED),
        Annotation(1, 1, _bbox(DUPLICATE), encode_mask(DUPLICATE), source=Source.MODEL,
                   state=ReviewState.PROPOSED),
    ]  # fmt: skip
    assert drop_labelled_duplicates(proposals, [label], H, W) == proposals[:1]
    assert drop_labelled_duplicates(proposals, [], H, W) == proposals
