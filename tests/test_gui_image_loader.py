"""ImageLoader: decodes on superqt workers, announces only the image asked for, caches."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from gui import image_loader as loader_module  # noqa: E402
from gui.image_loader import ImageLoader  # noqa: E402
from tests.conftest import write_png  # noqa: E402


def test_request_decodes_in_a_worker_and_then_serves_from_the_cache(qtbot, tmp_path):
    path = write_png(tmp_path / "a.png", 40, 30, value=200)
    loader = ImageLoader()
    started = []
    loader.decodingStarted.connect(started.append)
    with qtbot.waitSignal(loader.loaded, timeout=10000) as blocker:
        loader.request(7, path)
        assert loader.is_decoding(7, path) and started == [7]
    image_id, image = blocker.args
    assert image_id == 7 and (image.width(), image.height()) == (40, 30)
    assert image.pixelColor(5, 5).red() == 200
    assert not loader.is_decoding(7, path)
    seen = []
    loader.loaded.connect(lambda i, img: seen.append((i, img.width())))
    loader.request(7, path)  # cached: answered at once, no worker
    assert seen == [(7, 40)] and not loader.is_decoding(7, path)
    assert started == [7]  # nothing to decode the second time


def test_unreadable_file_reports_failed_with_its_name(qtbot, tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"not a png")
    loader = ImageLoader()
    with qtbot.waitSignal(loader.failed, timeout=10000) as blocker:
        loader.request(3, path)
    assert blocker.args[0] == 3 and "broken.png" in blocker.args[1]


def test_only_the_last_request_is_announced_and_preloads_fill_the_cache(qtbot, tmp_path):
    first = write_png(tmp_path / "first.png", 20, 10)
    second = write_png(tmp_path / "second.png", 30, 10)
    ahead = write_png(tmp_path / "ahead.png", 50, 10)
    loader = ImageLoader()
    announced = []
    loader.loaded.connect(lambda i, img: announced.append(i))
    loader.preload([(3, ahead)])
    loader.request(1, first)
    with qtbot.waitSignal(loader.loaded, timeout=10000):
        loader.request(2, second)  # the annotator moved on before the first was decoded
    assert loader.wait_idle(10000)
    # The decodes are done; their results still come through the event loop, in any order.
    qtbot.waitUntil(lambda: loader.cached(3, ahead) is not None, timeout=10000)
    # Decoded all the same: going back is instant.
    qtbot.waitUntil(lambda: loader.cached(1, first) is not None, timeout=10000)
    assert announced == [2]


def test_no_hand_rolled_runnable_is_left():
    # One mechanism for one-shot background work: superqt's workers.
    assert not hasattr(loader_module, "_DecodeTask") and not hasattr(loader_module, "_Relay")
