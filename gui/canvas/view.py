"""CanvasView: the image, its annotations as graphics items, zoom/pan, tools, edit actions.

The view renders an `ImageDocument` and turns user gestures into undoable commands on the
document's QUndoStack; it never writes the store itself. The window (gui/main_window.py)
owns the QActions and shortcuts and calls the public methods here; keys that only make
sense on the canvas (Tab, Escape, [ and ], Space to pan, Enter/Delete while drawing or
hovering a vertex) are handled here and win over window shortcuts while the canvas has focus.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Iterable

from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, QSizeF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPixmap,
    QPixmapCache,
    QResizeEvent,
    QTransform,
    QUndoCommand,
    QWheelEvent,
)
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsScene, QGraphicsView, QWidget

from core.files.pyramid import TilePyramid
from core.records import Annotation, Category
from gui.canvas import view_tags
from gui.canvas.box_to_mask_tool import BoxToMaskTool
from gui.canvas.brush_tool import BrushTool, EraserTool
from gui.canvas.decoding_overlay import DecodingOverlay
from gui.canvas.edit_actions import SelectionEdits
from gui.canvas.items import AnnotationItem
from gui.canvas.mask_layer import COMPOSITE_MIN_ITEMS, MaskLayer
from gui.canvas.match_overlay import MatchLegend, MatchMark, MatchOverlay
from gui.canvas.overlays import BrushCursor, PolygonItem, RubberBand, StrokeOverlay
from gui.canvas.polygon_tool import PolygonTool
from gui.canvas.tag_layout import TagLayer, TagPlacer, TagRequest
from gui.canvas.tiled_image import TiledImageItem
from gui.canvas.tools import BoxTool, SelectTool, Tool
from gui.canvas.zoom import CanvasZoom
from gui.colors import category_color
from gui.document import ImageDocument, is_proposal

TOOL_NAMES = ("select", "box", "polygon", "brush", "eraser", "box_to_mask")
MIN_BRUSH, MAX_BRUSH = 1, 500
# Brush sizes are image pixels. When the brush or eraser is chosen, or the view zooms while
# one is, a brush narrower than this many screen pixels is raised to it (never lowered):
# on a huge image seen at 6 % a 20 px brush would paint hairlines one cannot see.
MIN_BRUSH_SCREEN_PX = 4
PIXMAP_CACHE_KB = 256 * 1024
# A pan lays out the tags of the boxes it brought into view once no scroll came for this
# long (a drag or wheel pan sends a step every 8-16 ms; tags follow a pause at once).
PAN_TAG_LAYOUT_DELAY_MS = 60
_BRUSH_STEP = 1.25  # [ and ] scale the brush by this factor
_CANVAS_KEYS = (
    Qt.Key.Key_Tab,
    Qt.Key.Key_Backtab,
    Qt.Key.Key_Escape,
    Qt.Key.Key_BracketLeft,
    Qt.Key.Key_BracketRight,
    Qt.Key.Key_Space,
)


class CanvasView(QGraphicsView):
    """Composes `zoom` (CanvasZoom) and `edits` (SelectionEdits); tools get a ToolCanvas."""

    zoomChanged = Signal(float)  # scale factor, 1.0 = 100 %
    cursorMoved = Signal(float, float)  # image pixel coordinates
    selectionChanged = Signal(list)  # list[int] annotation ids
    toolChanged = Signal(str)
    statusMessage = Signal(str)  # a line for the status bar (brush size changes)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self._pixmap_item = QGraphicsPixmapItem()
        self._pixmap_item.setZValue(-1)
        self._pixmap_item.setShapeMode(QGraphicsPixmapItem.ShapeMode.BoundingRectShape)
        # Below 100 % the photo scaled to the view is kept in device pixels (CanvasZoom sets
        # it): Qt scrolls it on a pan and draws only the strip that comes in, instead of
        # smooth-scaling the visible part of a 4000 x 3000 image on every frame.
        self._scene.addItem(self._pixmap_item)
        self._tiled_item: TiledImageItem | None = None  # a huge image's pixels, tile by tile
        self.polygon_item = PolygonItem(QColor("#ffffff"))
        self.stroke_overlay = StrokeOverlay()
        self.brush_cursor = BrushCursor()
        self.rubber_band = RubberBand()
        for overlay in (
            self.polygon_item,
            self.stroke_overlay,
            self.brush_cursor,
            self.rubber_band,
        ):
            self._scene.addItem(overlay)
        self.polygon_item.setVisible(False)
        self.tag_layer = TagLayer()
        self._scene.addItem(self.tag_layer)
        # On a crowded image one layer paints the annotations from tiles (mask_layer.py).
        self.mask_layer = MaskLayer()
        self._scene.addItem(self.mask_layer)
        self._scene.sceneRectChanged.connect(self.mask_layer.set_rect)
        self.composite_min_items = COMPOSITE_MIN_ITEMS

        self._document: ImageDocument | None = None
        self._items: dict[int, AnnotationItem] = {}
        self._tagged: set[int] = set()  # items whose tag has a place (layout_tags)
        # Tag requests by item at _tag_scale; _tag_stale lists the items to ask again.
        self._tag_requests: dict[int, TagRequest] = {}
        # What each tag needs at any zoom: scene box (x, y, w, h), size (screen px), priority.
        self._tag_info: dict[int, tuple[tuple[float, float, float, float], QSizeF, float]] = {}
        self._tag_stale: set[int] = set()
        self._tag_scale = 0.0
        self._tag_selected: set[int] = set()
        self._tag_layout_key: frozenset[int] | None = None  # the tags in the last layout
        self._tag_placer = TagPlacer()  # places anew only what a change may move
        # Each laid-out tag's offset and scene rect, reused while neither changes.
        self._tag_rects: dict[int, tuple[QPointF | None, QRectF | None]] = {}
        self._by_score: list[tuple[float, int]] | None = None  # proposals; None: to sort again
        self._categories: dict[int, Category] = {}
        self._current_category_id = 1
        self._threshold = 0.0
        self._brush_size = 20
        self._image_size = (0, 0)
        self._pan_from: QPointF | None = None
        self._space_held = False
        self._last_drawn_id: int | None = None
        # A category picked on this image (digit, Labels list) overrides box-to-mask's class.
        self._category_picked = False
        self.box_to_mask = BoxToMaskTool(self, lambda: self._category_picked)
        self._scene.addItem(self.box_to_mask.preview)
        self._tools: dict[str, Tool] = {
            "select": SelectTool(self),
            "box": BoxTool(self),
            "polygon": PolygonTool(self),
            "brush": BrushTool(self),
            "eraser": EraserTool(self),
            "box_to_mask": self.box_to_mask,
        }
        self._tool = self._tools["select"]

        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setBackgroundBrush(QColor("#2b2b2b"))
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        # drawBackground paints every exposed pixel (the photo or the background brush):
        # the viewport's own fill of the whole frame first was wasted.
        self.viewport().setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing)
        self._scene.selectionChanged.connect(self._on_scene_selection)
        # Room for the items' device-coordinate caches (Qt's default is 10 MB).
        QPixmapCache.setCacheLimit(max(QPixmapCache.cacheLimit(), PIXMAP_CACHE_KB))
        # Masks are decoded in small batches between events, visible ones first, so opening
        # an image with hundreds of masks never freezes the window.
        self._decode_timer = QTimer(self)
        self._decode_timer.setSingleShot(True)
        self._decode_timer.setInterval(0)
        self._decode_timer.timeout.connect(self._decode_some)
        # Score tags are laid out together (tag_layout.py), once per batch of changes.
        self._tag_timer = QTimer(self)
        self._tag_timer.setSingleShot(True)
        self._tag_timer.setInterval(0)
        self._tag_timer.timeout.connect(self.layout_tags)
        # The tags of boxes scrolled in are laid out once the pan pauses, not after every
        # step: with 2,000 instances a layout at 50 % took ~15 ms of CPU, as much as a frame.
        self._pan_tag_timer = QTimer(self)
        self._pan_tag_timer.setSingleShot(True)
        self._pan_tag_timer.setInterval(PAN_TAG_LAYOUT_DELAY_MS)
        self._pan_tag_timer.timeout.connect(self.layout_tags)
        for bar in (self.horizontalScrollBar(), self.verticalScrollBar()):
            bar.valueChanged.connect(self._schedule_pan_tag_layout)
        self.decoding_overlay = DecodingOverlay(self.viewport())
        self.match_overlay = MatchOverlay()
        self._scene.addItem(self.match_overlay)
        self.match_legend = MatchLegend(self.viewport())
        self.zoom = CanvasZoom(self)
        self.edits = SelectionEdits(self)

    # ---- what the tools and edit actions read --------------------------------------------
    @property
    def document(self) -> ImageDocument | None:
        return self._document

    @property
    def image_size(self) -> tuple[int, int]:
        """(width, height) in image pixels: the document's record wins over the pixmap."""
        if self._document is not None:
            return self._document.image.width, self._document.image.height
        return self._image_size

    @property
    def current_category_id(self) -> int:
        return self._current_category_id

    @property
    def score_threshold(self) -> float:
        return self._threshold

    @property
    def brush_size(self) -> int:
        return self._brush_size

    @property
    def tool_name(self) -> str:
        return self._tool.name

    def category_color(self, category_id: int) -> QColor:
        return category_color(self._categories.get(category_id), category_id)

    def item_for(self, ann_id: int) -> AnnotationItem | None:
        return self._items.get(ann_id)

    def view_scale(self) -> float:
        return self.transform().m11()

    def clamp_to_image(self, pos: QPointF) -> QPointF:
        w, h = self.image_size
        return QPointF(min(max(pos.x(), 0.0), float(w)), min(max(pos.y(), 0.0), float(h)))

    def push(self, command: QUndoCommand) -> None:
        if self._document is not None:
            self._document.undo_stack.push(command)

    def say_brush_size(self) -> None:
        self.statusMessage.emit(self.brush_status())

    @property
    def pixmap_item(self) -> QGraphicsPixmapItem:
        return self._pixmap_item

    def scene_rect(self) -> QRectF:
        return self._scene.sceneRect()

    # ---- content -------------------------------------------------------------------------
    def show_decoding(self, size: tuple[int, int] | None = None) -> None:
        """Say that this image's pixels are on their way: a centred "Decoding image… (W x H)"
        with a busy bar until `set_image`. The previous image's pixels are hidden (they would
        lie under the new annotations), the annotations stay. `size`: the document's image."""
        if size is None:
            if self._document is None:
                return
            size = (self._document.image.width, self._document.image.height)
        width, height = size
        self._pixmap_item.setVisible(False)
        self._drop_tiles()
        rect = QRectF(0, 0, width, height)
        if self._scene.sceneRect() != rect:
            self._scene.setSceneRect(rect)
            self.zoom.fit()
        self.decoding_overlay.show_for(width, height)

    def show_preview(self, image: QImage, size: tuple[int, int]) -> None:
        """Show a reduced decode of a huge image while its tiles are built, stretched over
        its full-resolution rectangle: scene coordinates stay full-resolution pixels, so
        every tool edits the image as it will be once the sharp tiles replace the preview
        (`set_tiled_image`). A note at the bottom says it is a preview."""
        width, height = size
        if image.isNull() or width <= 0 or height <= 0:
            return
        self._drop_tiles()
        self._pixmap_item.setPixmap(QPixmap.fromImage(image))
        self._pixmap_item.setTransform(
            QTransform.fromScale(width / image.width(), height / image.height())
        )
        self._pixmap_item.setVisible(True)
        resized = (width, height) != self._image_size
        self._image_size = (width, height)
        self._scene.setSceneRect(QRectF(0, 0, width, height))
        if resized:
            self.zoom.fit()
        self.decoding_overlay.show_preview_note(width, height, width / image.width())

    def set_match_overlay(self, marks: list[MatchMark] | None) -> None:
        """Outline an evaluation's TP/FP/FN on this image, with a legend; None hides both."""
        self.match_overlay.set_marks(marks or [])
        self.match_legend.setVisible(marks is not None)
        if marks is not None:
            self.match_legend.place()
            self.match_legend.raise_()

    def is_decoding(self) -> bool:
        return self.decoding_overlay.isVisible()

    @property
    def tiled_item(self) -> TiledImageItem | None:
        """The huge image's tile item while one is shown (None for a whole-image pixmap)."""
        return self._tiled_item

    def set_tiled_image(self, pyramid: TilePyramid) -> None:
        """Show a huge image from its tile pyramid: only the visible tiles are drawn, at the
        zoom's level; scene coordinates stay full-resolution pixels."""
        self.decoding_overlay.hide()
        self._drop_tiles()
        self._pixmap_item.setPixmap(QPixmap())  # free the previous image's or preview's pixels
        self._pixmap_item.setTransform(QTransform())
        self._pixmap_item.setVisible(False)
        self._tiled_item = TiledImageItem(pyramid)
        self._scene.addItem(self._tiled_item)
        resized = (pyramid.width, pyramid.height) != self._image_size
        self._image_size = (pyramid.width, pyramid.height)
        self._scene.setSceneRect(QRectF(0, 0, pyramid.width, pyramid.height))
        if resized:
            self.zoom.fit()

    def _drop_tiles(self) -> None:
        if self._tiled_item is not None:
            self._tiled_item.close()
            self._scene.removeItem(self._tiled_item)
            self._tiled_item = None

    def set_image(self, image: QImage) -> None:
        """Show the image's pixels; the document (annotations) is left as it is."""
        self.decoding_overlay.hide()
        self._drop_tiles()
        self._pixmap_item.setVisible(True)
        first = self._pixmap_item.pixmap().isNull()
        resized = (image.width(), image.height()) != self._image_size
        self._pixmap_item.setTransform(QTransform())  # a preview's stretch no longer applies
        self._pixmap_item.setPixmap(QPixmap.fromImage(image))
        self._image_size = (image.width(), image.height())
        self._scene.setSceneRect(QRectF(0, 0, image.width(), image.height()))
        if first or resized:
            self.zoom.fit()

    def set_document(self, doc: ImageDocument | None) -> None:
        """Show another image's annotations (None: none); the tool's work in progress is dropped."""
        self._tool.cancel()
        if doc is None:
            self.decoding_overlay.hide()
        if self._document is not None:
            self._document.annotationAdded.disconnect(self._on_added)
            self._document.annotationChanged.disconnect(self._on_changed)
            self._document.annotationRemoved.disconnect(self._on_removed)
            self._document.reset.disconnect(self._rebuild_items)
        self._document = doc
        self._last_drawn_id = None
        self._category_picked = False
        if doc is not None:
            doc.annotationAdded.connect(self._on_added)
            doc.annotationChanged.connect(self._on_changed)
            doc.annotationRemoved.connect(self._on_removed)
            doc.reset.connect(self._rebuild_items)
            if self._pixmap_item.pixmap().isNull():
                self._scene.setSceneRect(QRectF(0, 0, doc.image.width, doc.image.height))
        self._rebuild_items()

    def set_categories(self, categories: list[Category]) -> None:
        self._categories = {c.id: c for c in categories}
        for item in self._items.values():
            category_id = item.annotation.category_id
            item.set_style(self.category_color(category_id), self._category_name(category_id))
        self._tags_changed(self._items)

    def pick_category(self, category_id: int) -> None:
        """The user chose a category (digit, Labels list): new shapes get it, and on this
        image it overrides the class box-to-mask would take from the model."""
        self.set_current_category(category_id)
        self._category_picked = True

    def set_current_category(self, category_id: int) -> None:
        """The category new boxes and masks get."""
        self._current_category_id = category_id

    def set_score_threshold(self, threshold: float) -> None:
        """Hide proposals scoring below `threshold` (reviewed annotations always show)."""
        low, high = sorted((self._threshold, threshold))
        self._threshold = threshold
        if self._by_score is None:
            self._by_score = sorted(
                (item.annotation.score if item.annotation.score is not None else 1.0, ann_id)
                for ann_id, item in self._items.items()
                if is_proposal(item.annotation)
            )
        # Only proposals scoring between the old and the new threshold change: a step of the
        # slider touches a few dozen of 2,000 items, not all of them.
        scores = [score for score, _ in self._by_score]
        start, stop = bisect.bisect_left(scores, low), bisect.bisect_right(scores, high)
        for _, ann_id in self._by_score[start:stop]:
            self._apply_visibility(self._items[ann_id])
        self._schedule_tag_layout()

    def set_brush_size(self, size: int) -> None:
        """Brush diameter in image pixels (1..500); says the size on screen in statusMessage."""
        self._brush_size = int(min(max(size, MIN_BRUSH), MAX_BRUSH))
        if self.brush_cursor.isVisible():
            self.brush_cursor.place(self.brush_cursor.centre(), self._brush_size)
        self.statusMessage.emit(self.brush_status())

    def brush_status(self) -> str:
        scale = self.view_scale()
        on_screen = self._brush_size * scale
        return f"Brush {self._brush_size} px ({on_screen:.3g} px on screen at {scale * 100:.3g} %)"

    def raise_small_brush(self) -> bool:
        """Raise a brush narrower than MIN_BRUSH_SCREEN_PX on screen to that width; True
        when it was raised (statusMessage then says the new size)."""
        smallest = math.ceil(MIN_BRUSH_SCREEN_PX / max(self.view_scale(), 1e-6) - 1e-9)
        if self._brush_size >= smallest:
            return False
        self.set_brush_size(smallest)
        return True

    def set_tool(self, name: str) -> None:
        if name not in self._tools:
            raise ValueError(f"unknown canvas tool {name!r}; expected one of {TOOL_NAMES}")
        if name == self._tool.name:
            return
        self._tool.deactivate()
        self._tool = self._tools[name]
        self._tool.activate()
        self.viewport().setCursor(self._tool.cursor)
        self.toolChanged.emit(name)

    def _category_name(self, category_id: int) -> str:
        category = self._categories.get(category_id)
        return category.name if category is not None else str(category_id)

    # ---- items mirror the document --------------------------------------------------------
    def _rebuild_items(self) -> None:
        self._tool.cancel()
        for item in self._items.values():
            self._scene.removeItem(item)
        self._items = {}
        self._tagged = set()
        self._tag_scale = 0.0  # every tag request is asked again
        self._tag_info = {}
        self._tag_requests = {}
        self._tag_selected = set()
        self.mask_layer.clear()
        if self._document is not None:
            annotations = self._document.annotations()
            self.mask_layer.setVisible(len(annotations) >= self.composite_min_items)
            for ann in annotations:
                self._add_item(ann)
        self._decode_timer.start()
        self._tool.selection_changed()
        self._on_scene_selection()
        self.layout_tags()

    def _add_item(self, ann: Annotation) -> None:
        item = AnnotationItem(
            ann,
            self.image_size,
            self.category_color(ann.category_id),
            self._category_name(ann.category_id),
            self.edits.on_box_edited,
        )
        assert ann.id is not None  # a document's annotations are stored ones
        item.on_region_changed = self.tag_layer.update  # the tag layer's pixels are cached
        self._items[ann.id] = item
        self._tagged.add(ann.id)  # its tag sits at the corner until the next layout
        self._scene.addItem(item)
        item.set_layer(self.mask_layer if self.mask_layer.isVisible() else None)
        self._apply_visibility(item)
        self._by_score = None  # sorted again at the next threshold move

    def pending_overlays(self) -> int:
        """How many mask items still wait for their overlay to be built."""
        return sum(item.needs_decode for item in self._items.values())

    def build_pending_overlays(self) -> None:
        """Build every waiting overlay now (benchmarks, screenshots)."""
        self._decode_timer.stop()
        for item in self._items.values():
            item.ensure_decoded()

    def _decode_some(self, budget_s: float = 0.03) -> None:
        pending = [item for item in self._items.values() if item.needs_decode]
        if not pending:
            return
        visible = self.mapToScene(self.viewport().rect()).boundingRect()
        pending.sort(key=lambda item: not item.sceneBoundingRect().intersects(visible))
        deadline = time.perf_counter() + budget_s
        for item in pending:
            item.ensure_decoded()
            if time.perf_counter() > deadline:
                break
        if pending[-1].needs_decode:
            self._decode_timer.start()

    def _apply_visibility(self, item: AnnotationItem) -> None:
        ann = item.annotation
        score = ann.score if ann.score is not None else 1.0
        visible = not (is_proposal(ann) and score < self._threshold)
        if not visible and item.isSelected():
            item.setSelected(False)
        item.setVisible(visible)

    def _on_added(self, ann_id: int) -> None:
        if ann_id not in self._items and self._document is not None:
            self._add_item(self._document.annotation(ann_id))
            self._items[ann_id].ensure_decoded()  # one new item: show it at once
        self._tags_changed([ann_id])
        self._tool.annotation_changed(ann_id)

    def _on_changed(self, ann_id: int) -> None:
        item = self._items.get(ann_id)
        if item is None or self._document is None:
            return self._on_added(ann_id)
        ann = self._document.annotation(ann_id)
        old_category = item.annotation.category_id
        item.set_annotation(ann)
        item.ensure_decoded()  # the user is looking at this edit: no lag
        if ann.category_id != old_category:
            item.set_style(
                self.category_color(ann.category_id), self._category_name(ann.category_id)
            )
        self._apply_visibility(item)
        self._by_score = None  # its score or state may differ
        self._tags_changed([ann_id])
        self._tool.annotation_changed(ann_id)

    def _on_removed(self, ann_id: int) -> None:
        item = self._items.pop(ann_id, None)
        if item is not None:
            item.set_layer(None)  # its pixels leave the layer too
            self._by_score = None
            self._scene.removeItem(item)
            self._tags_changed([ann_id])
        self._tool.annotation_changed(ann_id)

    # ---- selection ---------------------------------------------------------------------------
    def selected_items(self) -> list[AnnotationItem]:
        # The scene's list of selected items: asking 2,000 items took 25 ms per selection.
        selected = self._scene.selectedItems()
        return sorted(
            (i for i in selected if isinstance(i, AnnotationItem)), key=lambda i: i.ann_id
        )

    def selected_ids(self) -> list[int]:
        return [item.ann_id for item in self.selected_items()]

    def select_annotation(self, ann_id: int | None) -> None:
        """Select one annotation (None: clear) and scroll it into view if it is off screen."""
        self._scene.clearSelection()
        item = self._items.get(ann_id) if ann_id is not None else None
        if item is None or not item.isVisible():
            return
        item.setSelected(True)
        visible = self.mapToScene(self.viewport().rect()).boundingRect()
        if not visible.intersects(item.sceneBoundingRect()):
            self.centerOn(item.sceneBoundingRect().center())

    def clear_selection(self) -> None:
        self._scene.clearSelection()

    @property
    def last_drawn_id(self) -> int | None:
        """The shape drawn last, left unselected; brush and eraser strokes go on with it
        while nothing is selected. Forgotten once anything is selected."""
        return self._last_drawn_id

    def remember_drawn(self, ann_id: int | None) -> None:
        self._last_drawn_id = ann_id

    def select_next(self, backwards: bool = False) -> None:
        """Tab order: the visible annotations by id, wrapping around."""
        current = self.selected_ids()
        order = sorted(self._items)
        item = self._items.get(current[0]) if current else None
        if item is not None and item.isVisible():
            # Walk from the selection to the next visible one: asking all 2,000 items whether
            # they are visible took longer than the rest of a Tab.
            start, step = bisect.bisect_left(order, current[0]), -1 if backwards else 1
            for k in range(1, len(order) + 1):
                ann_id = order[(start + step * k) % len(order)]
                if self._items[ann_id].isVisible():
                    self.select_annotation(ann_id)
                    return
        ids = [ann_id for ann_id in order if self._items[ann_id].isVisible()]
        if not ids:
            return
        if not current:
            self.select_annotation(ids[-1] if backwards else ids[0])
            return
        index = ids.index(current[0]) if current[0] in ids else -1
        step = -1 if backwards else 1
        self.select_annotation(ids[(index + step) % len(ids)])

    def layout_tags(self) -> None:
        """Place the tags of the boxes in view so none overlaps another (view_tags.py)."""
        view_tags.layout_tags(self)

    def _schedule_tag_layout(self, *_: object) -> None:
        self._tag_timer.start()

    def _schedule_pan_tag_layout(self, *_: object) -> None:
        self._pan_tag_timer.start()  # restarted by each step: one layout when the pan pauses

    def _tags_changed(self, ann_ids: Iterable[int]) -> None:
        """These items' tags (text, box, priority) changed: lay the tags out again."""
        self._tag_stale.update(ann_ids)
        self._tag_timer.start()

    def _on_scene_selection(self) -> None:
        selected = set(self.selected_ids())
        self._tags_changed(selected.symmetric_difference(self._tag_selected))
        self._tag_selected = selected
        if self._scene.selectedItems():
            self._last_drawn_id = None  # the user moved on to another object
        self._tool.selection_changed()
        self.selectionChanged.emit(self.selected_ids())

    # ---- zoom ----------------------------------------------------------------------------------
    def to_scene(self, view_point: QPointF) -> QPointF:
        """Sub-pixel scene position of a viewport point (mapToScene rounds to integers)."""
        inverse, _ = self.viewportTransform().inverted()
        return inverse.map(view_point)

    # ---- events ----------------------------------------------------------------------------------
    def wheelEvent(self, event: QWheelEvent) -> None:
        self.zoom.wheel(event)

    def drawBackground(self, painter: QPainter, rect: QRectF | QRect) -> None:
        """The background brush around the photo only: under an opaque photo that covers
        the exposed area, filling it cost a viewport-sized fill per frame, all drawn over."""
        photo = self._pixmap_item
        if photo.isVisible() and photo.sceneBoundingRect().contains(QRectF(rect)):
            pixmap = photo.pixmap()
            if not pixmap.isNull() and not pixmap.hasAlphaChannel():
                return
        super().drawBackground(painter, rect)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.decoding_overlay.recentre()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (
            button == Qt.MouseButton.LeftButton and self._space_held
        ):
            self._pan_from = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        if self._tool.press(event, self.to_scene(event.position())):
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = self.to_scene(event.position())
        self.cursorMoved.emit(pos.x(), pos.y())
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(
                self.horizontalScrollBar().value() - round(delta.x())
            )
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - round(delta.y()))
            event.accept()
            return
        if self._tool.move(event, pos):
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None and event.button() in (
            Qt.MouseButton.MiddleButton,
            Qt.MouseButton.LeftButton,
        ):
            self._pan_from = None
            cursor = Qt.CursorShape.OpenHandCursor if self._space_held else self._tool.cursor
            self.viewport().setCursor(cursor)
            event.accept()
            return
        if self._tool.release(event, self.to_scene(event.position())):
            event.accept()
            return
        super().mouseReleaseEvent(event)
        if event.button() == Qt.MouseButton.LeftButton:
            self.edits.commit_item_drags()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self._tool.double_click(event, self.to_scene(event.position())):
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def leaveEvent(self, event: QEvent) -> None:
        self._tool.leave()
        super().leaveEvent(event)

    def event(self, event: QEvent) -> bool:
        kind = event.type()
        if isinstance(event, QKeyEvent):
            if kind == QEvent.Type.ShortcutOverride and (
                event.key() in _CANVAS_KEYS or self._tool.wants_key(event)
            ):
                event.accept()  # deliver it as a key press here, not to a window shortcut
                return True
            tab = (Qt.Key.Key_Tab, Qt.Key.Key_Backtab)
            if kind == QEvent.Type.KeyPress and event.key() in tab:
                # QWidget would move keyboard focus; on the canvas Tab walks the instances.
                self.select_next(backwards=event.key() == Qt.Key.Key_Backtab)
                return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if self._tool.key_press(event):
            return
        key = event.key()
        if key == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space_held = True
                self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
        elif key == Qt.Key.Key_Escape:
            if not self._tool.cancel():
                self._scene.clearSelection()
        elif key == Qt.Key.Key_BracketLeft:
            self.set_brush_size(min(self._brush_size - 1, round(self._brush_size / _BRUSH_STEP)))
        elif key == Qt.Key.Key_BracketRight:
            self.set_brush_size(max(self._brush_size + 1, round(self._brush_size * _BRUSH_STEP)))
        # Fallbacks for a canvas used without the window's actions (Enter, Delete).
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.edits.accept_selected()
        elif key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.edits.delete_selected()
        else:
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = False
            if self._pan_from is None:
                self.viewport().setCursor(self._tool.cursor)
            return
        super().keyReleaseEvent(event)
