"""The analyst's view reads its ground truth and proposals from a real project store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import rle_of
from pycocotools import mask as mask_utils

from core.errors import CocoFormatError
from core.evaluation.matching import Counts, EvaluationData, MatchSettings
from core.evaluation.sources import load_results, project_ground_truth, project_proposals
from core.records import Annotation, ReviewState, Source
from core.store import ProjectStore

H, W = 30, 40


def _mask(y0: int, y1: int, x0: int, x1: int) -> dict:
    mask = np.zeros((H, W), np.uint8)
    mask[y0:y1, x0:x1] = 1
    return rle_of(mask)


def _box(rle: dict) -> list[float]:
    return [float(v) for v in mask_utils.toBbox({**rle, "counts": rle["counts"].encode()})]


@pytest.fixture
def store(tmp_path: Path) -> ProjectStore:
    """Image 1 reviewed (a human label, an accepted proposal, a pending and a rejected one, a
    box-only label); image 2 not reviewed (a human label, a pending proposal); image 3
    reviewed and empty; image 4 neither reviewed nor labelled."""
    project = ProjectStore.create(tmp_path / "p.maskloop", tmp_path / "images")
    for name in ("a.png", "b.png", "c.png", "d.png"):
        project.add_image(name, W, H)
    cat = project.add_category("cat", category_id=3)
    dog = project.add_category("dog", category_id=9)
    human = _mask(0, 10, 0, 10)
    accepted_model = _mask(15, 25, 20, 30)
    pending = _mask(0, 10, 1, 10)

    def add(image: int, category: int, seg: dict | None, **kw: object) -> Annotation:
        bbox = _box(seg) if seg else [30.0, 20.0, 5.0, 5.0]
        return project.add_annotation(Annotation(image, category, bbox, seg, **kw))  # type: ignore[arg-type]

    add(1, cat.id, human)
    add(1, dog.id, accepted_model, source=Source.MODEL, score=0.8, state=ReviewState.ACCEPTED)
    add(1, cat.id, pending, source=Source.MODEL, score=0.7, state=ReviewState.PROPOSED)
    add(1, dog.id, _mask(20, 30, 0, 5), source=Source.MODEL, score=0.9, state=ReviewState.REJECTED)
    add(1, dog.id, None)  # box-only
    add(2, cat.id, human)
    add(2, dog.id, _mask(0, 10, 0, 10), source=Source.MODEL, score=0.6, state=ReviewState.PROPOSED)
    project.set_reviewed(1)
    project.set_reviewed(3)
    yield project
    project.close()


def test_ground_truth_is_accepted_labels_of_reviewed_images(store: ProjectStore) -> None:
    gt = project_ground_truth(store)
    assert [im["id"] for im in gt["images"]] == [1, 3]
    assert [im["file_name"] for im in gt["images"]] == ["a.png", "c.png"]
    assert [c["id"] for c in gt["categories"]] == [3, 9]
    anns = gt["annotations"]
    assert [(a["image_id"], a["category_id"]) for a in anns] == [(1, 3), (1, 9), (1, 9)]
    assert all("score" not in a for a in anns)
    assert anns[0]["segmentation"] == _mask(0, 10, 0, 10) and anns[0]["area"] == 100
    assert "segmentation" not in anns[2]  # box-only: no empty mask to be "missed"

    everything = project_ground_truth(store, reviewed_only=False)
    assert [im["id"] for im in everything["images"]] == [1, 2, 3]
    assert len(everything["annotations"]) == 4


def test_proposals_are_pending_model_annotations_with_scores(store: ProjectStore) -> None:
    proposals = project_proposals(store)
    assert [(p["image_id"], p["category_id"], p["score"]) for p in proposals] == [
        (1, 3, 0.7),
        (2, 9, 0.6),
    ]
    assert proposals[0]["segmentation"] == _mask(0, 10, 1, 10)
    assert proposals[0]["bbox"] == [1.0, 0.0, 9.0, 10.0]
    assert [p["image_id"] for p in project_proposals(store, image_ids=[2])] == [2]


def test_project_sources_evaluate_end_to_end(store: ProjectStore) -> None:
    gt = project_ground_truth(store)
    with pytest.raises(CocoFormatError, match=r"missing from the ground truth: \[2\]"):
        EvaluationData.from_coco(gt, project_proposals(store))
    # Image 2 is not ground truth: its proposals are asked for only on the GT's images.
    proposals = project_proposals(store, image_ids=[image["id"] for image in gt["images"]])
    data = EvaluationData.from_coco(gt, proposals)
    result = data.match(MatchSettings(0.5, 0.5))
    assert data.file_names == {1: "a.png", 3: "c.png"}
    # The box-only label is an ignored region in a mask evaluation, neither TP nor FN.
    assert result.image_counts() == {1: Counts(1, 0, 1), 3: Counts(0, 0, 0)}
    assert [p.index for p in result.predictions] == [0]


def test_load_results_reads_a_results_list_and_a_scored_dataset(tmp_path: Path) -> None:
    result = {"image_id": 1, "category_id": 3, "bbox": [0, 0, 2, 2], "score": 0.5}
    listed = tmp_path / "results.json"
    listed.write_text(json.dumps([result]), encoding="utf-8")
    dataset = tmp_path / "dataset.json"
    dataset.write_text(json.dumps({"annotations": [{**result, "id": 7}]}), encoding="utf-8")
    assert load_results(listed) == [result]
    assert load_results(dataset) == [result]
    unscored = tmp_path / "unscored.json"
    unscored.write_text(json.dumps([{**result, "score": None}]), encoding="utf-8")
    with pytest.raises(CocoFormatError, match="no score"):
        load_results(unscored)
