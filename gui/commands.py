"""Undoable edits of an image's annotations (QUndoCommand subclasses).

Each command mutates only through `ImageDocument`, so an edit, its undo and its redo are
all written to the project store at once. Commands keep whole `Annotation` copies (old and
new), which makes undo exact: a brush stroke's undo restores the previous RLE verbatim.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from PySide6.QtGui import QUndoCommand

from core import masks
from core.mask_pixels import tight_bbox
from core.records import Annotation, ReviewState
from core.store.effort import Origin
from gui.document import ImageDocument, command_concerns_proposals, is_proposal
from gui.store_command import StoreCommand


def annotation_with_mask(ann: Annotation, mask: np.ndarray) -> Annotation:
    """A copy of `ann` whose segmentation is `mask` (compressed RLE) and whose box follows it."""
    box = tight_bbox(mask)
    if box is None:
        raise ValueError("an empty mask has no annotation; delete the annotation instead")
    return replace(
        copy.deepcopy(ann),
        segmentation=masks.encode_mask(mask),
        bbox=(float(box[0]), float(box[1]), float(box[2]), float(box[3])),
        area=float(np.count_nonzero(mask)),
    )


class AddAnnotation(StoreCommand):
    """Add a new annotation; undo deletes it, redo brings it back under the same id."""

    def __init__(
        self,
        doc: ImageDocument,
        ann: Annotation,
        text: str = "Add annotation",
        *,
        origin: Origin = Origin.DRAWN,
    ) -> None:
        super().__init__(text, doc.report_error)
        self._doc = doc
        self._ann = copy.deepcopy(ann)
        self._origin = origin  # how the shape was made, for the Loop report

    @property
    def annotation_id(self) -> int | None:
        """The stored id, known after the first redo (push)."""
        return self._ann.id

    def concerns_proposals(self) -> bool:
        return is_proposal(self._ann)

    def apply(self) -> None:
        self._ann = self._doc.add(self._ann, self._origin)

    def revert(self) -> None:
        if self._ann.id is not None:
            self._doc.remove(self._ann.id)


class DeleteAnnotation(StoreCommand):
    """Delete an annotation; undo restores it field by field under its old id."""

    def __init__(self, doc: ImageDocument, ann_id: int, text: str = "Delete annotation") -> None:
        super().__init__(text, doc.report_error)
        self._doc = doc
        self._ann = doc.stored_annotation(ann_id)

    def concerns_proposals(self) -> bool:
        return is_proposal(self._ann)  # undo would bring back a proposal the model replaced

    def apply(self) -> None:
        assert self._ann.id is not None
        self._doc.remove(self._ann.id)

    def revert(self) -> None:
        self._doc.add(self._ann)


class EditAnnotation(StoreCommand):
    """Replace an annotation's fields (box move or resize, mask stroke, category, ...)."""

    def __init__(
        self, doc: ImageDocument, old: Annotation, new: Annotation, text: str = "Edit annotation"
    ) -> None:
        super().__init__(text, doc.report_error)
        if old.id is None or old.id != new.id:
            raise ValueError("an edit must keep the annotation's id")
        self._doc = doc
        self._old = copy.deepcopy(old)
        self._new = copy.deepcopy(new)

    @property
    def annotation_id(self) -> int | None:
        return self._new.id

    def concerns_proposals(self) -> bool:
        return is_proposal(self._old) or is_proposal(self._new)

    def apply(self) -> None:
        self._doc.update(self._new)

    def revert(self) -> None:
        self._doc.update(self._old)


class SetReviewState(StoreCommand):
    """Accept or reject an annotation; source and score stay as the model gave them."""

    def __init__(
        self, doc: ImageDocument, ann_id: int, state: ReviewState, text: str | None = None
    ) -> None:
        super().__init__(text or _STATE_TEXT.get(state, "Change review state"), doc.report_error)
        self._doc = doc
        self._ann_id = ann_id
        self._old_state = doc.stored_annotation(ann_id).state
        self._new_state = state

    def concerns_proposals(self) -> bool:
        return ReviewState.PROPOSED in (self._old_state, self._new_state)

    def apply(self) -> None:
        self._doc.set_state(self._ann_id, self._new_state)

    def revert(self) -> None:
        self._doc.set_state(self._ann_id, self._old_state)


class SetReviewStates(StoreCommand):
    """Accept or reject several annotations as one step, stored in one transaction."""

    def __init__(
        self, doc: ImageDocument, ann_ids: Sequence[int], state: ReviewState, text: str
    ) -> None:
        super().__init__(text, doc.report_error)
        self._doc = doc
        self._old_states = {i: doc.stored_annotation(i).state for i in ann_ids}
        self._new_state = state

    def concerns_proposals(self) -> bool:
        return ReviewState.PROPOSED in (*self._old_states.values(), self._new_state)

    def apply(self) -> None:
        self._doc.set_states(dict.fromkeys(self._old_states, self._new_state))

    def revert(self) -> None:
        self._doc.set_states(self._old_states)


_STATE_TEXT = {
    ReviewState.ACCEPTED: "Accept proposal",
    ReviewState.REJECTED: "Reject proposal",
    ReviewState.PROPOSED: "Re-propose",
}


class MacroCommand(QUndoCommand):
    """Several commands undone and redone as one step (in reverse order on undo)."""

    def __init__(self, text: str, commands: Sequence[QUndoCommand]) -> None:
        super().__init__(text)
        # Kept as plain Python references: the stack owns this command, this command owns these.
        self._commands = list(commands)

    def __len__(self) -> int:
        return len(self._commands)

    def concerns_proposals(self) -> bool:
        return any(command_concerns_proposals(c) for c in self._commands)

    def redo(self) -> None:
        self._run(self._commands, forward=True)

    def undo(self) -> None:
        self._run(list(reversed(self._commands)), forward=False)

    def _run(self, commands: list[QUndoCommand], *, forward: bool) -> None:
        """All or nothing: when one part fails, the parts already done are taken back and
        the whole macro becomes obsolete (its part has reported the error)."""
        done: list[QUndoCommand] = []
        for command in commands:
            command.redo() if forward else command.undo()
            if command.isObsolete():
                for finished in reversed(done):
                    finished.undo() if forward else finished.redo()
                self.setObsolete(True)
                return
            done.append(command)


def push(doc: ImageDocument, commands: Sequence[QUndoCommand], text: str) -> None:
    """Push one command as is, several as one macro, none not at all."""
    if not commands:
        return
    doc.undo_stack.push(commands[0] if len(commands) == 1 else MacroCommand(text, commands))


def accept_all_above(doc: ImageDocument, threshold: float) -> SetReviewStates | None:
    """One command accepting every proposal whose score is at least `threshold`."""
    ids = [
        ann.id
        for ann in doc.annotations()
        if ann.id is not None and is_proposal(ann) and (ann.score or 0.0) >= threshold
    ]
    if not ids:
        return None
    return SetReviewStates(doc, ids, ReviewState.ACCEPTED, f"Accept {len(ids)} proposals")
