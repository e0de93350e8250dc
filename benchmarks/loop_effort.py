"""What the loop saves the annotator: a simulated annotator labels a synthetic set in rounds.

    python benchmarks/loop_effort.py [--rounds 4] [--images-per-round 50]
                                     [--minutes-per-round 2 | --epochs-per-round N]
                                     [--seed 0] [--keep DIR]

The hidden ground truth is core/demo/shapes.py's. Round 1 labels 50 images from scratch;
then the project's reviewed labels are exported and `lite` is fine-tuned on them (from
scratch after round 1, from the previous round's checkpoint after that) with a time budget,
the new model proposes the next 50 images, the annotator corrects them, and so on. Every
step is one of the app's own operations, called through core: proposing
(core.detection.proposals.propose_images), accepting, rejecting, editing and adding
annotations (ProjectStore), box-to-mask (core.detection.box_to_mask.BoxSegmenter), marking
reviewed, exporting a fine-tune run (core.training.finetune_data) and training
(core.training.trainer.train). The Loop report's provenance is recorded on the way, so its
outcome counts are printed too.

The annotator sees the truth and, for each object, takes the cheapest way to a label within
IoU 0.9 of it, priced with the published per-action costs below:
- a proposal with mask IoU >= 0.9 against an object: accept it (verify; a digit key when its
  class is wrong);
- a proposal below IoU 0.9: fix it with the brush, or reject it and label the object afresh,
  whichever is cheaper;
- a proposal that matches no object (IoU < 0.5 with every unclaimed one): reject it (verify);
- an object left without a proposal: box-to-mask from its true box (the box, a look at the
  mask, brush fixes when below IoU 0.9, a digit key when the class is wrong), or a polygon
  from scratch, whichever is cheaper (polygon only while there is no model).

Brush rule: the pixels to fix are the XOR of the mask and the truth; each 8-connected region
of it takes ceil(area / STROKE_PIXELS) strokes, regions under MIN_FIX_PIXELS are left (they
are below what an annotator fixes at this size). A fixed mask is stored as the truth.

"From scratch" is the same images' objects each drawn as a COCO polygon. Target: by round 3,
effort per image at most a third of that.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import masks  # noqa: E402
from core.demo.shapes import SHAPE_CATEGORIES, generate_shapes_dataset  # noqa: E402
from core.records import Annotation, ReviewState, Source  # noqa: E402
from core.store import ProjectStore  # noqa: E402
from core.store.effort import Origin  # noqa: E402

# ---- published per-action costs (seconds) ---------------------------------------------------
POLYGON_S = 79.2
"""One object drawn as a polygon mask from scratch: COCO took 22 worker hours per 1,000
segmentations (Lin et al., "Microsoft COCO: Common Objects in Context", ECCV 2014)."""
BOX_S = 7.0
"""One box by extreme clicking: about 7 s (Papadopoulos et al., "Extreme clicking for
efficient object annotation", ICCV 2017)."""
VERIFY_S = 1.6
"""Look at a proposal and accept or reject it: a yes/no box verification took about 1.6 s
(Papadopoulos et al., "We don't need no bounding-boxes", CVPR 2016)."""
STROKE_S = 3.0
"""One corrective brush stroke. Our assumption, in line with Benenson et al. ("Large-scale
interactive object segmentation with human annotators", CVPR 2019): a box plus a few
corrective clicks per object made masks about 3x faster than COCO polygons (~26 s), i.e. a
box (7 s) and about six corrections of ~3 s."""
CLASS_S = 1.0
"""Give an instance another class with a digit key. Our assumption."""

ACCEPT_IOU = 0.9
MATCH_IOU = 0.5
STROKE_PIXELS = 150  # a 10-px brush dragged ~15 px on these 96-128 px images
MIN_FIX_PIXELS = 4
PROPOSAL_THRESHOLD = 0.5  # the app's default: proposals below it are hidden, not shown


@dataclass
class Truth:
    category_id: int
    mask: np.ndarray
    box_xyxy: tuple[float, float, float, float]


@dataclass(frozen=True)
class FreshPlan:
    """The cheapest way to label an object without its proposal."""

    cost: float
    op: str  # "box-to-mask" or "polygons"
    origin: Origin
    strokes: int = 0
    class_fix: bool = False


@dataclass
class RoundTally:
    seconds: float = 0.0
    scratch_seconds: float = 0.0
    images: int = 0
    objects: int = 0
    ops: Counter[str] = field(default_factory=Counter)

    def charge(self, op: str, seconds: float, count: int = 1) -> None:
        self.ops[op] += count
        self.seconds += seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--images-per-round", type=int, default=50)
    parser.add_argument("--minutes-per-round", type=float, default=2.0)
    parser.add_argument(
        "--epochs-per-round",
        type=float,
        help="train for this many epochs instead of --minutes-per-round: the same work "
        "whatever else the machine is doing (a minutes budget shrinks under CPU contention)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args(argv)

    work = args.keep or Path(tempfile.mkdtemp(prefix="maskloop-loop-effort-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        return run(work, args)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def run(work: Path, args: argparse.Namespace) -> int:
    started = time.perf_counter()
    n_images = args.rounds * args.images_per_round
    coco = generate_shapes_dataset(
        work / "data", n_images=n_images, seed=args.seed, min_size=96, max_size=128
    )
    store, truths, batches = _project(work, coco, args.images_per_round)
    model: str | None = None
    ratios: list[float] = []
    print(f"machine: {os.cpu_count()} CPU cores; training, proposals and box-to-mask on the CPU")
    for number, image_ids in enumerate(batches, start=1):
        tally = _label_round(store, truths, image_ids, model)
        per_image = tally.seconds / tally.images
        scratch = tally.scratch_seconds / tally.images
        ratios.append(per_image / scratch)
        print(
            f"round {number} effort per image: {per_image:.1f} s "
            f"(from scratch {scratch:.1f} s, ratio {per_image / scratch:.2f})"
        )
        ops = ", ".join(f"{n} {op}" for op, n in sorted(tally.ops.items()) if n)
        print(f"round {number} operations: {ops} ({tally.objects} objects)")
        if number < len(batches):
            model = _fine_tune(store, model, args, number)
    store_report = _loop_report_lines(store)
    store.close()
    for line in store_report:
        print(line)
    if len(ratios) >= 3:
        verdict = "met" if ratios[2] <= 1 / 3 else "missed"
        print(f"round 3 ratio to from scratch: {ratios[2]:.2f} (target <= 0.33, {verdict})")
    print(f"wall time: {(time.perf_counter() - started) / 60:.1f} min")
    return 0


# ---- the project and its hidden truth ---------------------------------------------------------
def _project(
    work: Path, coco: Path, per_round: int
) -> tuple[ProjectStore, dict[int, list[Truth]], list[list[int]]]:
    import json

    data = json.loads(coco.read_text())
    store = ProjectStore.create(work / "loop.maskloop", coco.parent / "images")
    for category in SHAPE_CATEGORIES:
        store.add_category(category["name"], category_id=category["id"])
    truths: dict[int, list[Truth]] = {}
    sizes = {}
    for image in data["images"]:
        store.add_image(image["file_name"], image["width"], image["height"], image_id=image["id"])
        sizes[image["id"]] = (image["height"], image["width"])
        truths[image["id"]] = []
    for ann in data["annotations"]:
        h, w = sizes[ann["image_id"]]
        x, y, bw, bh = ann["bbox"]
        truths[ann["image_id"]].append(
            Truth(
                ann["category_id"], masks.decode(ann["segmentation"], h, w), (x, y, x + bw, y + bh)
            )
        )
    ids = [image["id"] for image in data["images"]]
    return store, truths, [ids[i : i + per_round] for i in range(0, len(ids), per_round)]


# ---- one round of labelling -------------------------------------------------------------------
def _label_round(
    store: ProjectStore, truths: dict[int, list[Truth]], image_ids: list[int], model: str | None
) -> RoundTally:
    from core.detection.box_to_mask import BoxSegmenter
    from core.detection.detector import Detector
    from core.detection.proposals import propose_images
    from core.files.images import read_image

    tally = RoundTally()
    segmenter = None
    if model is not None:
        detector = Detector.load(model, device="cpu")
        propose_images(store, detector, image_ids, score_threshold=PROPOSAL_THRESHOLD)
        segmenter = BoxSegmenter(detector)
    for image_id in image_ids:
        objects = truths[image_id]
        tally.images += 1
        tally.objects += len(objects)
        tally.scratch_seconds += POLYGON_S * len(objects)
        proposals = [
            a for a in store.annotations(image_id) if a.source == Source.MODEL and a.id is not None
        ]
        image = store.get_image(image_id)
        shown = [masks.decode(p.segmentation, image.height, image.width) for p in proposals]
        if segmenter is not None:  # the backbone once per image, as the app's tool does
            segmenter.prepare(image_id, read_image(store.image_path(image_id)))
        plans = [_fresh_plan(image_id, truth, segmenter) for truth in objects]
        unclaimed = _review_proposals(store, tally, proposals, shown, objects, plans)
        for t in unclaimed:
            _label_object(store, tally, image_id, objects[t], plans[t])
        store.set_reviewed(image_id)
    return tally


def _review_proposals(
    store: ProjectStore,
    tally: RoundTally,
    proposals: list[Annotation],
    shown: list[np.ndarray],
    objects: list[Truth],
    plans: list[FreshPlan],
) -> list[int]:
    """Accept, fix or reject every proposal; returns the indices of the objects still to
    label."""
    pairs = sorted(
        (
            (_iou(mask, truth.mask), p, t)
            for p, mask in enumerate(shown)
            for t, truth in enumerate(objects)
        ),
        reverse=True,
    )
    proposal_of: dict[int, int] = {}
    claimed: set[int] = set()
    for iou, p, t in pairs:
        if iou < MATCH_IOU:
            break
        if p in proposal_of.values() or t in claimed:
            continue
        proposal_of[t] = p
        claimed.add(t)
    matched = {p: t for t, p in proposal_of.items()}
    unclaimed: list[int] = []
    for p, ann in enumerate(proposals):
        store.record_instance_origin(ann, Origin.PROPOSAL)
        t = matched.get(p)
        if t is None:
            tally.charge("rejected", VERIFY_S)
            store.set_annotation_state(ann.id, ReviewState.REJECTED)  # type: ignore[arg-type]
            continue
        truth = objects[t]
        class_fix = CLASS_S if ann.category_id != truth.category_id else 0.0
        strokes = _strokes(shown[p], truth.mask)
        keep_cost = VERIFY_S + class_fix + strokes * STROKE_S
        afresh_cost = VERIFY_S + plans[t].cost
        if keep_cost <= afresh_cost:
            if _iou(shown[p], truth.mask) >= ACCEPT_IOU and strokes == 0:
                tally.charge("accepted", VERIFY_S)
                fixed = ann.segmentation
            else:
                tally.charge("brush-fixed", VERIFY_S + strokes * STROKE_S)
                tally.ops["strokes"] += strokes
                fixed = masks.encode_mask(truth.mask)
            if class_fix:
                tally.charge("class fixes", class_fix)
            _accept_as(store, ann, truth.category_id, fixed)
        else:
            tally.charge("rejected", VERIFY_S)
            store.set_annotation_state(ann.id, ReviewState.REJECTED)  # type: ignore[arg-type]
            unclaimed.append(t)
    unclaimed += [t for t in range(len(objects)) if t not in claimed]
    return unclaimed


def _accept_as(store: ProjectStore, ann: Annotation, category_id: int, segmentation) -> None:
    """Accept a proposal, with the class and the mask the annotator gave it."""
    assert ann.id is not None
    if category_id == ann.category_id and segmentation is ann.segmentation:
        store.set_annotation_state(ann.id, ReviewState.ACCEPTED)
        return
    box = ann.bbox  # a retag alone leaves the box as the model gave it, as in the app
    if segmentation is not ann.segmentation:  # a brush stroke: the box follows the mask
        height, width = segmentation["size"]
        box = _bbox(masks.decode(segmentation, height, width))
    store.update_annotation(
        replace(
            ann,
            category_id=category_id,
            segmentation=segmentation,
            bbox=box,
            state=ReviewState.ACCEPTED,
        )
    )


def _fresh_plan(image_id: int, truth: Truth, segmenter) -> FreshPlan:
    """Box-to-mask from the true box, or a polygon, whichever is cheaper."""
    polygon = FreshPlan(POLYGON_S, "polygons", Origin.DRAWN)
    if segmenter is None:
        return polygon
    (result,) = segmenter.segment(image_id, np.array([truth.box_xyxy], np.float32))
    strokes = _strokes(result.mask, truth.mask)
    class_fix = result.category_id != truth.category_id
    cost = BOX_S + VERIFY_S + (CLASS_S if class_fix else 0.0) + strokes * STROKE_S
    if cost >= polygon.cost:
        return polygon
    return FreshPlan(cost, "box-to-mask", Origin.BOX_TO_MASK, strokes, class_fix)


def _label_object(
    store: ProjectStore, tally: RoundTally, image_id: int, truth: Truth, plan: FreshPlan
) -> None:
    """Label an object as planned; the label stored is the truth (the fixes made it so)."""
    tally.charge(plan.op, plan.cost)
    tally.ops["strokes"] += plan.strokes
    tally.ops["class fixes"] += int(plan.class_fix)
    stored = store.add_annotation(
        Annotation(
            image_id,
            truth.category_id,
            _bbox(truth.mask),
            segmentation=masks.encode_mask(truth.mask),
        )
    )
    store.record_instance_origin(stored, plan.origin)


# ---- geometry ---------------------------------------------------------------------------------
def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def _strokes(mask: np.ndarray, truth: np.ndarray) -> int:
    """Brush strokes to turn `mask` into `truth`: none at IoU >= 0.9, else by the XOR's area."""
    if _iou(mask, truth) >= ACCEPT_IOU:
        return 0
    wrong = np.logical_xor(mask, truth).astype(np.uint8)
    count, _labels, stats, _ = cv2.connectedComponentsWithStats(wrong, connectivity=8)
    areas = stats[1:count, cv2.CC_STAT_AREA]
    return int(sum(math.ceil(a / STROKE_PIXELS) for a in areas if a >= MIN_FIX_PIXELS)) or 1


def _bbox(mask: np.ndarray) -> tuple[float, float, float, float]:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return (0.0, 0.0, 0.0, 0.0)
    return (
        float(xs.min()),
        float(ys.min()),
        float(xs.max() - xs.min() + 1),
        float(ys.max() - ys.min() + 1),
    )


# ---- fine-tuning ------------------------------------------------------------------------------
def _fine_tune(
    store: ProjectStore, model: str | None, args: argparse.Namespace, number: int
) -> str:
    from core.training.config import TrainConfig
    from core.training.finetune_data import export_finetune_run, record_run
    from core.training.trainer import train

    base = model or "lite"
    data = export_finetune_run(store.path, base_model=base)
    config = TrainConfig(
        train_json=data.train_json,
        images_dir=data.images_dir,
        out=data.checkpoint_path,
        model=base,
        val_json=data.val_json if data.val_images else None,
        minutes=None if args.epochs_per_round else args.minutes_per_round,
        epochs=args.epochs_per_round,
        evals=2,
        device="cpu",
    )
    started = time.perf_counter()
    result = train(config)
    if result.checkpoint is None:
        raise SystemExit(f"round {number}: training produced no checkpoint")
    record_run(
        store,
        data,
        base_model=base,
        checkpoint=result.checkpoint,
        ap_before=result.ap_before,
        ap_after=result.best_segm_ap,
    )
    ap = "n/a" if result.best_segm_ap is None else f"{result.best_segm_ap:.3f}"
    print(
        f"round {number} fine-tune: {(time.perf_counter() - started) / 60:.1f} min "
        f"({result.steps} steps on {data.train_images} images, val mask AP {ap})"
    )
    return str(result.checkpoint)


def _loop_report_lines(store: ProjectStore) -> list[str]:
    from core.evaluation.loop_report import loop_report

    lines = []
    for entry in loop_report(store):
        counts = ", ".join(f"{n} {o.value}" for o, n in entry.outcomes.items() if n)
        lines.append(f"loop report outcomes under {entry.name}: {counts}")
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
