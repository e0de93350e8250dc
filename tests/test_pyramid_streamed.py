"""Pyramids of JPEG and PNG files built strip by strip: the same levels as from a whole
decode, each pixel its block's exact mean, and broken files refused as before."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from test_pyramid import _reference_levels, _synthetic

from core.errors import ImageReadError
from core.files import pyramid
from core.files.images import read_image
from core.files.pyramid import build_pyramid
from core.files.strip_decode import iter_strips, strip_decodable

WIDTH, HEIGHT = 4300, 4133  # just above the tiling threshold; odd rows: a short last strip


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("streamed")
    bgr = cv2.cvtColor(_synthetic(WIDTH, HEIGHT), cv2.COLOR_RGB2BGR)
    paths = {"jpg": folder / "huge.jpg", "png": folder / "huge.png"}
    assert cv2.imwrite(str(paths["jpg"]), bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert cv2.imwrite(str(paths["png"]), bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return paths


def _levels(built: pyramid.TilePyramid) -> list[np.ndarray]:
    return [np.asarray(built.level_array(k)) for k in range(built.level_count)]


@pytest.mark.parametrize("kind", ["jpg", "png"])
def test_streamed_levels_equal_the_whole_decode_levels_and_the_exact_block_means(
    files: dict[str, Path], kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = files[kind]
    assert strip_decodable(path)
    whole = read_image(path)  # OpenCV, as the canvas and the model read every image

    def no_whole_decode(_path: Path) -> np.ndarray:
        raise AssertionError("the streamed build decoded the image whole")

    with monkeypatch.context() as patched:
        patched.setattr(pyramid, "_decode_rgb", no_whole_decode)
        streamed = build_pyramid(path, tmp_path / "streamed")
    with monkeypatch.context() as patched:  # the old way: one decode, then the levels
        patched.setattr(pyramid, "strip_decodable", lambda _path: False)
        decoded = build_pyramid(path, tmp_path / "whole")

    assert streamed.sizes == decoded.sizes
    for k, (mine, theirs) in enumerate(zip(_levels(streamed), _levels(decoded), strict=True)):
        assert mine.shape == theirs.shape and np.array_equal(mine, theirs), k
    assert np.array_equal(_levels(streamed)[0], whole)
    for k, reference in enumerate(_reference_levels(whole, streamed.level_count)):
        # Each level pixel is its block's mean, rounded once.
        assert np.abs(_levels(streamed)[k] - reference).max() <= 0.5, k


def test_a_grey_jpeg_streams_to_the_levels_of_its_whole_decode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "grey.jpg"
    grey = cv2.cvtColor(_synthetic(700, 530), cv2.COLOR_RGB2GRAY)
    assert cv2.imwrite(str(path), grey)
    assert strip_decodable(path)
    streamed = build_pyramid(path, tmp_path / "streamed", tile=128)
    monkeypatch.setattr(pyramid, "strip_decodable", lambda _path: False)
    decoded = build_pyramid(path, tmp_path / "whole", tile=128)
    assert streamed.level_count == decoded.level_count == 4
    for mine, theirs in zip(_levels(streamed), _levels(decoded), strict=True):
        assert np.array_equal(mine, theirs)
    assert np.array_equal(_levels(streamed)[0], read_image(path))


def test_strips_are_handed_out_top_to_bottom_in_whole_strips(files: dict[str, Path]) -> None:
    starts, heights = [], []
    for y0, strip in iter_strips(files["png"], 512):
        starts.append(y0)
        heights.append(strip.shape[0])
        assert strip.shape[1:] == (WIDTH, 3) and strip.flags.c_contiguous
    assert starts == list(range(0, HEIGHT, 512))
    assert heights == [512] * (HEIGHT // 512) + [HEIGHT % 512]


@pytest.mark.parametrize("kind", ["jpg", "png"])
def test_a_truncated_big_file_is_refused_naming_it_and_leaves_no_tiles(
    files: dict[str, Path], kind: str, tmp_path: Path
) -> None:
    data = files[kind].read_bytes()
    path = tmp_path / f"half.{kind}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match=f"half.{kind} is corrupt"):
        build_pyramid(path, tmp_path / "cache")
    assert not any((tmp_path / "cache").iterdir())  # no half-built folder left behind


def test_files_pillow_cannot_stream_exactly_are_decoded_whole(tmp_path: Path) -> None:
    grey = tmp_path / "grey.png"  # Pillow's PNG decoder writes grey only as grey
    assert cv2.imwrite(str(grey), np.zeros((8, 8), np.uint8))
    deep = tmp_path / "deep.png"
    assert cv2.imwrite(str(deep), np.zeros((8, 8, 3), np.uint16))
    bmp = tmp_path / "plain.bmp"
    assert cv2.imwrite(str(bmp), np.zeros((8, 8, 3), np.uint8))
    rotated = tmp_path / "rotated.jpg"  # Pillow would not turn it as OpenCV does
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (8, 4)).save(rotated, exif=exif)
    upright = tmp_path / "upright.jpg"
    Image.new("RGB", (8, 4)).save(upright)
    assert strip_decodable(upright)
    progressive = tmp_path / "progressive.jpg"  # libjpeg would hold it whole anyway
    assert cv2.imwrite(
        str(progressive), np.zeros((8, 8, 3), np.uint8), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]
    )
    assert not any(strip_decodable(p) for p in (grey, deep, bmp, rotated, progressive))


def test_a_streamed_build_shows_its_coarse_level_filling_in(
    files: dict[str, Path], tmp_path: Path
) -> None:
    seen: list[tuple[np.ndarray, int]] = []
    built = build_pyramid(
        files["png"], tmp_path / "cache", partial=lambda pixels, n: seen.append((pixels.copy(), n))
    )
    level = np.asarray(built.level_array(3))  # 1/8, the level a preview shows
    rows = [n for _, n in seen]
    assert rows == [*range(32, level.shape[0], 32), level.shape[0]]  # a strip is 32 rows there
    for pixels, n in seen:
        assert np.array_equal(pixels[:n], level[:n])
        assert not pixels[n:].any()  # not built yet


@pytest.mark.parametrize("kind", ["jpg", "png"])
def test_strips_are_handed_out_and_released_while_the_file_is_still_decoding(
    files: dict[str, Path], kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What bounds the memory: a strip goes out as soon as its rows are decoded, long before
    the last row is, and its rows are given back to the system right after."""
    from core.files import strip_decode

    decoded: list[int] = []
    released: list[tuple[int, int]] = []
    rows_written, release = strip_decode._rows_written, strip_decode._release

    def counting(pixels: np.ndarray, start: int) -> int:
        decoded.append(rows_written(pixels, start))
        return decoded[-1]

    def recording(buffer, width: int, y0: int, y1: int) -> None:
        released.append((y0, y1))
        release(buffer, width, y0, y1)

    monkeypatch.setattr(strip_decode, "_rows_written", counting)
    monkeypatch.setattr(strip_decode, "_release", recording)
    decoded_at_first_strip = None
    for y0, _strip in iter_strips(files[kind], 256):
        if y0 == 0:
            decoded_at_first_strip = decoded[-1]
            assert released == []
        else:
            assert released[-1] == (y0 - 256, y0)  # the strip before, once it was used
    assert decoded_at_first_strip is not None and 256 <= decoded_at_first_strip < HEIGHT // 2
    assert released == [(y, min(y + 256, HEIGHT)) for y in range(0, HEIGHT, 256)]
