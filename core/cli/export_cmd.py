"""`maskloop export FILE.maskloop --out OUT.json [--masks keep|rle|polygon] [--reviewed-only]
[--include-proposals]`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from core.errors import ProjectError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a project's labels as a COCO dataset",
        description="Write the project's labels as a COCO dataset. Rejected annotations are "
        "never written; model proposals nobody accepted are left out unless "
        "--include-proposals. The file is written atomically.",
    )
    parser.add_argument("project", metavar="FILE.maskloop", help="the project file")
    parser.add_argument("--out", required=True, metavar="OUT.json", help="COCO file to write")
    parser.add_argument(
        "--masks",
        choices=("keep", "rle", "polygon"),
        default="keep",
        help="mask format: keep = as stored (imported polygons and RLE unchanged, edited masks "
        "as RLE; the default), rle = everything RLE, polygon = trace RLE masks into polygons "
        "(masks with holes stay RLE)",
    )
    parser.add_argument(
        "--reviewed-only", action="store_true", help="export only images marked reviewed"
    )
    parser.add_argument(
        "--include-proposals",
        action="store_true",
        help="also write unreviewed model proposals, with their score",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(func=run)


def _progress(quiet: bool) -> Callable[[int, int], None] | None:
    if quiet or not sys.stderr.isatty():
        return None  # a log file gets the summary line, not a progress line per batch

    def report(done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        print(
            f"\rexporting annotations: {done:,} of {total:,}", end=end, file=sys.stderr, flush=True
        )

    return report


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from core.coco.exporter import export_coco
    from core.store import ProjectStore

    out = Path(args.out)
    if not out.parent.is_dir():
        raise ProjectError(f"Cannot write {out}: the folder {out.parent} does not exist.")
    with ProjectStore.open(args.project) as store:
        report = export_coco(
            store,
            out,
            masks=args.masks,
            reviewed_only=args.reviewed_only,
            include_proposals=args.include_proposals,
            progress=_progress(args.quiet),
        )
    print(report.summary())
    return 0
