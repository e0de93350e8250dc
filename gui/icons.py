"""QIcons for the actions and the window, from the SVG files in the `resources` package.

Qt renders an SVG icon at whatever size a toolbar, menu or HiDPI screen asks for, so one
file per icon is enough. Icons are cached: the same QIcon object is shared by every action
and dialog that asks for a name.
"""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QByteArray, QSize, Qt
from PySide6.QtGui import QIcon, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

import resources

APP_ICON = "app"
# Sizes the application icon is pre-rendered at: window managers and task bars pick one
# and would otherwise scale a 24 px rendering up.
_APP_SIZES = (16, 24, 32, 48, 64, 128, 256)


def has_icon(name: str) -> bool:
    return resources.has_icon(name)


@cache
def icon(name: str) -> QIcon:
    """The icon called `name` (see `resources.icon_names()`); FileNotFoundError if none."""
    return QIcon(str(resources.icon_path(name)))


def render(name: str, size: int) -> QPixmap:
    """Icon `name` drawn on a transparent `size` x `size` pixmap."""
    renderer = QSvgRenderer(QByteArray(resources.icon_bytes(name)))
    pixmap = QPixmap(QSize(size, size))
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    try:
        renderer.render(painter)
    finally:
        painter.end()
    return pixmap


@cache
def app_icon() -> QIcon:
    """The application icon, with a rendering per common size for task bars and docks."""
    result = QIcon()
    for size in _APP_SIZES:
        result.addPixmap(render(APP_ICON, size))
    return result
