"""Label audit scores on small constructed predictions (no model, no training).

Each test builds images of squares whose labels and detections agree, injects one mistake of
one kind, and checks that the audit ranks the injected label (or the overlooked detection)
first with the right issue.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from core.errors import CocoFormatError
from core.evaluation.audit import (
    SPURIOUS_MASK_WEIGHT,
    AuditImage,
    AuditSettings,
    ImagePredictions,
    Issue,
    LabelInstance,
    ModelInstance,
    audit,
    audit_images_from_coco,
)
from core.masks import encode_mask

SIZE = 160
CATEGORIES = (1, 2, 3)


def _mask(x: int, y: int, w: int, h: int) -> dict:
    pixels = np.zeros((SIZE, SIZE), bool)
    pixels[y : y + h, x : x + w] = True
    return encode_mask(pixels)


def _box(x: int, y: int, w: int, h: int) -> tuple[float, float, float, float]:
    return (float(x), float(y), float(w), float(h))


# Two objects per image, far apart, at the same places on every image.
PLACES = ((10, 10, 40, 40), (90, 80, 50, 50))


def _clean_case(images: int = 6) -> tuple[list[AuditImage], dict[int, ImagePredictions]]:
    """Labels exactly where the model finds its objects, with the class the model gives them."""
    audit_images, predictions = [], {}
    for image_id in range(1, images + 1):
        labels, detections, box_masks = [], [], {}
        for k, place in enumerate(PLACES):
            ann_id = image_id * 10 + k
            category = CATEGORIES[(image_id + k) % 3]
            labels.append(LabelInstance(ann_id, category, _box(*place), _mask(*place)))
            detections.append(ModelInstance(category, 0.97, _box(*place), _mask(*place)))
            box_masks[ann_id] = _mask(*place)
        audit_images.append(AuditImage(image_id, f"img{image_id}.png", SIZE, SIZE, tuple(labels)))
        predictions[image_id] = ImagePredictions(tuple(detections), box_masks)
    return audit_images, predictions


def _replace_label(images: list[AuditImage], ann_id: int, **changes) -> list[AuditImage]:
    out = []
    for image in images:
        labels = tuple(
            replace(lab, **changes) if lab.annotation_id == ann_id else lab for lab in image.labels
        )
        out.append(replace(image, labels=labels))
    return out


def _first_of(rows, issue):
    return next(row for row in rows if row.issue is issue)


def test_clean_labels_raise_no_suspicion():
    images, predictions = _clean_case()
    assert audit(images, predictions, CATEGORIES) == []


def test_deleted_label_ranks_its_detection_first_as_overlooked():
    images, predictions = _clean_case()
    # Image 3's second object was never labelled.
    images[2] = replace(images[2], labels=images[2].labels[:1])
    rows = audit(images, predictions, CATEGORIES)
    top = rows[0]
    assert (top.issue, top.image_id, top.annotation_id) == (Issue.OVERLOOKED, 3, None)
    assert top.bbox == _box(*PLACES[1])
    assert top.model is not None and top.model.category_id == CATEGORIES[(3 + 1) % 3]
    assert top.box_score is not None  # cleanlab scored it: it touches no label
    assert _first_of(rows, Issue.OVERLOOKED) is top


def test_swapped_class_ranks_that_label_first_as_wrong_class():
    images, predictions = _clean_case()
    true_class = CATEGORIES[(4 + 0) % 3]
    wrong = next(c for c in CATEGORIES if c != true_class)
    images = _replace_label(images, 40, category_id=wrong)
    rows = audit(images, predictions, CATEGORIES)
    top = rows[0]
    assert (top.issue, top.annotation_id) == (Issue.WRONG_CLASS, 40)
    assert top.category_id == wrong
    assert top.model_category_id == true_class  # "change class" gives it the model's class
    assert top.score > 0.5
    assert _first_of(rows, Issue.WRONG_CLASS) is top


def test_the_box_head_on_the_labels_own_box_finds_a_swap_no_confident_detection_shows():
    """A weak model's detection of the true class scores under "confident", so no detection
    contradicts the label; the box head, asked about the label's own box, still prefers the
    true class and doubts the label's."""
    images, predictions = _clean_case()
    true_class = CATEGORIES[(4 + 0) % 3]
    wrong = next(c for c in CATEGORIES if c != true_class)
    images = _replace_label(images, 40, category_id=wrong)
    found = predictions[4]
    faint = replace(found.detections[0], score=0.3)
    clean_heads = {
        lab.annotation_id: {lab.category_id: 0.9}
        for image in images
        for lab in image.labels
        if lab.annotation_id != 40
    }
    for image_id, image_found in predictions.items():
        detections = (faint, *image_found.detections[1:]) if image_id == 4 else None
        predictions[image_id] = ImagePredictions(
            detections or image_found.detections,
            image_found.label_box_masks,
            {
                aid: classes
                for aid, classes in clean_heads.items()
                if aid in image_found.label_box_masks
            },
        )
    without_head = audit(images, predictions, CATEGORIES)
    assert 40 not in {row.annotation_id for row in without_head if row.issue is Issue.WRONG_CLASS}
    heads = {**predictions[4].label_box_classes, 40: {true_class: 0.8, wrong: 0.1}}
    predictions[4] = replace(predictions[4], label_box_classes=heads)
    rows = audit(images, predictions, CATEGORIES)
    top = rows[0]
    assert (top.issue, top.annotation_id) == (Issue.WRONG_CLASS, 40)
    assert top.model_category_id == true_class
    assert top.mask_score == pytest.approx(0.8 * (1 - 0.1))  # ours: the box head's part
    assert top.box_score is None  # cleanlab's swap needs a confident detection: none here
    assert top.model is not None and top.model.bbox == _box(*PLACES[0])  # keeps the outline


def test_a_label_the_mask_head_outlines_is_less_spurious_than_one_it_does_not():
    """Two labels no detection supports: where the mask head, asked about the label's box,
    draws the label's own outline, the object is there and only the detector missed it."""
    images, predictions = _clean_case()
    outlined = LabelInstance(98, 1, _box(100, 10, 30, 30), _mask(100, 10, 30, 30))
    blank = LabelInstance(99, 1, _box(100, 10, 30, 30), _mask(100, 10, 30, 30))
    images[3] = replace(images[3], labels=(*images[3].labels, outlined))
    images[4] = replace(images[4], labels=(*images[4].labels, blank))
    found = predictions[4]
    predictions[4] = replace(
        found, label_box_masks={**found.label_box_masks, 98: _mask(100, 10, 30, 30)}
    )
    rows = {row.annotation_id: row for row in audit(images, predictions, CATEGORIES)}
    assert rows[99].issue is Issue.SPURIOUS and rows[99].score == 1.0
    assert rows[98].issue is Issue.SPURIOUS
    assert rows[98].score == pytest.approx(1.0 - SPURIOUS_MASK_WEIGHT)


def test_mask_moved_off_its_object_ranks_first_as_bad_location():
    images, predictions = _clean_case()
    x, y, w, h = PLACES[1]
    moved = (x - 25, y - 25, w, h)  # half off the object
    images = _replace_label(images, 21, bbox=_box(*moved), rle=_mask(*moved))
    # The mask head, run on the moved box, finds the object's corner inside it.
    found = predictions[2]
    overlap = (x, y, moved[0] + w - x, moved[1] + h - y)
    predictions[2] = ImagePredictions(
        found.detections, {**found.label_box_masks, 21: _mask(*overlap)}
    )
    rows = audit(images, predictions, CATEGORIES)
    top = rows[0]
    assert (top.issue, top.annotation_id) == (Issue.BAD_LOCATION, 21)
    assert top.mask_score is not None and top.mask_score > 0.5  # ours: mask IoU on the label box
    assert top.box_score is not None  # cleanlab's badloc on the box
    # "Take the model's instance" takes the detection on the object, not the moved label.
    assert top.model is not None and top.model.bbox == _box(*PLACES[1])
    assert _first_of(rows, Issue.BAD_LOCATION) is top
    # The object's own detection now matches no label, yet it is this mistake: no second row.
    assert [r for r in rows if r.issue is Issue.OVERLOOKED] == []


def test_mask_disagreeing_inside_a_right_box_is_bad_location_from_the_mask_alone():
    """A box cleanlab finds perfect, with a mask that covers the wrong half of it."""
    images, predictions = _clean_case()
    x, y, w, h = PLACES[0]
    wrong_half = np.zeros((SIZE, SIZE), bool)
    wrong_half[y : y + h, x : x + w] = True
    wrong_half[y + 4 : y + h - 4, x + 4 : x + w - 4] = False  # a thin frame, not the object
    images = _replace_label(images, 50, rle=encode_mask(wrong_half))
    rows = audit(images, predictions, CATEGORIES)
    top = rows[0]
    assert (top.issue, top.annotation_id) == (Issue.BAD_LOCATION, 50)
    assert top.box_score is not None and top.box_score < 0.2  # the box alone looks fine
    assert top.mask_score is not None and top.mask_score > 0.5


def test_an_empty_mask_head_answer_is_no_evidence_of_bad_location():
    images, predictions = _clean_case()
    found = predictions[2]
    empty = encode_mask(np.zeros((SIZE, SIZE), bool))
    predictions[2] = ImagePredictions(found.detections, {**found.label_box_masks, 21: empty})
    assert audit(images, predictions, CATEGORIES) == []


def test_label_nothing_supports_ranks_first_as_spurious():
    images, predictions = _clean_case()
    # A label on empty background in image 5, where the model finds nothing.
    extra = LabelInstance(99, 1, _box(100, 10, 30, 30), _mask(100, 10, 30, 30))
    images[4] = replace(images[4], labels=(*images[4].labels, extra))
    rows = audit(images, predictions, CATEGORIES)
    top = rows[0]
    assert (top.issue, top.annotation_id, top.score) == (Issue.SPURIOUS, 99, 1.0)
    assert top.model is None  # nothing to take: the fix is to delete it
    assert _first_of(rows, Issue.SPURIOUS) is top


def test_each_injected_mistake_outranks_every_clean_label():
    images, predictions = _clean_case(images=8)
    images[0] = replace(images[0], labels=images[0].labels[1:])  # overlooked in image 1
    images = _replace_label(images, 30, category_id=CATEGORIES[(3 + 1) % 3])  # wrong class
    extra = LabelInstance(99, 2, _box(100, 10, 30, 30), _mask(100, 10, 30, 30))
    images[5] = replace(images[5], labels=(*images[5].labels, extra))  # spurious
    rows = audit(images, predictions, CATEGORIES, AuditSettings(min_score=0.0))
    top3 = {(row.issue, row.image_id, row.annotation_id) for row in rows[:3]}
    assert top3 == {
        (Issue.OVERLOOKED, 1, None),
        (Issue.WRONG_CLASS, 3, 30),
        (Issue.SPURIOUS, 6, 99),
    }
    assert all(row.score < 0.3 for row in rows[3:])
    assert [row.score for row in rows] == sorted((row.score for row in rows), reverse=True)


def test_a_label_kept_after_a_check_is_not_listed_again_but_still_matches():
    images, predictions = _clean_case()
    true_class = CATEGORIES[(4 + 0) % 3]
    wrong = next(c for c in CATEGORIES if c != true_class)
    images = _replace_label(images, 40, category_id=wrong, checked=True)
    rows = audit(images, predictions, CATEGORIES, AuditSettings(min_score=0.0))
    assert 40 not in {row.annotation_id for row in rows}
    # Its detection overlaps it, so it is not reported as an overlooked object either.
    assert [r for r in rows if r.issue is Issue.OVERLOOKED] == []


def test_unconfident_detection_is_not_overlooked():
    images, predictions = _clean_case()
    images[2] = replace(images[2], labels=images[2].labels[:1])
    found = predictions[3]
    weak = replace(found.detections[1], score=0.3)
    predictions[3] = ImagePredictions((found.detections[0], weak), found.label_box_masks)
    assert [r for r in audit(images, predictions, CATEGORIES) if r.issue is Issue.OVERLOOKED] == []


def test_coco_dataset_becomes_audit_images_without_crowd_regions():
    dataset = {
        "images": [{"id": 7, "file_name": "a.png", "width": SIZE, "height": SIZE}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 2, "bbox": [1, 2, 3, 4],
             "segmentation": [[1, 2, 4, 2, 4, 6, 1, 6]]},
            {"id": 2, "image_id": 7, "category_id": 2, "bbox": [5, 5, 5, 5], "audit_checked": True},
            {"id": 3, "image_id": 7, "category_id": 1, "bbox": [0, 0, 9, 9], "iscrowd": 1,
             "segmentation": [[0, 0, 9, 0, 9, 9, 0, 9]]},
        ],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
    }  # fmt: skip
    (image,) = audit_images_from_coco(dataset)
    assert (image.image_id, image.file_name, image.width, image.height) == (7, "a.png", SIZE, SIZE)
    assert [lab.annotation_id for lab in image.labels] == [1, 2]
    assert image.labels[0].rle is not None and image.labels[0].rle["size"] == [SIZE, SIZE]
    assert image.labels[1].rle is None  # box-only
    assert image.labels[1].bbox == (5.0, 5.0, 5.0, 5.0)
    assert [lab.checked for lab in image.labels] == [False, True]


def test_labels_of_an_unknown_category_are_refused():
    images, predictions = _clean_case()
    with pytest.raises(CocoFormatError, match="categories"):
        audit(images, predictions, (1, 2))
