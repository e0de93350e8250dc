"""core.demo.shapes: a deterministic, well-formed COCO shapes dataset."""

from __future__ import annotations

import json
from collections import Counter

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from core.demo.shapes import generate_shapes_dataset
from core.files.images import read_image


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


def _convexity(mask: np.ndarray) -> float:
    """Mask area over the area of its convex hull (1.0 for an uncut circle or polygon)."""
    points = cv2.findNonZero(mask.astype(np.uint8))
    hull = cv2.convexHull(points)
    hull_mask = np.zeros(mask.shape, np.uint8)
    cv2.fillPoly(hull_mask, [hull], 1)
    return float(mask.sum()) / float(hull_mask.sum())


def test_plain_style_has_flat_backgrounds_and_whole_shapes(tmp_path):
    plain = json.loads(
        generate_shapes_dataset(tmp_path / "p", n_images=40, seed=1, style="plain").read_text()
    )
    textured = json.loads(generate_shapes_dataset(tmp_path / "t", n_images=40, seed=1).read_text())

    def background_spread(data, folder):
        spreads = []
        for image in data["images"]:
            pixels = read_image(folder / "images" / image["file_name"]).astype(float)
            covered = np.zeros(pixels.shape[:2], bool)
            for ann in data["annotations"]:
                if ann["image_id"] == image["id"]:
                    covered |= mask_utils.decode(ann["segmentation"]).astype(bool)
            spreads.append(pixels[~covered].std(axis=0).max())
        return max(spreads)

    assert background_spread(plain, tmp_path / "p") < 6  # flat colour plus faint noise
    assert background_spread(textured, tmp_path / "t") > 15

    def least_convex(data):
        return min(_convexity(mask_utils.decode(a["segmentation"])) for a in data["annotations"])

    assert least_convex(plain) > 0.88  # no shape is cut by another (small triangles: ~0.92)
    assert least_convex(textured) < 0.8  # occlusion cuts some (rings, bitten polygons)


def test_unknown_style_is_refused(tmp_path):
    with pytest.raises(ValueError, match="plain"):
        generate_shapes_dataset(tmp_path, n_images=1, seed=1, style="glossy")
