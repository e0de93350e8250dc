"""Messages for a project write that SQLite refused, written for the person at the keyboard.

SQLite's own words ("database or disk is full", "attempt to write a readonly database")
say what broke but not what to do; each message here says both, and that the change was
not saved (the transaction rolled back, so the project file is as it was before).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

_FULL = getattr(sqlite3, "SQLITE_FULL", 13)
_READONLY = getattr(sqlite3, "SQLITE_READONLY", 8)
_BUSY = getattr(sqlite3, "SQLITE_BUSY", 5)
_IOERR = getattr(sqlite3, "SQLITE_IOERR", 10)
_CANTOPEN = getattr(sqlite3, "SQLITE_CANTOPEN", 14)


def write_failure(path: Path, exc: sqlite3.Error) -> str:
    """One line: what stopped a write to the project at `path`, and what the user can do."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = None if code is None else code & 0xFF  # extended codes keep the primary below
    text = str(exc)
    if primary == _FULL or "disk is full" in text:
        return (
            f"The disk holding {path} is full: the change was not saved (the project is as "
            "it was). Free some space and try again."
        )
    if primary == _READONLY or "readonly" in text:
        return (
            f"{path} is read-only (its file or folder cannot be written): the change was "
            "not saved. Copy the project somewhere you can write, or change its permissions."
        )
    if primary == _BUSY or "locked" in text:
        return (
            f"{path} is busy: another program (or another MaskLoop window) kept it locked "
            "for too long; the change was not saved. Try again."
        )
    if primary in (_IOERR, _CANTOPEN):
        return f"Cannot write to {path} ({text}): the change was not saved."
    return f"Cannot write to {path}: {text}"
