"""Files MaskLoop ships beside its code: the toolbar/menu icons and the application icon.

Read through `importlib.resources` so they are found in a wheel install (site-packages,
or a zip) and not only in a source checkout. This package has no Qt import: core code and
packaging tests can list the icons without a display.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

_ICONS = "icons"
# Keeps the extracted copies alive (only used when the package sits inside a zip).
_KEEP = ExitStack()
_CACHE: dict[str, Path] = {}


def _icons_dir() -> Traversable:
    return resources.files(__name__).joinpath(_ICONS)


def icon_names() -> tuple[str, ...]:
    """Every icon that ships, by name (file name without `.svg`), sorted."""
    return tuple(
        sorted(
            entry.name[: -len(".svg")]
            for entry in _icons_dir().iterdir()
            if entry.name.endswith(".svg")
        )
    )


def has_icon(name: str) -> bool:
    return _icons_dir().joinpath(f"{name}.svg").is_file()


def icon_bytes(name: str) -> bytes:
    """The SVG text of icon `name`; FileNotFoundError names the icons that exist."""
    entry = _icons_dir().joinpath(f"{name}.svg")
    if not entry.is_file():
        raise FileNotFoundError(f"no icon {name!r}; the icons are: {', '.join(icon_names())}")
    return entry.read_bytes()


def icon_path(name: str) -> Path:
    """A real file path to icon `name` (extracted once if the package is zipped)."""
    if name not in _CACHE:
        entry = _icons_dir().joinpath(f"{name}.svg")
        if not entry.is_file():
            raise FileNotFoundError(f"no icon {name!r}; the icons are: {', '.join(icon_names())}")
        _CACHE[name] = Path(_KEEP.enter_context(resources.as_file(entry)))
    return _CACHE[name]
