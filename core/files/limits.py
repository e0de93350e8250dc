"""The largest image MaskLoop accepts, shared by the image reader and the COCO checks.

A file whose header claims more is refused before anything is allocated: a 100 kB PNG can
claim 100,000 x 100,000 pixels (30 GB as RGB), the classic decompression bomb. The limits
are OpenCV's own defaults (CV_IO_MAX_IMAGE_PIXELS, CV_IO_MAX_IMAGE_WIDTH/HEIGHT), so a file
MaskLoop accepts is one OpenCV decodes; they admit the huge images MaskLoop is made for
(30,000 x 30,000 = 900 Mpx, about 2.7 GB as RGB) and refuse anything larger than 2^30 pixels.
"""

from __future__ import annotations

MAX_IMAGE_PIXELS = 1 << 30
"""1,073,741,824 pixels (about 32,768 x 32,768)."""

MAX_IMAGE_SIDE = 1 << 20
"""1,048,576 pixels: no side may be longer, whatever the other."""


def oversize_reason(width: int, height: int) -> str | None:
    """Why an image of `width` x `height` pixels is refused, or None when it is accepted."""
    if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE:
        return (
            f"it is {width:,} x {height:,} pixels; MaskLoop accepts at most "
            f"{MAX_IMAGE_SIDE:,} pixels a side"
        )
    if width * height > MAX_IMAGE_PIXELS:
        return (
            f"it is {width:,} x {height:,} = {width * height:,} pixels; MaskLoop accepts at "
            f"most {MAX_IMAGE_PIXELS:,} (about 32,768 x 32,768)"
        )
    return None
