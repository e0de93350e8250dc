"""Writing a file all at once: a crash or a full disk never leaves half a file behind.

The temporary file gets the mode any new file of the user gets (0666 less the umask), or the
mode of the file it replaces: tempfile.mkstemp's private 0600 would make an exported COCO
file unreadable to the colleague or the web server it was meant for.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO, Any

from core.errors import ProjectError

# One encoder for every value: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_ITEMS_PER_WRITE = 2048
_NEW_FILE_MODE = 0o666  # the kernel applies the umask, as for open(path, "w")
_ATTEMPTS = 100


def create_temp_beside(path: Path) -> tuple[int, Path]:
    """Create a new, empty hidden file in `path`'s folder for writing; (fd, its path).

    Mode: that of an existing `path` (so replacing it changes no permission), else 0666 less
    the umask, like any file the user creates."""
    path = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(_ATTEMPTS):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, flags, _NEW_FILE_MODE)
        except FileExistsError:
            continue
        try:
            existing = os.stat(path)
        except OSError:
            return fd, tmp
        # A mode the user may not set (a setgid bit) leaves the umask mode, still sensible.
        with contextlib.suppress(OSError):
            os.chmod(tmp, stat.S_IMODE(existing.st_mode))
        return fd, tmp
    raise FileExistsError(f"no free temporary file name beside {path}")


class EncodedJson(str):
    """JSON text that is already encoded: the writer copies it unchanged.

    An exporter that stores masks as JSON text splices them in this way instead of parsing
    and re-encoding a million of them."""


@dataclass(frozen=True)
class JsonArray:
    """A list value of the top-level object, written item by item as `items` yields them,
    so a million annotations are never one string (or one list) in memory."""

    items: Iterable[Any]


def write_json_atomically(path: Path, data: Any) -> None:
    """Write `data` as JSON to `path` all at once, or raise ProjectError and leave `path` as it was.

    The JSON goes to a temporary file in the same folder, is fsynced, then renamed over
    `path` (os.replace is atomic on one file system). `data` may hold `JsonArray` and
    `EncodedJson` values at its top level; any exception raised while they are produced
    (a Cancelled, say) leaves `path` as it was, too.
    """
    path = Path(path)
    tmp_name = None
    try:
        fd, tmp_name = create_temp_beside(path)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            _write_json(fh, data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ProjectError(
            f"Cannot write {path}: {reason}. Nothing was written; free some space or choose "
            "another location."
        ) from exc
    finally:
        if tmp_name is not None and os.path.exists(tmp_name):
            os.unlink(tmp_name)


def _write_json(fh: IO[str], data: Any) -> None:
    # json.dump to a file runs the pure-Python encoder (5-15x slower than json.dumps, which
    # uses the C one), so values are encoded with dumps and streamed in batches.
    if not isinstance(data, dict):
        fh.write(_encode(data))
        return
    fh.write("{")
    for index, (key, value) in enumerate(data.items()):
        fh.write(("," if index else "") + _encode(str(key)) + ":")
        if isinstance(value, JsonArray):
            _write_array(fh, value.items)
        else:
            fh.write(_encode(value))
    fh.write("}")


def _write_array(fh: IO[str], items: Iterable[Any]) -> None:
    fh.write("[")
    iterator: Iterator[Any] = iter(items)
    first = True
    while batch := list(islice(iterator, _ITEMS_PER_WRITE)):
        fh.write(("" if first else ",") + ",".join(map(_encode, batch)))
        first = False
    fh.write("]")


def _encode(value: Any) -> str:
    if isinstance(value, EncodedJson):
        return str(value)
    text = _ENCODER.encode(value)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate from an imported file ("\udc80") is not UTF-8; as an escape
            # it is the same JSON value, and the rest of the file stays readable text.
            text = json.dumps(value)
    return text
