"""The open image's annotations, mirrored from the project store.

`ImageDocument` is the only way the canvas changes annotations. Every mutation is written
to the store at once (one SQLite transaction), so there is never unsaved state; then a
signal tells the canvas and the docks what changed. Undo commands (gui/commands.py) call
the raw mutations here, and each image has its own unlimited QUndoStack.

Rejected annotations are not part of the document's visible set: rejecting one emits
`annotationRemoved`, un-rejecting it (undo) emits `annotationAdded`.

The Loop report's provenance (core/store/effort.py) is written here too, since every user
edit passes through: a new shape's origin, and a proposal as the model gave it before its
first change. Outcomes are derived from the store later, so undo needs nothing here.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from core.errors import MaskLoopError, ProjectError
from core.records import Annotation, ImageRecord, ReviewState, Source
from core.store.effort import Origin
from gui.categories import ProjectCategories

if TYPE_CHECKING:
    from core.store import ProjectStore


def is_proposal(ann: Annotation) -> bool:
    """A model suggestion nobody has reviewed yet."""
    return ann.source == Source.MODEL and ann.state == ReviewState.PROPOSED


def command_concerns_proposals(command: object) -> bool:
    """Whether an undo command touched a pending proposal; unknown commands are assumed to."""
    check = getattr(command, "concerns_proposals", None)
    return True if check is None else bool(check())


class ImageDocument(QObject):
    """One image's annotations and review flag; every change goes to the store before any
    signal fires.

    Signals: annotationAdded/Changed/Removed(int), reset(), reviewedChanged(bool),
    editFailed(str) (an edit could not be stored; its undo command was dropped).
    """

    annotationAdded = Signal(int)
    annotationChanged = Signal(int)
    annotationRemoved = Signal(int)
    reset = Signal()
    reviewedChanged = Signal(bool)
    editFailed = Signal(str)

    def __init__(
        self,
        store: ProjectStore,
        image_id: int,
        parent: QObject | None = None,
        *,
        categories: ProjectCategories | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.image_id = image_id
        self._categories = categories if categories is not None else ProjectCategories(store, self)
        self.undo_stack = QUndoStack(self)
        self._image = store.get_image(image_id)
        self._annotations: dict[int, Annotation] = {}
        self._origins_known: set[int] = set()
        self._load()

    @property
    def image(self) -> ImageRecord:
        return self._image

    # ---- reading ---------------------------------------------------------------------
    def annotations(self) -> list[Annotation]:
        """The visible (not rejected) annotations in id order, as copies."""
        return [copy.deepcopy(self._annotations[i]) for i in sorted(self._annotations)]

    def annotation(self, ann_id: int) -> Annotation:
        """A copy of one visible annotation; ProjectError when it is not in this image."""
        try:
            return copy.deepcopy(self._annotations[ann_id])
        except KeyError:
            raise ProjectError(
                f"Annotation {ann_id} is not on image {self._image.file_name} "
                "(it may have been deleted or rejected)."
            ) from None

    def has_annotation(self, ann_id: int) -> bool:
        return ann_id in self._annotations

    def report_error(self, error: MaskLoopError) -> None:
        """An undo command could not write its edit (it has dropped itself from the stack)."""
        self.editFailed.emit(str(error))

    def set_reviewed(self, reviewed: bool) -> None:
        """Mark the image reviewed (or not): the store first, then this document's record."""
        self.store.set_reviewed(self.image_id, reviewed)
        self._image = self.store.get_image(self.image_id)
        self.reviewedChanged.emit(self._image.reviewed)

    def recategorised(self, ann_ids: list[int]) -> None:
        """A category merge (or its undo) moved these annotations: re-read the ones shown here.

        The undo history stays: its commands name annotations by id, and the merge itself is
        an undoable step that restores the old category before they could run.
        """
        for ann_id in ann_ids:
            if ann_id in self._annotations:
                self._annotations[ann_id] = self.store.get_annotation(ann_id)
                self.annotationChanged.emit(ann_id)

    def reload_proposals(self) -> None:
        """Re-read after the model replaced this image's pending proposals; emit `reset`.

        Replaced proposals are gone under their ids, so a command that touched one cannot
        be undone faithfully and the history is cleared. Otherwise (the annotator drew or
        edited their own annotations while the model was still working) it is kept.
        """
        self._image = self.store.get_image(self.image_id)
        self._load()
        stack = self.undo_stack
        if any(command_concerns_proposals(stack.command(i)) for i in range(stack.count())):
            stack.clear()
        self.reset.emit()

    def _load(self) -> None:
        self._annotations = {
            ann.id: ann
            for ann in self.store.annotations(self.image_id)
            if ann.id is not None and ann.state != ReviewState.REJECTED
        }
        self._origins_known = self.store.instance_origin_ids(self.image_id)

    # ---- raw mutations: the store first, then the mirror, then the signal ---------------
    def add(self, ann: Annotation, origin: Origin = Origin.DRAWN) -> Annotation:
        """Store `ann` (a new id when ann.id is None, else that id) and return the stored copy.

        `origin` says how a new human shape was made, for the Loop report.
        """
        if ann.image_id != self.image_id:
            raise ProjectError(
                f"An annotation of image {ann.image_id} cannot be added to "
                f"image {self._image.file_name}."
            )
        ann = copy.deepcopy(ann)
        if ann.id is None:  # a new shape; a project without categories gets its first one here
            ann.category_id = self._categories.category_for_new_shape(ann.category_id)
        new_shape = ann.id is None and ann.source == Source.HUMAN
        stored = self.store.add_annotation(ann)
        assert stored.id is not None  # the store gives every annotation its id
        if new_shape:
            self._note_origin(stored, origin)
        if stored.state != ReviewState.REJECTED:
            self._annotations[stored.id] = copy.deepcopy(stored)
            self.annotationAdded.emit(stored.id)
        return copy.deepcopy(stored)

    def update(self, ann: Annotation) -> None:
        """Write a changed annotation (same id) to the store."""
        if ann.id is None:
            raise ProjectError("An annotation must be stored before it can be changed.")
        self._note_proposal(ann.id)
        self.store.update_annotation(copy.deepcopy(ann))
        was_visible = ann.id in self._annotations
        if ann.state == ReviewState.REJECTED:
            self._forget(ann.id)
            return
        self._annotations[ann.id] = copy.deepcopy(ann)
        (self.annotationChanged if was_visible else self.annotationAdded).emit(ann.id)

    def remove(self, ann_id: int) -> None:
        """Delete an annotation from the store."""
        self._note_proposal(ann_id)
        self.store.delete_annotation(ann_id)
        self._forget(ann_id)

    def set_state(self, ann_id: int, state: ReviewState) -> None:
        """Accept, reject or re-propose an annotation; source and score are kept."""
        self._note_proposal(ann_id)
        self.store.set_annotation_state(ann_id, state)
        self._show_state(ann_id, state)

    def set_states(self, states: Mapping[int, ReviewState]) -> None:
        """`set_state` for several annotations, stored in one transaction: all or none.

        One commit instead of two per proposal (its state and its provenance): accepting an
        image's proposals is the review loop's most frequent edit, and each commit is an fsync.
        """
        origins_known = set(self._origins_known)
        try:
            with self.store.transaction():
                for ann_id, state in states.items():
                    self._note_proposal(ann_id)
                    self.store.set_annotation_state(ann_id, state)
        except BaseException:
            self._origins_known = origins_known  # the provenance rolled back too
            raise
        for ann_id, state in states.items():
            self._show_state(ann_id, state)

    def _show_state(self, ann_id: int, state: ReviewState) -> None:
        """Mirror a stored state change and tell the views."""
        if state == ReviewState.REJECTED:
            self._forget(ann_id)
            return
        if ann_id in self._annotations:
            self._annotations[ann_id].state = state
            self.annotationChanged.emit(ann_id)
        else:  # un-rejecting: it becomes visible again
            self._annotations[ann_id] = self.store.get_annotation(ann_id)
            self.annotationAdded.emit(ann_id)

    def stored_annotation(self, ann_id: int) -> Annotation:
        """The annotation as the store has it, rejected ones included."""
        return self.store.get_annotation(ann_id)

    def _note_proposal(self, ann_id: int) -> None:
        """Before a proposal's first change: record it as the model gave it."""
        ann = self._annotations.get(ann_id)
        if ann is not None and ann.source == Source.MODEL:
            self._note_origin(ann, Origin.PROPOSAL)

    def _note_origin(self, ann: Annotation, origin: Origin) -> None:
        if ann.id is not None and ann.id not in self._origins_known:
            self.store.record_instance_origin(ann, origin)
            self._origins_known.add(ann.id)

    def _forget(self, ann_id: int) -> None:
        if self._annotations.pop(ann_id, None) is not None:
            self.annotationRemoved.emit(ann_id)
