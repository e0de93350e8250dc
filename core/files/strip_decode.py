"""Decode a JPEG or PNG top to bottom in strips, never holding the whole image.

OpenCV decodes a file into one array, and its JPEG decoder holds a second full-size buffer
meanwhile: 5.2 GB for a 30,000 px square. Pillow's decoders are incremental instead: fed
the file a chunk at a time, they write the rows the chunk completes into an image they are
given. Here that image is an anonymous memory mapping as large as the whole image (virtual
address space, not memory) that Pillow writes as RGBX; each strip of completed rows is
handed to the caller, then given back to the system (`madvise(MADV_DONTNEED)`), so only the
rows decoded but not yet handed out are ever resident.

Which rows are complete: Pillow's RGB unpacker sets every pixel's fourth byte to 255 and the
mapping starts as zeros, and both decoders write whole rows in order, so the written rows
are the prefix whose last pixel's fourth byte is set. (Were that ever not so, nothing would
be wrong: the rows would all be handed out when the decoder reports the end, only later.)

Used for 8-bit RGB or grey baseline JPEG and RGB non-interlaced PNG without an EXIF
rotation, whose pixels come out identical to OpenCV's (the same libjpeg IDCT and upsampling;
PNG is lossless). The rest (progressive JPEG, grey PNG, 16-bit, CMYK, rotated, interlaced,
TIFF, ...) is decoded whole by the caller. A progressive JPEG would gain nothing: libjpeg
keeps all its coefficients until the last scan (W x H x 3 bytes for 4:2:0 chroma), then
writes every row in the one call that feeds it the end of the file (1.0 GB at 12,000 px
square, against 0.9 GB for OpenCV's whole decode).

Memory bound on Linux: the rows one chunk (CHUNK bytes of the file) completes plus one
strip, as RGBX (4 bytes a pixel). A chunk of maximally compressed data completes at most
some tens of megapixels (deflate expands at most 1,032 times; a flat JPEG costs at least
about 2 bits per 8 x 8 block), whatever the image size. Elsewhere (no madvise) the decoded
rows stay resident until the end.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from core.errors import ImageReadError
from core.files.images import read_image_size  # also lifts PIL's own pixel cap (see there)

CHUNK = 64 * 1024
_EXIF_ORIENTATION = 0x0112


def strip_decodable(path: str | os.PathLike[str]) -> bool:
    """Whether `iter_strips` decodes this file exactly as `read_image` would (see above)."""
    if not hasattr(Image, "_getdecoder"):  # a Pillow without it: the whole decode still works
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.mode not in ("RGB", "L") or len(image.tile) != 1:
                    return False
                codec, _extents, _offset, args = image.tile[0]
                if image.format == "JPEG":
                    rotated = image.getexif().get(_EXIF_ORIENTATION, 1) != 1
                    progressive = "progressive" in image.info or "progression" in image.info
                    return (
                        codec == "jpeg"
                        and args[0] == image.mode
                        and not rotated
                        and not progressive
                    )
                if image.format == "PNG" and image.mode == "RGB":
                    # An eXIf chunk before the pixels is in `info`; getexif would decode them.
                    return (
                        codec == "zip"
                        and args == "RGB"
                        and not image.info.get("interlace")
                        and "exif" not in image.info
                    )
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return False
    return False


def iter_strips(path: str | os.PathLike[str], rows: int) -> Iterator[tuple[int, np.ndarray]]:
    """(y0, pixels) of each strip of `rows` rows, top to bottom (the last one shorter), as
    contiguous H x W x 3 uint8 RGB arrays.

    Raises ImageReadError naming the file when it is truncated or corrupt.
    """
    path = Path(path)
    read_image_size(path)  # refuses a decompression bomb before anything is mapped
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as image:
            width, height = image.size
            codec, extents, offset, args = image.tile[0]
            config = image.decoderconfig
    if codec == "jpeg":  # libjpeg turns grey into RGB itself, as OpenCV's grey-to-RGB does
        args = ("RGB", *args[1:])
    # Pillow's decoder for the file's codec, writing RGB rows into an RGBX image.
    decoder = Image._getdecoder("RGBX", codec, args, config)  # noqa: SLF001 - no public one
    buffer = _anonymous_mapping(width * height * 4)
    pixels = np.frombuffer(buffer, dtype=np.uint8).reshape(height, width, 4)
    target = Image.frombuffer("RGBX", (width, height), pixels, "raw", "RGBX", 0, 1)
    decoder.setimage(target.im, extents)
    given = 0  # rows handed out (and released)
    try:
        with open(path, "rb") as file:
            file.seek(offset)
            read = _PngData(file).read if codec == "zip" else file.read
            pending = b""
            while True:
                data = read(CHUNK)
                if not data:
                    raise ImageReadError(
                        f"image {path} is corrupt or truncated: it ends before its pixels do"
                    )
                pending += data
                consumed, status = decoder.decode(pending)
                if consumed < 0:
                    if status < 0:
                        raise ImageReadError(
                            f"image {path} is corrupt: {Image.core.getcodecstatus(status)}"
                        )
                    break
                pending = pending[consumed:]
                written = _rows_written(pixels, given)
                while written - given >= rows:
                    yield given, _rgb(pixels[given : given + rows])
                    _release(buffer, width, given, given + rows)
                    given += rows
        while given < height:
            yield given, _rgb(pixels[given : given + rows])
            _release(buffer, width, given, min(given + rows, height))
            given += rows
    except OSError as exc:  # Pillow's own decoding errors
        raise ImageReadError(f"image {path} is corrupt: {exc}") from exc
    finally:
        decoder.cleanup()
        del decoder, target, pixels
        with contextlib.suppress(BufferError):  # a caller holds a strip: it keeps the mapping
            buffer.close()


def _anonymous_mapping(size: int) -> mmap.mmap:
    """Zero-filled memory of `size` bytes that only takes room where it is written; no swap
    is reserved for it (the rows written are handed out and released strip by strip)."""
    if os.name == "nt":  # no MAP_* flags on Windows; its anonymous mappings commit lazily
        return mmap.mmap(-1, size)
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_NORESERVE", 0)
    return mmap.mmap(-1, size, flags=flags)


def _rgb(rgbx: np.ndarray) -> np.ndarray:
    # OpenCV's vectorised channel drop is several times faster than numpy's strided copy.
    return cv2.cvtColor(rgbx, cv2.COLOR_RGBA2RGB)


def _rows_written(pixels: np.ndarray, start: int) -> int:
    """How many rows from the top are complete: a binary search for the first row whose
    last pixel's fourth byte is still 0 (rows before `start` are known complete)."""
    low, high = start, pixels.shape[0]
    while low < high:
        middle = (low + high) // 2
        if pixels[middle, -1, 3]:
            low = middle + 1
        else:
            high = middle
    return low


def _release(buffer: mmap.mmap, width: int, y0: int, y1: int) -> None:
    """Give the pages of rows y0..y1 back to the system (they read as zeros afterwards)."""
    advise = getattr(buffer, "madvise", None)
    option = getattr(mmap, "MADV_DONTNEED", None)
    if advise is None or option is None:
        return
    page = mmap.PAGESIZE
    start = -(-(y0 * width * 4) // page) * page
    end = (y1 * width * 4) // page * page
    if end > start:
        advise(option, start, end - start)


class _PngData:
    """Reads the concatenated IDAT payloads from the first one's data on (the tile's offset),
    as Pillow's PNG plugin feeds its decoder; b"" after the last."""

    def __init__(self, file: BinaryIO) -> None:
        file.seek(-8, os.SEEK_CUR)  # back to the first IDAT's length and type
        self._file = file
        self._left = 0  # bytes of the current IDAT still to read
        self._in_chunk = False  # a chunk's CRC is to be skipped before the next header
        self._done = False

    def read(self, size: int) -> bytes:
        while self._left == 0:
            if self._done:
                return b""
            if self._in_chunk:
                self._file.read(4)
            header = self._file.read(8)
            if len(header) < 8:
                self._done = True
                return b""
            length, kind = struct.unpack(">I4s", header)
            self._in_chunk = True
            if kind != b"IDAT":
                self._done = True
                return b""
            self._left = length
        data = self._file.read(min(size, self._left))
        if not data:
            self._done = True
        self._left -= len(data)
        return data
