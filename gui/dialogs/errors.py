"""How user-facing failures are shown: a message box with the error's own words.

`MaskLoopError` messages are written for the user, so they are shown as they are, never
as a traceback. Anything else is a bug: it gets a short message box too, so the window and
the user's (already saved) work survive it.
"""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

from core.errors import MaskLoopError, WeightsUnavailableError

WEIGHTS_HELP = (
    "MaskLoop keeps working without a model: you can label by hand, and choose another "
    "model under Model > Choose model… at any time.\n\n"
    "To use pretrained weights on a machine without internet, copy the file named above "
    "into the folder it names (torch hub's checkpoints cache), or choose “lite” or a "
    "checkpoint file (.pt) trained with MaskLoop."
)


def error_text(error: BaseException | str) -> str:
    if isinstance(error, MaskLoopError):
        return str(error)
    if isinstance(error, str):
        return error
    return f"Unexpected error ({type(error).__name__}): {error}"


def show_error(parent: QWidget | None, error: BaseException | str, title: str = "MaskLoop") -> None:
    """A warning box with the error's message; never a traceback for a user error."""
    QMessageBox.warning(parent, title, error_text(error))


def show_weights_unavailable(parent: QWidget | None, message: str) -> None:
    """Explain that pretrained weights are missing and what the user can do about it."""
    QMessageBox.warning(parent, "Model weights not available", f"{message}\n\n{WEIGHTS_HELP}")


def is_weights_error(kind: str) -> bool:
    return kind == WeightsUnavailableError.__name__
