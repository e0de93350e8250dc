"""The base of every undoable edit that writes the project store."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QUndoCommand

from core.errors import MaskLoopError


class StoreCommand(QUndoCommand):
    """An undoable edit that writes the store in `apply` and `revert`.

    A store error (a full disk, a refused constraint) must not leave a command on the stack
    for an edit that never happened: the command marks itself obsolete, which makes
    QUndoStack drop it (in push, undo and redo alike), and the error goes to `report`.
    """

    def __init__(self, text: str, report: Callable[[MaskLoopError], None]) -> None:
        super().__init__(text)
        self._report = report

    def apply(self) -> None:
        raise NotImplementedError

    def revert(self) -> None:
        raise NotImplementedError

    def redo(self) -> None:
        self._guarded(self.apply)

    def undo(self) -> None:
        self._guarded(self.revert)

    def _guarded(self, step: Callable[[], None]) -> None:
        try:
            step()
        except MaskLoopError as exc:
            self.setObsolete(True)
            self._report(exc)
