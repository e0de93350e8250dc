"""MaskLoop's PySide6 app: the window, the editing canvas, docks, dialogs and workers.

PySide6 is pinned below 6.12 in pyproject.toml: 6.12.0 drops a reference to `None` on every
void-returning Qt call, and on Python 3.11 the interpreter aborts ("none_dealloc") within
minutes of painting.
"""
