"""Where box-to-mask looks on a huge image: a square window around the box, at the model's scale.

A Mask R-CNN rescales its input to its own size (800 px for r50, 256 for lite): a whole
20,000 px image shrunk that far turns a 100 px object into a pixel or two, and no head can
outline that. Tiled inference (core/detection/tiling.py) cuts such images into tiles of the
model's native size; box-to-mask needs only the part around the user's box, so it runs the
backbone on one square window centred on the box:

- its side is about WINDOW_CONTEXT x the box's longer side (the object plus as much context
  around it, as in the images the model learnt from), and never less than the model's tile
  size (a small object is then seen at its full resolution, like a tile's objects);
- it is moved, not cut, to stay inside the image, so a box near an edge keeps a square
  window at the same scale (only an image narrower than the window clips it);
- a cached window serves a later box (the live preview of a box being dragged) while the box
  lies inside it and the window is at most MAX_SHRINK x the side that box would get on its
  own: a box shrunk far inside a big window would be seen too small again, so it gets its
  own window.

All coordinates are whole image pixels, so shifting a window's masks back by its corner is
exact.
"""

from __future__ import annotations

import math

Window = tuple[int, int, int, int]  # x0, y0, x1, y1 in image pixels (x1, y1 exclusive)
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in image pixels

WINDOW_CONTEXT = 2.0
MAX_SHRINK = 2.0


def window_side(box: Box, tile: int) -> int:
    """The side of the window a box gets on its own: WINDOW_CONTEXT x its longer side, at
    least `tile`."""
    longer = max(box[2] - box[0], box[3] - box[1])
    return max(int(tile), int(math.ceil(WINDOW_CONTEXT * longer)))


def _span(lo: float, hi: float, side: int, length: int) -> tuple[int, int]:
    """[start, end) of `side` pixels centred on [lo, hi], moved back inside [0, length)."""
    if side >= length:
        return 0, length
    start = int(math.floor((lo + hi) / 2 - side / 2))
    start = min(max(0, start), length - side)
    return start, start + side


def window_for(box: Box, tile: int, width: int, height: int) -> Window:
    """The square window centred on `box` (kept inside a width x height image)."""
    side = window_side(box, tile)
    x0, x1 = _span(box[0], box[2], side, width)
    y0, y1 = _span(box[1], box[3], side, height)
    return x0, y0, x1, y1


def contains(window: Window, box: Box) -> bool:
    return (
        window[0] <= box[0] and window[1] <= box[1] and box[2] <= window[2] and box[3] <= window[3]
    )


def serves(window: Window, box: Box, tile: int) -> bool:
    """Whether a cached window can segment `box`: the box lies inside it, and the window is
    not so much larger than the box's own that the box would be seen shrunk."""
    side = max(window[2] - window[0], window[3] - window[1])
    return contains(window, box) and side <= MAX_SHRINK * window_side(box, tile)
