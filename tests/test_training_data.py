"""Training data: COCO masks and boxes, crowd handling, augmentation, batching, schedules."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils
from torch.utils.data import SequentialSampler
from torchvision import tv_tensors

from core.errors import TrainingError
from core.training.data import InstanceDataset, LoadFailure, load_coco_dataset, split_holdout
from core.training.sampler import GroupedBatchSampler, aspect_ratio_groups
from core.training.schedule import BudgetPlanner, LrSchedule, ScheduleSpec
from core.training.setup import data_image_sizes
from core.training.transforms import (
    AUTO_AUGMENT_MIN_EPOCHS,
    RandomZoom,
    augmentation_transforms,
    boxes_from_masks,
    resolve_augmentation,
    training_transforms,
)


def _write_png(path: Path, height: int, width: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    cv2.imwrite(str(path), pixels)


def _rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


@pytest.fixture
def coco_mix(tmp_path: Path) -> Path:
    """Two images (60x80): a polygon and an RLE instance, a crowd region, a box-only one;
    categories with non-contiguous ids 3, 7, 11 (11 has no annotations)."""
    images = tmp_path / "images"
    _write_png(images / "a.png", 60, 80)
    _write_png(images / "b.png", 60, 80)
    _write_png(images / "unlabelled.png", 60, 80)
    square = np.zeros((60, 80), bool)
    square[20:40, 50:70] = True
    crowd = np.zeros((60, 80), bool)
    crowd[0:10, 0:10] = True
    data = {
        "images": [
            {"id": 1, "file_name": "a.png", "width": 80, "height": 60},
            {"id": 2, "file_name": "b.png", "width": 80, "height": 60},
            {"id": 3, "file_name": "unlabelled.png", "width": 80, "height": 60},
        ],
        "annotations": [
            {  # polygon: the rectangle x 10..30, y 5..25
                "id": 1,
                "image_id": 1,
                "category_id": 3,
                "iscrowd": 0,
                "segmentation": [[10, 5, 30, 5, 30, 25, 10, 25]],
                "bbox": [10, 5, 20, 20],
            },
            {  # compressed RLE
                "id": 2,
                "image_id": 1,
                "category_id": 7,
                "iscrowd": 0,
                "segmentation": _rle(square),
                "bbox": [50, 20, 20, 20],
            },
            {  # crowd region: must not become a training instance
                "id": 3,
                "image_id": 1,
                "category_id": 3,
                "iscrowd": 1,
                "segmentation": _rle(crowd),
                "bbox": [0, 0, 10, 10],
            },
            {  # box only
                "id": 4,
                "image_id": 2,
                "category_id": 7,
                "iscrowd": 0,
                "bbox": [1, 1, 5, 5],
            },
            {  # uncompressed RLE on image 2
                "id": 5,
                "image_id": 2,
                "category_id": 7,
                "iscrowd": 0,
                "segmentation": {"size": [60, 80], "counts": [605, 10, 50, 10, 4800 - 675]},
                "bbox": [10, 5, 2, 10],
            },
        ],
        "categories": [
            {"id": 3, "name": "cat"},
            {"id": 7, "name": "dog"},
            {"id": 11, "name": "bird"},
        ],
    }
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(data))
    return path


def test_polygon_and_rle_annotations_become_masks_boxes_and_labels(coco_mix: Path):
    dataset = load_coco_dataset(coco_mix, coco_mix.parent / "images")
    assert dataset.label_category_ids == [0, 3, 7, 11]
    image, target = InstanceDataset(dataset.samples)[0]
    assert isinstance(image, tv_tensors.Image) and image.shape == (3, 60, 80)
    assert target["labels"].tolist() == [1, 2]  # crowd region dropped
    masks = target["masks"].bool()
    # pycocotools rasterises the polygon (10,5)-(30,25) to columns 10..29 and rows 5..24.
    assert masks[0, 5:25, 10:30].all() and masks[0].sum() == 400
    assert masks[1, 20:40, 50:70].all() and masks[1].sum() == 400
    assert target["boxes"].tolist() == [[10.0, 5.0, 30.0, 25.0], [50.0, 20.0, 70.0, 40.0]]


def test_uncompressed_rle_is_decoded_and_box_only_annotations_skipped(coco_mix: Path):
    dataset = load_coco_dataset(coco_mix, coco_mix.parent / "images")
    _, target = InstanceDataset(dataset.samples)[1]
    assert target["labels"].tolist() == [2]  # the box-only annotation is gone
    # Column-major counts: 605 zeros, then 10 ones (column 10, rows 5..14), 50 zeros, 10 ones.
    assert target["boxes"].tolist() == [[10.0, 5.0, 12.0, 15.0]]
    assert target["masks"].sum() == 20


def test_crowd_stays_in_ground_truth_and_unlabelled_images_are_not_trained(coco_mix: Path):
    dataset = load_coco_dataset(coco_mix, coco_mix.parent / "images")
    assert [s.file_name for s in dataset.samples] == ["a.png", "b.png"]
    assert any(a["iscrowd"] for a in dataset.ground_truth["annotations"])
    text = "\n".join(dataset.warnings)
    assert "1 crowd regions" in text
    assert "1 annotations have no mask" in text
    assert "1 images have no mask annotations" in text
    assert "'bird' (id 11) has no annotations" in text


def test_horizontal_flip_keeps_masks_and_boxes_consistent(coco_mix: Path):
    dataset = load_coco_dataset(coco_mix, coco_mix.parent / "images")
    plain = InstanceDataset(dataset.samples)[0]
    torch.manual_seed(0)
    flipped_once = None
    for _ in range(20):  # p = 0.5: some draw flips
        image, target = InstanceDataset(dataset.samples, training_transforms(zoom_range=None))[0]
        if not torch.equal(target["masks"], plain[1]["masks"]):
            flipped_once = (image, target)
            break
    assert flipped_once is not None
    image, target = flipped_once
    assert torch.equal(target["masks"], plain[1]["masks"].flip(-1))
    assert torch.allclose(image, plain[0].flip(-1).float() / 255)
    assert torch.equal(target["boxes"].as_subclass(torch.Tensor), boxes_from_masks(target["masks"]))
    assert target["boxes"].tolist()[0] == [80 - 30.0, 5.0, 80 - 10.0, 25.0]


def test_random_zoom_scales_content_keeps_canvas_and_boxes_follow_masks(coco_mix: Path):
    dataset = load_coco_dataset(coco_mix, coco_mix.parent / "images")
    transform = training_transforms(flip=False, zoom_range=(0.5, 0.5))
    transform.transforms[0].p = 1.0  # always zoom out by exactly one half
    image, target = InstanceDataset(dataset.samples, transform)[0]
    assert image.shape == (3, 60, 80)
    areas = target["masks"].flatten(1).sum(1).float()
    assert torch.allclose(areas, torch.tensor([400 / 4, 400 / 4]), rtol=0.15)
    assert torch.equal(target["boxes"].as_subclass(torch.Tensor), boxes_from_masks(target["masks"]))


@pytest.mark.parametrize(
    ("choice", "planned_epochs", "expected"),
    [
        ("auto", None, "light"),  # a budgeted run before its speed is known counts as short
        ("auto", AUTO_AUGMENT_MIN_EPOCHS - 0.5, "light"),
        ("light", 100.0, "light"),
        ("auto", AUTO_AUGMENT_MIN_EPOCHS, "full"),
        ("full", 1.0, "full"),
        ("flip", None, "flip"),
        ("none", 500.0, "none"),
    ],
)
def test_auto_augmentation_is_on_for_long_runs_only(choice, planned_epochs, expected):
    assert resolve_augmentation(choice, planned_epochs) == expected


def test_unknown_augmentation_is_refused():
    with pytest.raises(ValueError, match="auto, full, light, flip, none"):
        resolve_augmentation("mosaic", 3.0)


def test_each_augmentation_kind_applies_exactly_its_transforms(coco_mix: Path):
    dataset = load_coco_dataset(coco_mix, coco_mix.parent / "images")
    plain_image, plain_target = InstanceDataset(dataset.samples)[0]
    kinds = {
        kind: [type(t).__name__ for t in augmentation_transforms(kind).transforms]
        for kind in ("full", "light", "flip", "none")
    }
    flip, colour, zoom = "RandomHorizontalFlip", "RandomPhotometricDistort", "RandomZoom"
    assert kinds["full"][:3] == [flip, colour, zoom]
    assert kinds["light"][:2] == [flip, colour] and zoom not in kinds["light"]
    assert kinds["flip"][0] == flip and colour not in kinds["flip"] and zoom not in kinds["flip"]
    assert not {flip, colour, zoom} & set(kinds["none"])
    torch.manual_seed(0)
    for _ in range(5):  # "none" never changes a pixel or a mask, whatever the draw
        image, target = InstanceDataset(dataset.samples, augmentation_transforms("none"))[0]
        assert torch.allclose(image, plain_image.float() / 255)
        assert torch.equal(target["masks"], plain_target["masks"])


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        (640, 480, (256, 640)),  # photos: lite's default
        (300, 300, (192, 480)),  # two thirds of the short side, a multiple of 16
        (150, 144, (96, 240)),  # the acceptance benchmark's shapes images
        (40, 40, (64, 160)),  # never below 64 px
    ],
)
def test_from_scratch_image_size_follows_the_datas_short_side(width, height, expected):
    samples = [SimpleNamespace(width=width, height=height)] * 3
    assert data_image_sizes("lite", SimpleNamespace(samples=samples)) == expected


def test_light_augmentation_changes_colours_but_never_geometry(coco_mix: Path):
    dataset = load_coco_dataset(coco_mix, coco_mix.parent / "images")
    plain_image, plain_target = InstanceDataset(dataset.samples)[0]
    plain_masks = plain_target["masks"]
    torch.manual_seed(0)
    recoloured = 0
    for _ in range(12):
        image, target = InstanceDataset(dataset.samples, augmentation_transforms("light"))[0]
        flipped = torch.equal(target["masks"], plain_masks.flip(-1))
        assert flipped or torch.equal(target["masks"], plain_masks)
        reference = plain_image.flip(-1) if flipped else plain_image
        recoloured += not torch.allclose(image, reference.float() / 255)
    assert recoloured > 0


def test_zoom_in_drops_instances_cropped_away():
    zoom = RandomZoom((3.0, 3.0), p=1.0)
    masks = torch.zeros((2, 40, 40), dtype=torch.uint8)
    masks[0, 0:4, 0:4] = 1  # top-left corner
    masks[1, 18:22, 18:22] = 1  # centre
    sample = (
        tv_tensors.Image(torch.zeros((3, 40, 40), dtype=torch.uint8)),
        {
            "boxes": tv_tensors.BoundingBoxes(
                boxes_from_masks(masks), format="XYXY", canvas_size=(40, 40)
            ),
            "masks": tv_tensors.Mask(masks),
            "labels": torch.tensor([1, 2]),
        },
    )
    torch.manual_seed(3)
    kept_labels = set()
    for _ in range(10):
        transform = training_transforms(flip=False, zoom_range=(3.0, 3.0))
        transform.transforms[0].p = 1.0
        image, target = transform(*sample)
        assert image.shape == (3, 40, 40)
        assert len(target["labels"]) == len(target["masks"]) == len(target["boxes"])
        assert bool((target["masks"].flatten(1).sum(1) > 0).all())
        kept_labels.update(target["labels"].tolist())
    assert zoom.scale_range == (3.0, 3.0)
    assert 2 in kept_labels


def test_missing_and_corrupt_images_are_reported_by_name(coco_mix: Path):
    (coco_mix.parent / "images" / "b.png").write_bytes(b"not an image")
    (coco_mix.parent / "images" / "unlabelled.png").unlink()
    dataset = load_coco_dataset(coco_mix, coco_mix.parent / "images")
    failure = InstanceDataset(dataset.samples)[1]
    assert isinstance(failure, LoadFailure) and "b.png" in failure.message


def test_dataset_without_usable_images_is_a_clear_training_error(tmp_path: Path):
    (tmp_path / "images").mkdir()
    path = tmp_path / "empty.json"
    path.write_text(
        json.dumps({"images": [], "annotations": [], "categories": [{"id": 1, "name": "x"}]})
    )
    with pytest.raises(TrainingError, match="no usable training images"):
        load_coco_dataset(path, tmp_path / "images")
    path.write_text("{not json")
    with pytest.raises(TrainingError, match="not readable JSON"):
        load_coco_dataset(path, tmp_path / "images")


def test_validation_file_categories_are_matched_by_name(coco_mix: Path, tmp_path: Path):
    train = load_coco_dataset(coco_mix, coco_mix.parent / "images")
    data = json.loads(coco_mix.read_text())
    data["categories"] = [
        {"id": 1, "name": "Dog"},
        {"id": 2, "name": "cat"},
        {"id": 5, "name": "owl"},
    ]
    for ann in data["annotations"]:
        ann["category_id"] = {3: 2, 7: 1}[ann["category_id"]]
    val_path = tmp_path / "val.json"
    val_path.write_text(json.dumps(data))
    val = load_coco_dataset(
        val_path, coco_mix.parent / "images", categories=train.categories, role="validation"
    )
    assert val.label_category_ids == [0, 3, 7, 11]
    assert {a["category_id"] for a in val.ground_truth["annotations"]} == {3, 7}
    assert any("'owl'" in w for w in val.warnings)


def test_holdout_split_is_disjoint_seeded_and_keeps_at_least_one_image(coco_mix: Path):
    dataset = load_coco_dataset(coco_mix, coco_mix.parent / "images")
    train, val = split_holdout(dataset, fraction=0.1, seed=4)
    assert val is not None and len(val.samples) == 1 and len(train.samples) == 1
    assert {s.image_id for s in train.samples}.isdisjoint({s.image_id for s in val.samples})
    assert [img["id"] for img in val.ground_truth["images"]] == [val.samples[0].image_id]
    again = split_holdout(dataset, fraction=0.1, seed=4)[1]
    assert again is not None and again.samples == val.samples


def test_grouped_batches_never_mix_aspect_ratio_groups():
    sizes = [(200, 100)] * 7 + [(100, 200)] * 9 + [(100, 100)] * 5
    groups = aspect_ratio_groups(sizes)
    assert len(set(groups)) == 3
    sampler = GroupedBatchSampler(SequentialSampler(range(len(sizes))), groups, batch_size=4)
    batches = list(sampler)
    assert len(batches) == len(sampler) == len(sizes) // 4
    for batch in batches:
        assert len(batch) == 4
        assert len({groups[i] for i in batch}) == 1


def test_slightly_portrait_and_slightly_landscape_images_never_share_a_batch():
    # Padded together they would make a square batch: a third more pixels to convolve.
    portrait, landscape, square = (140, 150), (150, 140), (144, 144)
    groups = aspect_ratio_groups([portrait, landscape, square])
    assert groups[0] != groups[1]
    assert groups[2] == groups[1]  # a square image pads into a landscape batch for free


def test_warmup_then_cosine_ends_at_the_planned_total():
    schedule = LrSchedule(ScheduleSpec(base_lr=0.1, warmup_steps=10), total_steps=100)
    assert schedule.lr_at(0) == pytest.approx(0.1 * 0.001)
    assert schedule.lr_at(5) < schedule.lr_at(9) < schedule.lr_at(10) == pytest.approx(0.1)
    lrs = [schedule.lr_at(s) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))
    assert schedule.lr_at(100) == pytest.approx(0.1 * 0.01)
    assert schedule.lr_at(55) == pytest.approx(0.1 * (0.01 + 0.99 * 0.5))


def test_replanning_keeps_the_decay_continuous_and_ends_at_the_new_total():
    schedule = LrSchedule(ScheduleSpec(base_lr=1.0, warmup_steps=10), total_steps=100)
    before = schedule.lr_at(50)
    schedule.replan(50, 200)
    assert schedule.lr_at(50) == pytest.approx(before)
    assert schedule.lr_at(125) > schedule.lr_at(150) > schedule.lr_at(199)
    assert schedule.lr_at(200) == pytest.approx(0.01)


def test_step_schedule_drops_at_milestones():
    schedule = LrSchedule(ScheduleSpec(base_lr=1.0, warmup_steps=0, kind="step"), total_steps=100)
    assert schedule.lr_at(10) == 1.0
    assert schedule.lr_at(70) == pytest.approx(0.1)
    assert schedule.lr_at(95) == pytest.approx(0.01)


def test_budget_planner_fits_steps_to_the_time_left_and_replans_on_drift():
    planner = BudgetPlanner(100.0, skip_steps=2, measure_steps=8, tolerance=0.08)
    for _ in range(2):
        planner.observe_step(5.0)  # slow first steps are ignored
    for _ in range(7):
        planner.observe_step(0.5)
    assert planner.plan(9, elapsed_s=14.5) is None  # not enough measurements yet
    planner.observe_step(0.5)
    total = planner.plan(10, elapsed_s=15.0, reserved_s=5.0)
    assert total == 10 + math.floor(80.0 / 0.5)
    assert planner.plan(11, elapsed_s=15.5, reserved_s=5.0) is None  # on plan: no change
    for _ in range(30):
        planner.observe_step(1.0)  # the machine got twice as slow
    replanned = planner.plan(41, elapsed_s=45.0, reserved_s=5.0)
    assert replanned == 41 + 50
    assert planner.out_of_time(elapsed_s=99.5)
    assert not planner.out_of_time(elapsed_s=50.0)
