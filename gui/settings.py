"""Per-user settings that outlive a project: recent projects and the window layout.

Project-level choices (the model, the proposal threshold) live in the project file
(`store.set_setting`), so they travel with the project; only what belongs to this user
and this machine is kept in QSettings.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

ORGANIZATION = "MaskLoop"
APPLICATION = "MaskLoop"
MAX_RECENT = 10


class AppSettings:
    """Typed access to QSettings. Pass a QSettings (e.g. an ini file) in tests."""

    def __init__(self, settings: QSettings | None = None) -> None:
        self._settings = settings if settings is not None else QSettings(ORGANIZATION, APPLICATION)

    def recent_projects(self) -> list[str]:
        """Most recent first; entries whose file has disappeared are left out."""
        value = self._settings.value("recent_projects", [])
        if isinstance(value, str):  # QSettings returns a lone string for a one-item list
            value = [value]
        if not isinstance(value, list):
            return []
        return [p for p in value if isinstance(p, str) and Path(p).is_file()]

    def add_recent_project(self, path: str | Path) -> None:
        path = str(Path(path).resolve())
        recent = [p for p in self.recent_projects() if p != path]
        self._settings.setValue("recent_projects", [path, *recent][:MAX_RECENT])
        self._settings.sync()

    def remove_recent_project(self, path: str | Path) -> None:
        path = str(Path(path).resolve())
        recent = [p for p in self.recent_projects() if p != path]
        self._settings.setValue("recent_projects", recent)

    def window_geometry(self) -> QByteArray | None:
        value = self._settings.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    def window_state(self) -> QByteArray | None:
        value = self._settings.value("window/state")
        return value if isinstance(value, QByteArray) else None

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self._settings.setValue("window/geometry", geometry)
        self._settings.setValue("window/state", state)
        self._settings.sync()

    def last_dir(self) -> str:
        value = self._settings.value("last_dir", "")
        return value if isinstance(value, str) else ""

    def set_last_dir(self, path: str | Path) -> None:
        self._settings.setValue("last_dir", str(path))
