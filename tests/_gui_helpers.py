"""Shared set-up for the canvas tests: a real project store, a shown CanvasView at 100 %
zoom, and mouse gestures sent to its viewport at the view positions of image points."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QMouseEvent
from PySide6.QtWidgets import QApplication

from core import masks
from core.records import Annotation, ReviewState, Source
from core.store import ProjectStore
from gui.canvas.view import CanvasView
from gui.document import ImageDocument

IMAGE_W, IMAGE_H = 200, 150
VIEW_W, VIEW_H = 420, 320
CAT_A, CAT_B = 1, 2

Button = Qt.MouseButton
LEFT = Button.LeftButton


@dataclass
class Canvas:
    view: CanvasView
    doc: ImageDocument
    store: ProjectStore
    image_id: int

    def stored(self, *, include_rejected: bool = False) -> list[Annotation]:
        """The image's annotations as a second connection to the project file sees them."""
        with ProjectStore.open(self.store.path) as other:
            return other.annotations(self.image_id, include_rejected=include_rejected)

    def stored_one(self, ann_id: int) -> Annotation:
        with ProjectStore.open(self.store.path) as other:
            return other.get_annotation(ann_id)

    def stored_mask(self, ann_id: int) -> np.ndarray:
        ann = self.stored_one(ann_id)
        return masks.decode(ann.segmentation, IMAGE_H, IMAGE_W)


def make_store(tmp_path: Path) -> tuple[ProjectStore, int]:
    images = tmp_path / "images"
    images.mkdir()
    store = ProjectStore.create(tmp_path / "test.maskloop", images)
    store.add_category("cat", category_id=CAT_A, color="#ff0000")
    store.add_category("dog", category_id=CAT_B, color="#0000ff")
    image = store.add_image("a.png", IMAGE_W, IMAGE_H)
    return store, image.id


def make_canvas(qtbot, tmp_path: Path, annotations: Sequence[Annotation] = ()) -> Canvas:
    store, image_id = make_store(tmp_path)
    for ann in annotations:
        store.add_annotation(ann)
    view = CanvasView()
    qtbot.addWidget(view)
    view.resize(VIEW_W, VIEW_H)
    view.show()
    qtbot.waitExposed(view)
    image = QImage(IMAGE_W, IMAGE_H, QImage.Format.Format_RGB32)
    image.fill(Qt.GlobalColor.darkGray)
    view.set_image(image)
    doc = ImageDocument(store, image_id)
    view.set_document(doc)
    view.set_categories(store.categories())
    view.set_current_category(CAT_A)
    view.zoom.zoom_100()
    return Canvas(view, doc, store, image_id)


def mask_annotation(image_id: int, mask: np.ndarray, **fields) -> Annotation:
    x, y, w, h = masks.bbox_of(masks.encode_mask(mask), *mask.shape)
    return Annotation(
        image_id=image_id,
        category_id=fields.pop("category_id", CAT_A),
        bbox=(x, y, w, h),
        segmentation=masks.encode_mask(mask),
        area=float(mask.sum()),
        **fields,
    )


def proposal(image_id: int, box: tuple[float, float, float, float], score: float) -> Annotation:
    return Annotation(
        image_id=image_id,
        category_id=CAT_A,
        bbox=box,
        source=Source.MODEL,
        state=ReviewState.PROPOSED,
        score=score,
    )


def rect_mask(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    mask = np.zeros((IMAGE_H, IMAGE_W), dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


# ---- mouse gestures at image coordinates -----------------------------------------------------
def view_pos(view: CanvasView, x: float, y: float) -> QPoint:
    return view.mapFromScene(QPointF(x, y))


def _send(view, kind, x, y, button, buttons, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    local = QPointF(view_pos(view, x, y))
    glob = QPointF(view.viewport().mapToGlobal(local.toPoint()))
    event = QMouseEvent(kind, local, glob, button, buttons, modifiers)
    QApplication.sendEvent(view.viewport(), event)


def press(view, x, y, button=LEFT, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    _send(view, QEvent.Type.MouseButtonPress, x, y, button, button, modifiers)


def move(view, x, y, buttons=LEFT) -> None:
    _send(view, QEvent.Type.MouseMove, x, y, Button.NoButton, buttons)


def release(view, x, y, button=LEFT) -> None:
    _send(view, QEvent.Type.MouseButtonRelease, x, y, button, Button.NoButton)


def click(view, x, y, button=LEFT, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    press(view, x, y, button, modifiers)
    release(view, x, y, button)


def double_click(view, x, y) -> None:
    """What Qt delivers for a double-click: press, release, double-click, release."""
    click(view, x, y)
    _send(view, QEvent.Type.MouseButtonDblClick, x, y, LEFT, LEFT)
    release(view, x, y)


def drag(view, start: tuple[float, float], end: tuple[float, float], steps: int = 8) -> None:
    """Press at start, move in straight steps, release at end."""
    press(view, *start)
    for i in range(1, steps + 1):
        t = i / steps
        move(view, start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1]))
    release(view, *end)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0
