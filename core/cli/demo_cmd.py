"""`maskloop demo`: write a ready-to-explore demo project, then open it in the app.

    maskloop demo [DIR] [--no-open] [--images N] [--labelled N] [--train-seconds S]

Synthetic images, the first ones labelled, the rest waiting for proposals, and a briefly
trained model (see core.demo.project). Running it again on the same folder reuses it.

When the app opens (the default) the window appears at once and the first model trains in
the background, in the fine-tune dialog's trainer process with its live curves; proposals
appear when it is ready. With --no-open the model is trained here, headlessly.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="create a demo project with a first model and open it",
        description="Write synthetic shape images, label some of them, train a first small "
        "model briefly, and open the project so proposals can be reviewed and the model "
        "fine-tuned. An existing demo folder is reused.",
    )
    parser.add_argument(
        "folder",
        nargs="?",
        type=Path,
        default=Path("maskloop-demo"),
        help="where to write the demo (default ./maskloop-demo)",
    )
    parser.add_argument("--no-open", action="store_true", help="only write the project")
    parser.add_argument("--images", type=int, help="images in total (default 300)")
    parser.add_argument("--labelled", type=int, help="images imported as labelled (default 200)")
    parser.add_argument(
        "--train-seconds",
        type=float,
        help="how long the first model trains (default 75)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=run, open_path=None, first_model_seconds=None)


def run(args: argparse.Namespace) -> int:
    from core.demo.project import DEFAULT_TRAIN_SECONDS, create_demo_project
    from core.training.progress import TerminalReporter

    def say(line: str) -> None:
        print(f"maskloop demo: {line}", file=sys.stderr, flush=True)

    # Unset sizes keep create_demo_project's defaults, so the parser need not import it.
    sizes = {
        "n_images": args.images,
        "n_labelled": args.labelled,
        "train_seconds": args.train_seconds,
    }
    demo = create_demo_project(
        args.folder,
        seed=args.seed,
        train_model=args.no_open,
        on_event=TerminalReporter(),
        say=say,
        **{name: value for name, value in sizes.items() if value is not None},
    )
    model = demo.checkpoint if demo.checkpoint.is_file() else "trained in the app once it opens"
    say(
        f"project {demo.project}: {demo.labelled_images} labelled images, "
        f"{demo.unlabelled_images} to review; model {model}"
    )
    if not args.no_open:
        args.open_path = demo.project
        if not demo.checkpoint.is_file():
            seconds = args.train_seconds
            args.first_model_seconds = DEFAULT_TRAIN_SECONDS if seconds is None else seconds
    return 0
