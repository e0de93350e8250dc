"""Model against model: the same ground truth scored with two prediction sets."""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.errors import CocoFormatError
from core.evaluation.matching import Counts, EvaluationData, MatchSettings
from core.evaluation.metrics import EvalResult


@dataclass(frozen=True)
class ImageChange:
    image_id: int
    tp_lost: int  # GT instances TP under A, FN under B
    fp_gained: int  # FP under B minus FP under A (0 when B has fewer)
    before: Counts
    after: Counts


@dataclass(frozen=True)
class Comparison:
    ap_delta: dict[int, float]  # per category: AP(B) - AP(A) (nan when no GT)
    overall: tuple[EvalResult, EvalResult]
    worse_images: list[ImageChange]  # images where B lost a TP or gained an FP, worst first


def compare(a: EvaluationData, b: EvaluationData, settings: MatchSettings) -> Comparison:
    """Score A and B (same ground truth) and list the images where B got worse.

    An image is worse when B misses a GT instance A found (TP lost) or makes more FPs than A
    (FP gained); worst first by TP lost plus FP gained, then in the ground truth's order.
    """
    if a.image_ids != b.image_ids or a.category_names != b.category_names:
        raise CocoFormatError(
            "the two prediction sets were prepared on different ground truths; compare them "
            "on the same images and categories"
        )
    overall_a, _ = a.metrics(settings)
    overall_b, _ = b.metrics(settings)
    ap_delta = {
        category_id: overall_b.per_class.get(category_id, math.nan)
        - overall_a.per_class.get(category_id, math.nan)
        for category_id in sorted(a.category_names)
    }
    match_a, match_b = a.match(settings), b.match(settings)
    found_by_a = {g.annotation_id for g in match_a.ground_truth if g.outcome == "tp"}
    lost: dict[int, int] = {}
    for g in match_b.ground_truth:
        if g.outcome == "fn" and g.annotation_id in found_by_a:
            lost[g.image_id] = lost.get(g.image_id, 0) + 1
    before, after = match_a.image_counts(), match_b.image_counts()
    changes = []
    for image_id in a.image_ids:
        fp_gained = max(0, after[image_id].fp - before[image_id].fp)
        tp_lost = lost.get(image_id, 0)
        if tp_lost or fp_gained:
            changes.append(
                ImageChange(image_id, tp_lost, fp_gained, before[image_id], after[image_id])
            )
    # sorted() is stable: equal harm keeps the ground truth's image order.
    changes = sorted(changes, key=lambda c: -(c.tp_lost + c.fp_gained))
    return Comparison(ap_delta, (overall_a, overall_b), changes)
