"""A tile pyramid for huge images: decoded once, cached beside the project, read tile by tile.

A 30,000 x 30,000 photo is 2.7 GB of RGB pixels; decoding it on every opening and keeping
it whole in memory (and again as a QImage, and again as a pixmap) is what makes other
annotators stall or crash on aerial and pathology images. Here the image is decoded once,
in the background, into levels that halve until the whole image fits one tile:

    level 0: full resolution, level k: ceil(size / 2**k), the last one <= TILE_SIZE a side

Each level pixel is the mean of the full-resolution pixels of its 2**k x 2**k block (the
last row and column cover what is left of the image), so a level pixel covers exactly 2**k
image pixels and its tiles line up with the image's pixel grid at every zoom.

Each level is one uncompressed ``.npy`` file (H x W x 3 uint8 RGB) that is memory-mapped
when read, so a tile is a slice of a file the operating system pages in on demand and
reopening the project is instant (a few file opens). The cache folder is
``NAME.tiles/<key>/`` beside the project file ``NAME.maskloop``; the key is a hash of the
image's resolved path, modification time and size, so an edited image gets new tiles and
the old ones are removed when the new ones are built.

Memory bound:
- while building (once per image and change): an 8-bit RGB or grey baseline JPEG or an 8-bit
  RGB PNG (not interlaced, not EXIF-rotated) is decoded strip by strip (core/files/strip_decode.py)
  and each strip is written to every level at once, so the build holds one strip of
  S = max(256, 2**(L-1)) rows (L levels: 256 rows for any side up to 131,072 px) as RGBX,
  RGB and level sums, about S x W x 14 bytes, plus the rows one 64 kB chunk of the file
  decodes: about 110 MB for a 30,000 px wide image, whatever its height. Any other file
  (progressive JPEG included) is decoded whole by OpenCV first (W x H x 3 bytes, twice that
  while OpenCV decodes), then written strip by strip;
- afterwards: only the tiles asked for (TILE_SIZE**2 x 3 bytes each, 768 KB), plus whatever
  the caller caches (the canvas keeps an LRU of TILE_CACHE tiles); the mapped level files
  live in the page cache, which the system reclaims as it needs.
Disk: about 4/3 x W x H x 3 bytes (3.6 GB for 30,000 x 30,000).

Qt-free: the canvas (gui/canvas/tiled_image.py) draws these tiles.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core.errors import ImageReadError
from core.files.images import read_image, read_image_size
from core.files.strip_decode import iter_strips, strip_decodable

TILE_SIZE = 512
TILED_MIN_SIDE = 4096
"""Images with a side longer than this are shown from a tile pyramid; smaller ones whole."""
FORMAT_VERSION = 1
_META = "pyramid.json"
# One build at a time in a process: the canvas's loader and the proposal worker may both
# want the same new image, and each build holds a full decode.
_BUILD_LOCK = threading.Lock()

Progress = Callable[[int, int], None]
"""progress(full-resolution rows written, rows in all) while building."""
PartialLevel = Callable[[np.ndarray, int], None]
"""partial(pixels, rows) after each strip of a streamed build: the whole coarse level, of
which the first `rows` rows are written (the array is reused: copy what you keep)."""


def needs_pyramid(width: int, height: int, min_side: int = TILED_MIN_SIDE) -> bool:
    """Whether an image this size is shown tiled (a side longer than `min_side`)."""
    return max(width, height) > min_side


def cache_folder(project_path: str | os.PathLike[str]) -> Path:
    """Where a project's tiles live: ``NAME.tiles`` beside ``NAME.maskloop``."""
    project = Path(project_path)
    return project.with_name(project.stem + ".tiles")


def level_sizes(width: int, height: int, tile: int = TILE_SIZE) -> list[tuple[int, int]]:
    """(width, height) of each level, halving (rounding up) until one tile holds the image."""
    sizes = [(width, height)]
    while max(sizes[-1]) > tile:
        w, h = sizes[-1]
        sizes.append(((w + 1) // 2, (h + 1) // 2))
    return sizes


def cache_key(image_path: str | os.PathLike[str]) -> str:
    """A name for the image's tiles that changes when the file does (path, mtime, size)."""
    path = Path(image_path).resolve()
    try:
        stat = path.stat()
    except OSError as exc:
        raise ImageReadError(f"image {path} cannot be read: {exc.strerror or exc}") from exc
    text = f"{path}\n{stat.st_mtime_ns}\n{stat.st_size}\n{FORMAT_VERSION}"
    return hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()[:20]


@dataclass(frozen=True)
class TileKey:
    level: int
    col: int
    row: int


class TilePyramid:
    """The levels of one image, memory-mapped; `tile()` reads one tile's RGB pixels."""

    def __init__(self, folder: Path, meta: dict) -> None:
        self.folder = folder
        self.source = str(meta["source"])
        self.tile_size = int(meta["tile"])
        self.sizes: list[tuple[int, int]] = [(int(w), int(h)) for w, h in meta["levels"]]
        self._levels: list[np.ndarray | None] = [None] * len(self.sizes)

    @property
    def width(self) -> int:
        return self.sizes[0][0]

    @property
    def height(self) -> int:
        return self.sizes[0][1]

    @property
    def level_count(self) -> int:
        return len(self.sizes)

    def level_array(self, level: int) -> np.ndarray:
        """The whole level, memory-mapped read-only (nothing is read until sliced)."""
        array = self._levels[level]
        if array is None:
            array = np.load(self.folder / f"level-{level}.npy", mmap_mode="r")
            self._levels[level] = array
        return array

    def scale_of(self, level: int) -> int:
        """Full-resolution pixels per level pixel (a level's last pixel may reach beyond)."""
        return 2**level

    def grid(self, level: int) -> tuple[int, int]:
        """(columns, rows) of tiles at this level."""
        w, h = self.sizes[level]
        return math.ceil(w / self.tile_size), math.ceil(h / self.tile_size)

    def level_for_scale(self, scale: float) -> int:
        """The coarsest level still at least as sharp as the screen at view scale `scale`
        (screen pixels per image pixel): level k when 2**k <= 1/scale < 2**(k+1)."""
        if scale <= 0:
            return self.level_count - 1
        level = math.floor(math.log2(1.0 / scale) + 1e-9) if scale < 1 else 0
        return min(max(level, 0), self.level_count - 1)

    def tile_rect(self, key: TileKey) -> tuple[int, int, int, int]:
        """Where a tile lies in full-resolution pixels: (x, y, width, height)."""
        s = self.scale_of(key.level)
        span = self.tile_size * s
        x0, y0 = key.col * span, key.row * span
        x1, y1 = min(x0 + span, self.width), min(y0 + span, self.height)
        return x0, y0, x1 - x0, y1 - y0

    def tiles_in(self, level: int, x0: float, y0: float, x1: float, y1: float) -> list[TileKey]:
        """The tiles of `level` that a full-resolution rectangle touches, row by row."""
        span = self.tile_size * self.scale_of(level)
        cols, rows = self.grid(level)
        c0 = max(0, math.floor(x0 / span))
        r0 = max(0, math.floor(y0 / span))
        c1 = min(cols - 1, math.ceil(x1 / span) - 1)
        r1 = min(rows - 1, math.ceil(y1 / span) - 1)
        return [TileKey(level, c, r) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)]

    def tile(self, key: TileKey) -> np.ndarray:
        """One tile's pixels (a contiguous copy, tile_size or less a side, RGB uint8)."""
        array = self.level_array(key.level)
        t = self.tile_size
        y0, x0 = key.row * t, key.col * t
        return np.ascontiguousarray(array[y0 : y0 + t, x0 : x0 + t])

    def iter_tiles(self, level: int) -> Iterator[TileKey]:
        cols, rows = self.grid(level)
        for row in range(rows):
            for col in range(cols):
                yield TileKey(level, col, row)


def open_pyramid(
    image_path: str | os.PathLike[str], cache_root: str | os.PathLike[str]
) -> TilePyramid | None:
    """The image's cached pyramid, or None when there is none for its current contents."""
    folder = Path(cache_root) / cache_key(image_path)
    try:
        meta = json.loads((folder / _META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if meta.get("version") != FORMAT_VERSION:
        return None
    return TilePyramid(folder, meta)


def load_pyramid(
    image_path: str | os.PathLike[str],
    cache_root: str | os.PathLike[str],
    *,
    tile: int = TILE_SIZE,
    progress: Progress | None = None,
    partial: PartialLevel | None = None,
) -> TilePyramid:
    """The image's pyramid: the cached one, or built now (once) and cached. Builds in one
    process wait for each other, and the second finds the first's tiles."""
    cached = open_pyramid(image_path, cache_root)
    if cached is not None:
        return cached
    with _BUILD_LOCK:
        cached = open_pyramid(image_path, cache_root)
        if cached is not None:
            return cached
        return build_pyramid(image_path, cache_root, tile=tile, progress=progress, partial=partial)


def _decode_rgb(path: Path) -> np.ndarray:
    """The image as H x W x 3 uint8 RGB with at most one full-size array alive at a time.

    The common 8-bit colour file is converted from BGR in place; other layouts (grey,
    16-bit, alpha) go through `read_image`, which briefly holds a second copy.
    """
    # The header first: a missing file, or one claiming more pixels than MaskLoop accepts
    # (core.files.limits, a decompression bomb), fails before anything is allocated.
    read_image_size(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise ImageReadError(f"image {path} cannot be read: {exc.strerror or exc}") from exc
    try:
        pixels = cv2.imdecode(data, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    except cv2.error as exc:  # OpenCV's own size limits, a decoder's assertion
        raise ImageReadError(f"image {path} cannot be decoded: {exc}".splitlines()[0]) from exc
    del data
    if pixels is None or pixels.size == 0:
        raise ImageReadError(f"image {path} is corrupt or not in an image format OpenCV reads")
    if pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3:
        # In place, a strip at a time: OpenCV clones a source that is also the destination,
        # which for the whole image would be a second full-size copy (2.7 GB at 30,000 px).
        for y0 in range(0, pixels.shape[0], 256):
            strip = pixels[y0 : y0 + 256]
            cv2.cvtColor(strip, cv2.COLOR_BGR2RGB, dst=strip)
        return pixels
    del pixels
    return read_image(path)


def _pair_sums(values: np.ndarray, dtype: type[np.integer]) -> np.ndarray:
    """Sums of 2 x 2 blocks over the first two axes; an odd last row or column sums alone."""
    h, w = values.shape[:2]
    he, we = h - h % 2, w - w % 2
    if dtype is np.uint16 and he and we:
        # OpenCV's exact 2x area resize of 16-bit values is (a + b + c + d + 2) >> 2: fed
        # four times the values it returns the sum itself, twice as fast as numpy's strides.
        quad = np.left_shift(values[:he, :we], 2, dtype=np.uint16)
        even = cv2.resize(quad, (we // 2, he // 2), interpolation=cv2.INTER_AREA)
        even = even.reshape(he // 2, we // 2, -1)
        if h == he and w == we:
            return even
        sums = np.empty(((h + 1) // 2, (w + 1) // 2, values.shape[2]), dtype=dtype)
        sums[: he // 2, : we // 2] = even
        if w % 2:
            column = values[:he, w - 1 :]
            sums[: he // 2, -1:] = np.add(column[0::2], column[1::2], dtype=dtype)
        if h % 2:
            row = values[h - 1 :].astype(dtype)
            sums[-1:, : we // 2] = row[:, 0:we:2] + row[:, 1:we:2]
            if w % 2:
                sums[-1, -1] = row[0, -1]
        return sums
    rows = np.add(values[0 : h - 1 : 2], values[1:h:2], dtype=dtype)
    if h % 2:
        rows = np.concatenate([rows, values[-1:].astype(dtype)], axis=0)
    sums = np.add(rows[:, 0 : w - 1 : 2], rows[:, 1:w:2], dtype=dtype)
    if w % 2:
        sums = np.concatenate([sums, rows[:, -1:]], axis=1)
    return sums


def _pair_counts(counts: np.ndarray) -> np.ndarray:
    if counts.size % 2:
        counts = np.append(counts, 0)
    return counts[0::2] + counts[1::2]


def _means(sums: np.ndarray, k: int, row_counts: np.ndarray, col_counts: np.ndarray) -> np.ndarray:
    """Block sums to rounded 8-bit means: a shift where a block is whole (all but the last
    row and column), a division on the edges that cover what is left of the image."""
    shift = 2 * k
    means = ((sums + (1 << (shift - 1))) >> shift).astype(np.uint8)
    if row_counts[-1] != 2**k:
        count = (row_counts[-1] * col_counts)[:, None]
        means[-1] = np.rint(sums[-1] / count).astype(np.uint8)
    if col_counts[-1] != 2**k:
        count = (row_counts * col_counts[-1])[:, None]
        means[:, -1] = np.rint(sums[:, -1] / count).astype(np.uint8)
    return means


class _LevelWriter:
    """Writes every level from full-resolution strips handed in top to bottom.

    Each level is a ``.npy`` file written by appending rows: a strip's rows of every level
    follow the previous strip's, so nothing but the current strip is ever in memory. Each
    level pixel is the mean of its block rounded once: integer sums are carried from level
    to level, so no rounding error piles up as halving 8-bit levels would (up to 1.5 grey
    levels after four halvings)."""

    def __init__(
        self,
        folder: Path,
        sizes: list[tuple[int, int]],
        channels: int = 3,
        kept_level: int | None = None,
    ) -> None:
        self.sizes = sizes
        # One coarse level also kept in memory, for a preview that fills in as rows arrive.
        self.kept_level = kept_level
        self.kept: np.ndarray | None = None
        if kept_level is not None:
            w, h = sizes[kept_level]
            self.kept = np.zeros((h, w, channels), dtype=np.uint8)
        top = 2 ** (len(sizes) - 1)
        # A multiple of the coarsest block: strips never split one.
        self.strip_rows = top * max(1, 256 // top)
        self._files = []
        for k, (w, h) in enumerate(sizes):
            file = open(folder / f"level-{k}.npy", "wb")  # noqa: SIM115 - closed in close()
            header = {"descr": "|u1", "fortran_order": False, "shape": (h, w, channels)}
            np.lib.format.write_array_header_1_0(file, header)
            self._files.append(file)
        self.rows = 0  # full-resolution rows written so far

    def add(self, strip: np.ndarray) -> None:
        """The next `strip_rows` rows of the image (fewer for the last strip)."""
        strip = np.ascontiguousarray(strip)
        strip.tofile(self._files[0])
        sums = strip
        width = strip.shape[1]
        row_counts = np.ones(strip.shape[0], dtype=np.int64)
        col_counts = np.ones(width, dtype=np.int64)
        for k, file in enumerate(self._files[1:], start=1):
            # 4**k pixels of at most 255 fit 16 bits up to k = 4.
            sums = _pair_sums(sums, np.uint16 if 4**k * 255 < 2**16 else np.uint32)
            row_counts, col_counts = _pair_counts(row_counts), _pair_counts(col_counts)
            means = _means(sums, k, row_counts, col_counts)
            means.tofile(file)
            if k == self.kept_level and self.kept is not None:
                start = self.rows >> k
                self.kept[start : start + means.shape[0]] = means
        self.rows += strip.shape[0]

    def close(self) -> None:
        for file in self._files:
            file.close()


def _write_levels(
    pixels: Iterator[np.ndarray],
    writer: _LevelWriter,
    progress: Progress | None,
    partial: PartialLevel | None = None,
) -> None:
    height = writer.sizes[0][1]
    for strip in pixels:
        writer.add(strip)
        if progress is not None:
            progress(writer.rows, height)
        if partial is not None and writer.kept is not None and writer.kept_level is not None:
            scale = 2**writer.kept_level
            partial(writer.kept, min(-(-writer.rows // scale), writer.kept.shape[0]))
    if writer.rows != height:
        raise ImageReadError(f"the image has {writer.rows} rows, its header said {height}")


def _whole_decode_strips(path: Path, rows: int) -> Iterator[np.ndarray]:
    """Strips of a whole decode (`_decode_rgb`), for the formats Pillow cannot stream."""
    pixels = _decode_rgb(path)
    for y0 in range(0, pixels.shape[0], rows):
        yield pixels[y0 : y0 + rows]


def build_pyramid(
    image_path: str | os.PathLike[str],
    cache_root: str | os.PathLike[str],
    *,
    tile: int = TILE_SIZE,
    progress: Progress | None = None,
    partial: PartialLevel | None = None,
    partial_level: int = 3,
) -> TilePyramid:
    """Decode the image once and write its levels; replaces older tiles of the same file.

    An 8-bit RGB or grey baseline JPEG or RGB PNG is decoded strip by strip
    (core/files/strip_decode.py): only a strip of rows is ever held. Other files are decoded
    whole, then written strip by strip.
    `partial`, on a streamed build, sees level `partial_level` (or the coarsest) fill in
    strip by strip: a preview for formats without a reduced decode (it costs that level's
    size in memory, W x H x 3 / 64 bytes for level 3).
    Written into a temporary folder that is renamed into place at the end, so a crash or
    kill mid-build leaves no half pyramid that a later opening would trust.
    """
    path = Path(image_path).resolve()
    root = Path(cache_root)
    key = cache_key(path)
    width, height = read_image_size(path)  # a missing file or a decompression bomb fails here
    sizes = level_sizes(width, height, tile)
    root.mkdir(parents=True, exist_ok=True)
    building = root / f".{key}.partial-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir()
    try:
        streamed = strip_decodable(path)
        kept = min(partial_level, len(sizes) - 1) if partial and streamed else None
        writer = _LevelWriter(building, sizes, kept_level=kept)
        try:
            strips: Iterator[np.ndarray]
            if streamed:
                strips = (s for _y0, s in iter_strips(path, writer.strip_rows))
            else:
                strips = _whole_decode_strips(path, writer.strip_rows)
            _write_levels(strips, writer, progress, partial)
        finally:
            writer.close()
        meta = {
            "version": FORMAT_VERSION,
            "source": str(path),
            "tile": tile,
            "levels": [list(s) for s in sizes],
        }
        (building / _META).write_text(json.dumps(meta), encoding="utf-8")
        target = root / key
        shutil.rmtree(target, ignore_errors=True)
        os.replace(building, target)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    _remove_stale(root, str(path), keep=key)
    return TilePyramid(target, meta)


def _remove_stale(root: Path, source: str, keep: str) -> None:
    """Delete older pyramids of the same image file (it changed since they were built)."""
    for folder in root.iterdir():
        if folder.name == keep or folder.name.startswith(".") or not folder.is_dir():
            continue
        try:
            meta = json.loads((folder / _META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if meta.get("source") == source:
            shutil.rmtree(folder, ignore_errors=True)
