"""Per-image TP/FP/FN matching under COCOeval's rules, re-matched cheaply at any threshold.

`EvaluationData.from_coco` computes every IoU once (per image, between each prediction and
each ground-truth instance, with pycocotools' crowd rule), so `match(settings)` at another
score or IoU threshold is only the greedy assignment: the analyst's view re-matches live as
its sliders move. The assignment is COCOeval.evaluateImg's own (area range "all", 100
detections per image and category, one IoU threshold, per category); the tests hold it to
pycocotools on random cases. Qt-free and torch-free: numpy and pycocotools only.
"""

from __future__ import annotations

import bisect
import contextlib
import copy
import gc
import io
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from core.errors import CocoFormatError
from core.evaluation import DEFAULT_BACKEND, IOU_TYPES
from core.evaluation.metrics import (
    EvalResult,
    GroundTruth,
    Predictions,
    _box_only_as_ignored_regions,
    _to_rle,
    check_backend,
    evaluate_with_evaluator,
    load_ground_truth,
    results_list,
)

IouType = Literal["segm", "bbox"]

BACKGROUND = -1  # the category id of the confusion matrix's background row/column
MAX_DETECTIONS = 100  # COCOeval's maxDets[-1]: per image and category
_AREA_ALL = (0.0, 1e5**2)  # COCOeval's area range "all"
_RECENT_MATCHES = 16  # MatchResults kept per EvaluationData (they are immutable, so shared)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Without the cyclic garbage collector: matching allocates one small acyclic object per
    instance (100,000 at scale), and the collector's passes over them find nothing yet cost
    up to a third of the time. Each call keeps its own state, so threads cannot leave the
    collector off."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


@dataclass(frozen=True)
class MatchSettings:
    iou_threshold: float = 0.5  # a prediction matches a GT instance at IoU >= this
    score_threshold: float = 0.5  # predictions scoring below are ignored (neither TP nor FP)
    iou_type: IouType = "segm"


@dataclass(frozen=True)
class PredictionMatch:
    """One prediction's fate. A crowd-ignored one has outcome "fp" with `ignored_by_crowd`
    set, and is left out of every count, error list and confusion cell."""

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
    """Every prediction and GT instance at one setting. Left out, as COCOeval leaves them
    out: predictions under the score cut, beyond the 100 best of their image and class, or
    of a category the ground truth does not have; crowd GT regions."""

    settings: MatchSettings
    predictions: list[PredictionMatch]  # every evaluated prediction scoring >= score_threshold
    ground_truth: list[GroundTruthMatch]  # every non-crowd GT instance
    image_ids: list[int] = field(default_factory=list, repr=False)  # the GT's image order
    category_ids: list[int] = field(default_factory=list, repr=False)  # the GT's categories
    confused_gt: dict[int, int] = field(default_factory=dict, repr=False)  # FP index -> GT id

    def image_counts(self) -> dict[int, Counts]:
        """Counts per image id, for every image of the ground truth (zeros included)."""
        return self._counts_by(lambda item: item.image_id, self.image_ids)

    def class_counts(self) -> dict[int, Counts]:
        """Counts per category id (its instances are tp + fn)."""
        return self._counts_by(lambda item: item.category_id, self.category_ids)

    def total(self) -> Counts:
        tp = sum(1 for g in self.ground_truth if g.outcome == "tp")
        fp = sum(1 for p in self.predictions if p.outcome == "fp" and not p.ignored_by_crowd)
        return Counts(tp, fp, len(self.ground_truth) - tp)

    def _counts_by(
        self, key: Callable[[PredictionMatch | GroundTruthMatch], int], keys: list[int]
    ) -> dict[int, Counts]:
        tallies = {k: [0, 0, 0] for k in keys}
        for p in self.predictions:
            if p.outcome == "fp" and not p.ignored_by_crowd:
                tallies.setdefault(key(p), [0, 0, 0])[1] += 1
        for g in self.ground_truth:
            tallies.setdefault(key(g), [0, 0, 0])[0 if g.outcome == "tp" else 2] += 1
        return {k: Counts(*v) for k, v in tallies.items()}

    @_gc_paused()
    def confusion(self) -> ConfusionMatrix:
        ids = [*self.category_ids, BACKGROUND]
        position = {cid: i for i, cid in enumerate(ids)}
        background = position[BACKGROUND]
        cells: dict[tuple[int, int], list[ErrorRef | tuple[int, int]]] = {}
        gt_category = {g.annotation_id: g.category_id for g in self.ground_truth}
        for p in self.predictions:
            if p.ignored_by_crowd or p.category_id not in position:
                continue
            column = position[p.category_id]
            if p.outcome == "tp" and p.matched_gt is not None:
                cell = (position[gt_category[p.matched_gt]], column)
                cells.setdefault(cell, []).append((p.matched_gt, p.index))
            elif p.confused_with is not None and p.confused_with in position:
                cell = (position[p.confused_with], column)
                cells.setdefault(cell, []).append((self.confused_gt[p.index], p.index))
            else:
                ref = ErrorRef("fp", p.image_id, p.index, None)
                cells.setdefault((background, column), []).append(ref)
        for g in self.ground_truth:
            if g.outcome == "fn" and g.category_id in position:
                ref = ErrorRef("fn", g.image_id, None, g.annotation_id)
                cells.setdefault((position[g.category_id], background), []).append(ref)
        counts = [[0] * len(ids) for _ in ids]
        for (row, column), members in cells.items():
            counts[row][column] = len(members)
        return ConfusionMatrix(ids, counts, cells)

    @_gc_paused()
    def errors(self) -> list[ErrorRef]:
        """Every FP and FN: by image (GT order), FNs before FPs, FNs by id, FPs by score."""
        order = {image_id: i for i, image_id in enumerate(self.image_ids)}
        keyed: list[tuple[tuple[int, int, float, int], ErrorRef]] = []
        for g in self.ground_truth:
            if g.outcome == "fn":
                ref = ErrorRef("fn", g.image_id, None, g.annotation_id)
                keyed.append(((order.get(g.image_id, len(order)), 0, 0.0, g.annotation_id), ref))
        for p in self.predictions:
            if p.outcome == "fp" and not p.ignored_by_crowd:
                ref = ErrorRef("fp", p.image_id, p.index, None)
                keyed.append(((order.get(p.image_id, len(order)), 1, -p.score, p.index), ref))
        keyed.sort(key=lambda item: item[0])
        return [ref for _, ref in keyed]


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
class _Group:
    """One image and category, prepared for matching: predictions best score first (as
    COCOeval sorts them), ground truth regular first then ignored (crowd), and their IoUs."""

    predictions: list[int]  # indices into EvaluationData.predictions
    neg_scores: list[float]  # -score, ascending, for bisecting the score cut
    out_of_range: list[bool]  # prediction area outside COCOeval's "all" range
    gt_ids: list[int]
    gt_ignore: list[bool]  # crowd (or an area outside "all"): COCOeval's gtIgnore
    gt_crowd: list[bool]
    iou_rows: list[list[float]]  # len(predictions) x len(gt_ids), as lists: the greedy loop
    # runs in plain Python, where small lists beat numpy
    best_prefix: list[list[tuple[float, int]]]  # [k][column]: best (IoU, row) among rows 0..k


@dataclass(eq=False)  # identity: it holds numpy arrays, and one is one evaluation
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
    backend: str = DEFAULT_BACKEND  # COCOeval's implementation for `metrics` (core.evaluation)
    _groups: dict[tuple[int, int], _Group] = field(default_factory=dict, repr=False)
    _boxes: list[list[float]] = field(default_factory=list, repr=False)
    _best_same: dict[int, float] = field(default_factory=dict, repr=False)
    _best_other: dict[int, tuple[float, int, int]] = field(default_factory=dict, repr=False)
    _cocoeval: tuple[EvalResult, Any] | None = field(default=None, repr=False)
    _recent: dict[MatchSettings, MatchResult] = field(default_factory=dict, repr=False)
    _recent_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _gt_column: dict[int, tuple[tuple[int, int], int]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_coco(
        cls,
        ground_truth: GroundTruth,
        predictions: Predictions,
        *,
        iou_type: IouType = "segm",
        backend: str = DEFAULT_BACKEND,
    ) -> EvaluationData:
        """Normalise both sides as `metrics.evaluate` does and compute every IoU once;
        `backend` is COCOeval's implementation `metrics` will use."""
        if iou_type not in IOU_TYPES:
            raise ValueError(f"iou_type must be one of {IOU_TYPES}, got {iou_type!r}")
        check_backend(backend)
        coco_gt = load_ground_truth(ground_truth)
        if iou_type == "segm":
            coco_gt = _box_only_as_ignored_regions(coco_gt)
        dataset = coco_gt.dataset
        images = {int(img["id"]): img for img in dataset["images"]}
        results = _compressed(results_list(predictions), images)
        data = cls(
            image_ids=list(images),
            file_names={i: str(img.get("file_name", "")) for i, img in images.items()},
            category_names={int(c["id"]): str(c["name"]) for c in dataset["categories"]},
            predictions=results,
            ground_truth=dataset,
            iou_type=iou_type,
            backend=backend,
        )
        coco_dt = None
        if results:
            with contextlib.redirect_stdout(io.StringIO()):
                coco_dt = coco_gt.loadRes(copy.deepcopy(results))
            data._boxes = [
                [float(v) for v in coco_dt.anns[i + 1]["bbox"]] for i in range(len(results))
            ]
        category_ids = set(coco_gt.getCatIds())
        for image_id in images:
            gts = [
                g for g in coco_gt.imgToAnns.get(image_id, []) if g["category_id"] in category_ids
            ]
            dts = []
            if coco_dt is not None:
                dts = [
                    d
                    for d in coco_dt.imgToAnns.get(image_id, [])
                    if d["category_id"] in category_ids
                ]
            if gts or dts:
                data._prepare_image(image_id, coco_gt, coco_dt, gts, dts)
        return data

    def _prepare_image(
        self,
        image_id: int,
        coco_gt: COCO,
        coco_dt: COCO | None,
        gts: list[dict[str, Any]],
        dts: list[dict[str, Any]],
    ) -> None:
        # One IoU call per image, over all categories: a per-category matrix is a slice of it
        # (pairwise values are the same), and the other-class columns give the wrong class.
        dts = [dts[i] for i in np.argsort([-d["score"] for d in dts], kind="mergesort")]
        crowd = [int(bool(g.get("iscrowd", 0))) for g in gts]
        ious = np.zeros((len(dts), len(gts)))
        if dts and gts:
            if self.iou_type == "segm":
                assert coco_dt is not None
                found = mask_utils.iou(
                    [coco_dt.annToRLE(d) for d in dts], [coco_gt.annToRLE(g) for g in gts], crowd
                )
            else:
                found = mask_utils.iou([d["bbox"] for d in dts], [g["bbox"] for g in gts], crowd)
            ious = np.asarray(found, dtype=float).reshape(len(dts), len(gts))
        gt_cats = np.array([g["category_id"] for g in gts], dtype=np.int64)
        regular = np.array([not c for c in crowd], dtype=bool)
        for row, d in enumerate(dts):
            index = d["id"] - 1  # loadRes numbers results 1.. in list order
            same = regular & (gt_cats == d["category_id"])
            self._best_same[index] = float(ious[row, same].max()) if same.any() else 0.0
            other = np.flatnonzero(regular & (gt_cats != d["category_id"]))
            if other.size:
                best = other[int(np.argmax(ious[row, other]))]
                self._best_other[index] = (
                    float(ious[row, best]),
                    int(gts[best]["id"]),
                    int(gts[best]["category_id"]),
                )
        for category in sorted({int(c) for c in gt_cats} | {d["category_id"] for d in dts}):
            rows = [r for r, d in enumerate(dts) if d["category_id"] == category]
            columns = [c for c, g in enumerate(gts) if g["category_id"] == category]
            ignore = [bool(crowd[c]) or not _in_area_all(gts[c]["area"]) for c in columns]
            columns = [columns[i] for i in np.argsort(ignore, kind="mergesort")]
            sub = (
                ious[np.ix_(rows, columns)]
                if rows and columns
                else np.zeros((len(rows), len(columns)))
            )
            for position, column in enumerate(columns):
                self._gt_column[int(gts[column]["id"])] = ((image_id, category), position)
            self._groups[image_id, category] = _Group(
                predictions=[dts[r]["id"] - 1 for r in rows],
                neg_scores=[-float(dts[r]["score"]) for r in rows],
                out_of_range=[not _in_area_all(dts[r]["area"]) for r in rows],
                gt_ids=[int(gts[c]["id"]) for c in columns],
                gt_ignore=sorted(ignore),
                gt_crowd=[bool(crowd[c]) for c in columns],
                iou_rows=sub.tolist(),
                best_prefix=_best_prefix(sub),
            )

    def prediction_box(self, index: int) -> list[float]:
        """The [x, y, w, h] box of prediction `index` (from its mask when it came without)."""
        return self._boxes[index]

    def candidates(self, annotation_id: int, min_iou: float = 0.0) -> list[tuple[int, float]]:
        """The predictions of a GT instance's class overlapping it by more than `min_iou`,
        whatever their score, best score first, as (prediction index, IoU): at an FN, the
        low-score proposal the analyst may accept. Empty for an unknown id."""
        where = self._gt_column.get(annotation_id)
        if where is None:
            return []
        group = self._groups[where[0]]
        return [
            (index, row[where[1]])
            for index, row in zip(group.predictions, group.iou_rows, strict=True)
            if row[where[1]] > min_iou
        ]

    def match(self, settings: MatchSettings) -> MatchResult:
        """TP/FP/FN of every prediction and GT instance under `settings` (COCOeval's rules)."""
        if settings.iou_type != self.iou_type:
            raise ValueError(
                f"these IoUs were computed for {self.iou_type!r}; prepare the data again with "
                f"iou_type={settings.iou_type!r}"
            )
        # The view re-matches in background tasks, which may overlap: the cache is shared.
        with self._recent_lock:
            if settings in self._recent:  # a slider dragged back and forth: no work at all
                return self._recent[settings]
        with _gc_paused():
            result = self._match(settings)
        with self._recent_lock:
            while len(self._recent) >= _RECENT_MATCHES:
                del self._recent[next(iter(self._recent))]
            self._recent[settings] = result
        return result

    def _match(self, settings: MatchSettings) -> MatchResult:
        threshold = min(settings.iou_threshold, 1 - 1e-10)  # as COCOeval clamps it
        predictions: list[PredictionMatch] = []
        ground_truth: list[GroundTruthMatch] = []
        confused_gt: dict[int, int] = {}
        for (image_id, category_id), group in self._groups.items():
            kept = min(
                bisect.bisect_right(group.neg_scores, -settings.score_threshold), MAX_DETECTIONS
            )
            matched_to = [-1] * len(group.gt_ids)  # gt column -> prediction row
            for row in range(kept):
                column = _greedy(
                    group.iou_rows[row], matched_to, group.gt_ignore, group.gt_crowd, threshold
                )
                index = group.predictions[row]
                score = -group.neg_scores[row]
                if column >= 0:
                    matched_to[column] = row
                    ignored = group.gt_ignore[column]
                    predictions.append(
                        PredictionMatch(
                            index,
                            image_id,
                            category_id,
                            score,
                            "fp" if ignored else "tp",
                            self._best_same.get(index, 0.0),
                            None if ignored else group.gt_ids[column],
                            None,
                            ignored,
                        )
                    )
                    continue
                confused = None
                other = self._best_other.get(index)
                if other is not None and other[0] >= threshold:
                    confused = other[2]
                    confused_gt[index] = other[1]
                predictions.append(
                    PredictionMatch(
                        index,
                        image_id,
                        category_id,
                        score,
                        "fp",
                        self._best_same.get(index, 0.0),
                        None,
                        confused,
                        group.out_of_range[row],
                    )
                )
            best = group.best_prefix[kept - 1] if kept else None
            for column, annotation_id in enumerate(group.gt_ids):
                if group.gt_ignore[column]:
                    continue
                best_iou, best_prediction = 0.0, None
                if best is not None and best[column][0] > 0.0:
                    best_iou = best[column][0]
                    best_prediction = group.predictions[best[column][1]]
                row = matched_to[column]
                ground_truth.append(
                    GroundTruthMatch(
                        annotation_id,
                        image_id,
                        category_id,
                        "tp" if row >= 0 else "fn",
                        group.predictions[row] if row >= 0 else None,
                        best_iou,
                        best_prediction,
                    )
                )
        predictions.sort(key=lambda p: p.index)
        return MatchResult(
            settings,
            predictions,
            ground_truth,
            list(self.image_ids),
            sorted(self.category_names),
            confused_gt,
        )

    def metrics(self, settings: MatchSettings) -> tuple[EvalResult, list[ClassMetrics]]:
        """COCOeval's summary, and per class its AP, counts and PR curve (sorted by name).

        COCOeval runs once per EvaluationData (its numbers do not depend on the thresholds);
        moving a slider only re-matches and re-slices.
        """
        if self._cocoeval is None:
            self._cocoeval = evaluate_with_evaluator(
                self.ground_truth, self.predictions, iou_type=self.iou_type, backend=self.backend
            )
        result, evaluator = self._cocoeval
        counts = self.match(settings).class_counts()
        recall_points = np.linspace(0.0, 1.0, 101)
        step, area_all, max_dets = 0, 0, -1
        if evaluator is not None:
            thresholds = np.asarray(evaluator.params.iouThrs)
            step = int(np.argmin(np.abs(thresholds - settings.iou_threshold)))
            step50 = int(np.argmin(np.abs(thresholds - 0.5)))
            area_all = evaluator.params.areaRngLbl.index("all")
            recall_points = np.asarray(evaluator.params.recThrs, dtype=float)
        per_class = []
        for category_id in sorted(self.category_names):
            tally = counts.get(category_id, Counts(0, 0, 0))
            instances = tally.tp + tally.fn
            if evaluator is not None:
                k = list(evaluator.params.catIds).index(category_id)
                precision = evaluator.eval["precision"][step, :, k, area_all, max_dets].astype(
                    float
                )
                at50 = evaluator.eval["precision"][step50, :, k, area_all, max_dets]
                ap50 = float(np.mean(at50[at50 > -1])) if (at50 > -1).any() else float("nan")
                precision[precision == -1] = np.nan
                ap = float(result.per_class.get(category_id, float("nan")))
            else:  # nothing predicted: COCOeval never ran; 0 where there was GT to find
                ap = ap50 = 0.0 if instances else float("nan")
                precision = np.full(len(recall_points), 0.0 if instances else np.nan)
            per_class.append(
                ClassMetrics(
                    category_id=category_id,
                    name=self.category_names[category_id],
                    ap=ap,
                    ap50=ap50,
                    counts=tally,
                    instances=instances,
                    recall=recall_points.copy(),
                    precision=precision,
                    operating_point=(tally.recall, tally.precision) if instances else None,
                )
            )
        per_class.sort(key=lambda m: (m.name.casefold(), m.category_id))
        return result, per_class


def _greedy(
    ious: list[float],
    matched_to: list[int],
    ignore: list[bool],
    crowd: list[bool],
    threshold: float,
) -> int:
    """COCOeval.evaluateImg's inner loop for one prediction: the GT column it takes, or -1."""
    best, chosen = threshold, -1
    for column, iou in enumerate(ious):
        if matched_to[column] >= 0 and not crowd[column]:
            continue
        if chosen > -1 and not ignore[chosen] and ignore[column]:
            break
        if iou < best:
            continue
        best, chosen = iou, column
    return chosen


def _best_prefix(ious: np.ndarray) -> list[list[tuple[float, int]]]:
    """Per number of predictions kept (best score first), each GT's best (IoU, row) among
    them: the score cut only ever keeps a prefix, so `match` just looks the answer up."""
    table: list[list[tuple[float, int]]] = []
    best = [(0.0, -1)] * ious.shape[1]
    for row, values in enumerate(ious.tolist()):
        best = [
            (value, row) if value > kept[0] else kept
            for value, kept in zip(values, best, strict=True)
        ]
        table.append(best)
    return table


def _in_area_all(area: float) -> bool:
    return _AREA_ALL[0] <= float(area) <= _AREA_ALL[1]


def _compressed(
    results: list[dict[str, Any]], images: dict[int, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Results with polygon or uncompressed-RLE masks as compressed RLE (what loadRes reads)."""
    strangers = sorted({r["image_id"] for r in results} - set(images))
    if strangers:
        raise CocoFormatError(
            f"predictions refer to image ids missing from the ground truth: {strangers[:10]}"
        )
    for result in results:
        segmentation = result.get("segmentation")
        if segmentation and (
            isinstance(segmentation, list) or isinstance(segmentation.get("counts"), list)
        ):
            image = images[result["image_id"]]
            rle = _to_rle(segmentation, image["height"], image["width"])
            counts = rle["counts"]
            result["segmentation"] = {
                "size": [int(v) for v in rle["size"]],
                "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts,
            }
    return results
