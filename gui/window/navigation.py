"""Moving between images: one document per visited image, pixels off the UI thread, review.

Each visited image gets one ImageDocument (and so one QUndoStack in the window's
QUndoGroup; the active stack is the current image's, so Ctrl+Z undoes on the image you
look at). The last `MAX_DOCUMENTS` documents are kept, with their undo history. The project
remembers the image last shown, and reopening it starts there.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QImage, QUndoCommand, QUndoGroup
from PySide6.QtWidgets import QWidget

from core.errors import MaskLoopError
from core.files.pyramid import TilePyramid, cache_folder
from core.store import ProjectStore
from core.store.setting_keys import LAST_IMAGE
from gui.canvas.view import CanvasView
from gui.categories import ProjectCategories
from gui.dialogs.errors import show_error
from gui.docks.image_list import ImageListDock
from gui.docks.instances import InstancesDock
from gui.document import ImageDocument
from gui.image_loader import ImageLoader
from gui.window.status import WorkStatus

MAX_DOCUMENTS = 64
PREFETCH_IMAGES = 3  # proposals and pixels are prepared this many images ahead
REMEMBER_DELAY_MS = 1000
"""The image shown is remembered for the next opening once the annotator stays on one this
long (and on closing): a write per move cost an fsync, a third of each navigation."""


class NavigationController(QObject):
    """Owns the open images' documents and which one is current.

    Signals:
        imageShown(int, list): the annotator is now on this image; the list holds the images
            after it to prepare ahead (the proposal controller listens).
        documentChanged(object): the current ImageDocument (or None).
        currentReviewedChanged(bool): the current image was marked reviewed or not.
    """

    imageShown = Signal(int, list)
    documentChanged = Signal(object)
    currentReviewedChanged = Signal(bool)

    def __init__(
        self,
        *,
        dialog_parent: QWidget,
        canvas: CanvasView,
        image_list: ImageListDock,
        instances_dock: InstancesDock,
        image_loader: ImageLoader,
        work_status: WorkStatus,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._dialog_parent = dialog_parent
        self._canvas = canvas
        self._image_list = image_list
        self._instances = instances_dock
        self._loader = image_loader
        self._status = work_status
        self.undo_group = QUndoGroup(self)
        self._store: ProjectStore | None = None
        self._categories: ProjectCategories | None = None
        self.documents: OrderedDict[int, ImageDocument] = OrderedDict()
        self.current_document: ImageDocument | None = None
        self._remember_timer = QTimer(self)
        self._remember_timer.setSingleShot(True)
        self._remember_timer.setInterval(REMEMBER_DELAY_MS)
        self._remember_timer.timeout.connect(self._write_last_image)
        self._unsaved_last_image: int | None = None
        self._previewed: int | None = None  # the image whose reduced preview is on the canvas
        image_list.imageActivated.connect(self.go_to_image)
        image_loader.loaded.connect(self._on_pixels_loaded)
        image_loader.failed.connect(self._on_pixels_failed)
        image_loader.decodingStarted.connect(self._on_decoding_started)
        image_loader.tiledLoaded.connect(self._on_tiles_loaded)
        image_loader.previewLoaded.connect(self._on_preview_loaded)
        canvas.selectionChanged.connect(instances_dock.show_selection)
        instances_dock.selectionChanged.connect(self._select_on_canvas)

    # ---- project ---------------------------------------------------------------------------
    def open(self, store: ProjectStore, categories: ProjectCategories) -> None:
        self._store = store
        self._categories = categories
        self._loader.set_tile_cache(cache_folder(store.path))
        categories.annotationsRecategorised.connect(self._on_recategorised)

    def close(self) -> None:
        self._write_last_image()
        self._loader.wait_idle()
        self._loader.clear()
        self._loader.set_tile_cache(None)
        self._canvas.set_document(None)
        self._instances.set_document(None)
        for document in self.documents.values():
            self.undo_group.removeStack(document.undo_stack)
            document.deleteLater()
        self.documents.clear()
        self._set_current(None)
        self._store = None
        self._categories = None

    # ---- where we are ----------------------------------------------------------------------
    @property
    def current_image_id(self) -> int | None:
        return self.current_document.image_id if self.current_document is not None else None

    def prefetch_ids(self) -> list[int]:
        current = self.current_image_id
        return [] if current is None else self._image_list.following(current, PREFETCH_IMAGES)

    def start_image(self) -> int | None:
        """Where an opened project starts: the image last shown if still listed, else the first."""
        last = self._store.get_setting(LAST_IMAGE) if self._store is not None else None
        if isinstance(last, int) and self._image_list.model.row_of(last) is not None:
            return last
        return self._image_list.neighbour(None, 0)

    # ---- moving ----------------------------------------------------------------------------
    def go_to_image(self, image_id: int) -> None:
        """Show `image_id`: its stored annotations at once, its pixels when decoded."""
        store = self._store
        if store is None:
            return
        if self.current_image_id == image_id:
            return
        try:
            document = self.document_for(image_id)
        except MaskLoopError as exc:
            show_error(self._dialog_parent, exc, "Cannot open the image")
            return
        self._set_current(document)
        self._status.image_changed()
        self.undo_group.setActiveStack(document.undo_stack)
        self._canvas.set_document(document)
        self._instances.set_document(document)
        self._image_list.select_image(image_id)
        self._loader.request(image_id, store.image_path(image_id))
        following = self._image_list.following(image_id, PREFETCH_IMAGES)
        self._loader.preload([(i, store.image_path(i)) for i in following])
        self.imageShown.emit(image_id, following)
        self._remember_image(image_id)

    def next_image(self) -> None:
        self._step(1)

    def prev_image(self) -> None:
        self._step(-1)

    def _step(self, step: int) -> None:
        target = self._image_list.neighbour(self.current_image_id, step)
        if target is None:
            self._status.show_message(
                "Last image in the list." if step > 0 else "First image in the list."
            )
            return
        self.go_to_image(target)

    def _remember_image(self, image_id: int) -> None:
        self._unsaved_last_image = image_id
        self._remember_timer.start()  # each move restarts it

    def _write_last_image(self) -> None:
        self._remember_timer.stop()
        image_id, self._unsaved_last_image = self._unsaved_last_image, None
        # Only a convenience for the next opening: a failed write (a full disk, say) is not
        # worth a dialog here, and the annotator's own edits report it anyway.
        if self._store is not None and image_id is not None:
            with contextlib.suppress(MaskLoopError):
                self._store.set_setting(LAST_IMAGE, image_id)

    # ---- documents -------------------------------------------------------------------------
    def document_for(self, image_id: int) -> ImageDocument:
        """The image's document, made (and its undo stack registered) on first visit."""
        assert self._store is not None and self._categories is not None
        document = self.documents.get(image_id)
        if document is not None:
            self.documents.move_to_end(image_id)
            return document
        document = ImageDocument(self._store, image_id, self, categories=self._categories)
        self.undo_group.addStack(document.undo_stack)
        for signal in (
            document.annotationAdded,
            document.annotationChanged,
            document.annotationRemoved,
        ):
            signal.connect(lambda *_a, i=image_id: self._image_list.refresh_images([i]))
        document.reviewedChanged.connect(
            lambda reviewed, d=document: self._on_reviewed_changed(d, reviewed)
        )
        document.editFailed.connect(self._on_edit_failed)
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

    def reload_proposals(self, image_id: int) -> None:
        """New proposals were stored for this image: re-read it if it is open.

        Its undo history survives unless a command touched a proposal that was replaced.
        """
        document = self.documents.get(image_id)
        if document is not None:
            document.reload_proposals()

    def push_project_command(self, command: QUndoCommand) -> None:
        """A project-wide edit (a category merge) becomes one step of the open image's
        history, where Ctrl+Z finds it; with no image open it is simply done."""
        if self.current_document is not None:
            self.current_document.undo_stack.push(command)
        else:
            command.redo()

    # ---- review ----------------------------------------------------------------------------
    def accept_review_next(self) -> None:
        """Accept the proposals above the threshold, mark reviewed, go to the next image."""
        if self.current_document is None:
            return
        self._canvas.edits.accept_all_above_threshold()
        self.set_current_reviewed(True)
        self.next_image()

    def set_current_reviewed(self, reviewed: bool = True) -> None:
        document = self.current_document
        if document is None:
            return
        try:
            document.set_reviewed(bool(reviewed))
        except MaskLoopError as exc:
            show_error(self._dialog_parent, exc, "Cannot mark the image")
            return
        self._status.show_message(
            f"{document.image.file_name} marked "
            + ("reviewed." if document.image.reviewed else "not reviewed."),
            about_image=True,
        )

    def toggle_current_reviewed(self) -> None:
        """Ctrl+M: flip what the store says, whatever a menu check shows."""
        if self.current_document is not None:
            self.set_current_reviewed(not self.current_document.image.reviewed)

    # ---- signal handlers -------------------------------------------------------------------
    def _set_current(self, document: ImageDocument | None) -> None:
        self.current_document = document
        self.documentChanged.emit(document)

    def _on_pixels_loaded(self, image_id: int, image: QImage) -> None:
        if image_id != self.current_image_id:
            return  # the annotator moved on while it was decoding
        self._canvas.set_image(image)
        self._canvas.zoom.fit()

    def _on_tiles_loaded(self, image_id: int, pyramid: TilePyramid) -> None:
        if image_id == self.current_image_id:
            self._canvas.set_tiled_image(pyramid)
            if self._previewed != image_id:  # else keep where the user went on the preview
                self._canvas.zoom.fit()
        if self._previewed == image_id:
            self._previewed = None

    def _on_preview_loaded(self, image_id: int, image: QImage, size: tuple[int, int]) -> None:
        if image_id == self.current_image_id:
            self._canvas.show_preview(image, size)
            self._previewed = image_id

    def _on_decoding_started(self, image_id: int) -> None:
        self._previewed = None
        document = self.current_document
        if document is not None and image_id == document.image_id:
            self._canvas.show_decoding((document.image.width, document.image.height))

    def _on_pixels_failed(self, image_id: int, message: str) -> None:
        if image_id == self.current_image_id:
            self._canvas.set_image(QImage())
            self._status.show_message(message, about_image=True)

    def _select_on_canvas(self, ann_ids: list[int]) -> None:
        self._canvas.select_annotation(ann_ids[0] if ann_ids else None)

    def _on_reviewed_changed(self, document: ImageDocument, reviewed: bool) -> None:
        self._image_list.refresh_images([document.image_id])
        if document is self.current_document:
            self.currentReviewedChanged.emit(reviewed)

    def _on_recategorised(self, ann_ids: list[int]) -> None:
        for document in self.documents.values():
            document.recategorised(ann_ids)

    def _on_edit_failed(self, message: str) -> None:
        show_error(self._dialog_parent, message, "The edit could not be saved")
