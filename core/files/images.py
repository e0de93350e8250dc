"""Reading image files as the detector and the canvas expect them: H x W x 3 uint8 RGB.

OpenCV decodes (fast, and it applies EXIF orientation unless told to read the file
"unchanged"). We ask for any depth and any colour layout, which keeps EXIF orientation on
while still admitting grayscale and 16-bit files, then convert everything to 8-bit RGB:
grayscale is replicated to three channels, alpha is dropped (annotators label what the
image shows, not its transparency), 16-bit values are scaled by 1/257 (65535 -> 255).

`read_image_size` reads only the header (PIL opens lazily) and swaps width and height for
the EXIF orientations that rotate by 90 degrees, so it agrees with `read_image`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from core.errors import ImageReadError
from core.files.limits import oversize_reason

# PIL refuses images over twice its own limit (179 Mpx) before MaskLoop sees their size. PIL
# only ever reads headers here (never pixels), and MaskLoop applies its own cap
# (core.files.limits) to every header it reads, so PIL's check is turned off.
Image.MAX_IMAGE_PIXELS = None

IMAGE_EXTENSIONS = (
    ".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".jp2", ".pbm", ".pgm", ".ppm",
)  # fmt: skip
_EXIF_ORIENTATION_TAG = 0x0112
_ROTATED_ORIENTATIONS = {5, 6, 7, 8}  # the EXIF orientations that turn the image 90 degrees
# ANYDEPTH keeps 16-bit samples, ANYCOLOR keeps grayscale as one channel; unlike
# IMREAD_UNCHANGED this combination still applies the EXIF orientation.
_DECODE_FLAGS = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR


def is_image_file(path: str | os.PathLike[str]) -> bool:
    """Whether the file name has an image extension MaskLoop reads."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def list_image_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files under `folder` (recursively), sorted by their path relative to it.

    Hidden files and folders are skipped: "._photo.jpg" is macOS's AppleDouble metadata,
    not an image, and ".thumbnails/" holds copies of the images beside it.
    """
    root = Path(folder)
    if not root.is_dir():
        raise ImageReadError(f"image folder {root} does not exist")
    files = [
        p
        for p in root.rglob("*")
        if is_image_file(p)
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
        and p.is_file()
    ]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def image_file_names(folder: str | os.PathLike[str]) -> list[str]:
    """`list_image_files` as "/"-separated paths relative to `folder` (a project's file_name)."""
    root = Path(folder)
    return [p.relative_to(root).as_posix() for p in list_image_files(root)]


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype == np.uint16:
        return (pixels.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    if np.issubdtype(pixels.dtype, np.floating):
        # Float images (TIFF/EXR) are usually 0..1; larger values are clipped.
        return (np.clip(np.nan_to_num(pixels), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    info = np.iinfo(pixels.dtype)
    scaled = (pixels.astype(np.float64) - info.min) / (info.max - info.min)
    return (scaled * 255 + 0.5).astype(np.uint8)


def _to_rgb(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 2:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)
    channels = pixels.shape[2]
    if channels == 1:
        return cv2.cvtColor(pixels[:, :, 0], cv2.COLOR_GRAY2RGB)
    if channels == 3:
        return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    if channels == 4:
        return cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGB)
    raise ValueError(f"{channels} channels")


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """The image at `path` as a contiguous H x W x 3 uint8 RGB array, EXIF orientation applied.

    Raises ImageReadError naming the file if it is missing, unreadable or not an image.
    """
    path = Path(path)
    try:
        # np.fromfile + imdecode instead of imread: works with non-ASCII paths on Windows.
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError as exc:
        raise ImageReadError(f"image {path} does not exist") from exc
    except (IsADirectoryError, PermissionError, OSError) as exc:
        raise ImageReadError(f"image {path} cannot be read: {exc.strerror or exc}") from exc
    if data.size == 0:
        raise ImageReadError(f"image {path} is an empty file")
    _refuse_oversize(path, _header_size(data))  # before a decoder allocates anything
    try:
        pixels = cv2.imdecode(data, _DECODE_FLAGS)
    except cv2.error as exc:  # OpenCV's own size limits, a decoder's assertion
        raise ImageReadError(f"image {path} cannot be decoded: {_first_line(exc)}") from exc
    if pixels is None or pixels.size == 0:
        raise ImageReadError(f"image {path} is corrupt or not in an image format OpenCV reads")
    try:
        return np.ascontiguousarray(_to_rgb(_to_uint8(pixels)))
    except ValueError as exc:
        raise ImageReadError(f"image {path} has an unsupported pixel layout ({exc})") from exc


def read_image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(width, height) of the image as `read_image` returns it, from the header only."""
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"image {path} does not exist")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                _refuse_oversize(path, (width, height))
                if image.format == "PNG" and "exif" not in image.info:
                    # PIL's getexif would decode every pixel looking for an eXIf chunk after
                    # them (2.7 GB for 30,000 x 30,000); one before them is in `info` already.
                    orientation = 1
                else:
                    orientation = image.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        # PIL cannot parse every format OpenCV can (e.g. some TIFF/JPEG 2000 variants).
        return _size_by_decoding(path, exc)
    if orientation in _ROTATED_ORIENTATIONS:
        width, height = height, width
    return int(width), int(height)


def _header_size(data: np.ndarray) -> tuple[int, int] | None:
    """(width, height) from the file's header alone (PIL parses headers lazily), or None
    when PIL does not know the format (OpenCV's own limits then still apply)."""
    import io

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data.tobytes())) as image:
                return int(image.size[0]), int(image.size[1])
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None


def _refuse_oversize(path: Path, size: tuple[int, int] | None) -> None:
    reason = None if size is None else oversize_reason(*size)
    if reason is not None:
        raise ImageReadError(f"image {path} is refused before decoding: {reason}")


def _first_line(exc: Exception) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(exc).__name__


def _size_by_decoding(path: Path, cause: Exception) -> tuple[int, int]:
    try:
        pixels = read_image(path)
    except ImageReadError as exc:
        raise ImageReadError(f"{exc} ({cause})") from cause
    return int(pixels.shape[1]), int(pixels.shape[0])


class _ImageSizeStore(Protocol):
    """The part of core.store.project_store.ProjectStore that `check_image_size` uses."""

    def get_image(self, image_id: int): ...  # noqa: ANN201 - ImageRecord
    def image_path(self, image_id: int) -> Path: ...
    def set_image_size(self, image_id: int, width: int, height: int, *, checked: bool = True): ...  # noqa: ANN201


def check_image_size(store: _ImageSizeStore, image_id: int) -> str | None:
    """Compare an image's real size with the stored one, the first time it is opened.

    Fixes the store when they differ (the file wins: masks are drawn on its pixels) and
    returns a warning for the user; returns None when they agree or it was checked before.
    """
    record = store.get_image(image_id)
    if record.size_checked:
        return None
    width, height = read_image_size(store.image_path(image_id))
    store.set_image_size(image_id, width, height, checked=True)
    if (width, height) == (record.width, record.height):
        return None
    return (
        f"image {record.file_name} is {width}x{height} pixels but the project recorded "
        f"{record.width}x{record.height}; the size was corrected. Annotations imported for the "
        "old size may be misplaced: check them."
    )
