"""`maskloop predict`: proposals into a project, or predictions for a folder into a COCO file.

    maskloop predict FILE.maskloop --model MODEL [--unreviewed-only] [--score-threshold T]
                     [--batch-size B] [--device D]
    maskloop predict --images DIR [--coco COCO_JSON] --model MODEL --out OUT.json
    ... [--tile SIZE] [--overlap F]

The work is in core/cli/predict_impl.py, imported only when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from core.errors import CocoFormatError

SCORE_THRESHOLD = 0.05  # low: the app's slider hides the tail, "unsure first" and AP need it


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="run a model on a project's images or on an image folder",
        description="Store model proposals in a project, or write predictions for an image "
        "folder to a COCO JSON file. MODEL is an architecture (lite, r50-fpn, r50-fpn-v2; "
        "COCO weights for the r50 models) or a MaskLoop checkpoint path.",
    )
    parser.add_argument("project", nargs="?", type=Path, help="project file (.maskloop)")
    parser.add_argument("--model", required=True, help="architecture name or checkpoint path")
    parser.add_argument("--images", type=Path, help="image folder to predict (file mode)")
    parser.add_argument(
        "--coco", type=Path, help="COCO JSON listing the images and their ids (file mode)"
    )
    parser.add_argument("--out", type=Path, help="output JSON (file mode)")
    parser.add_argument(
        "--unreviewed-only", action="store_true", help="skip images marked reviewed"
    )
    parser.add_argument(
        "--score-threshold",
        type=float,
        default=SCORE_THRESHOLD,
        help=f"keep detections scoring at least T (default {SCORE_THRESHOLD}; the app's "
        "threshold slider hides the low ones)",
    )
    parser.add_argument("--max-detections", type=int, default=100, help="per image")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument(
        "--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if present)"
    )
    parser.add_argument(
        "--tile",
        type=int,
        default=None,
        metavar="SIZE",
        help="predict images larger than SIZE px tile by tile (overlapping SIZE x SIZE tiles, "
        "merged across tiles); default: only images with a side over 4096 px, at the model's "
        "own scale",
    )
    parser.add_argument(
        "--overlap",
        type=float,
        default=None,
        metavar="F",
        help="how much neighbouring tiles overlap, as a fraction of a tile (default 0.25)",
    )
    parser.add_argument("--quiet", action="store_true", help="no per-image progress")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise CocoFormatError("--batch-size must be at least 1")
    if args.tile is not None and args.tile < 32:
        raise CocoFormatError("--tile must be at least 32 px")
    if args.overlap is not None and not 0.0 <= args.overlap < 0.9:
        raise CocoFormatError("--overlap is a fraction of a tile, from 0 up to 0.9")
    if args.images is not None:
        if args.project is not None:
            raise CocoFormatError("give either a project or --images, not both")
        if args.out is None:
            raise CocoFormatError("--images needs --out OUT.json")
        from core.cli.predict_impl import run_files

        return run_files(args)
    if args.project is None:
        raise CocoFormatError("give a project file, or --images DIR --out OUT.json")
    from core.cli.predict_impl import run_project

    return run_project(args)
