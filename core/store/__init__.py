"""The project file: one SQLite database per project, one transaction per change."""

from core.store.project_store import ProjectStore

__all__ = ["ProjectStore"]
