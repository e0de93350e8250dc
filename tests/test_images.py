"""core.files.images: every kind of file becomes H x W x 3 uint8 RGB, or a clear ImageReadError."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from core.errors import ImageReadError
from core.files.images import check_image_size, list_image_files, read_image, read_image_size
from core.store import ProjectStore

EXIF_ORIENTATION = 0x0112


def _exif_rotated_jpeg(path, orientation: int) -> np.ndarray:
    """Stores a 40 wide x 20 high JPEG whose left quarter is red; returns the stored pixels."""
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :10] = (255, 0, 0)
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[EXIF_ORIENTATION] = orientation
    image.save(path, exif=exif.tobytes(), quality=95)
    return stored


def test_exif_rotated_jpeg_is_returned_upright(tmp_path):
    path = tmp_path / "rotated.jpg"
    _exif_rotated_jpeg(path, orientation=6)  # 6 = shown rotated 90 degrees clockwise
    pixels = read_image(path)
    assert pixels.shape == (40, 20, 3)
    # Rotating clockwise moves the stored left strip to the top.
    assert pixels[:8].mean(axis=(0, 1))[0] > 200
    assert pixels[-8:].mean() < 30
    assert read_image_size(path) == (20, 40)


def test_unrotated_jpeg_size_is_width_then_height(tmp_path):
    path = tmp_path / "plain.jpg"
    _exif_rotated_jpeg(path, orientation=1)
    assert read_image(path).shape == (20, 40, 3)
    assert read_image_size(path) == (40, 20)


def test_png_channels_come_back_in_rgb_order(tmp_path):
    rgb = np.zeros((5, 6, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 10, 100, 200
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.png"), rgb)


def test_grayscale_is_replicated_to_three_channels(tmp_path):
    gray = np.arange(48, dtype=np.uint8).reshape(6, 8) * 5
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    pixels = read_image(tmp_path / "gray.png")
    assert pixels.shape == (6, 8, 3) and pixels.dtype == np.uint8
    for channel in range(3):
        np.testing.assert_array_equal(pixels[..., channel], gray)


def test_rgba_drops_alpha_and_keeps_colour(tmp_path):
    rgba = np.zeros((4, 7, 4), np.uint8)
    rgba[..., 0], rgba[..., 2], rgba[..., 3] = 10, 200, 0  # fully transparent
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    pixels = read_image(tmp_path / "rgba.png")
    assert pixels.shape == (4, 7, 3)
    np.testing.assert_array_equal(pixels[0, 0], [10, 0, 200])


def test_16_bit_png_is_scaled_to_8_bit(tmp_path):
    deep = np.array([[0, 257, 65535], [32896, 1000, 65535]], np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), deep)
    pixels = read_image(tmp_path / "deep.png")
    assert pixels.dtype == np.uint8 and pixels.shape == (2, 3, 3)
    np.testing.assert_array_equal(pixels[..., 0], [[0, 1, 255], [128, 3, 255]])


def test_corrupt_file_raises_image_read_error_naming_it(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    with pytest.raises(ImageReadError, match="broken.png"):
        read_image(path)
    with pytest.raises(ImageReadError, match="broken.png"):
        read_image_size(path)


def test_missing_file_raises_image_read_error_naming_it(tmp_path):
    with pytest.raises(ImageReadError, match="absent.jpg.*does not exist"):
        read_image(tmp_path / "absent.jpg")
    with pytest.raises(ImageReadError, match="absent.jpg"):
        read_image_size(tmp_path / "absent.jpg")


def test_list_image_files_finds_images_recursively_in_path_order(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("b.png", "a.JPG", "sub/c.tif", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    found = [p.relative_to(tmp_path).as_posix() for p in list_image_files(tmp_path)]
    assert found == ["a.JPG", "b.png", "sub/c.tif"]


def test_check_image_size_fixes_store_and_warns_once(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.zeros((30, 50, 3), np.uint8)).save(images / "real.png")
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(images / "right.png")
    with ProjectStore.create(tmp_path / "p.maskloop", images) as store:
        wrong = store.add_image("real.png", 640, 480)
        right = store.add_image("right.png", 10, 10)
        warning = check_image_size(store, wrong.id)
        assert warning is not None and "real.png" in warning and "50x30" in warning
        record = store.get_image(wrong.id)
        assert (record.width, record.height, record.size_checked) == (50, 30, True)
        assert check_image_size(store, wrong.id) is None  # checked already
        assert check_image_size(store, right.id) is None
        assert store.get_image(right.id).size_checked
