"""Which model a project proposes with, and every model it has used that loaded.

Model files are recorded relative to the project file's folder, as image paths are, so a
project copied or moved together with its models (its `NAME.runs/` folder, a `models/`
folder beside it) goes on using its own files instead of the ones at the old place. An
architecture name ("lite") is stored as it is. Older projects hold absolute paths; those are
read as they are.

The active model lives in the setting "model" (where earlier versions kept it), the models
that loaded in "models_used", oldest first: a JSON list of {"model", "first_used",
"last_used"}. Settings are JSON rows, so neither needs a schema migration.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core.errors import ModelFileMissing
from core.store import setting_keys

MODEL_SETTING = setting_keys.MODEL
MODELS_USED_SETTING = setting_keys.MODELS_USED
MODEL_FILE_SUFFIXES = (".pt", ".pth")


def is_model_file(spec: str) -> bool:
    """Whether `spec` names a checkpoint file rather than an architecture ("lite")."""
    return (
        "/" in spec
        or "\\" in spec
        or os.path.isabs(spec)
        or Path(spec).suffix.lower() in MODEL_FILE_SUFFIXES
    )


@dataclass(frozen=True)
class ModelUse:
    """A model that loaded in this project: the spec as callers use it (absolute if a file)."""

    model: str
    first_used: str  # ISO 8601, UTC
    last_used: str

    @property
    def is_file(self) -> bool:
        return is_model_file(self.model)

    @property
    def file_present(self) -> bool:
        """Whether the model can be loaded from disk (always True for an architecture)."""
        return not self.is_file or Path(self.model).is_file()


class ModelsUsedMixin:
    """Active model and model history of a `ProjectStore`; relies on its path and settings."""

    path: Path
    _conn: sqlite3.Connection

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def get_setting(self, key: str, default: Any = None) -> Any:
        raise NotImplementedError

    # -- paths ---------------------------------------------------------------------------
    def _project_folder(self) -> str:
        return os.path.realpath(Path(self.path).parent)

    def model_for_storage(self, spec: str) -> str:
        """How `spec` is written into the project: relative to its folder if it is a file."""
        spec = str(spec)
        if not is_model_file(spec):
            return spec
        absolute = os.path.realpath(spec)
        try:
            return Path(os.path.relpath(absolute, self._project_folder())).as_posix()
        except ValueError:  # another drive on Windows: only the absolute path can say where
            return absolute

    def resolve_model(self, stored: str) -> str:
        """The spec callers use for a stored value: a file as an absolute path."""
        stored = str(stored)
        if not is_model_file(stored) or os.path.isabs(stored):
            return stored
        return os.path.normpath(os.path.join(self._project_folder(), stored))

    def require_model_file(self, spec: str) -> str:
        """`spec` itself when it is an architecture or an existing file; else ModelFileMissing."""
        if is_model_file(spec) and not Path(spec).is_file():
            raise ModelFileMissing(
                f"The model file {Path(spec).name} is missing: this project expects it at "
                f"{spec}. It was moved or deleted, or the project was copied without it. "
                "Put the file back there, or choose another model under Model > Choose…"
            )
        return spec

    # -- the active model ----------------------------------------------------------------
    def set_active_model(self, spec: str | None) -> None:
        """Make `spec` the project's model (None: no model chosen)."""
        value = None if spec is None else self.model_for_storage(spec)
        with self.transaction() as conn:
            _put_setting(conn, MODEL_SETTING, value)

    def active_model(self, *, must_exist: bool = False) -> str | None:
        """The project's model: an architecture name or an absolute checkpoint path.

        must_exist=True raises ModelFileMissing (saying where the file was expected) when the
        recorded file is not there, instead of handing back a path that fails to load later.
        """
        stored = self.get_setting(MODEL_SETTING)
        if not stored or not isinstance(stored, str):
            return None
        spec = self.resolve_model(stored)
        return self.require_model_file(spec) if must_exist else spec

    # -- models that loaded --------------------------------------------------------------
    def record_model_loaded(self, spec: str, *, now: datetime | None = None) -> None:
        """`spec` loaded: make it the active model and add it to (or refresh it in) the
        history of models used. Call only after a successful load."""
        stored = self.model_for_storage(spec)
        stamp = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
        with self.transaction() as conn:
            entries = _read_used(conn)
            previous = next((e for e in entries if e["model"] == stored), None)
            first = previous["first_used"] if previous else stamp
            entries = [e for e in entries if e["model"] != stored]
            entries.append({"model": stored, "first_used": first, "last_used": stamp})
            _put_setting(conn, MODELS_USED_SETTING, entries)
            _put_setting(conn, MODEL_SETTING, stored)

    def models_used(self) -> list[ModelUse]:
        """Every model that loaded in this project, least recently used first."""
        return [
            ModelUse(self.resolve_model(e["model"]), e["first_used"], e["last_used"])
            for e in _read_used(self._conn)
        ]

    def last_working_model(self, *, exclude: str | None = None) -> str | None:
        """The most recently used model that loaded and can still load (its file is there),
        other than `exclude` (the one that just failed); None when there is none."""
        for use in reversed(self.models_used()):
            if use.model != exclude and use.file_present:
                return use.model
        return None


def _read_used(conn: sqlite3.Connection) -> list[dict[str, str]]:
    row = conn.execute(
        "SELECT value FROM settings WHERE key = ?", (MODELS_USED_SETTING,)
    ).fetchone()
    if row is None:
        return []
    entries = json.loads(row[0])
    if not isinstance(entries, list):
        return []
    return [
        {"model": str(e["model"]), "first_used": str(e.get("first_used", "")),
         "last_used": str(e.get("last_used", ""))}
        for e in entries
        if isinstance(e, dict) and e.get("model")
    ]  # fmt: skip


def _put_setting(conn: sqlite3.Connection, key: str, value: Any) -> None:
    conn.execute(
        "INSERT INTO settings(key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, json.dumps(value)),
    )
