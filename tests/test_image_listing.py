"""One image-file lister for the app's folder projects and `maskloop predict --images`."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ImageReadError
from core.files.images import image_file_names, list_image_files


def _touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def test_lists_images_recursively_sorted_skipping_hidden_and_other_files(tmp_path: Path) -> None:
    _touch(
        tmp_path,
        "b.PNG",
        "a.jpg",
        "sub/c.tiff",
        "sub/d.ppm",
        "notes.txt",
        "._a.jpg",
        ".thumbnails/a.jpg",
    )
    (tmp_path / "folder.png").mkdir()  # a folder named like an image is no image
    assert image_file_names(tmp_path) == ["a.jpg", "b.PNG", "sub/c.tiff", "sub/d.ppm"]
    assert list_image_files(tmp_path) == [tmp_path / n for n in image_file_names(tmp_path)]


def test_a_missing_folder_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="does not exist"):
        list_image_files(tmp_path / "nope")
