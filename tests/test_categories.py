"""One rule for matching category names: trimmed, case-insensitive; background names."""

from __future__ import annotations

import pytest

from core.categories import category_key, is_background_name, match_by_name, same_category


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("person", "Person", True),
        (" person ", "PERSON", True),
        ("Straße", "STRASSE", True),  # Unicode case folding, not just lower()
        ("traffic light", "traffic  light", False),  # inner spaces are part of the name
        ("cat", "cats", False),
    ],
)
def test_names_match_trimmed_and_case_folded(a: str, b: str, same: bool) -> None:
    assert same_category(a, b) is same
    assert (category_key(a) == category_key(b)) is same


def test_match_by_name_maps_each_source_to_the_first_target_of_that_name() -> None:
    sources = [(1, "Person"), (2, "dog"), (3, "zebra")]
    targets = [(10, "dog"), (11, "person "), (12, "PERSON")]
    assert match_by_name(sources, targets) == {1: 11, 2: 10}


@pytest.mark.parametrize(
    ("name", "background"),
    [
        ("_background_", True),
        ("__background__", True),
        ("Background", True),
        (" BG ", True),
        ("background tree", False),
        ("person", False),
    ],
)
def test_background_names(name: str, background: bool) -> None:
    assert is_background_name(name) is background
