"""A stand-in for gui.document.ImageDocument that the docks can follow: the annotations of one
image read from a real store, and the four signals the docks listen to."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from core.records import Annotation
from core.store import ProjectStore


class StoreDocument(QObject):
    annotationAdded = Signal(int)
    annotationChanged = Signal(int)
    annotationRemoved = Signal(int)
    reset = Signal()

    def __init__(self, store: ProjectStore, image_id: int) -> None:
        super().__init__()
        self.store = store
        self.image_id = image_id

    def annotations(self) -> list[Annotation]:
        return self.store.annotations(self.image_id)

    def annotation(self, ann_id: int) -> Annotation:
        return self.store.get_annotation(ann_id)
