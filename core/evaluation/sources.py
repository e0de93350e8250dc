"""Where the analyst's view gets its ground truth and predictions from.

Ground truth: the project's own accepted labels (on reviewed images, by default).
Predictions: the proposals the project stores (pending, from the model, with scores), or a
COCO results file. Each comes back in the COCO form `EvaluationData.from_coco` takes; the
conversion of annotations is the exporter's, so evaluation sees what an export would write.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from core.coco.exporter import annotation_to_coco, image_to_coco
from core.evaluation.metrics import results_list
from core.records import Annotation, ImageRecord, ReviewState, Source
from core.store.project_store import ProjectStore


def project_ground_truth(store: ProjectStore, *, reviewed_only: bool = True) -> dict[str, Any]:
    """A COCO dataset of the project's accepted labels (human, or model ones accepted).

    With `reviewed_only`, the reviewed images, every one of them (a reviewed image with no
    label says "nothing here", which is ground truth too); else, in addition, every image
    that has an accepted label. Masks are compressed RLE; a box-only label keeps no mask, so
    a mask evaluation treats it as an ignored region rather than as an empty mask to miss.
    """
    accepted: dict[int, list[Annotation]] = {}
    for ann in store.iter_annotations():
        if ann.state is ReviewState.ACCEPTED:
            accepted.setdefault(ann.image_id, []).append(ann)
    images = [
        image
        for image in store.list_images()
        if image.reviewed or (not reviewed_only and image.id in accepted)
    ]
    annotations = [
        annotation_to_coco(ann, image) for image in images for ann in accepted.get(image.id, [])
    ]
    return {
        "images": [image_to_coco(image) for image in images],
        "annotations": annotations,
        "categories": [
            {"id": c.id, "name": c.name, "supercategory": c.supercategory}
            for c in store.categories()
        ],
    }


def project_proposals(
    store: ProjectStore, image_ids: Iterable[int] | None = None
) -> list[dict[str, Any]]:
    """A COCO results list of the stored pending proposals (state PROPOSED, source MODEL).

    Each has its score, its box and (when it has one) its mask as compressed RLE. A proposal
    without a score cannot be ranked, so it is left out.
    """
    wanted = None if image_ids is None else set(image_ids)
    images: dict[int, ImageRecord] = {}
    results = []
    for ann in store.iter_annotations():
        if ann.source is not Source.MODEL or ann.state is not ReviewState.PROPOSED:
            continue
        if ann.score is None or (wanted is not None and ann.image_id not in wanted):
            continue
        if ann.image_id not in images:
            images[ann.image_id] = store.get_image(ann.image_id)
        out = annotation_to_coco(ann, images[ann.image_id], with_score=True)
        keys = ("image_id", "category_id", "score", "bbox", "segmentation")
        results.append({k: out[k] for k in keys if k in out})
    return results


def load_results(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """A COCO results file, or a COCO dataset whose annotations carry scores, as a list.

    Raises CocoFormatError (saying what is wrong) for anything else, or for an unscored one.
    """
    return results_list(path)
