"""`maskloop import COCO_JSON --images DIR --project FILE.maskloop`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.errors import ProjectError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import",
        help="import a COCO dataset into a project (created if missing)",
        description="Import a COCO dataset (images, categories, boxes, polygon and RLE masks, "
        "info, licenses and any extra fields) into a project. Creates the project when it does "
        "not exist. Importing the same file again adds only what is missing, so an interrupted "
        "import is completed by running it again. Bad items are skipped with one warning each "
        "on stderr.",
    )
    parser.add_argument("coco_json", metavar="COCO_JSON", help="the COCO dataset file")
    parser.add_argument(
        "--images",
        required=True,
        metavar="DIR",
        help="folder the dataset's file_name entries are relative to",
    )
    parser.add_argument(
        "--project", required=True, metavar="FILE.maskloop", help="project file to import into"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.coco.importer import import_coco
    from core.store import ProjectStore

    images_dir = Path(args.images)
    if not images_dir.is_dir():
        raise ProjectError(f"The images folder {images_dir} does not exist.")
    with ProjectStore.open_or_create(args.project, images_dir) as store:
        if store.images_dir != images_dir.resolve():
            raise ProjectError(
                f"{store.path} keeps its images in {store.images_dir}, not {images_dir.resolve()}; "
                "pass that folder to --images."
            )
        report = import_coco(
            args.coco_json,
            store,
            on_warning=lambda line: print(f"maskloop: warning: {line}", file=sys.stderr),
        )
    print(report.summary())
    return 0
