"""The canvas's own mouse and key gestures, for the Help > Keyboard shortcuts sheet.

These are handled by the canvas itself (view.py, tools.py, polygon_tool.py), not by window
actions, so the actions table cannot list them; keep this table next to the code that
implements them.
"""

from __future__ import annotations

from typing import NamedTuple


class Gesture(NamedTuple):
    context: str  # where it applies: "Canvas", or the tool
    what: str
    keys: str  # how people write it


CANVAS_GESTURES: tuple[Gesture, ...] = (
    Gesture("Canvas", "Abandon the shape being drawn; otherwise deselect", "Esc"),
    Gesture("Canvas", "Pan", "Space+drag"),
    Gesture("Canvas", "Pan", "Middle-drag"),
    Gesture("Canvas", "Zoom around the cursor (about 1.2x per notch)", "Wheel, Ctrl+Wheel"),
    Gesture("Canvas", "Brush smaller / larger", "[ / ]"),
    Gesture("Canvas", "Select the annotation under the cursor", "Click"),
    Gesture("Canvas", "Move the selected annotations", "Drag"),
    Gesture("Canvas", "Resize a selected box", "Drag a handle"),
    Gesture("Box", "Draw a box (it is left unselected)", "Drag"),
    Gesture("Polygon", "Add a vertex", "Click"),
    Gesture("Polygon", "Close the polygon", "Enter, Double-click, Click the first vertex"),
    Gesture("Polygon", "Remove the last vertex while drawing", "Backspace"),
    Gesture("Polygon", "Move a vertex of the selected mask", "Drag a vertex"),
    Gesture("Polygon", "Insert a vertex", "Double-click an edge"),
    Gesture("Polygon", "Remove a vertex", "Shift+click, Ctrl+click, Delete over it"),
    Gesture("Brush", "Paint into the selected mask, or go on with the one just drawn", "Drag"),
    Gesture("Eraser", "Erase from the selected mask, or the one just drawn", "Drag"),
)
