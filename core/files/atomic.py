"""Writing a file all at once: a crash or a full disk never leaves half a file behind."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from core.errors import ProjectError


def write_json_atomically(path: Path, data: Any) -> None:
    """Write `data` as JSON to `path` all at once, or raise ProjectError and leave `path` as it was.

    The JSON goes to a temporary file in the same folder, is fsynced, then renamed over
    `path` (os.replace is atomic on one file system).
    """
    path = Path(path)
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False)
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
