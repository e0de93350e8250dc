"""Moving between images: documents per image, pixels off the UI thread, review state.

Each visited image gets one ImageDocument (and so one QUndoStack in the window's
QUndoGroup; the active stack is the current image's, so Ctrl+Z undoes on the image you
look at). The last `MAX_DOCUMENTS` documents are kept, with their undo history. The project
remembers the image last shown, and reopening it starts there.
"""

from __future__ import annotations

import contextlib
from typing import Any

from PySide6.QtGui import QImage

from core.errors import MaskLoopError
from gui.dialogs.errors import show_error

MAX_DOCUMENTS = 64
PREFETCH_IMAGES = 3  # proposals and pixels are prepared this many images ahead
LAST_IMAGE_SETTING = "last_image"  # project setting: where reopening the project starts


class NavigationMixin:
    """Needs the MainWindow attributes (canvas, docks, store, documents, undo_group, ...)."""

    def connect_navigation(self: Any) -> None:
        self.image_list.imageActivated.connect(self.go_to_image)
        self.image_loader.loaded.connect(self._on_pixels_loaded)
        self.image_loader.failed.connect(self._on_pixels_failed)
        self.canvas.selectionChanged.connect(self.instances_dock.show_selection)
        self.instances_dock.selectionChanged.connect(self._select_on_canvas)
        self.canvas.zoomChanged.connect(self.work_status.set_zoom)
        self.canvas.cursorMoved.connect(self.work_status.set_cursor)
        self.labels_dock.categorySelected.connect(self.canvas.set_current_category)
        self.labels_dock.categoriesChanged.connect(self._on_categories_changed)

    @property
    def current_image_id(self: Any) -> int | None:
        return self.current_document.image_id if self.current_document is not None else None

    def go_to_image(self: Any, image_id: int) -> None:
        """Show `image_id`: its stored annotations at once, its pixels when decoded."""
        if self.store is None:
            return
        if self.current_document is not None and self.current_document.image_id == image_id:
            return
        try:
            document = self.document_for(image_id)
        except MaskLoopError as exc:
            show_error(self, exc, "Cannot open the image")
            return
        self.current_document = document
        self.undo_group.setActiveStack(document.undo_stack)
        self.canvas.set_document(document)
        self.instances_dock.set_document(document)
        self.image_list.select_image(image_id)
        self.actions["toggle_reviewed"].setChecked(document.image.reviewed)
        path = self.store.image_path(image_id)
        self.image_loader.request(image_id, path)
        following = self.image_list.following(image_id, PREFETCH_IMAGES)
        self.image_loader.preload([(i, self.store.image_path(i)) for i in following])
        self.request_proposals(image_id, following)
        self.update_title()
        self._remember_image(image_id)

    def start_image(self: Any) -> int | None:
        """Where an opened project starts: the image last shown if still listed, else the first."""
        last = self.store.get_setting(LAST_IMAGE_SETTING)
        if isinstance(last, int) and self.image_list.model.row_of(last) is not None:
            return last
        return self.image_list.neighbour(None, 0)

    def _remember_image(self: Any, image_id: int) -> None:
        # Only a convenience for the next opening: a failed write (a full disk, say) is not
        # worth a dialog here, and the annotator's own edits report it anyway.
        with contextlib.suppress(MaskLoopError):
            self.store.set_setting(LAST_IMAGE_SETTING, image_id)

    def next_image(self: Any) -> None:
        self._step(1)

    def prev_image(self: Any) -> None:
        self._step(-1)

    def _step(self: Any, step: int) -> None:
        target = self.image_list.neighbour(self.current_image_id, step)
        if target is None:
            self.work_status.show_message(
                "Last image in the list." if step > 0 else "First image in the list."
            )
            return
        self.go_to_image(target)

    def document_for(self: Any, image_id: int) -> Any:
        """The image's document, made (and its undo stack registered) on first visit."""
        from gui.document import ImageDocument

        document = self.documents.get(image_id)
        if document is not None:
            self.documents.move_to_end(image_id)
            return document
        document = ImageDocument(self.store, image_id, self)
        self.undo_group.addStack(document.undo_stack)
        for signal in (
            document.annotationAdded,
            document.annotationChanged,
            document.annotationRemoved,
        ):
            signal.connect(lambda *_a, i=image_id: self.image_list.refresh_images([i]))
        self.documents[image_id] = document
        while len(self.documents) > MAX_DOCUMENTS:
            old_id, old = next(iter(self.documents.items()))
            if old is self.current_document:
                self.documents.move_to_end(old_id)
                continue
            del self.documents[old_id]
            self.undo_group.removeStack(old.undo_stack)
            old.deleteLater()
        return document

    def reload_document(self: Any, image_id: int) -> None:
        """New proposals were stored for this image: re-read it if it is open.

        Its undo history survives unless a command touched a proposal that was replaced.
        """
        document = self.documents.get(image_id)
        if document is not None:
            document.reload_proposals()

    # ---- review --------------------------------------------------------------------------
    def accept_review_next(self: Any) -> None:
        """Accept the proposals above the threshold, mark reviewed, go to the next image."""
        if self.current_document is None:
            return
        self.canvas.accept_all_above_threshold()
        self.set_current_reviewed(True)
        self.next_image()

    def set_current_reviewed(self: Any, reviewed: bool = True) -> None:
        image_id = self.current_image_id
        if image_id is None:
            return
        self.store.set_reviewed(image_id, bool(reviewed))
        self.actions["toggle_reviewed"].setChecked(bool(reviewed))
        self.image_list.refresh_images([image_id])
        self.work_status.show_message(
            f"{self.current_document.image.file_name} marked "
            + ("reviewed." if reviewed else "not reviewed.")
        )

    # ---- signal handlers ---------------------------------------------------------------
    def _on_pixels_loaded(self: Any, image_id: int, image: QImage) -> None:
        if image_id != self.current_image_id:
            return  # the annotator moved on while it was decoding
        self.canvas.set_image(image)
        self.canvas.fit()

    def _on_pixels_failed(self: Any, image_id: int, message: str) -> None:
        if image_id == self.current_image_id:
            self.canvas.set_image(QImage())
            self.work_status.show_message(message)

    def _select_on_canvas(self: Any, ann_ids: list[int]) -> None:
        self.canvas.select_annotation(ann_ids[0] if ann_ids else None)

    def _on_categories_changed(self: Any) -> None:
        self.refresh_categories()
        for document in self.documents.values():
            document.reload()  # merged categories move annotations
        self.image_list.model.refresh_images([i for i in self.documents])
