"""What `maskloop predict` does: proposals into a project, or predictions for a folder into a COCO file.

Kept apart from core/cli/predict_cmd.py so that building the command line parser does not
import torch (every `maskloop` command would otherwise pay seconds of start-up).

    maskloop predict FILE.maskloop --model MODEL [--unreviewed-only] [--score-threshold T]
                     [--batch-size B] [--device D]
    maskloop predict --images DIR [--coco COCO_JSON] --model MODEL --out OUT.json

With `--coco` the image list and ids come from that file and OUT is a COCO results list
(what pycocotools' `loadRes` and `maskloop eval` take); without it OUT is a COCO dataset with
scored annotations (what `maskloop import` takes). Under `torchrun` the folder is split
across ranks and rank 0 writes one merged file, identical to a single-process run: whole
batches are dealt out, so every image is predicted in the same batch company either way.
Ctrl-C stops cleanly: project mode keeps every image stored so far, file mode writes the
images done so far.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.categories import match_by_name
from core.detection.detector import Detection, Detector, default_device
from core.detection.tiling import AUTO_TILING, Tiling, predict_images
from core.errors import CocoFormatError, ImageReadError
from core.files.atomic import write_json_atomically
from core.files.images import list_image_files, read_image
from core.training import distributed


def _progress(quiet: bool, prefix: str = ""):
    def report(done: int, total: int, what: object, found: int | None = None) -> None:
        if not quiet:
            extra = "" if found is None else f": {found} detections"
            print(f"{prefix}[{done}/{total}] {what}{extra}", file=sys.stderr, flush=True)

    return report


def tiling_from_args(args: argparse.Namespace) -> Tiling:
    """--tile SIZE tiles every image larger than a tile; without it, images with a side
    over AUTO_TILE_MIN_SIDE are tiled at the model's scale."""
    overlap = getattr(args, "overlap", None)
    if getattr(args, "tile", None):
        return Tiling(size=args.tile, overlap=AUTO_TILING.overlap if overlap is None else overlap)
    if overlap is not None:
        return Tiling(overlap=overlap, min_side=AUTO_TILING.min_side)
    return AUTO_TILING


# ---------------------------------------------------------------- project mode


def run_project(args: argparse.Namespace) -> int:
    from core.detection.proposals import propose_images, unreviewed_image_ids
    from core.store import ProjectStore

    threshold = args.score_threshold
    detector = Detector.load(args.model, device=args.device)
    report_progress = _progress(args.quiet)
    with ProjectStore.open(args.project) as store:
        image_ids = unreviewed_image_ids(store) if args.unreviewed_only else store.image_ids()
        done = {"n": 0}

        def progress(n: int, total: int, image_id: int) -> None:
            done["n"] = n
            report_progress(n, total, store.get_image(image_id).file_name)

        try:
            report = propose_images(
                store,
                detector,
                image_ids,
                score_threshold=threshold,
                max_detections=args.max_detections,
                batch_size=args.batch_size,
                progress=progress,
                tiling=tiling_from_args(args),
            )
        except KeyboardInterrupt:
            print(
                f"maskloop: interrupted; proposals for {done['n']} of {len(image_ids)} images "
                "are stored",
                file=sys.stderr,
            )
            return 130
    for warning in report.warnings:
        print(f"maskloop: warning: {warning}", file=sys.stderr)
    print(
        f"stored {report.proposals} proposals for {report.images_done - len(report.failed_images)} "
        f"images with {detector.model_key}"
    )
    return 1 if report.failed_images else 0


# ---------------------------------------------------------------- file mode


@dataclass(frozen=True)
class ImageEntry:
    index: int  # position in the run's image list; fixes the output order
    image_id: int
    file_name: str  # as written to the output, relative to the images folder
    path: Path
    width: int | None = None  # from the COCO file, None when listed from the folder
    height: int | None = None


def list_folder(images_dir: Path) -> list[ImageEntry]:
    files = list_image_files(images_dir)
    if not files:
        raise ImageReadError(f"no image files in {images_dir}")
    return [
        ImageEntry(i, i + 1, p.relative_to(images_dir).as_posix(), p) for i, p in enumerate(files)
    ]


def list_coco(images_dir: Path, coco_path: Path) -> tuple[list[ImageEntry], list[dict[str, Any]]]:
    try:
        dataset = json.loads(coco_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CocoFormatError(f"{coco_path} is not a readable COCO JSON file: {exc}") from exc
    if not isinstance(dataset, dict) or not isinstance(dataset.get("images"), list):
        raise CocoFormatError(f"{coco_path} has no 'images' list")
    entries = []
    for i, image in enumerate(dataset["images"]):
        try:
            entries.append(
                ImageEntry(
                    i,
                    int(image["id"]),
                    str(image["file_name"]),
                    images_dir / str(image["file_name"]),
                    image.get("width"),
                    image.get("height"),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CocoFormatError(f"{coco_path}: image {i} lacks a valid id or file_name") from exc
    return entries, list(dataset.get("categories") or [])


def category_map_by_name(
    detector: Detector, target_categories: list[dict[str, Any]]
) -> dict[int, int] | None:
    """Model category id -> the COCO file's id with the same name (None: keep model ids)."""
    if not target_categories:
        return None
    return match_by_name(
        ((c.id, c.name) for c in detector.categories),
        ((int(c["id"]), str(c["name"])) for c in target_categories),
    )


def _annotation(det: Detection, image_id: int, category_id: int) -> dict[str, Any]:
    return {
        "image_id": image_id,
        "category_id": category_id,
        "bbox": [round(v, 2) for v in det.bbox],
        "score": round(det.score, 5),
        "segmentation": det.rle,
        "area": det.area,
    }


def predict_entries(
    detector: Detector,
    entries: list[ImageEntry],
    *,
    score_threshold: float,
    max_detections: int,
    batch_size: int,
    category_map: dict[int, int] | None = None,
    progress=None,
    tiling: Tiling | None = AUTO_TILING,
) -> dict[int, dict[str, Any]]:
    """Predict `entries` batch by batch: entry index -> {"size": (w, h), "annotations": [...]}.

    Stops at KeyboardInterrupt after storing what is done in the returned dict, which is
    then re-raised as `PartialRun`.
    """
    done: dict[int, dict[str, Any]] = {}
    try:
        for start in range(0, len(entries), batch_size):
            batch, pixels = [], []
            for entry in entries[start : start + batch_size]:
                try:
                    pixels.append(read_image(entry.path))
                    batch.append(entry)
                except ImageReadError as exc:
                    print(f"maskloop: warning: {exc}; skipped", file=sys.stderr)
            outputs = predict_images(
                detector,
                pixels,
                tiling,
                score_threshold=score_threshold,
                max_detections=max_detections,
                batch_size=batch_size,
            )
            for entry, image, found in zip(batch, pixels, outputs, strict=True):
                anns = []
                for det in found:
                    category_id = (
                        det.category_id
                        if category_map is None
                        else category_map.get(det.category_id)
                    )
                    if category_id is not None:
                        anns.append(_annotation(det, entry.image_id, category_id))
                done[entry.index] = {"size": (image.shape[1], image.shape[0]), "annotations": anns}
                if progress is not None:
                    progress(len(done), len(entries), entry.file_name, len(anns))
    except KeyboardInterrupt:
        raise PartialRun(done) from None
    return done


class PartialRun(KeyboardInterrupt):
    """Ctrl-C during `predict_entries`; carries the images finished before it."""

    def __init__(self, done: dict[int, dict[str, Any]]) -> None:
        super().__init__()
        self.done = done


def build_dataset(
    detector: Detector, entries: list[ImageEntry], done: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    """A COCO dataset with scored annotations for the images predicted (import-ready)."""
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for entry in entries:
        if entry.index not in done:
            continue
        width, height = done[entry.index]["size"]
        images.append(
            {"id": entry.image_id, "file_name": entry.file_name, "width": width, "height": height}
        )
        for ann in done[entry.index]["annotations"]:
            annotations.append({"id": len(annotations) + 1, **ann, "iscrowd": 0})
    categories = [
        {"id": c.id, "name": c.name, "supercategory": c.supercategory} for c in detector.categories
    ]
    info = {"description": f"MaskLoop predictions by {detector.model_key}"}
    return {
        "info": info,
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }


def build_results(entries: list[ImageEntry], done: dict[int, dict[str, Any]]) -> list[dict]:
    """A COCO results list in image order (pycocotools' loadRes format)."""
    results = []
    for entry in entries:
        for ann in done.get(entry.index, {}).get("annotations", []):
            results.append(
                {k: ann[k] for k in ("image_id", "category_id", "bbox", "score", "segmentation")}
            )
    return results


def _warn_size_mismatches(entries: list[ImageEntry], done: dict[int, dict[str, Any]]) -> None:
    for entry in entries:
        if entry.index in done and entry.width is not None:
            width, height = done[entry.index]["size"]
            if (width, height) != (entry.width, entry.height):
                print(
                    f"maskloop: warning: {entry.file_name} is {width}x{height} pixels, the COCO "
                    f"file says {entry.width}x{entry.height}; predictions use the real size",
                    file=sys.stderr,
                )


def run_files(args: argparse.Namespace) -> int:
    threshold = args.score_threshold
    device = args.device or default_device()
    ctx = distributed.init_from_env(device)
    if ctx.is_distributed and device.startswith("cuda") and ":" not in device:
        device = f"cuda:{ctx.local_rank}"
    try:
        if not args.images.is_dir():
            raise ImageReadError(f"image folder {args.images} does not exist")
        if args.coco is not None:
            entries, target_categories = list_coco(args.images, args.coco)
        else:
            entries, target_categories = list_folder(args.images), []
        detector = Detector.load(args.model, device=device)
        category_map = category_map_by_name(detector, target_categories)
        # Deal whole batches to ranks so each image meets the same batch either way.
        batches = [
            entries[i : i + args.batch_size] for i in range(0, len(entries), args.batch_size)
        ]
        mine = [entry for batch in distributed.shard(batches, ctx) for entry in batch]
        prefix = f"rank {ctx.rank} " if ctx.is_distributed else ""
        interrupted = False
        try:
            done = predict_entries(
                detector,
                mine,
                score_threshold=threshold,
                max_detections=args.max_detections,
                batch_size=args.batch_size,
                category_map=category_map,
                progress=_progress(args.quiet, prefix),
                tiling=tiling_from_args(args),
            )
        except PartialRun as partial:
            if ctx.is_distributed:
                raise  # the other ranks cannot be gathered from; nothing partial to merge
            done, interrupted = partial.done, True
        gathered = distributed.gather_to_main(done, ctx)
        if not ctx.is_main:
            return 0
        merged: dict[int, dict[str, Any]] = {}
        for part in gathered or []:
            merged.update(part)
        _warn_size_mismatches(entries, merged)
        if args.coco is not None:
            output: Any = build_results(entries, merged)
            count = len(output)
        else:
            output = build_dataset(detector, entries, merged)
            count = len(output["annotations"])
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomically(args.out, output)
        state = "interrupted; wrote" if interrupted else "wrote"
        print(
            f"{state} {count} predictions for {len(merged)} of {len(entries)} images to {args.out}"
        )
        return 130 if interrupted else 0
    finally:
        distributed.shutdown()
