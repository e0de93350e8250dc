"""Switching the window's proposal model (hot-swap), shared by the fine-tune and history dialogs."""

from __future__ import annotations

from typing import Any


def apply_model(window: Any, spec: str) -> None:
    """Switch the window's proposal model and re-propose every unreviewed image.

    The window loads the model in its worker thread and runs the refresh once it is ready.
    Reviewed images are never re-proposed, and a refresh replaces only model proposals
    (store.replace_proposals), so accepted and hand-made labels are untouched.
    """
    window.set_model(spec)
    window.refresh_unreviewed_proposals()
