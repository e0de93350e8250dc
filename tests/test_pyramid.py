"""The tile pyramid of huge images: exact levels, cut into tiles, cached and invalidated."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.errors import ImageReadError
from core.files import pyramid
from core.files.pyramid import (
    TileKey,
    build_pyramid,
    cache_folder,
    level_sizes,
    load_pyramid,
    needs_pyramid,
    open_pyramid,
)


def _synthetic(width: int, height: int) -> np.ndarray:
    """Gradients, hard-edged shapes and noise: every kind of pixel a level must average."""
    x, y = np.arange(width), np.arange(height)
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:, :, 0] = (x * 255 // width).astype(np.uint8)[None, :]
    image[:, :, 1] = (y * 255 // height).astype(np.uint8)[:, None]
    image[:, :, 2] = ((x // 7)[None, :] + (y // 5)[:, None]) % 256
    cv2.circle(image, (width // 2, height // 2), min(width, height) // 3, (250, 30, 60), -1)
    cv2.rectangle(image, (width - 9, 0), (width - 1, height - 1), (0, 255, 0), -1)
    noise = np.random.default_rng(0).integers(0, 256, (height // 4, width // 4, 3), np.uint8)
    image[: height // 4, : width // 4] = noise
    return image


def _write(path: Path, rgb: np.ndarray) -> Path:
    # BMP: no compression, so writing and decoding 30 MP takes a fraction of a second.
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def _halved_sums(sums: np.ndarray) -> np.ndarray:
    """Exact 2 x 2 block sums, the image padded with zeros to even sides."""
    height, width = sums.shape[:2]
    padded = np.zeros((height + height % 2, width + width % 2, *sums.shape[2:]), np.uint32)
    padded[:height, :width] = sums
    rows = padded[0::2] + padded[1::2]
    return rows[:, 0::2] + rows[:, 1::2]


def _reference_levels(image: np.ndarray, count: int) -> list[np.ndarray]:
    """Each level's pixel as the mean of the image pixels its block really covers."""
    sums = image
    counts = np.ones(image.shape[:2], np.uint32)
    levels = [image]
    for _ in range(1, count):
        sums, counts = _halved_sums(sums), _halved_sums(counts)
        levels.append(sums / counts[:, :, None])
    return levels


@pytest.fixture(scope="module")
def big_image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    folder = tmp_path_factory.mktemp("pyramid")
    rgb = _synthetic(6000, 5000)
    return _write(folder / "big.bmp", rgb), rgb


def test_level_sizes_halve_until_one_tile_holds_the_image() -> None:
    assert level_sizes(6000, 5000, 512) == [
        (6000, 5000),
        (3000, 2500),
        (1500, 1250),
        (750, 625),
        (375, 313),
    ]
    assert level_sizes(300, 200, 512) == [(300, 200)]
    assert needs_pyramid(4097, 10) and not needs_pyramid(4096, 4096)


def test_tiles_equal_the_downsampled_image_within_one_level(
    big_image: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    path, rgb = big_image
    built = build_pyramid(path, tmp_path / "cache")
    assert built.sizes == level_sizes(6000, 5000)
    for level, reference in enumerate(_reference_levels(rgb, built.level_count)):
        assert reference.shape[:2] == built.sizes[level][::-1]
        cols, rows = built.grid(level)
        t = built.tile_size
        for row in range(rows):
            for col in range(cols):
                tile = built.tile(TileKey(level, col, row)).astype(np.float64)
                expected = reference[row * t : (row + 1) * t, col * t : (col + 1) * t]
                expected = expected.astype(np.float64)
                assert tile.shape == expected.shape
                assert np.abs(tile - expected).max() <= 1.0, (level, col, row)
    # The tile a full-resolution rectangle asks for lies where tile_rect says.
    keys = built.tiles_in(2, 2100.0, 0.0, 2200.0, 10.0)
    assert keys == [TileKey(2, 1, 0)]
    assert built.tile_rect(keys[0]) == (2048, 0, 2048, 2048)
    assert built.tile_rect(TileKey(2, 2, 2)) == (4096, 4096, 6000 - 4096, 5000 - 4096)


def test_reopening_uses_the_cache_and_a_changed_file_rebuilds(
    big_image: tuple[Path, np.ndarray], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, rgb = big_image
    path = _write(tmp_path / "photo.bmp", rgb[:3000, :4500])
    cache = cache_folder(tmp_path / "project.maskloop")
    assert cache == tmp_path / "project.tiles"
    decodes = []
    real_decode = pyramid._decode_rgb
    monkeypatch.setattr(pyramid, "_decode_rgb", lambda p: decodes.append(p) or real_decode(p))

    first = load_pyramid(path, cache)
    again = load_pyramid(path, cache)
    assert len(decodes) == 1  # the second opening read the cache, it did not decode
    assert again.folder == first.folder
    assert np.array_equal(again.tile(TileKey(0, 3, 2)), first.tile(TileKey(0, 3, 2)))

    changed = rgb[:3000, :4500].copy()
    changed[:512, :512] = 7
    _write(path, changed)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert open_pyramid(path, cache) is None  # the old tiles no longer count
    rebuilt = load_pyramid(path, cache)
    assert len(decodes) == 2
    assert (rebuilt.tile(TileKey(0, 0, 0)) == 7).all()
    assert not first.folder.exists()  # the stale tiles were removed
    assert [p.name for p in cache.iterdir()] == [rebuilt.folder.name]


def test_an_unreadable_image_names_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    with pytest.raises(ImageReadError, match="broken.png"):
        build_pyramid(broken, tmp_path / "cache")
    assert not any((tmp_path / "cache").glob("*"))  # no half-built folder left behind
