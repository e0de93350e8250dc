"""MaskLoop's one entry point: the app (`maskloop`, `maskloop gui PATH`, `maskloop demo`)
and the headless subcommands (`maskloop import|export|predict|eval|train`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def _add_gui_parser(subparsers) -> None:
    gui = subparsers.add_parser(
        "gui",
        help="open the app on a project, an image folder or a COCO file",
        description="Open the app. PATH may be a .maskloop project, a folder of images "
        "(a project is created beside it) or a COCO JSON file (imported into a new project).",
    )
    gui.add_argument("path", nargs="?", help="project file, image folder or COCO JSON")
    gui.set_defaults(func=None, open_path=None)


def _open_gui(path: str | None, first_model_seconds: float | None = None) -> int:
    try:
        from gui.app import run_app
    except ImportError as exc:  # PySide6 missing or its system libraries absent
        print(f"maskloop: error: the app cannot start: {exc}", file=sys.stderr)
        return 2
    return run_app(path, first_model_seconds=first_model_seconds)


def main(argv: Sequence[str] | None = None) -> int:
    from core.cli import build_parser, run_command

    parser, subparsers = build_parser()
    _add_gui_parser(subparsers)
    args = parser.parse_args(argv)
    if args.command is None:
        return _open_gui(None)
    if args.command == "gui":
        return _open_gui(args.path)
    code = run_command(args)
    # `maskloop demo` writes the demo project, then opens it (unless told not to) and the app
    # trains the first model in the background.
    open_path = getattr(args, "open_path", None)
    if code == 0 and open_path:
        return _open_gui(str(open_path), getattr(args, "first_model_seconds", None))
    return code


if __name__ == "__main__":
    sys.exit(main())
