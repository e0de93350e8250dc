"""When two category names are the same category, and which names mean "background".

The one rule everywhere (a model's classes against a project's, a COCO file's against a
checkpoint's, weights remapped to new classes): names match after trimming surrounding
whitespace and Unicode case folding, so "Person", "person " and "PERSON" are one category.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Names other tools (labelme2coco, torchvision's COCO labels, ...) give the background class.
BACKGROUND_NAMES = frozenset({"_background_", "__background__", "background", "bg"})


def category_key(name: str) -> str:
    """The form category names are compared in: trimmed and case-folded."""
    return name.strip().casefold()


def same_category(a: str, b: str) -> bool:
    return category_key(a) == category_key(b)


def match_by_name(sources: Iterable[tuple[K, str]], targets: Iterable[tuple[V, str]]) -> dict[K, V]:
    """Source id -> id of the target with the same name, for every source that has one.

    Both sides are (id, name) pairs. When several targets share a name the first one wins,
    so the result does not depend on which duplicate came last.
    """
    by_key: dict[str, V] = {}
    for target_id, name in targets:
        by_key.setdefault(category_key(name), target_id)
    return {
        source_id: by_key[category_key(name)]
        for source_id, name in sources
        if category_key(name) in by_key
    }


def is_background_name(name: str) -> bool:
    """Whether a category name stands for the background (e.g. labelme2coco's "_background_")."""
    return category_key(name) in BACKGROUND_NAMES
