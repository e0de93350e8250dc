"""Builders for the window tests: image folders, projects, a tiny lite checkpoint."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

CATEGORY_NAMES = ("circle", "square", "triangle")


def write_images(
    folder: Path, count: int, *, size: tuple[int, int] = (96, 80), seed: int = 0
) -> list[str]:
    """PNG files with a bright shape on a dark textured background; returns file names."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    width, height = size
    names = []
    for n in range(count):
        pixels = rng.integers(0, 60, size=(height, width, 3), dtype=np.uint8)
        side = max(4, min(width, height) // 3)
        x = int(rng.integers(0, width - side))
        y = int(rng.integers(0, height - side))
        color = tuple(int(c) for c in rng.integers(150, 255, size=3))
        cv2.rectangle(pixels, (x, y), (x + side, y + side), color, thickness=-1)
        name = f"img_{n:04d}.png"
        cv2.imwrite(str(folder / name), pixels)
        names.append(name)
    return names


def make_project(tmp_path: Path, count: int = 6, *, size: tuple[int, int] = (96, 80)) -> Path:
    """A project with `count` images on disk and three categories; returns its path."""
    from core.store import ProjectStore

    images = tmp_path / "images"
    names = write_images(images, count, size=size)
    project = tmp_path / "test.maskloop"
    with ProjectStore.create(project, images) as store:
        for name in CATEGORY_NAMES:
            store.add_category(name)
        for name in names:
            store.add_image(name, size[0], size[1])
    return project


def make_lite_checkpoint(path: Path, categories: list) -> Path:
    """A randomly initialised lite Mask R-CNN saved as a MaskLoop checkpoint.

    Random weights give near-uniform class scores (about 1/num_classes), so with a low
    score threshold every image gets proposals: enough to test the plumbing.
    """
    import torch

    from core.detection.architectures import build_model, image_size_settings
    from core.detection.checkpoint import CheckpointMeta, save_checkpoint

    torch.manual_seed(0)
    model = build_model("lite", num_classes=len(categories) + 1)
    min_size, max_size = image_size_settings(model)
    meta = CheckpointMeta(
        arch="lite",
        label_category_ids=[0, *[c.id for c in categories]],
        categories=list(categories),
        min_size=min_size,
        max_size=max_size,
    )
    return save_checkpoint(path, model.state_dict(), meta)


def shown_window(qtbot, tmp_path: Path, *, proposal_score_threshold: float | None = None):
    """A MainWindow with its own settings file under tmp_path, shown (offscreen)."""
    from PySide6.QtCore import QSettings

    from gui.main_window import MainWindow
    from gui.settings import AppSettings

    settings = AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    window = MainWindow(settings, proposal_score_threshold=proposal_score_threshold)
    qtbot.addWidget(window)
    window.show()
    return window


def wait_until(qtbot, condition, timeout_ms: int = 30_000) -> None:
    """qtbot.waitUntil with a generous limit: CI machines share two slow cores."""
    qtbot.waitUntil(condition, timeout=timeout_ms)


def elapsed_since(start: float) -> float:
    return time.perf_counter() - start
