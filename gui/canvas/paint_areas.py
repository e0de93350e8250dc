"""The rectangles a paint can change, for the layers that draw many small things.

A diagonal pan step exposes two thin strips along the viewport's edges, but an item's
`exposedRect` is their bounding rectangle: the whole viewport. Qt clips the paint to the
strips (the paint engine's system clip), so a layer that blitted every tag and tile of the
bounding rectangle did a full frame's work for a few rows of pixels.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF
from PySide6.QtGui import QPainter

Edges = tuple[float, float, float, float]  # left, top, right, bottom
MAX_AREAS = 16  # beyond this many rectangles, testing each thing costs more than it saves


def painted_areas(painter: QPainter, margin: float = 1.0) -> list[Edges] | None:
    """The rectangles this paint can change, in the painter's current coordinates, grown
    by `margin` device pixels; None when nothing clips it to fewer pixels than it exposes
    (painting into an item cache, `QGraphicsScene.render`) or the clip has too many parts:
    then draw everything exposed."""
    engine = painter.paintEngine()
    if engine is None:
        return None
    clip = engine.systemClip()
    if clip.isEmpty() or clip.rectCount() > MAX_AREAS:
        return None
    inverse, invertible = painter.deviceTransform().inverted()
    if not invertible:
        return None
    areas = []
    for rect in clip:  # type: ignore[attr-defined]  # PySide6 iterates a QRegion; its stubs do not say so
        grown = QRectF(rect).adjusted(-margin, -margin, margin, margin)
        area = inverse.mapRect(grown)
        areas.append((area.left(), area.top(), area.right(), area.bottom()))
    return areas


def meets(areas: list[Edges], left: float, top: float, right: float, bottom: float) -> bool:
    """Whether the rectangle (edges) overlaps any of the areas."""
    for a_left, a_top, a_right, a_bottom in areas:
        if left < a_right and a_left < right and top < a_bottom and a_top < bottom:
            return True
    return False
