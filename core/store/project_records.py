"""Project-level records of a `ProjectStore`: COCO info and licenses, settings, model runs.

A mixin so that `store.py` stays about images, categories and annotations; it relies on the
store's `_conn` and `transaction()`. The models the project uses (core.store.models_used) and
the effort tables (core.store.effort) come with it. A run's base model and checkpoint are
stored relative to the project's folder, like the active model, and handed out as absolute
paths.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from typing import Any

from core.records import ModelRun
from core.store.effort import EffortMixin
from core.store.models_used import ModelsUsedMixin
from core.store.rows import dumps_or_null, loads_or


class ProjectRecordsMixin(ModelsUsedMixin, EffortMixin):
    _conn: sqlite3.Connection

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        return loads_or(self._meta("info"), {})

    def set_info(self, info: dict[str, Any] | None) -> None:
        self._set_meta("info", dumps_or_null(info, keep_empty=True))

    def licenses(self) -> list[Any]:
        return loads_or(self._meta("licenses"), [])

    def set_licenses(self, licenses: list[Any] | None) -> None:
        self._set_meta("licenses", dumps_or_null(licenses, keep_empty=True))

    def has_info(self) -> bool:
        """Whether `info` was ever set (an imported file without one exports without one)."""
        return self._meta("info") is not None

    def has_licenses(self) -> bool:
        return self._meta("licenses") is not None

    def get_setting(self, key: str, default: Any = None) -> Any:
        row = self._conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_setting(self, key: str, value: Any) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO settings(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )

    def add_model_run(
        self,
        *,
        base_model: str,
        checkpoint_path: str,
        train_images: int,
        val_images: int,
        ap_before: float | None,
        ap_after: float | None,
        extra: dict[str, Any] | None = None,
    ) -> ModelRun:
        created_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO model_runs(created_at, base_model, checkpoint_path, train_images, "
                "val_images, ap_before, ap_after, extra) VALUES (?,?,?,?,?,?,?,?)",
                (created_at, self.model_for_storage(base_model),
                 self.model_for_storage(str(checkpoint_path)), int(train_images),
                 int(val_images), ap_before, ap_after, dumps_or_null(extra)),
            )  # fmt: skip
            run_id = cur.lastrowid  # set by every INSERT
        return next(run for run in self.model_runs() if run.id == run_id)

    def model_runs(self) -> list[ModelRun]:
        rows = self._conn.execute(
            "SELECT id, created_at, base_model, checkpoint_path, train_images, val_images, "
            "ap_before, ap_after, extra FROM model_runs ORDER BY id"
        )
        return [
            ModelRun(
                id=r[0], created_at=r[1], base_model=self.resolve_model(r[2]),
                checkpoint_path=self.resolve_model(r[3]), train_images=r[4], val_images=r[5],
                ap_before=r[6], ap_after=r[7], extra=loads_or(r[8], {}),
            )
            for r in rows
        ]  # fmt: skip

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _set_meta(self, key: str, value: str | None) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
