"""The editing canvas: CanvasView (QGraphicsView), its annotation items, overlays and tools.

`from gui.canvas import CanvasView` works; the import is lazy so that low-level modules
(mask_raster) can be used without loading the whole view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gui.canvas.view import TOOL_NAMES, CanvasView

__all__ = ["CanvasView", "TOOL_NAMES"]


def __getattr__(name: str):
    if name in __all__:
        from gui.canvas import view

        return getattr(view, name)
    raise AttributeError(f"module 'gui.canvas' has no attribute {name!r}")
