"""One category palette, with enough clearly distinct colours for a 21-category project."""

from __future__ import annotations

import itertools
from pathlib import Path

from core.palette import PALETTE, color_distance, next_unused_color, palette_color
from core.store import ProjectStore

# CIE76 Delta-E: about 2.3 is just noticeable; 25 is a different colour at a glance.
CLEARLY_DISTINCT = 25.0


def test_color_distance_is_cielab() -> None:
    assert round(color_distance("#000000", "#ffffff")) == 100
    assert color_distance("#e69f00", "#E69F00") == 0.0


def test_first_24_colours_are_pairwise_clearly_distinct() -> None:
    assert len(PALETTE) >= 24
    closest = min(color_distance(a, b) for a, b in itertools.combinations(PALETTE[:24], 2))
    assert closest > CLEARLY_DISTINCT


def test_store_gives_21_categories_21_different_palette_colours(tmp_path: Path) -> None:
    with ProjectStore.create(tmp_path / "p.maskloop", tmp_path) as store:
        colors = [store.add_category(f"c{i}").color for i in range(21)]
    assert colors == list(PALETTE[:21])


def test_unused_colours_come_first_then_the_palette_cycles() -> None:
    assert next_unused_color([PALETTE[0].upper(), "#123456"], 2) == PALETTE[1]
    assert next_unused_color(PALETTE, len(PALETTE) + 1) == PALETTE[1]
    assert palette_color(len(PALETTE)) == PALETTE[0]
