"""The headless command line: `maskloop import|export|predict|segment|eval|audit|train|demo`.

Each subcommand lives in its own module exposing `add_parser(subparsers)`, which
registers its arguments and sets `func` (a callable taking the parsed namespace and
returning an exit code). `main.py` adds the GUI commands on top of this parser.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from core.cli import (
    audit_cmd,
    demo_cmd,
    eval_cmd,
    export_cmd,
    import_cmd,
    predict_cmd,
    segment_cmd,
    train_cmd,
)
from core.errors import Cancelled, MaskLoopError

# In the order `maskloop --help` lists them. Each module's top level stays light: the
# heavy imports happen inside its `run`.
COMMAND_MODULES = (
    import_cmd,
    export_cmd,
    predict_cmd,
    segment_cmd,
    eval_cmd,
    audit_cmd,
    train_cmd,
    demo_cmd,
)


def build_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    parser = argparse.ArgumentParser(
        prog="maskloop",
        description="Annotate images with Mask R-CNN proposals, export COCO, fine-tune, repeat. "
        "Run with no command to open the app.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.add_parser(subparsers)
    return parser, subparsers


def run_command(args: argparse.Namespace) -> int:
    """Run a parsed subcommand; user errors become one line on stderr and exit code 2."""
    try:
        return int(args.func(args) or 0)
    except Cancelled as exc:
        print(f"maskloop: {exc}", file=sys.stderr)
        return 130
    except MaskLoopError as exc:
        print(f"maskloop: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("maskloop: interrupted", file=sys.stderr)
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    parser, _ = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return run_command(args)
