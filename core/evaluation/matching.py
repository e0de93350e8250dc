"""Per-image TP/FP/FN matching under COCOeval's rules, re-matched cheaply at any threshold.

`EvaluationData.from_coco` computes every IoU once (per image, between each prediction and
each ground-truth instance, with pycocotools' crowd rule), so `match(settings)` at another
score or IoU threshold is only the greedy assignment: the analyst's view re-matches live as
its sliders move. The assignment is COCOeval.evaluateImg's own (area range "all", 100
detections per image and category, one IoU threshold, per category); the tests hold it to
pycocotools on random cases. Qt-free and torch-free: numpy and pycocotools only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from core.evaluation.metrics import EvalResult, GroundTruth, Predictions

IouType = Literal["segm", "bbox"]

BACKGROUND = -1  # the category id of the confusion matrix's background row/column
MAX_DETECTIONS = 100  # COCOeval's maxDets[-1]: per image and category
_AREA_ALL = (0.0, 1e5**2)  # COCOeval's area range "all"


@dataclass(frozen=True)
class MatchSettings:
    iou_threshold: float = 0.5  # a prediction matches a GT instance at IoU >= this
    score_threshold: float = 0.5  # predictions scoring below are ignored (neither TP nor FP)
    iou_type: IouType = "segm"


@dataclass(frozen=True)
class PredictionMatch:
    index: int  # position in EvaluationData.predictions
    image_id: int
    category_id: int
    score: float
    outcome: Literal["tp", "fp"]
    best_iou: float  # best IoU with a non-crowd GT of the SAME category (0.0 if none)
    matched_gt: int | None  # the GT annotation id when TP
    confused_with: int | None  # for an FP: category of another-class GT at IoU >= threshold
    ignored_by_crowd: bool = False  # matched a crowd region: neither TP nor FP, not counted


@dataclass(frozen=True)
class GroundTruthMatch:
    annotation_id: int
    image_id: int
    category_id: int
    outcome: Literal["tp", "fn"]
    matched_prediction: int | None  # PredictionMatch.index when TP
    best_iou: float  # best IoU with any prediction (above the score cut) of the same category
    best_prediction: int | None  # index of that prediction, also when FN


@dataclass(frozen=True)
class Counts:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        """tp / (tp + fp); 1.0 when there are no predictions."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """tp / (tp + fn); 1.0 when there is no ground truth."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        """The harmonic mean; 1.0 for an image with neither predictions nor ground truth."""
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else 1.0


@dataclass(frozen=True)
class ErrorRef:
    kind: Literal["fp", "fn"]
    image_id: int
    prediction: int | None  # PredictionMatch.index for an FP
    annotation_id: int | None  # GT id for an FN


@dataclass(frozen=True)
class ConfusionMatrix:
    """Ground-truth class (rows) against predicted class (columns).

    `category_ids` names the rows and columns in order and ends with BACKGROUND, so
    `len(category_ids) == len(counts)`. Cell (i, i) holds the TPs; cell (i, j) the FPs of
    class j that overlap a GT of class i (the wrong class); row BACKGROUND the FPs that
    overlap no GT of any class; column BACKGROUND every FN. `cells` is keyed by
    (row index, column index): (GT annotation id, prediction index) pairs in class cells,
    ErrorRef in background cells.
    """

    category_ids: list[int]
    counts: list[list[int]]
    cells: dict[tuple[int, int], list[ErrorRef | tuple[int, int]]]


@dataclass(frozen=True)
class MatchResult:
    settings: MatchSettings
    predictions: list[PredictionMatch]  # every evaluated prediction scoring >= score_threshold
    ground_truth: list[GroundTruthMatch]  # every non-crowd GT instance
    image_ids: list[int] = field(default_factory=list, repr=False)  # the GT's image order
    category_ids: list[int] = field(default_factory=list, repr=False)  # the GT's categories
    confused_gt: dict[int, int] = field(default_factory=dict, repr=False)  # FP index -> GT id

    def image_counts(self) -> dict[int, Counts]:
        """Counts per image id, for every image of the ground truth (zeros included)."""
        raise NotImplementedError

    def class_counts(self) -> dict[int, Counts]:
        """Counts per category id (its instances are tp + fn)."""
        raise NotImplementedError

    def total(self) -> Counts:
        raise NotImplementedError

    def confusion(self) -> ConfusionMatrix:
        raise NotImplementedError

    def errors(self) -> list[ErrorRef]:
        """Every FP and FN: by image (GT order), FNs before FPs, FNs by id, FPs by score."""
        raise NotImplementedError


@dataclass(frozen=True)
class ClassMetrics:
    category_id: int
    name: str
    ap: float  # COCOeval per class (nan when the class has no GT)
    ap50: float
    counts: Counts  # at the MatchSettings
    instances: int  # non-crowd GT instances
    recall: np.ndarray  # COCOeval's 101 recall points (0..1)
    precision: np.ndarray  # precision there, at COCOeval's IoU step nearest the threshold
    operating_point: tuple[float, float] | None  # (recall, precision) at the score threshold


@dataclass
class EvaluationData:
    """Ground truth and predictions prepared once: IoUs are computed once per image, so
    `match(settings)` with another score or IoU threshold is fast (no model, no IoU
    recomputation): the GUI re-matches live as sliders move."""

    image_ids: list[int]
    file_names: dict[int, str]
    category_names: dict[int, str]
    predictions: list[dict[str, Any]]  # the normalised COCO results (index = PredictionMatch.index)
    ground_truth: dict[str, Any]  # the normalised COCO dataset
    iou_type: IouType = "segm"

    @classmethod
    def from_coco(
        cls, ground_truth: GroundTruth, predictions: Predictions, *, iou_type: IouType = "segm"
    ) -> EvaluationData:
        raise NotImplementedError

    def match(self, settings: MatchSettings) -> MatchResult:
        raise NotImplementedError

    def metrics(self, settings: MatchSettings) -> tuple[EvalResult, list[ClassMetrics]]:
        """COCOeval's summary, and per class its AP, counts and PR curve (sorted by name)."""
        raise NotImplementedError
