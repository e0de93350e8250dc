"""Hostile image files: bombs refused from the header, broken files named, odd names survive."""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import write_png
from PIL import Image

from core.coco.exporter import export_coco
from core.errors import ImageReadError
from core.files.images import list_image_files, read_image, read_image_size
from core.files.limits import MAX_IMAGE_PIXELS
from core.store import ProjectStore
from core.store.sources import build_folder_project


def _png_claiming(width: int, height: int) -> bytes:
    """A valid PNG header for `width` x `height` RGB pixels, with almost no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def _jpeg_claiming(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((16, 24, 3), 90, np.uint8)).save(buffer, "JPEG")
    data = buffer.getvalue()
    sof = data.index(b"\xff\xc0")  # baseline frame header: length, precision, height, width
    return data[: sof + 5] + struct.pack(">HH", height, width) + data[sof + 9 :]


def _jpeg(width: int = 24, height: int = 16) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), 90, np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Fails the test if any decoder is asked to allocate pixels."""
    calls: list[int] = []

    def refuse(*_args: object, **_kwargs: object) -> None:
        calls.append(1)
        raise AssertionError("a decoder was called for a file refused by its header")

    monkeypatch.setattr(cv2, "imdecode", refuse)
    monkeypatch.setattr(Image.Image, "load", refuse)
    return calls


@pytest.mark.parametrize(
    ("name", "content", "claimed"),
    [
        ("bomb.png", _png_claiming(100_000, 100_000), "100,000 x 100,000"),
        ("bomb.jpg", _jpeg_claiming(65_000, 65_000), "65,000 x 65,000"),
        ("wide.png", _png_claiming(2_000_000, 10), "2,000,000 x 10"),
    ],
    ids=["png", "jpeg", "too-wide"],
)
def test_a_header_claiming_too_many_pixels_is_refused_before_decoding(
    tmp_path: Path, no_decoding: list[int], name: str, content: bytes, claimed: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    for read in (read_image, read_image_size):
        with pytest.raises(ImageReadError, match=f"{name} is refused before decoding.*{claimed}"):
            read(path)
    assert no_decoding == []


def test_a_30000_px_square_header_is_within_the_cap_and_sized_without_decoding(
    tmp_path: Path, no_decoding: list[int]
) -> None:
    assert MAX_IMAGE_PIXELS >= 30_000 * 30_000
    path = tmp_path / "aerial.png"
    path.write_bytes(_png_claiming(30_000, 30_000))
    assert read_image_size(path) == (30_000, 30_000)
    assert no_decoding == []


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.png", b""),
        ("half.jpg", _jpeg()[: len(_jpeg()) // 2]),
        ("half.png", _png_claiming(20, 20)[:40]),
        ("noise.png", bytes(range(256)) * 4),
        ("text.jpg", b"this is not a picture at all\n"),
    ],
    ids=["zero-bytes", "truncated-jpeg", "truncated-png", "noise", "text"],
)
def test_broken_image_files_raise_image_read_error_naming_the_file(
    tmp_path: Path, name: str, content: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    for read in (read_image, read_image_size):
        with pytest.raises(ImageReadError, match=name):
            read(path)


def test_a_decoder_assertion_becomes_an_image_read_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_png(tmp_path / "a.png", 8, 8)

    def assertion(*_args: object) -> None:
        raise cv2.error("OpenCV(5.0.0) loadsave.cpp:79: error: (-215:Assertion failed) pixels")

    monkeypatch.setattr(cv2, "imdecode", assertion)
    with pytest.raises(ImageReadError, match="a.png cannot be decoded.*Assertion failed"):
        read_image(path)


NOT_UTF8 = os.fsdecode(b"caf\xe9 \xff.png")  # Latin-1 bytes: not valid UTF-8


def test_file_names_that_are_not_utf8_are_listed_opened_and_skipped_by_projects(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "photos"
    write_png(folder / "ok.png", 6, 4)
    write_png(folder / NOT_UTF8, 5, 3, value=200)
    listed = list_image_files(folder)
    assert folder / NOT_UTF8 in listed
    assert read_image(folder / NOT_UTF8)[0, 0].tolist() == [200, 200, 200]
    assert read_image_size(folder / NOT_UTF8) == (5, 3)

    skipped: list[str] = []
    project = tmp_path / "photos.maskloop"
    added = build_folder_project(folder, project, lambda *_: None, lambda: False, skipped.append)
    assert added == 1
    assert len(skipped) == 1 and "not valid UTF-8" in skipped[0] and "caf" in skipped[0]
    with ProjectStore.open(project) as store:
        assert [im.file_name for im in store.list_images()] == ["ok.png"]
        export_coco(store, tmp_path / "out.json")
    exported = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert [im["file_name"] for im in exported["images"]] == ["ok.png"]


def test_a_folder_with_broken_images_adds_the_good_ones_and_names_the_rest(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "photos"
    write_png(folder / "good.png", 6, 4)
    (folder / "empty.png").write_bytes(b"")
    (folder / "bomb.png").write_bytes(_png_claiming(100_000, 100_000))
    skipped: list[str] = []
    added = build_folder_project(
        folder, tmp_path / "p.maskloop", lambda *_: None, lambda: False, skipped.append
    )
    assert added == 1
    assert sorted(line.split("'")[1] for line in skipped) == ["bomb.png", "empty.png"]
    assert any("refused before decoding" in line for line in skipped)
