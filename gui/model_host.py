"""What the fine-tune and model-history dialogs need from the window: a narrow, typed interface.

The window's model controller implements it. The dialogs never see the window itself, so they
can be built and tested with a small stand-in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from core.store import ProjectStore


class ModelHost(Protocol):
    """The open project and the model that proposes for it."""

    @property
    def store(self) -> ProjectStore | None:
        """The open project's store (the UI thread's connection), None when none is open."""
        ...

    def active_model(self) -> str | None:
        """The model in use right now: an architecture name or an absolute checkpoint path."""
        ...

    def apply_model(self, spec: str) -> None:
        """Swap the proposal model to `spec` and re-propose every unreviewed image."""
        ...
