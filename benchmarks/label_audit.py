"""Label audit on synthetic shapes with injected mistakes: precision and recall of the top rows.

    python benchmarks/label_audit.py [--minutes 4] [--train-images 240] [--audit-images 100]
                                     [--mistakes 30] [--kfold K --minutes-per-fold N]

Generates shapes (core.demo.shapes, seed 1), trains a `lite` model for `--minutes` on the clean
training split (through core.training, as `maskloop train` does), then injects mistakes into
the audit split's labels in equal numbers: deleted objects (should come back as overlooked),
swapped classes (wrong class), masks moved off their object by 35-50 % of their size (bad
location). The audit (core.evaluation.audit_run, the model as is) ranks its rows; a row finds
an injected mistake when it names the changed label, or, for a deleted object, when it is an
overlooked detection with box IoU >= 0.5 on it. Precision and recall of the top k rows for k =
1x and 2x the injected count. Target: the top 2x rows find >= 2/3 of the injected mistakes.

With `--kfold K` the audit split's own (mistaken) labels train K fold models instead and the
clean training split is not used: the honest setting when no clean data exists.
Timings and the trained model depend on the machine's load; say so with any figure.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from core.demo.shapes import generate_shapes_dataset  # noqa: E402
from core.evaluation.audit import AuditRow, Issue, box_ious  # noqa: E402
from core.evaluation.audit_kfold import KFoldSettings  # noqa: E402
from core.evaluation.audit_run import GroundTruth, run_audit  # noqa: E402
from core.files.atomic import write_json_atomically  # noqa: E402
from core.mask_pixels import shift_mask  # noqa: E402
from core.masks import bbox_of, decode, encode_mask  # noqa: E402

TARGET_RECALL_2X = 2 / 3


def _split(dataset: dict[str, Any], n_train: int) -> tuple[dict[str, Any], dict[str, Any]]:
    def subset(images: list[dict[str, Any]]) -> dict[str, Any]:
        ids = {img["id"] for img in images}
        part = {k: v for k, v in dataset.items() if k not in ("images", "annotations")}
        part["images"] = images
        part["annotations"] = [a for a in dataset["annotations"] if a["image_id"] in ids]
        return part

    return subset(dataset["images"][:n_train]), subset(dataset["images"][n_train:])


def inject_mistakes(
    dataset: dict[str, Any], per_kind: int, seed: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the dataset with mistakes, what was injected: kind -> annotation ids or deleted boxes)."""
    rng = random.Random(seed)
    data = copy.deepcopy(dataset)
    sizes = {img["id"]: (img["height"], img["width"]) for img in data["images"]}
    chosen = rng.sample(data["annotations"], 3 * per_kind)
    deleted, swapped, moved = (
        chosen[:per_kind],
        chosen[per_kind : 2 * per_kind],
        chosen[2 * per_kind :],
    )
    for ann in swapped:
        ann["category_id"] = rng.choice([c for c in (1, 2, 3) if c != ann["category_id"]])
    for ann in moved:
        h, w = sizes[ann["image_id"]]
        mask = decode(ann["segmentation"], h, w)
        bw, bh = ann["bbox"][2], ann["bbox"][3]
        for _ in range(20):
            fraction = rng.uniform(0.35, 0.5)
            angle = rng.uniform(0, 2 * np.pi)
            dx, dy = round(np.cos(angle) * fraction * bw), round(np.sin(angle) * fraction * bh)
            shifted = shift_mask(mask, dx, dy)
            if shifted.sum() >= 0.8 * mask.sum():  # stays (mostly) inside the image
                break
        ann["segmentation"] = encode_mask(shifted)
        ann["bbox"] = list(bbox_of(ann["segmentation"], h, w))
        ann["area"] = float(shifted.sum())
    deleted_ids = {a["id"] for a in deleted}
    data["annotations"] = [a for a in data["annotations"] if a["id"] not in deleted_ids]
    injected = {
        "deleted": [(a["image_id"], tuple(a["bbox"])) for a in deleted],
        "swapped": {a["id"] for a in swapped},
        "moved": {a["id"] for a in moved},
    }
    return data, injected


def _finds(row: AuditRow, injected: dict[str, Any]) -> str | None:
    """Which injected mistake this row finds ("swapped:17", "deleted:3"), or None."""
    if row.annotation_id is not None:
        for kind in ("swapped", "moved"):
            if row.annotation_id in injected[kind]:
                return f"{kind}:{row.annotation_id}"
        return None
    if row.issue is Issue.OVERLOOKED:
        for i, (image_id, box) in enumerate(injected["deleted"]):
            if image_id == row.image_id and box_ious([row.bbox], [box])[0, 0] >= 0.5:
                return f"deleted:{i}"
    return None


def score_top(rows: list[AuditRow], injected: dict[str, Any], k: int) -> tuple[float, float, dict]:
    total = len(injected["deleted"]) + len(injected["swapped"]) + len(injected["moved"])
    top = rows[:k]
    found = [_finds(row, injected) for row in top]
    hits = {f for f in found if f is not None}
    precision = sum(f is not None for f in found) / max(1, len(top))
    by_kind = {
        kind: sum(h.startswith(kind) for h in hits) for kind in ("deleted", "swapped", "moved")
    }
    return precision, len(hits) / total, by_kind


def _explain(rows: list[AuditRow], injected: dict[str, Any]) -> None:
    """Where each injected mistake ranks (its first row), for tuning the scores."""
    first: dict[str, tuple[int, AuditRow]] = {}
    for rank, row in enumerate(rows):
        found = _finds(row, injected)
        if found is not None and found not in first:
            first[found] = (rank, row)
    for name, (rank, row) in sorted(first.items(), key=lambda kv: kv[1][0]):
        print(f"#   {name}: rank {rank} {row.issue.value} {row.score:.2f} "
              f"box {row.box_score} mask {row.mask_score}")  # fmt: skip
    total = len(injected["deleted"]) + len(injected["swapped"]) + len(injected["moved"])
    print(f"#   not listed: {total - len(first)}")
    kinds: dict[str, list[float]] = {}
    for row in rows[: 2 * total]:
        if _finds(row, injected) is None:
            kinds.setdefault(row.issue.value, []).append(row.score)
    for kind, scores in kinds.items():
        print(
            f"#   false rows in the top 2x: {kind} x{len(scores)}, scores {min(scores):.2f}-{max(scores):.2f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--train-images", type=int, default=240)
    parser.add_argument("--audit-images", type=int, default=100)
    parser.add_argument("--mistakes", type=int, default=30, help="in total, a third of each kind")
    parser.add_argument("--kfold", type=int)
    parser.add_argument("--minutes-per-fold", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--verbose", action="store_true", help="where each injected mistake ranks")
    parser.add_argument("--work", type=Path, help="keep the data and the model in this folder")
    parser.add_argument(
        "--model",
        type=Path,
        help="audit with this checkpoint (trained by an earlier run on --work)",
    )
    args = parser.parse_args()
    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)
        return run(args, args.work)
    with tempfile.TemporaryDirectory(prefix="maskloop-audit-bench-") as tmp:
        return run(args, Path(tmp))


def _print_eval(event: dict[str, Any]) -> None:
    if event.get("event") == "eval":
        print(f"# eval at step {event.get('step')}: mask AP {event.get('segm_ap')}", flush=True)


def run(args: argparse.Namespace, root: Path) -> int:

    from core.training.config import TrainConfig
    from core.training.trainer import train

    json_path = generate_shapes_dataset(
        root, n_images=args.train_images + args.audit_images, seed=args.seed
    )
    dataset = json.loads(json_path.read_text())
    train_set, audit_set = _split(dataset, args.train_images)
    mistaken, injected = inject_mistakes(audit_set, args.mistakes // 3, seed=args.seed)
    total = 3 * (args.mistakes // 3)
    truth = GroundTruth(mistaken, root / "images", "benchmark")
    start = time.perf_counter()
    if args.kfold:
        kfold = KFoldSettings(k=args.kfold, minutes_per_fold=args.minutes_per_fold)
        report = run_audit(truth, "lite", kfold=kfold, device="cpu", work_dir=root / "folds")
        trained = f"{args.kfold}-fold x {args.minutes_per_fold:g} min"
    elif args.model is not None:
        report = run_audit(truth, str(args.model), device="cpu")
        trained = f"the given {args.model.name}"
    else:
        train_json = root / "train.json"
        write_json_atomically(train_json, train_set)
        config = TrainConfig(
            train_json=train_json,
            images_dir=root / "images",
            out=root / "model.pt",
            model="lite",
            minutes=args.minutes,
            device="cpu",
            seed=args.seed,
            threads=1,  # on a shared 2-core machine one thread is the steadiest
            evals=2,
        )
        result = train(config, on_event=_print_eval)
        print(
            f"# trained lite {args.minutes:g} min on {result.train_images} clean images: "
            f"{result.steps} steps, held-out mask AP {result.best_segm_ap or 0:.3f}"
        )
        audit_start = time.perf_counter()
        assert result.checkpoint is not None
        report = run_audit(truth, str(result.checkpoint), device="cpu")
        trained = f"{args.minutes:g} min on the clean split"
        print(
            f"audit_seconds: {time.perf_counter() - audit_start:.1f} s "
            f"(no baseline; {args.audit_images} images)"
        )
    print(f"# predictions from: {report.predicted_by} ({trained})")
    print(f"# rows: {len(report.rows)} suspected mistakes for {total} injected in "
          f"{len(mistaken['annotations'])} labels")  # fmt: skip
    # A random ranking finds mistakes at their share of the labels and overlooked objects.
    base = total / (len(mistaken["annotations"]) + total // 3)
    for factor in (1, 2):
        precision, recall, by_kind = score_top(report.rows, injected, factor * total)
        kinds = ", ".join(f"{kind} {n}/{total // 3}" for kind, n in by_kind.items())
        print(
            f"precision_top{factor}x: {precision:.2f} (random {base:.2f}, ratio {precision / base:.1f})"
        )
        target = f"target {TARGET_RECALL_2X:.2f}" if factor == 2 else "target -"
        ratio = recall / TARGET_RECALL_2X
        print(f"recall_top{factor}x: {recall:.2f} ({target}, ratio {ratio:.2f}; {kinds})")
    if args.verbose:
        _explain(report.rows, injected)
    print(f"total_seconds: {time.perf_counter() - start:.0f} s (no baseline)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
