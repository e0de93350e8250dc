"""Qt pixel work for the canvas: mask overlay images, outline paths, brush strokes.

The Qt-free mask operations (crops, contours, polygon rasters, hole filling) live in
`core.mask_pixels`; this module only turns their results into QImage / QPainterPath and
draws brush segments given as scene points.
"""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QImage, QPainterPath, QPolygonF

from core.mask_pixels import SUBPIXEL, SUBPIXEL_BITS


def overlay_image(mask: np.ndarray, color: QColor, alpha: int) -> QImage:
    """An ARGB32 premultiplied image: `color` at `alpha` where the mask is set, clear elsewhere.

    Built once per mask change and then only blitted, so painting a frame never touches
    the mask's pixels again.
    """
    h, w = mask.shape
    a = alpha / 255.0
    # Premultiplied ARGB packed into native-endian uint32, which is what QImage expects.
    value = (
        (alpha << 24)
        | (round(color.red() * a) << 16)
        | (round(color.green() * a) << 8)
        | round(color.blue() * a)
    )
    pixels = np.zeros((h, w), dtype=np.uint32)
    pixels[mask] = value
    image = QImage(pixels.data, w, h, 4 * w, QImage.Format.Format_ARGB32_Premultiplied)
    return image.copy()  # detach from the numpy buffer, which dies with this frame


def outline_path(contours: list[np.ndarray], epsilon: float = 0.5) -> QPainterPath:
    """Boundaries as one odd-even filled scene path through boundary pixel centres.

    `epsilon` (px) simplifies the staircase; the canvas asks for coarser paths when zoomed
    out, so stroking hundreds of outlines per frame stays cheap.
    """
    path = QPainterPath()
    path.setFillRule(Qt.FillRule.OddEvenFill)
    for contour in contours:
        if epsilon > 0 and len(contour) > 8:
            contour = cv2.approxPolyDP(contour.reshape(-1, 1, 2), epsilon, True).reshape(-1, 2)
        pts = contour.astype(np.float64) + 0.5
        if len(pts) == 1:  # a single pixel: draw it as its square
            path.addRect(pts[0, 0] - 0.5, pts[0, 1] - 0.5, 1.0, 1.0)
            continue
        path.addPolygon(QPolygonF([QPointF(float(px), float(py)) for px, py in pts]))
        path.closeSubpath()
    return path


def paint_segment(footprint: np.ndarray, p0: QPointF, p1: QPointF, diameter: float) -> None:
    """Mark a round-capped brush segment from p0 to p1 (scene points) in a uint8 footprint."""
    a = (round((p0.x() - 0.5) * SUBPIXEL), round((p0.y() - 0.5) * SUBPIXEL))
    b = (round((p1.x() - 0.5) * SUBPIXEL), round((p1.y() - 0.5) * SUBPIXEL))
    radius = max(0.5, diameter / 2.0)
    # A filled circle at each end plus a thick line between them is a capsule.
    for centre in (a, b):
        cv2.circle(footprint, centre, round(radius * SUBPIXEL), 1, -1, cv2.LINE_8, SUBPIXEL_BITS)
    if a != b:
        cv2.line(footprint, a, b, 1, max(1, round(2 * radius)), cv2.LINE_8, SUBPIXEL_BITS)
