"""The graphics item of one annotation: cached mask overlay, outline, box, handles, label.

Rendering stays cheap with hundreds of masks on a large image because an item decodes its
RLE once, when the annotation changes, into an ARGB image of its bounding box only plus a
simplified outline path; `paint` then only blits that image and strokes that path.
Item coordinates are scene (= image pixel) coordinates; `pos()` is non-zero only while
the user drags the item, and the view turns that offset into an undoable edit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRectF, QSizeF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QImage,
    QPainter,
    QPainterPath,
    QPen,
    QStaticText,
    QTransform,
)
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from core import masks
from core.mask_pixels import MaskCrop, outline_contours
from core.records import Annotation
from gui.canvas.mask_crops import decode_crop
from gui.canvas.mask_raster import outline_path, overlay_image
from gui.colors import ACCEPTED_FILL_ALPHA, PROPOSAL_FILL_ALPHA, SELECTION_COLOR, with_alpha
from gui.document import is_proposal

if TYPE_CHECKING:
    from gui.canvas.mask_layer import MaskLayer

HANDLE_ROLES = ("tl", "t", "tr", "r", "br", "b", "bl", "l")
_HANDLE_PX = 8.0  # handle size on screen, whatever the zoom
_ITEM_Z = 10.0
_MIN_BOX = 1.0  # smallest box side a resize may leave, image px
PROPOSAL_HALO_COLOR = QColor(0, 0, 0, 170)

BoxEdited = Callable[[int, QRectF], None]


def _cosmetic_pen(color: QColor, width: float, style: Qt.PenStyle) -> QPen:
    pen = QPen(color, width, style)
    pen.setCosmetic(True)
    return pen


def _handle_point(rect: QRectF, role: str) -> QPointF:
    """Where a handle sits on the box: corners, edge midpoints."""
    x = rect.center().x()
    if role.endswith("l"):
        x = rect.left()
    elif role.endswith("r"):
        x = rect.right()
    y = rect.center().y()
    if role.startswith("t"):
        y = rect.top()
    elif role.startswith("b"):
        y = rect.bottom()
    return QPointF(x, y)


_HANDLE_CURSORS = {
    "tl": Qt.CursorShape.SizeFDiagCursor,
    "br": Qt.CursorShape.SizeFDiagCursor,
    "tr": Qt.CursorShape.SizeBDiagCursor,
    "bl": Qt.CursorShape.SizeBDiagCursor,
    "t": Qt.CursorShape.SizeVerCursor,
    "b": Qt.CursorShape.SizeVerCursor,
    "l": Qt.CursorShape.SizeHorCursor,
    "r": Qt.CursorShape.SizeHorCursor,
}


class HandleItem(QGraphicsItem):
    """One of a box's eight resize handles: a fixed-size square that ignores zoom."""

    def __init__(self, role: str, parent: AnnotationItem) -> None:
        super().__init__(parent)
        self.role = role
        self._box = parent
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setCursor(_HANDLE_CURSORS[role])
        self.setAcceptedMouseButtons(Qt.MouseButton.LeftButton)
        self.setZValue(1)

    def boundingRect(self) -> QRectF:
        half = _HANDLE_PX / 2 + 1
        return QRectF(-half, -half, 2 * half, 2 * half)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        half = _HANDLE_PX / 2
        painter.setPen(QPen(QColor("#202020"), 1))
        painter.setBrush(QBrush(SELECTION_COLOR))
        painter.drawRect(QRectF(-half, -half, _HANDLE_PX, _HANDLE_PX))

    def mousePressEvent(self, event) -> None:
        self._box.begin_resize()
        event.accept()

    def mouseMoveEvent(self, event) -> None:
        self._box.resize_to(self.role, event.scenePos())

    def mouseReleaseEvent(self, event) -> None:
        self._box.end_resize()


class AnnotationItem(QGraphicsItem):
    """A box and, when the annotation has one, its mask, drawn in the category colour."""

    def __init__(
        self,
        ann: Annotation,
        image_size: tuple[int, int],
        color: QColor,
        category_name: str,
        on_box_edited: BoxEdited,
    ) -> None:
        super().__init__()
        self._image_w, self._image_h = image_size
        self._color = QColor(color)
        self._category_name = category_name
        self._on_box_edited = on_box_edited
        self._ann = ann
        self._crop: MaskCrop | None = None
        self._overlay: QImage | None = None
        self._contours: list[np.ndarray] = []
        self._outlines: dict[int, QPainterPath] = {}  # by level of detail
        self._mask_rect = QRectF()
        self._decoded = True
        self._overlays: dict[int, QImage] = {}
        self._pens: dict[str, QPen] = {}
        self._label_background = QColor()
        self._label_cache: tuple[str, QImage, QSizeF] | None = None
        self._label_answers: dict[bool, tuple[QImage, QSizeF] | None] = {}  # by selection
        self._label_offset: QPointF | None = QPointF(0, 0)  # screen px; the view lays it out
        self._rect = QRectF()
        self._bounds = QRectF()
        self._resizing = False
        self._layer: MaskLayer | None = None  # set on crowded images: it paints this item
        # Told every scene rect where this item's look changes (an edit, the selection, the
        # threshold hiding it, where a drag or resize takes the box out of and into): the
        # view's tag layer keeps its pixels cached and repaints the item's tag there.
        self.on_region_changed: Callable[[QRectF], None] | None = None
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsMovable)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges)
        self._apply_paint_mode()
        self._handles: list[HandleItem] = []  # only while selected: see _update_handles
        self.set_annotation(ann)

    # ---- state ---------------------------------------------------------------------
    @property
    def annotation(self) -> Annotation:
        return self._ann

    @property
    def ann_id(self) -> int:
        assert self._ann.id is not None  # the canvas shows stored annotations only
        return self._ann.id

    @property
    def has_mask(self) -> bool:
        return bool(self._ann.segmentation)

    @property
    def needs_decode(self) -> bool:
        """True until the mask's overlay image and outline have been built."""
        return not self._decoded

    @property
    def mask_crop(self) -> MaskCrop | None:
        self.ensure_decoded()
        return self._crop

    @property
    def box_rect(self) -> QRectF:
        return QRectF(self._rect)

    @property
    def composited(self) -> bool:
        """True while the mask layer paints this item: a layer is set and the item is not
        selected, dragged or resized (those paint themselves, above the layer)."""
        return (
            self._layer is not None
            and not self.isSelected()
            and not self._resizing
            and self.pos().isNull()
        )

    def set_layer(self, layer: MaskLayer | None) -> None:
        """Let `layer` paint this item while it is not selected (None: paint itself)."""
        if layer is self._layer:
            return
        if self._layer is not None:
            self._layer.remove_item(self)
        self._layer = layer
        if layer is not None:
            layer.add_item(self)
        self._apply_paint_mode()

    def _apply_paint_mode(self) -> None:
        """Paint through the layer (no contents, no cache of its own) or by itself."""
        composited = self.composited
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemHasNoContents, composited)
        # Qt keeps each item's rendering in a device-pixel pixmap: panning then blits pixmaps
        # without calling paint() at all; only a zoom step or an edit repaints the item.
        mode = QGraphicsItem.CacheMode
        self.setCacheMode(mode.NoCache if composited else mode.DeviceCoordinateCache)
        self._repaint(restyled=False)

    def _repaint(self, before: QRectF | None = None, *, restyled: bool = True) -> None:
        """Repaint the item where it is (and where it was: `before`), itself or in the layer;
        `restyled` false: only its selection or visibility changed, not how it draws."""
        self.update()
        if restyled and self._layer is not None:
            self._layer.forget(self)  # its sprite in the layer is out of date
        now = self.sceneBoundingRect()
        for rect in (now,) if before is None else (before, now):
            if self._layer is not None:
                self._layer.invalidate(rect)
            if self.on_region_changed is not None:
                self.on_region_changed(rect)

    def set_annotation(self, ann: Annotation) -> None:
        """Take a changed annotation; its mask is decoded later, once (`ensure_decoded`)."""
        before = self.sceneBoundingRect()
        self.prepareGeometryChange()
        self._ann = ann
        self._crop, self._overlay, self._contours, self._outlines = None, None, [], {}
        self._mask_rect = QRectF()
        self._decoded = not ann.segmentation
        self._rebuild_overlay()
        if ann.segmentation:
            # pycocotools reads the box straight from the RLE, without decoding pixels.
            self._mask_rect = QRectF(*masks.bbox_of(ann.segmentation, self._image_h, self._image_w))
        x, y, w, h = ann.bbox
        self._rect = QRectF(x, y, w, h)
        self._update_bounds()
        self.setPos(0, 0)
        # Smaller instances above bigger ones, so a click inside both picks the small one.
        self.setZValue(_ITEM_Z - min(self._rect.width() * self._rect.height(), 1e8) / 1e9)
        self._update_handles()
        self._repaint(before)

    def set_style(self, color: QColor, category_name: str) -> None:
        """A new category colour or name: repaint without decoding the mask again."""
        self._color = QColor(color)
        self._category_name = category_name
        self._rebuild_overlay()
        self._repaint()

    def ensure_decoded(self) -> None:
        """Decode the RLE once into the bbox-sized overlay image and the outline contours."""
        if self._decoded:
            return
        self._decoded = True
        r = self._mask_rect
        x, y, w, h = (round(v) for v in (r.x(), r.y(), r.width(), r.height()))
        self._crop = None
        if w > 0 and h > 0 and self._ann.segmentation:
            # Only the mask's box: a whole 12,000 x 9,000 decode per item is 108 MB.
            pixels = decode_crop(self._ann.segmentation, (x, y, w, h), self._image_h, self._image_w)
            self._crop = MaskCrop(x, y, pixels)
        if self._crop is not None:
            self._contours = outline_contours(self._crop)
        self._rebuild_overlay()
        self._repaint()

    def _outline(self, lod: float = 1.0) -> QPainterPath:
        """The outline simplified to about half a screen pixel at this zoom (cached per level)."""
        level = 0 if lod >= 0.75 else min(6, math.ceil(math.log2(0.75 / lod)))
        path = self._outlines.get(level)
        if path is None:
            path = self._outlines[level] = outline_path(self._contours, 0.5 * 2**level)
        return path

    def _rebuild_style(self) -> None:
        """Pens and label colours for the current colour, state and proposal-ness."""
        proposal = is_proposal(self._ann)
        dash = Qt.PenStyle.DashLine if proposal else Qt.PenStyle.SolidLine
        # Width-1 cosmetic pens take Qt's fast line rasteriser; wider ones are much slower.
        line = self._color.lighter(140) if proposal else self._color
        self._pens = {
            "outline": _cosmetic_pen(line, 1.0, dash),
            "selected": _cosmetic_pen(SELECTION_COLOR, 2.5, dash),
            "dotted": _cosmetic_pen(self._color, 1.0, Qt.PenStyle.DotLine),
        }
        if proposal:
            # A thin dashed line in the category colour vanished on textured photos: a dark
            # halo under a lighter dash reads on any background, at any zoom (cosmetic).
            self._pens["halo"] = _cosmetic_pen(PROPOSAL_HALO_COLOR, 3.0, Qt.PenStyle.SolidLine)
        self._label_background = with_alpha(self._color, 200)
        self._label_cache = None
        self._label_answers = {}

    def _rebuild_overlay(self) -> None:
        self._overlays = {}
        self._rebuild_style()
        if self._crop is None:
            self._overlay = None
            return
        alpha = PROPOSAL_FILL_ALPHA if is_proposal(self._ann) else ACCEPTED_FILL_ALPHA
        self._overlay = overlay_image(self._crop.mask, self._color, alpha)
        self._overlays = {0: self._overlay}

    def _update_handles(self) -> None:
        show = self.isSelected() and not self.has_mask
        # Handles exist only while shown: Qt tests every zoom-ignoring item of the scene on
        # each paint, hidden or not, and 8 per item made 16,000 tests a frame at 2,000 items.
        if show and not self._handles:
            self._handles = [HandleItem(role, self) for role in HANDLE_ROLES]
        elif not show and self._handles:
            scene = self.scene()
            for handle in self._handles:
                if scene is not None:
                    scene.removeItem(handle)  # unparented and out of the index; Python frees it
                else:
                    handle.setVisible(False)
            self._handles = []
        for handle in self._handles:
            handle.setPos(_handle_point(self._rect, handle.role))

    def itemChange(self, change, value):
        kind = QGraphicsItem.GraphicsItemChange
        if change == kind.ItemSelectedHasChanged:
            self._update_handles()
            if self._layer is not None:
                self._apply_paint_mode()  # the selected item leaves the layer, and back
            else:
                self._repaint(restyled=False)  # its tag gains or loses the category name
        elif change == kind.ItemVisibleHasChanged:
            self._repaint(restyled=False)  # hidden by the threshold: no fill, outline or tag
        elif (
            change in (kind.ItemPositionChange, kind.ItemPositionHasChanged)
            and self.on_region_changed is not None
        ):
            self.on_region_changed(self.sceneBoundingRect())  # where the box leaves, lands
        return super().itemChange(change, value)

    # ---- resize by handles -----------------------------------------------------------
    def begin_resize(self) -> None:
        self._resizing = True
        if self._layer is not None:
            self._apply_paint_mode()

    def resize_to(self, role: str, scene_point: QPointF) -> None:
        """Move the edges that `role` names to the point, clamped to the image."""
        if not self._resizing:
            return
        p = self.mapFromScene(scene_point)
        px = min(max(p.x(), 0.0), float(self._image_w))
        py = min(max(p.y(), 0.0), float(self._image_h))
        r = QRectF(self._rect)
        if "l" in role:
            r.setLeft(min(px, r.right() - _MIN_BOX))
        if "r" in role:
            r.setRight(max(px, r.left() + _MIN_BOX))
        if role[0] == "t":
            r.setTop(min(py, r.bottom() - _MIN_BOX))
        if role[0] == "b":
            r.setBottom(max(py, r.top() + _MIN_BOX))
        if self.on_region_changed is not None:
            self.on_region_changed(self.sceneBoundingRect().united(r.translated(self.pos())))
        self.prepareGeometryChange()
        self._rect = r
        self._update_bounds()
        self._update_handles()
        self.update()

    def end_resize(self) -> None:
        if not self._resizing:
            return
        self._resizing = False
        if self._layer is not None:
            self._apply_paint_mode()
        x, y, w, h = self._ann.bbox
        if self._rect != QRectF(x, y, w, h):
            self._on_box_edited(self.ann_id, self._rect.translated(self.pos()))

    # ---- QGraphicsItem ----------------------------------------------------------------
    def boundingRect(self) -> QRectF:
        return self._bounds  # Qt asks for it several times per frame: keep it precomputed

    def _update_bounds(self) -> None:
        rect = QRectF(self._rect)
        if self.has_mask:
            rect = rect.united(self._mask_rect)
        self._bounds = rect.adjusted(-1, -1, 1, 1)

    def shape(self) -> QPainterPath:
        if self.has_mask:
            self.ensure_decoded()
            return self._outline()
        path = QPainterPath()
        path.addRect(self._rect)
        return path

    def contains(self, point: QPointF | QPoint) -> bool:  # type: ignore[override]
        # PySide6's stub also admits a QPainterPath element; the scene only ever passes points.
        if not self.has_mask:
            return self._rect.contains(point)
        self.ensure_decoded()
        c = self._crop
        if c is None:
            return False
        col, row = int(point.x()) - c.x, int(point.y()) - c.y
        return 0 <= row < c.height and 0 <= col < c.width and bool(c.mask[row, col])

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        if not self.composited:  # else the mask layer has drawn it
            self.draw_content(painter, option.levelOfDetailFromTransform(painter.worldTransform()))

    def draw_content(self, painter: QPainter, lod: float) -> None:
        """Fill, outline and box at scale `lod` (painter in scene coordinates); the mask
        layer calls this for the items it composites."""
        selected = self.isSelected()
        c = self._crop
        if self._overlay is not None and c is not None:
            painter.drawImage(QRectF(c.x, c.y, c.width, c.height), self._overlay_for(lod))
        line = self._pens["selected" if selected else "outline"]
        halo = self._pens.get("halo")
        painter.setBrush(Qt.BrushStyle.NoBrush)
        # Outlines of instances smaller than a few screen pixels are noise: skip them.
        big_enough = max(self._rect.width(), self._rect.height()) * lod >= 3
        if self._crop is not None and big_enough:
            path = self._outline(lod)
            for pen in (halo, line) if halo is not None else (line,):
                painter.setPen(pen)
                painter.drawPath(path)
        if not self._decoded:  # the view is still building this overlay: show where it goes
            painter.setPen(self._pens["dotted"])
            painter.drawRect(self._mask_rect)
        if not self.has_mask or selected:
            pens: tuple[QPen, ...] = (self._pens["dotted"],) if self.has_mask else (line,)
            if halo is not None and not self.has_mask:
                pens = (halo, line)
            for pen in pens:
                painter.setPen(pen)
                painter.drawRect(self._rect)
        # The tag is not painted here but by the view's tag layer, above every item: drawn
        # with its own box it was covered by the outlines of smaller boxes stacked above.

    def tag_image(self, lod: float) -> tuple[QPointF, QImage] | None:
        """The tag to draw at this zoom: (offset in screen px from the box's top-left, the
        pre-rendered image); None when there is none or the box is too small to hold it."""
        label = self._label()
        offset = self._label_offset
        if label is None or lod <= 0 or offset is None:
            return None
        image, size = label
        if (
            offset.x() + size.width() > self._rect.width() * lod
            or offset.y() + size.height() > self._rect.height() * lod
        ):
            return None
        return offset, image

    def label_size(self) -> QSizeF | None:
        """The tag's size in screen pixels, or None when this item shows no tag."""
        label = self._label()
        return None if label is None else QSizeF(label[1])

    def set_label_offset(self, offset: QPointF | None) -> None:
        """Where the tag sits, in screen px from the box's top-left; None hides it."""
        if offset != self._label_offset:
            self._label_offset = None if offset is None else QPointF(offset)

    def label_scene_rect(self, scale: float, size: QSizeF | None = None) -> QRectF | None:
        """The tag's rectangle in scene coordinates at view scale `scale` (None: not shown);
        `size` saves recomputing `label_size()` when the caller has it."""
        size = self.label_size() if size is None else size
        offset = self._label_offset
        if size is None or offset is None:
            return None
        if (
            offset.x() + size.width() > self._rect.width() * scale
            or offset.y() + size.height() > self._rect.height() * scale
        ):
            return None
        top_left = self._rect.topLeft() + offset / scale
        return QRectF(top_left, size / scale)

    def tag_key(self) -> int:
        """Identifies the tag's current image (0: no tag), so the tag layer repaints a tag
        only when it changed."""
        label = self._label()
        return 0 if label is None else label[0].cacheKey()

    def _label(self) -> tuple[QImage, QSizeF] | None:
        """The tag rendered once per text and colour: the tag layer redraws every tag on every
        frame, and a blit is far cheaper than drawing text."""
        selected = self.isSelected()
        # The text follows the annotation, the style and the selection only: the tag layout
        # asks every tag in view on each pan step, and formatting the score was its cost.
        if selected in self._label_answers:
            return self._label_answers[selected]
        answer = self._label_answers[selected] = self._build_label(selected)
        return answer

    def _build_label(self, selected: bool) -> tuple[QImage, QSizeF] | None:
        scored = is_proposal(self._ann) and self._ann.score is not None
        if not scored and not selected:
            return None  # most items of a crowded image: no text to build
        text = self._category_name if selected else ""
        if scored:
            text = f"{text} {self._ann.score:.2f}".strip()
        if not text:
            return None
        if self._label_cache is None or self._label_cache[0] != text:
            static = QStaticText(text)
            static.setTextFormat(Qt.TextFormat.PlainText)
            static.prepare(QTransform(), _label_font())
            text_size = static.size()
            size = QSizeF(math.ceil(text_size.width() + 6), math.ceil(text_size.height() + 2))
            image = QImage(size.toSize(), QImage.Format.Format_ARGB32_Premultiplied)
            image.fill(self._label_background)
            painter = QPainter(image)
            painter.setFont(_label_font())
            painter.setPen(QColor("#000000"))
            painter.drawStaticText(QPointF(3, 1), static)
            painter.end()
            self._label_cache = (text, image, size)
        return self._label_cache[1], self._label_cache[2]

    def _overlay_for(self, lod: float) -> QImage:
        """The overlay, pre-shrunk by powers of two when zoomed out (cheaper to blit)."""
        level = 0 if lod >= 0.5 else min(4, math.floor(math.log2(0.5 / lod)) + 1)
        image = self._overlays.get(level)
        overlay = self._overlay
        assert overlay is not None  # paint() asks only when there is an overlay
        if image is None:
            w, h = overlay.width(), overlay.height()
            image = overlay.scaled(
                max(1, w >> level),
                max(1, h >> level),
                Qt.AspectRatioMode.IgnoreAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            self._overlays[level] = image
        return image


_FONT: QFont | None = None


def _label_font() -> QFont:
    global _FONT  # one font for all labels, created once a QGuiApplication exists
    if _FONT is None:
        _FONT = QFont()
        _FONT.setPixelSize(11)
    return _FONT
