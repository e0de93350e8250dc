"""`maskloop segment`: masks for a box-labelled COCO dataset from a model's mask head.

    maskloop segment COCO_JSON --images DIR --model MODEL --out OUT.json [--all]

Writes the same dataset with an RLE mask for every annotation that has only a box (`--all`:
for every annotation); see core/detection/segment_coco.py. torch is imported only when the
command runs, so `maskloop --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.errors import CocoFormatError, ImageReadError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "segment",
        help="add masks to a box-only COCO dataset with a model's mask head",
        description="Give every annotation of a COCO dataset that has a box but no mask the "
        "mask the model's mask head draws in that box (with --all, every annotation). Ids, "
        "categories and every other field are kept; area becomes the mask's area. MODEL is an "
        "architecture (lite, r50-fpn, r50-fpn-v2) or a MaskLoop checkpoint path.",
    )
    parser.add_argument("coco", type=Path, help="COCO JSON file with boxes")
    parser.add_argument("--images", type=Path, required=True, help="folder of its images")
    parser.add_argument("--model", required=True, help="architecture name or checkpoint path")
    parser.add_argument("--out", type=Path, required=True, help="output COCO JSON")
    parser.add_argument(
        "--all",
        dest="all_annotations",
        action="store_true",
        help="re-segment every annotation, not only the box-only ones",
    )
    parser.add_argument(
        "--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if present)"
    )
    parser.add_argument("--quiet", action="store_true", help="no per-image progress")
    parser.set_defaults(func=run)


def _read_dataset(path: Path) -> dict:
    try:
        dataset = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CocoFormatError(f"{path} is not a readable COCO JSON file: {exc}") from exc
    if not isinstance(dataset, dict) or not isinstance(dataset.get("images"), list):
        raise CocoFormatError(f"{path} has no 'images' list")
    return dataset


def run(args: argparse.Namespace) -> int:
    if not args.images.is_dir():
        raise ImageReadError(f"image folder {args.images} does not exist")
    dataset = _read_dataset(args.coco)
    from core.detection.box_to_mask import BoxSegmenter
    from core.detection.detector import Detector
    from core.detection.segment_coco import segment_dataset
    from core.files.atomic import write_json_atomically

    segmenter = BoxSegmenter(Detector.load(args.model, device=args.device), max_images=1)

    def progress(done: int, total: int, name: str, written: int) -> None:
        if not args.quiet:
            print(f"[{done}/{total}] {name}: {written} masks", file=sys.stderr, flush=True)

    report = segment_dataset(
        dataset,
        args.images,
        segmenter,
        all_annotations=args.all_annotations,
        progress=progress,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomically(args.out, dataset)
    if report.empty_masks or report.skipped_boxes:
        print(
            f"maskloop: warning: {report.empty_masks} boxes got an empty mask and "
            f"{report.skipped_boxes} annotations have no usable box; they are unchanged",
            file=sys.stderr,
        )
    state = "interrupted; wrote" if report.interrupted else "wrote"
    print(
        f"{state} {report.masks_written} masks for {report.images_done} of "
        f"{report.images_total} images to {args.out}"
    )
    if report.interrupted:
        return 130
    return 1 if report.failed_images else 0
