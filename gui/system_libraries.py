"""Before Qt starts on X11: are the system libraries its xcb platform plugin needs there?

Without them Qt prints "Could not load the Qt platform plugin "xcb"... This application
failed to start" and aborts, which tells a user of a fresh Debian/Ubuntu install nothing
about what to install. This module names the missing packages instead. No Qt import here:
the check must run before anything could load the plugin.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SystemLibrary:
    soname: str  # what the dynamic loader looks for
    package: str  # the Debian/Ubuntu package that provides it


# What Qt 6's libQt6XcbQpa links to beyond what QtGui already needs (`readelf -d`); a
# minimal or container install typically lacks the first four.
XCB_LIBRARIES: tuple[SystemLibrary, ...] = (
    SystemLibrary("libxcb-cursor.so.0", "libxcb-cursor0"),
    SystemLibrary("libxcb-icccm.so.4", "libxcb-icccm4"),
    SystemLibrary("libxcb-keysyms.so.1", "libxcb-keysyms1"),
    SystemLibrary("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
    SystemLibrary("libxcb-image.so.0", "libxcb-image0"),
    SystemLibrary("libxcb-render-util.so.0", "libxcb-render-util0"),
    SystemLibrary("libxcb-randr.so.0", "libxcb-randr0"),
    SystemLibrary("libxcb-shape.so.0", "libxcb-shape0"),
    SystemLibrary("libxcb-xfixes.so.0", "libxcb-xfixes0"),
    SystemLibrary("libxcb-xkb.so.1", "libxcb-xkb1"),
    SystemLibrary("libxcb-sync.so.1", "libxcb-sync1"),
    SystemLibrary("libxcb-shm.so.0", "libxcb-shm0"),
    SystemLibrary("libxcb-render.so.0", "libxcb-render0"),
    SystemLibrary("libxcb-util.so.1", "libxcb-util1"),
    SystemLibrary("libxcb.so.1", "libxcb1"),
    SystemLibrary("libX11-xcb.so.1", "libx11-xcb1"),
    SystemLibrary("libxkbcommon.so.0", "libxkbcommon0"),
)

LibraryFinder = Callable[[str], bool]


def _qt_lib_dir() -> Path | None:
    try:
        import PySide6  # no Qt library is loaded by the bare package
    except ImportError:
        return None
    return Path(PySide6.__file__).parent / "Qt" / "lib"


def library_loads(soname: str) -> bool:
    """Whether the dynamic loader finds `soname` (or PySide6 bundles it beside Qt)."""
    qt_lib = _qt_lib_dir()
    if qt_lib is not None and (qt_lib / soname).is_file():
        return True
    try:
        ctypes.CDLL(soname)
    except OSError:
        # CDLL misses what only ldconfig's cache knows about on some setups.
        stem = soname.removeprefix("lib").split(".so")[0]
        return ctypes.util.find_library(stem) is not None
    return True


def xcb_will_be_used(environ: Mapping[str, str], platform: str) -> bool:
    """Whether Qt will pick its xcb (X11) plugin: Linux, a DISPLAY, and no other platform
    asked for (QT_QPA_PLATFORM unset, or naming xcb first; an unset one in a Wayland session
    means Wayland)."""
    if not platform.startswith("linux") or not environ.get("DISPLAY"):
        return False
    requested = environ.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if requested:
        return requested == "xcb"
    wayland = environ.get("WAYLAND_DISPLAY") and environ.get("XDG_SESSION_TYPE") == "wayland"
    return not wayland


def missing_libraries(
    libraries: tuple[SystemLibrary, ...] = XCB_LIBRARIES, loads: LibraryFinder = library_loads
) -> list[SystemLibrary]:
    return [lib for lib in libraries if not loads(lib.soname)]


def missing_library_hint(missing: list[SystemLibrary]) -> str:
    files = ", ".join(lib.soname for lib in missing)
    packages = " ".join(dict.fromkeys(lib.package for lib in missing))
    return (
        "maskloop: error: the app cannot start: Qt's X11 (xcb) display plugin needs system "
        f"libraries that are not installed: {files}.\n"
        f"On Debian or Ubuntu install them with:\n    sudo apt-get install {packages}\n"
        "(On other distributions install the packages that provide these files. The "
        "import, export, predict, eval and train commands work without them.)"
    )


def xcb_hint(
    environ: Mapping[str, str], platform: str, loads: LibraryFinder | None = None
) -> str | None:
    """The message to print instead of starting Qt, or None when nothing is missing (or
    xcb will not be used). `loads` defaults to `library_loads`."""
    if not xcb_will_be_used(environ, platform):
        return None
    missing = missing_libraries(XCB_LIBRARIES, loads or library_loads)
    return missing_library_hint(missing) if missing else None
