"""Model against model: the same ground truth scored with two prediction sets."""

from __future__ import annotations

from dataclasses import dataclass

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
    """Score A and B (same ground truth) and list where B got worse."""
    raise NotImplementedError
