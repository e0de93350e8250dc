"""An evaluation as a few numpy arrays: what crosses from the evaluation's process to the UI.

A `MatchResult` at 50,000 instances is 110,000 small Python objects; pickling them to the
window and unpickling them there would stall it as long as the matching itself. The
analyst's view therefore receives `InstanceTable` (the fixed facts of each prediction and
ground-truth instance, once per evaluation) and `MatchArrays` (one match's outcome per
instance, once per slider move): numpy arrays, which pickle as plain buffers. Both answer
the questions the view asks (counts, the errors in walking order, one image's marks, one
confusion cell) with vectorised lookups, so the UI thread never walks every instance.
`MatchArrays` gives the same answers as the `MatchResult` it was made from (tests hold it).
Qt-free and torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from core.evaluation.matching import (
    BACKGROUND,
    ConfusionMatrix,
    Counts,
    ErrorRef,
    EvaluationData,
    GroundTruthMatch,
    MatchResult,
    MatchSettings,
    PredictionMatch,
)

NONE = -1  # "no prediction / annotation / category" in the integer arrays
_FN, _FP = 0, 1  # error kinds, in walking order (FNs before FPs on an image)


def entry_box(entry: dict[str, Any]) -> tuple[float, float, float, float]:
    """An annotation's or result's [x, y, w, h]: its own box, else its mask's."""
    box = entry.get("bbox")
    if box is None and isinstance(entry.get("segmentation"), dict):
        box = [float(v) for v in mask_utils.toBbox(entry["segmentation"])]
    x, y, w, h = (float(v) for v in (box or (0, 0, 0, 0)))
    return x, y, w, h


def _ints(values: Any) -> np.ndarray:
    """Integers as int32 when they fit (ids nearly always do): half the bytes to send and to
    unpickle, which the window's reader thread does holding Python's lock."""
    array = np.asarray(values, dtype=np.int64)
    small = np.iinfo(np.int32)
    if array.size and (array.min() < small.min or array.max() > small.max):
        return array
    return array.astype(np.int32)


@dataclass(eq=False)
class InstanceTable:
    """The facts of every prediction (by its index) and ground-truth annotation (sorted by
    id) of one EvaluationData that do not depend on the thresholds."""

    iou_type: str
    image_ids: np.ndarray  # the ground truth's image order
    file_names: dict[int, str]
    category_names: dict[int, str]
    pred_image: np.ndarray
    pred_category: np.ndarray
    pred_score: np.ndarray
    pred_box: np.ndarray  # (N, 4) [x, y, w, h]
    gt_id: np.ndarray  # sorted
    gt_image: np.ndarray
    gt_category: np.ndarray
    gt_box: np.ndarray  # (M, 4)
    gt_candidate: np.ndarray  # best-overlapping prediction of its class at ANY score, or NONE

    @classmethod
    def from_data(cls, data: EvaluationData) -> InstanceTable:
        predictions = data.predictions
        annotations = sorted(data.ground_truth.get("annotations", []), key=lambda a: a["id"])
        candidates = []
        for a in annotations:
            found = data.candidates(int(a["id"]))
            candidates.append(max(found, key=lambda c: c[1])[0] if found else NONE)
        return cls(
            iou_type=data.iou_type,
            image_ids=_ints(data.image_ids),
            file_names=dict(data.file_names),
            category_names=dict(data.category_names),
            pred_image=_ints([p["image_id"] for p in predictions]),
            pred_category=_ints([p["category_id"] for p in predictions]),
            pred_score=np.asarray([float(p.get("score", 0.0)) for p in predictions]),
            pred_box=np.asarray([entry_box(p) for p in predictions], dtype=float).reshape(-1, 4),
            gt_id=_ints([a["id"] for a in annotations]),
            gt_image=_ints([a["image_id"] for a in annotations]),
            gt_category=_ints([a["category_id"] for a in annotations]),
            gt_box=np.asarray([entry_box(a) for a in annotations], dtype=float).reshape(-1, 4),
            gt_candidate=_ints(candidates),
        )

    @property
    def prediction_count(self) -> int:
        return len(self.pred_image)

    def prediction_box(self, index: int) -> tuple[float, float, float, float]:
        x, y, w, h = (float(v) for v in self.pred_box[index])
        return x, y, w, h

    def _gt_row(self, annotation_id: int) -> int | None:
        row = int(np.searchsorted(self.gt_id, annotation_id))
        return row if row < len(self.gt_id) and self.gt_id[row] == annotation_id else None

    def gt_box_of(self, annotation_id: int) -> tuple[float, float, float, float] | None:
        row = self._gt_row(annotation_id)
        if row is None:
            return None
        x, y, w, h = (float(v) for v in self.gt_box[row])
        return x, y, w, h

    def gt_of(self, annotation_id: int) -> tuple[int, int] | None:
        """(image id, category id) of a ground-truth annotation."""
        row = self._gt_row(annotation_id)
        return None if row is None else (int(self.gt_image[row]), int(self.gt_category[row]))

    def candidate(self, annotation_id: int) -> int | None:
        """At an FN: the prediction of its class overlapping it most, whatever its score."""
        row = self._gt_row(annotation_id)
        found = NONE if row is None else int(self.gt_candidate[row])
        return None if found == NONE else found


@dataclass(eq=False)
class MatchArrays:
    """One match (`MatchResult`) as arrays: predictions that were evaluated (sorted by
    index, crowd-ignored ones flagged), non-crowd ground truth in the match's order, and the
    errors in walking order."""

    settings: MatchSettings
    image_ids: np.ndarray
    category_ids: np.ndarray
    p_index: np.ndarray
    p_image: np.ndarray
    p_category: np.ndarray
    p_score: np.ndarray
    p_tp: np.ndarray  # bool
    p_best_iou: np.ndarray
    p_matched_gt: np.ndarray  # GT id, or NONE
    p_confused_with: np.ndarray  # the other class an FP took, or NONE
    p_confused_gt: np.ndarray  # that class's GT id, or NONE
    p_ignored: np.ndarray  # bool: matched a crowd region or out of COCOeval's area range
    g_id: np.ndarray
    g_image: np.ndarray
    g_category: np.ndarray
    g_tp: np.ndarray  # bool
    g_matched: np.ndarray  # prediction index, or NONE
    g_best_iou: np.ndarray
    g_best_prediction: np.ndarray  # prediction index, or NONE
    e_kind: np.ndarray  # _FN or _FP
    e_image: np.ndarray
    e_prediction: np.ndarray
    e_annotation: np.ndarray
    _by_image: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_result(cls, result: MatchResult) -> MatchArrays:
        ps, gs, errors = result.predictions, result.ground_truth, result.errors()

        def opt(value: int | None) -> int:
            return NONE if value is None else value

        arrays = cls(
            settings=result.settings,
            image_ids=_ints(result.image_ids),
            category_ids=_ints(result.category_ids),
            p_index=_ints([p.index for p in ps]),
            p_image=_ints([p.image_id for p in ps]),
            p_category=_ints([p.category_id for p in ps]),
            p_score=np.asarray([p.score for p in ps], dtype=float),
            p_tp=np.asarray([p.outcome == "tp" for p in ps], dtype=bool),
            p_best_iou=np.asarray([p.best_iou for p in ps], dtype=float),
            p_matched_gt=_ints([opt(p.matched_gt) for p in ps]),
            p_confused_with=_ints([opt(p.confused_with) for p in ps]),
            p_confused_gt=_ints([result.confused_gt.get(p.index, NONE) for p in ps]),
            p_ignored=np.asarray([p.ignored_by_crowd for p in ps], dtype=bool),
            g_id=_ints([g.annotation_id for g in gs]),
            g_image=_ints([g.image_id for g in gs]),
            g_category=_ints([g.category_id for g in gs]),
            g_tp=np.asarray([g.outcome == "tp" for g in gs], dtype=bool),
            g_matched=_ints([opt(g.matched_prediction) for g in gs]),
            g_best_iou=np.asarray([g.best_iou for g in gs], dtype=float),
            g_best_prediction=_ints([opt(g.best_prediction) for g in gs]),
            e_kind=_ints([_FN if e.kind == "fn" else _FP for e in errors]),
            e_image=_ints([e.image_id for e in errors]),
            e_prediction=_ints([opt(e.prediction) for e in errors]),
            e_annotation=_ints([opt(e.annotation_id) for e in errors]),
        )
        for side in ("p", "g"):  # sorted here, in the evaluation's process, not on the UI thread
            arrays._rows_of(side, 0)
        return arrays

    # ---- counts ----------------------------------------------------------------------------
    def total(self) -> Counts:
        tp = int(self.g_tp.sum())
        fp = int((~self.p_tp & ~self.p_ignored).sum())
        return Counts(tp, fp, len(self.g_tp) - tp)

    def _tallies(self, p_key: np.ndarray, g_key: np.ndarray, keys: np.ndarray) -> dict[int, Counts]:
        counted = ~self.p_tp & ~self.p_ignored
        found = np.concatenate([keys, p_key[counted], g_key])
        unique, where = np.unique(found, return_inverse=True)
        n = len(keys)
        fp = np.bincount(where[n : n + int(counted.sum())], minlength=len(unique))
        g_where = where[n + int(counted.sum()) :]
        tp = np.bincount(g_where[self.g_tp], minlength=len(unique))
        fn = np.bincount(g_where[~self.g_tp], minlength=len(unique))
        # The keys first, in their order, then any other key met (as MatchResult does).
        order = list(dict.fromkeys([*keys.tolist(), *unique.tolist()]))
        slot = {k: i for i, k in enumerate(unique.tolist())}
        tps, fps, fns = tp.tolist(), fp.tolist(), fn.tolist()
        return {k: Counts(tps[slot[k]], fps[slot[k]], fns[slot[k]]) for k in order}

    def image_counts(self) -> dict[int, Counts]:
        """Counts per image id, for every image of the ground truth (zeros included)."""
        return self._tallies(self.p_image, self.g_image, self.image_ids)

    def image_count_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(image ids, tp, fp, fn) in the ground truth's image order, without one object per
        image: what the image list's order is built from."""
        sorted_ids = np.sort(self.image_ids)
        position = np.searchsorted(sorted_ids, self.image_ids)
        rank = np.empty_like(position)
        rank[position] = np.arange(len(position))

        def per_image(ids: np.ndarray) -> np.ndarray:
            slots = np.searchsorted(sorted_ids, ids)
            return np.bincount(rank[slots], minlength=len(self.image_ids))

        counted = ~self.p_tp & ~self.p_ignored
        return (
            self.image_ids,
            per_image(self.g_image[self.g_tp]),
            per_image(self.p_image[counted]),
            per_image(self.g_image[~self.g_tp]),
        )

    def class_counts(self) -> dict[int, Counts]:
        """Counts per category id (its instances are tp + fn)."""
        return self._tallies(self.p_category, self.g_category, self.category_ids)

    # ---- the errors ------------------------------------------------------------------------
    @property
    def error_count(self) -> int:
        return len(self.e_kind)

    def error_at(self, position: int) -> ErrorRef:
        prediction, annotation = int(self.e_prediction[position]), int(self.e_annotation[position])
        return ErrorRef(
            "fn" if self.e_kind[position] == _FN else "fp",
            int(self.e_image[position]),
            None if prediction == NONE else prediction,
            None if annotation == NONE else annotation,
        )

    def errors(self) -> list[ErrorRef]:
        """Every FP and FN in walking order (scripts and tests; the view asks by position)."""
        return [self.error_at(n) for n in range(self.error_count)]

    def index_of(self, error: ErrorRef) -> int | None:
        found = np.flatnonzero(
            (self.e_kind == (_FN if error.kind == "fn" else _FP))
            & (self.e_image == error.image_id)
            & (self.e_prediction == (NONE if error.prediction is None else error.prediction))
            & (self.e_annotation == (NONE if error.annotation_id is None else error.annotation_id))
        )
        return int(found[0]) if found.size else None

    def first_error_from(self, image_id: int | None, step: int) -> int:
        """The first error on or after `image_id` in the ground truth's order (step > 0), or
        the last on or before it (step < 0); wraps to the first or last error."""
        order = np.argsort(self.image_ids, kind="stable")
        sorted_ids = self.image_ids[order]

        def positions(ids: np.ndarray, missing: int) -> np.ndarray:
            at = np.clip(np.searchsorted(sorted_ids, ids), 0, max(len(sorted_ids) - 1, 0))
            found = sorted_ids[at] == ids if len(sorted_ids) else np.zeros(len(ids), bool)
            return np.where(found, order[at] if len(order) else 0, missing)

        here = -1
        if image_id is not None:
            here = int(positions(np.asarray([image_id]), -1)[0])
        rank = positions(self.e_image, 0)
        if step > 0:
            after = np.flatnonzero(rank >= here)
            return int(after[0]) if after.size else 0
        before = np.flatnonzero(rank <= here)
        return int(before[-1]) if before.size else self.error_count - 1

    # ---- one image -------------------------------------------------------------------------
    def _rows_of(self, side: str, image_id: int) -> np.ndarray:
        if side not in self._by_image:
            images = self.p_image if side == "p" else self.g_image
            order = np.argsort(images, kind="stable")
            self._by_image[side] = (order, images[order])
        order, sorted_images = self._by_image[side]
        start, stop = np.searchsorted(sorted_images, [image_id, image_id + 1])
        return order[start:stop]

    def predictions_of(self, image_id: int) -> list[PredictionMatch]:
        """The image's counted predictions (TP and FP; not the crowd-ignored), by index."""
        out = []
        for r in self._rows_of("p", image_id).tolist():
            if self.p_ignored[r]:
                continue
            matched, confused = int(self.p_matched_gt[r]), int(self.p_confused_with[r])
            out.append(
                PredictionMatch(
                    int(self.p_index[r]),
                    image_id,
                    int(self.p_category[r]),
                    float(self.p_score[r]),
                    "tp" if self.p_tp[r] else "fp",
                    float(self.p_best_iou[r]),
                    None if matched == NONE else matched,
                    None if confused == NONE else confused,
                )
            )
        return out

    def _ground_truth_row(self, r: int) -> GroundTruthMatch:
        matched, best = int(self.g_matched[r]), int(self.g_best_prediction[r])
        return GroundTruthMatch(
            int(self.g_id[r]),
            int(self.g_image[r]),
            int(self.g_category[r]),
            "tp" if self.g_tp[r] else "fn",
            None if matched == NONE else matched,
            float(self.g_best_iou[r]),
            None if best == NONE else best,
        )

    def misses_of(self, image_id: int) -> list[GroundTruthMatch]:
        """The image's FNs, in the match's order."""
        rows = self._rows_of("g", image_id)
        return [self._ground_truth_row(r) for r in rows.tolist() if not self.g_tp[r]]

    def ground_truth_match(self, annotation_id: int) -> GroundTruthMatch | None:
        found = np.flatnonzero(self.g_id == annotation_id)
        return self._ground_truth_row(int(found[0])) if found.size else None

    # ---- confusion -------------------------------------------------------------------------
    def _confusion_cells(self) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray]:
        """Per counted prediction and per FN: its (row, column) cell, as ConfusionMatrix
        places it; -1 where it has none."""
        ids = [*self.category_ids.tolist(), BACKGROUND]
        background = len(ids) - 1
        lookup = np.asarray(ids[:-1], dtype=np.int64)

        def slot(categories: np.ndarray) -> np.ndarray:
            at = np.clip(np.searchsorted(lookup, categories), 0, max(len(lookup) - 1, 0))
            ok = (lookup[at] == categories) if len(lookup) else np.zeros(len(categories), bool)
            return np.where(ok, at, -1)

        column = slot(self.p_category)
        gt_category = np.full(len(self.p_tp), NONE, dtype=np.int64)
        tp_rows = self.p_tp & (self.p_matched_gt != NONE)
        if tp_rows.any():
            where = np.searchsorted(np.sort(self.g_id), self.p_matched_gt[tp_rows])
            by_id = self.g_category[np.argsort(self.g_id)]
            gt_category[tp_rows] = by_id[where]
        confused = slot(self.p_confused_with)
        row = np.where(
            tp_rows,
            slot(gt_category),
            np.where((self.p_confused_with != NONE) & (confused >= 0), confused, background),
        )
        skip = self.p_ignored | (column < 0)
        row = np.where(skip, -1, row)
        g_row = np.where(~self.g_tp, slot(self.g_category), -1)
        return ids, row, column, g_row

    def confusion_counts(self) -> tuple[list[int], list[list[int]]]:
        """The confusion matrix's category ids (ending with BACKGROUND) and counts."""
        ids, row, column, g_row = self._confusion_cells()
        n = len(ids)
        counts = np.zeros((n, n), dtype=np.int64)
        keep = row >= 0
        np.add.at(counts, (row[keep], column[keep]), 1)
        misses = g_row >= 0
        np.add.at(counts, (g_row[misses], np.full(int(misses.sum()), n - 1)), 1)
        return ids, counts.tolist()

    def confusion(self) -> ConfusionMatrix:
        """The whole ConfusionMatrix (tests and scripts; the view asks one cell at a time)."""
        ids, counts = self.confusion_counts()
        cells = {
            (r, c): self.cell(r, c)
            for r in range(len(ids))
            for c in range(len(ids))
            if counts[r][c]
        }
        return ConfusionMatrix(ids, counts, cells)

    def cell(self, row: int, column: int) -> list[ErrorRef | tuple[int, int]]:
        """One confusion cell's members, as ConfusionMatrix.cells holds them."""
        ids, p_row, p_column, g_row = self._confusion_cells()
        background = len(ids) - 1
        members: list[ErrorRef | tuple[int, int]] = []
        for r in np.flatnonzero((p_row == row) & (p_column == column)).tolist():
            index = int(self.p_index[r])
            if self.p_tp[r] and self.p_matched_gt[r] != NONE:
                members.append((int(self.p_matched_gt[r]), index))
            elif row != background:
                members.append((int(self.p_confused_gt[r]), index))
            else:
                members.append(ErrorRef("fp", int(self.p_image[r]), index, None))
        if column == background:
            for r in np.flatnonzero(g_row == row).tolist():
                members.append(ErrorRef("fn", int(self.g_image[r]), None, int(self.g_id[r])))
        return members
