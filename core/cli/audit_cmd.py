"""`maskloop audit`: rank the labels most likely wrong, and the objects nobody labelled.

    maskloop audit GT_JSON_OR_PROJECT --images DIR --model M --out audit.csv
                   [--kfold K --minutes-per-fold N] [--min-score S] [--confident C]

The work is in core/evaluation/audit_run.py, imported only when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.errors import CocoFormatError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="rank the labels most likely wrong (overlooked, wrong class, bad location, spurious)",
        description="Audit labels against a model: write one CSV row per suspected mistake, "
        "most likely first (file_name,annotation_id,issue,score,x,y,w,h,...). The labels are a "
        "COCO file (with --images) or a project's reviewed labels. With --kfold K, K models "
        "are trained from MODEL, each predicting the images it did not train on, which is "
        "more honest than a model that has learnt these labels, mistakes included.",
    )
    parser.add_argument("ground_truth", type=Path, help="COCO JSON, or a project (.maskloop)")
    parser.add_argument("--images", type=Path, help="image folder (default for a project: its own)")
    parser.add_argument("--model", required=True, help="architecture name or checkpoint path")
    parser.add_argument("--out", type=Path, required=True, help="output CSV")
    parser.add_argument("--kfold", type=int, metavar="K", help="train K models, one per fold")
    parser.add_argument(
        "--minutes-per-fold", type=float, default=3.0, help="training time of each fold's model"
    )
    parser.add_argument(
        "--min-score", type=float, default=0.3, help="list rows scoring at least S (default 0.3)"
    )
    parser.add_argument(
        "--confident",
        type=float,
        default=0.5,
        help="a detection this sure counts as confident (default 0.5)",
    )
    parser.add_argument(
        "--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if present)"
    )
    parser.add_argument("--work-dir", type=Path, help="keep the k-fold models here")
    parser.add_argument("--quiet", action="store_true", help="no per-image progress")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.min_score <= 1 or not 0 < args.confident <= 1:
        raise CocoFormatError("--min-score must be in [0, 1] and --confident in (0, 1]")
    from core.evaluation.audit import AuditSettings
    from core.evaluation.audit_kfold import KFoldSettings
    from core.evaluation.audit_run import load_ground_truth, run_audit, write_audit_csv

    truth = load_ground_truth(args.ground_truth, args.images)
    kfold = None
    if args.kfold is not None:
        kfold = KFoldSettings(k=args.kfold, minutes_per_fold=args.minutes_per_fold)

    def say(message: str) -> None:
        if not args.quiet:
            print(f"maskloop: {message}", file=sys.stderr, flush=True)

    def progress(done: int, total: int, file_name: str) -> None:
        if not args.quiet:
            print(f"[{done}/{total}] {file_name}", file=sys.stderr, flush=True)

    report = run_audit(
        truth,
        args.model,
        kfold=kfold,
        settings=AuditSettings(confident=args.confident, min_score=args.min_score),
        device=args.device,
        work_dir=args.work_dir,
        report=say,
        progress=progress,
        warn=lambda message: print(f"maskloop: warning: {message}", file=sys.stderr),
    )
    write_audit_csv(args.out, report, truth.category_names)
    counts: dict[str, int] = {}
    for row in report.rows:
        counts[row.issue.value] = counts.get(row.issue.value, 0) + 1
    summary = ", ".join(f"{n} {issue}" for issue, n in sorted(counts.items())) or "none"
    state = "interrupted; wrote" if report.interrupted else "wrote"
    print(
        f"{state} {len(report.rows)} suspected mistakes ({summary}) for "
        f"{report.images_audited} of {report.images_total} images to {args.out}; "
        f"predictions from {report.predicted_by}"
    )
    return 130 if report.interrupted else 0
