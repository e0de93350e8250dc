"""The hint printed instead of Qt's abort when the X11 (xcb) libraries are missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gui.system_libraries import (
    XCB_LIBRARIES,
    library_loads,
    missing_libraries,
    xcb_hint,
    xcb_will_be_used,
)

REPO = Path(__file__).resolve().parents[1]
X11 = {"DISPLAY": ":0"}


def _without(*sonames: str):
    return lambda soname: soname not in sonames


def test_missing_libraries_are_named_with_their_debian_packages():
    hint = xcb_hint(X11, "linux", _without("libxcb-cursor.so.0", "libxcb-keysyms.so.1"))
    assert hint is not None
    assert "libxcb-cursor.so.0, libxcb-keysyms.so.1" in hint
    assert "sudo apt-get install libxcb-cursor0 libxcb-keysyms1\n" in hint
    assert "libxcb-icccm4" not in hint  # present libraries are not asked for


def test_nothing_missing_means_no_hint():
    assert xcb_hint(X11, "linux", _without()) is None


def test_every_library_is_checked_once():
    asked: list[str] = []
    assert missing_libraries(loads=lambda s: asked.append(s) or True) == []
    assert asked == [lib.soname for lib in XCB_LIBRARIES]
    assert {"libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1", "libxkbcommon-x11-0"} <= {
        lib.package for lib in XCB_LIBRARIES
    }


@pytest.mark.parametrize(
    ("environ", "platform", "used"),
    [
        ({"DISPLAY": ":0"}, "linux", True),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"}, "linux", True),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux", False),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "wayland"}, "linux", False),
        ({"QT_QPA_PLATFORM": "xcb"}, "linux", False),  # no display: Qt fails its own way
        ({}, "linux", False),
        ({"DISPLAY": ":0"}, "darwin", False),
        ({"DISPLAY": ":0"}, "win32", False),
        (
            {"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"},
            "linux",
            False,
        ),
    ],
)
def test_the_check_only_runs_when_qt_will_use_xcb(environ, platform, used):
    assert xcb_will_be_used(environ, platform) is used
    everything_missing = _without(*(lib.soname for lib in XCB_LIBRARIES))
    assert (xcb_hint(environ, platform, everything_missing) is not None) is used


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux sonames")
def test_the_real_finder_finds_libc_and_not_a_made_up_library():
    assert library_loads("libc.so.6")
    assert not library_loads("libmaskloop-no-such-library.so.7")


def test_the_app_exits_1_with_the_hint_instead_of_starting_qt(tmp_path):
    # A fresh process (no QApplication yet) on X11 where libxcb-cursor is "missing".
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env.update(DISPLAY=":99", PYTHONPATH=str(REPO), HOME=str(tmp_path))
    code = (
        "import sys, gui.system_libraries as s; "
        "s.library_loads = lambda name: name != 'libxcb-cursor.so.0'; "
        "import main; sys.exit(main.main(['gui']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr
    assert "libxcb-cursor.so.0" in done.stderr
    assert "sudo apt-get install libxcb-cursor0" in done.stderr
    assert "Could not load the Qt platform plugin" not in done.stderr
