"""COCO-style evaluation of predictions against a ground truth, with pycocotools' COCOeval.

Ground truth: a COCO dataset (path, dict or `pycocotools.coco.COCO`). Predictions: a COCO
results list (`[{"image_id", "category_id", "score", "segmentation" | "bbox"}]`), or a COCO
dataset whose annotations carry scores (what `maskloop predict --images` writes), as a path
or in memory. The numbers are COCOeval's own; its printed summary is captured, not printed,
so library callers (validation during training) stay quiet.

`backend="faster"` runs faster-coco-eval's COCOeval_faster (C++ evaluateImg and accumulate)
on the same normalised inputs instead of pycocotools' COCOeval: the same figures (tests hold
them equal), in less time on big sets. It is optional (`pip install "maskloop[fast]"`).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from core.errors import CocoFormatError, MaskLoopError
from core.evaluation import BACKENDS, DEFAULT_BACKEND, IOU_TYPES

GroundTruth: TypeAlias = str | os.PathLike[str] | Mapping[str, Any] | COCO
Predictions: TypeAlias = str | os.PathLike[str] | Sequence[Mapping[str, Any]] | Mapping[str, Any]


@dataclass(frozen=True)
class EvalResult:
    """COCOeval's headline numbers (0..1; -1 where COCOeval has no ground truth to score)."""

    iou_type: str
    ap: float  # AP @ IoU 0.50:0.95, all areas, 100 detections
    ap50: float
    ap75: float
    ap_small: float
    ap_medium: float
    ap_large: float
    per_class: dict[int, float] = field(default_factory=dict)  # category id -> AP (nan: no GT)
    stats: tuple[float, ...] = ()  # COCOeval.stats, all 12 numbers
    summary: str = ""  # COCOeval.summarize()'s printout
    num_predictions: int = 0

    def format(self, category_names: Mapping[int, str] | None = None) -> str:
        """A human-readable report: COCOeval's summary, then AP per class."""
        lines = [self.summary.rstrip()] if self.summary else []
        lines.append(
            f"{self.iou_type}: AP {self.ap:.4f}  AP50 {self.ap50:.4f}  AP75 {self.ap75:.4f}  "
            f"APs {self.ap_small:.4f}  APm {self.ap_medium:.4f}  APl {self.ap_large:.4f}"
        )
        if self.per_class:
            lines.append("per-class AP:")
            names = category_names or {}
            for cid, ap in self.per_class.items():
                shown = "n/a (no ground truth)" if math.isnan(ap) else f"{ap:.4f}"
                lines.append(f"  {cid:>6}  {names.get(cid, '')[:30]:<30}  {shown}")
        return "\n".join(lines)


def _read_json(path: str | os.PathLike[str]) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError as exc:
        raise CocoFormatError(f"{path} does not exist") from exc
    except (OSError, ValueError) as exc:
        raise CocoFormatError(f"{path} is not a readable JSON file: {exc}") from exc


def _complete_ground_truth(dataset: dict[str, Any]) -> dict[str, Any]:
    """Fill the fields COCOeval reads but some exporters omit (area, iscrowd, id)."""
    for key in ("images", "annotations", "categories"):
        if not isinstance(dataset.get(key), list):
            raise CocoFormatError(f"the ground truth has no '{key}' list")
    sizes = {img["id"]: (img["height"], img["width"]) for img in dataset["images"]}
    for index, ann in enumerate(dataset["annotations"]):
        ann.setdefault("id", index + 1)
        ann.setdefault("iscrowd", 0)
        if "area" not in ann:
            segmentation = ann.get("segmentation")
            if segmentation and ann.get("image_id") in sizes:
                h, w = sizes[ann["image_id"]]
                rle = _to_rle(segmentation, h, w)
                ann["area"] = float(mask_utils.area(rle))
            else:
                ann["area"] = float(ann["bbox"][2] * ann["bbox"][3])
    return dataset


def _to_rle(segmentation: Any, h: int, w: int) -> dict[str, Any]:
    if isinstance(segmentation, list):
        return mask_utils.merge(mask_utils.frPyObjects(segmentation, h, w))
    if isinstance(segmentation.get("counts"), list):
        return mask_utils.frPyObjects(segmentation, h, w)
    return segmentation


def load_ground_truth(gt: GroundTruth) -> COCO:
    """A pycocotools COCO object for `gt`, built quietly."""
    if isinstance(gt, COCO):
        return gt
    data = _read_json(gt) if isinstance(gt, (str, os.PathLike)) else copy.deepcopy(dict(gt))
    if not isinstance(data, dict):
        raise CocoFormatError("the ground truth must be a COCO dataset (a JSON object)")
    coco = COCO()
    coco.dataset = _complete_ground_truth(data)
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _box_only_as_ignored_regions(coco: COCO) -> COCO:
    """For mask AP: annotations with a box but no mask become crowd regions inside their box.

    COCOeval cannot compare a mask with them (pycocotools raised KeyError 'segmentation'),
    and counting them as missed objects, or a detection of them as a false positive, would
    score the model on masks nobody drew. As crowd regions they are ignored, like COCO's own.
    """
    if all(ann.get("segmentation") for ann in coco.dataset["annotations"]):
        return coco
    dataset = copy.deepcopy(coco.dataset)
    for ann in dataset["annotations"]:
        if not ann.get("segmentation"):
            x, y, w, h = ann["bbox"]
            ann["segmentation"] = [[x, y, x + w, y, x + w, y + h, x, y + h]]
            ann["iscrowd"] = 1
    return load_ground_truth(dataset)


def results_list(predictions: Predictions) -> list[dict[str, Any]]:
    """Predictions as a fresh COCO results list (loadRes changes what it is given)."""
    data = (
        _read_json(predictions)
        if isinstance(predictions, (str, os.PathLike))
        else copy.deepcopy(predictions)
    )
    if isinstance(data, Mapping):
        if not isinstance(data.get("annotations"), list):
            raise CocoFormatError(
                "predictions must be a COCO results list or a COCO dataset with 'annotations'"
            )
        data = data["annotations"]
    if not isinstance(data, list):
        raise CocoFormatError("predictions must be a COCO results list (a JSON array)")
    results = []
    for index, ann in enumerate(data):
        if not isinstance(ann, Mapping) or "image_id" not in ann or "category_id" not in ann:
            raise CocoFormatError(f"prediction {index} lacks image_id or category_id")
        if ann.get("score") is None:
            raise CocoFormatError(
                f"prediction {index} (image {ann['image_id']}) has no score; evaluation needs "
                "scored predictions"
            )
        if not ann.get("segmentation") and not ann.get("bbox"):
            raise CocoFormatError(f"prediction {index} has neither segmentation nor bbox")
        # Only the fields loadRes reads; an empty segmentation/bbox would misroute it.
        keep = {
            k: ann[k]
            for k in ("image_id", "category_id", "score", "bbox", "segmentation")
            if k in ann and (k not in ("bbox", "segmentation") or ann[k])
        }
        results.append(keep)
    return results


def _per_class_ap(evaluator: COCOeval) -> dict[int, float]:
    # precision[T, R, K, A, M]: IoU thresholds, recall points, classes, area ranges, max dets.
    precision = evaluator.eval["precision"]
    area_all = evaluator.params.areaRngLbl.index("all")
    max_dets = len(evaluator.params.maxDets) - 1
    per_class: dict[int, float] = {}
    for k, cid in enumerate(evaluator.params.catIds):
        values = precision[:, :, k, area_all, max_dets]
        values = values[values > -1]
        per_class[int(cid)] = float(np.mean(values)) if values.size else float("nan")
    return per_class


def evaluate(
    gt: GroundTruth,
    predictions: Predictions,
    *,
    iou_type: str = "segm",
    backend: str = DEFAULT_BACKEND,
) -> EvalResult:
    """Score `predictions` against `gt` with COCOeval (`iou_type` "segm" or "bbox")."""
    return evaluate_with_evaluator(gt, predictions, iou_type=iou_type, backend=backend)[0]


def check_backend(backend: str) -> None:
    """Raise a MaskLoopError saying what to do when `backend` cannot run here."""
    if backend not in BACKENDS:
        raise MaskLoopError(f"unknown evaluation backend {backend!r}; choose one of {BACKENDS}")
    if backend == "faster":
        try:
            import faster_coco_eval  # noqa: F401
        except ImportError as exc:
            raise MaskLoopError(
                "the 'faster' evaluation backend needs faster-coco-eval, which is not "
                'installed: pip install "maskloop[fast]" (or pip install faster-coco-eval), '
                "or use the default backend, pycocotools"
            ) from exc


def _run_cocoeval(coco_gt: COCO, results: list[dict[str, Any]], iou_type: str, backend: str) -> Any:
    """COCOeval's evaluate and accumulate on one backend, quietly; the evaluator."""
    check_backend(backend)
    with contextlib.redirect_stdout(io.StringIO()):
        if backend == "faster":
            from faster_coco_eval import COCO as FasterCOCO
            from faster_coco_eval import COCOeval_faster

            # Its own COCO class, on the same normalised dataset (box-only regions included).
            faster_gt = FasterCOCO(copy.deepcopy(coco_gt.dataset))
            evaluator = COCOeval_faster(
                faster_gt,
                faster_gt.loadRes(results),
                iouType=iou_type,
                print_function=print,  # its summary, captured like pycocotools' (not logged)
            )
        else:
            evaluator = COCOeval(coco_gt, coco_gt.loadRes(results), iouType=iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
    return evaluator


def evaluate_with_evaluator(
    gt: GroundTruth,
    predictions: Predictions,
    *,
    iou_type: str = "segm",
    backend: str = DEFAULT_BACKEND,
) -> tuple[EvalResult, Any]:
    """`evaluate`, plus the accumulated COCOeval (None when nothing was predicted), whose
    `eval["precision"]` the analyst's view draws its PR curves from."""
    if iou_type not in IOU_TYPES:
        raise ValueError(f"iou_type must be one of {IOU_TYPES}, got {iou_type!r}")
    check_backend(backend)
    coco_gt = load_ground_truth(gt)
    if iou_type == "segm":
        coco_gt = _box_only_as_ignored_regions(coco_gt)
    results = results_list(predictions)
    if not results:
        # loadRes cannot take an empty list; with nothing predicted every AP is 0.
        cats = {int(c): 0.0 for c in sorted(coco_gt.getCatIds())}
        return EvalResult(iou_type, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, cats, (0.0,) * 12, "", 0), None
    known_images = set(coco_gt.getImgIds())
    strangers = sorted({r["image_id"] for r in results} - known_images)
    if strangers:
        raise CocoFormatError(
            f"predictions refer to image ids missing from the ground truth: {strangers[:10]}"
        )
    evaluator = _run_cocoeval(coco_gt, results, iou_type, backend)
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        evaluator.summarize()
    stats = tuple(float(s) for s in evaluator.stats)
    return EvalResult(
        iou_type=iou_type,
        ap=stats[0],
        ap50=stats[1],
        ap75=stats[2],
        ap_small=stats[3],
        ap_medium=stats[4],
        ap_large=stats[5],
        per_class=_per_class_ap(evaluator),
        stats=stats,
        summary=summary.getvalue(),
        num_predictions=len(results),
    ), evaluator


def category_names(gt: GroundTruth) -> dict[int, str]:
    """Category id -> name of a ground truth, for reports."""
    coco = load_ground_truth(gt)
    return {int(c["id"]): str(c["name"]) for c in coco.dataset.get("categories", [])}
