"""core.demo_data: a deterministic, well-formed COCO shapes dataset."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
from pycocotools import mask as mask_utils

from core.demo_data import generate_shapes_dataset
from core.images import read_image


def test_dataset_is_well_formed_coco_with_rle_masks(tmp_path):
    path = generate_shapes_dataset(tmp_path, n_images=30, seed=3, min_size=128, max_size=160)
    assert path == tmp_path / "annotations.json"
    data = json.loads(path.read_text())
    assert [c["name"] for c in data["categories"]] == ["circle", "square", "triangle"]
    assert len(data["images"]) == 30
    per_image = Counter(a["image_id"] for a in data["annotations"])
    assert set(per_image) == {img["id"] for img in data["images"]}
    assert all(1 <= n <= 4 for n in per_image.values())
    assert {a["category_id"] for a in data["annotations"]} == {1, 2, 3}
    ids = [a["id"] for a in data["annotations"]]
    assert len(set(ids)) == len(ids)
    sizes = {img["id"]: (img["height"], img["width"]) for img in data["images"]}
    for img in data["images"]:
        pixels = read_image(tmp_path / "images" / img["file_name"])
        assert pixels.shape == (img["height"], img["width"], 3)
        assert 128 <= img["width"] <= 160 and 128 <= img["height"] <= 160
    for ann in data["annotations"]:
        assert ann["iscrowd"] == 0
        assert isinstance(ann["segmentation"]["counts"], str)
        mask = mask_utils.decode(ann["segmentation"])
        assert mask.shape == sizes[ann["image_id"]]
        assert ann["area"] == mask.sum() > 0
        ys, xs = np.nonzero(mask)
        assert ann["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]


def test_masks_of_one_image_do_not_overlap(tmp_path):
    data = json.loads(generate_shapes_dataset(tmp_path, n_images=40, seed=1).read_text())
    by_image: dict[int, list] = {}
    for ann in data["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(mask_utils.decode(ann["segmentation"]))
    for masks in by_image.values():
        assert np.stack(masks).sum(axis=0).max() == 1  # occluded parts belong to the top shape


def test_shapes_stand_out_from_the_background(tmp_path):
    data = json.loads(generate_shapes_dataset(tmp_path, n_images=10, seed=2).read_text())
    for ann in data["annotations"]:
        image = next(i for i in data["images"] if i["id"] == ann["image_id"])
        pixels = read_image(tmp_path / "images" / image["file_name"]).astype(int)
        mask = mask_utils.decode(ann["segmentation"]).astype(bool)
        inside = pixels[mask]
        assert (inside == inside[0]).all()  # one flat colour per visible shape


def test_same_seed_gives_identical_files_and_other_seeds_differ(tmp_path):
    a = generate_shapes_dataset(tmp_path / "a", n_images=5, seed=7)
    b = generate_shapes_dataset(tmp_path / "b", n_images=5, seed=7)
    c = generate_shapes_dataset(tmp_path / "c", n_images=5, seed=8)
    assert json.loads(a.read_text())["annotations"] == json.loads(b.read_text())["annotations"]
    for name in sorted(p.name for p in (tmp_path / "a" / "images").iterdir()):
        assert (tmp_path / "a/images" / name).read_bytes() == (
            tmp_path / "b/images" / name
        ).read_bytes()
    assert json.loads(a.read_text())["annotations"] != json.loads(c.read_text())["annotations"]
