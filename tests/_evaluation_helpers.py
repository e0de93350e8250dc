"""A tiny project with known TP, FP and FN for the analyst's-view tests.

Three reviewed 96x80 images, each label a filled square (polygon) and each proposal the
same square or another one:

- image 1: a square labelled and proposed as square at 0.9          -> TP
- image 2: a circle labelled, proposed as square at 0.8            -> FP "circle as square", FN
- image 3: a triangle labelled, not proposed (a 0.3 triangle proposal on it, below 0.5);
           a circle proposed at 0.7 on empty background             -> FN, FP (background)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.records import Annotation, ReviewState, Source
from core.store import ProjectStore
from tests._window_helpers import make_project

Box = tuple[float, float, float, float]

TP_BOX: Box = (10, 10, 30, 30)
CONFUSED_BOX: Box = (50, 20, 30, 30)
FN_BOX: Box = (10, 40, 24, 24)
LOW_BOX: Box = (11, 41, 24, 24)
BACKGROUND_FP_BOX: Box = (60, 5, 20, 12)


def _polygon(box: Box) -> list[list[float]]:
    x, y, w, h = box
    return [[x, y, x + w, y, x + w, y + h, x, y + h]]


def label(image_id: int, category_id: int, box: Box) -> Annotation:
    return Annotation(image_id, category_id, box, segmentation=_polygon(box))


def proposal(image_id: int, category_id: int, box: Box, score: float) -> Annotation:
    return Annotation(
        image_id,
        category_id,
        box,
        segmentation=_polygon(box),
        source=Source.MODEL,
        score=score,
        state=ReviewState.PROPOSED,
    )


def make_evaluation_project(tmp_path: Path) -> tuple[Path, list[int], dict[str, int]]:
    """The project, its image ids (in order) and its category ids by name."""
    path = make_project(tmp_path, 3)
    with ProjectStore.open(path) as store:
        cats = {c.name: c.id for c in store.categories()}
        ids = store.image_ids()
        store.add_annotation(label(ids[0], cats["square"], TP_BOX))
        store.add_annotation(label(ids[1], cats["circle"], CONFUSED_BOX))
        store.add_annotation(label(ids[2], cats["triangle"], FN_BOX))
        store.replace_proposals(ids[0], [proposal(ids[0], cats["square"], TP_BOX, 0.9)], "m")
        store.replace_proposals(ids[1], [proposal(ids[1], cats["square"], CONFUSED_BOX, 0.8)], "m")
        store.replace_proposals(
            ids[2],
            [
                proposal(ids[2], cats["circle"], BACKGROUND_FP_BOX, 0.7),
                proposal(ids[2], cats["triangle"], LOW_BOX, 0.3),
            ],
            "m",
        )
        for image_id in ids:
            store.set_reviewed(image_id)
    return path, ids, cats


def coco_files(store: ProjectStore, folder: Path) -> tuple[Path, Path]:
    """The project's labels as a COCO ground truth file and its proposals as results."""
    import json

    images, annotations, results = [], [], []
    for image_id in store.image_ids():
        record = store.get_image(image_id)
        images.append({"id": image_id, "file_name": record.file_name, "width": 96, "height": 80})
        for ann in store.annotations(image_id):
            entry: dict[str, Any] = {
                "image_id": image_id,
                "category_id": ann.category_id,
                "bbox": list(ann.bbox),
                "segmentation": ann.segmentation,
            }
            if ann.source is Source.MODEL and ann.state is ReviewState.PROPOSED:
                results.append({**entry, "score": ann.score})
            else:
                x, y, w, h = ann.bbox
                annotations.append({**entry, "id": ann.id, "area": w * h, "iscrowd": 0})
    categories = [{"id": c.id, "name": c.name} for c in store.categories()]
    gt = folder / "gt.json"
    gt.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    res = folder / "results.json"
    res.write_text(json.dumps(results))
    return gt, res
