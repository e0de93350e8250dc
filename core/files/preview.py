"""A quick, reduced decode of a huge JPEG, shown while its tile pyramid is built.

Decoding a 30,000 x 30,000 JPEG whole takes tens of seconds; libjpeg can instead scale
while it decodes (DCT scaling: it keeps only the low frequencies of each 8 x 8 block), so a
1/8 decode does a fraction of the work and allocates 1/64 of the memory. OpenCV exposes it
as `IMREAD_REDUCED_COLOR_2/4/8`. The canvas stretches the preview over the image's
full-resolution rectangle until the sharp tiles replace it.

Only JPEG has such a reduced decode: PNG's and TIFF's compression cannot skip detail, so
those formats get no preview and show "Decoding image…" until their pyramid is built.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

PREVIEW_MIN_SIDE = 1024
"""The preview's longest side is at least this (where the image is that large): the
coarsest reduction (1/8, 1/4, 1/2) that keeps it is used."""
_REDUCED_FLAGS = {
    8: cv2.IMREAD_REDUCED_COLOR_8,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    2: cv2.IMREAD_REDUCED_COLOR_2,
}
_JPEG_MAGIC = b"\xff\xd8\xff"


@dataclass(frozen=True)
class Preview:
    """A reduced decode: `pixels` (H x W x 3 uint8 RGB) covers the whole image, each of its
    pixels about `factor` x `factor` pixels of the full-resolution image."""

    pixels: np.ndarray
    factor: int


def has_reduced_decode(path: str | os.PathLike[str]) -> bool:
    """Whether the file is a JPEG (by its first bytes, whatever its name says)."""
    try:
        with open(path, "rb") as file:
            return file.read(3) == _JPEG_MAGIC
    except OSError:
        return False


def reduction_for(width: int, height: int, min_side: int = PREVIEW_MIN_SIDE) -> int:
    """The coarsest of 8, 4, 2 that keeps the preview's longest side >= `min_side`."""
    for factor in (8, 4, 2):
        if max(width, height) / factor >= min_side:
            return factor
    return 2


def decode_preview(path: str | os.PathLike[str], width: int, height: int) -> Preview | None:
    """A reduced decode of the JPEG at `path` (`width` x `height`: its size as
    `read_image` returns it, EXIF orientation applied, as OpenCV applies it here too), or
    None when the file is not a JPEG or cannot be decoded (the full decode that follows
    then reports why)."""
    path = Path(path)
    if not has_reduced_decode(path):
        return None
    factor = reduction_for(width, height)
    try:
        data = np.fromfile(path, dtype=np.uint8)
        pixels = cv2.imdecode(data, _REDUCED_FLAGS[factor])
    except (OSError, cv2.error):
        return None
    if pixels is None or pixels.ndim != 3 or pixels.shape[2] != 3:
        return None
    # libjpeg rounds a scaled side up: anything else means the header lied about the size.
    if pixels.shape[:2] != (-(-height // factor), -(-width // factor)):
        return None
    cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB, dst=pixels)
    return Preview(pixels, factor)
