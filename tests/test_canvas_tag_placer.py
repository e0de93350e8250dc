"""The incremental tag layout gives exactly the full greedy layout, whatever changed."""

from __future__ import annotations

import random

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QRectF, QSizeF  # noqa: E402

from gui.canvas.tag_layout import TagPlacer, TagRequest, place_tags  # noqa: E402

Spec = tuple[QRectF, QSizeF, float]


def _requests(specs: dict[int, Spec]) -> list[TagRequest]:
    return [TagRequest(key, box, size, priority) for key, (box, size, priority) in specs.items()]


def _box(rng: random.Random) -> QRectF:
    # Crowded: up to 40 boxes in 300 x 220 px, so tags fight for spots and changes cascade.
    return QRectF(
        rng.randint(0, 200), rng.randint(0, 150), rng.randint(20, 100), rng.randint(15, 70)
    )


def _size(rng: random.Random) -> QSizeF:
    return QSizeF(rng.choice([30.0, 58.0]), 14.0)  # a score, or a score and category name


@pytest.mark.parametrize("seed_block", range(4))
def test_incremental_layout_equals_the_full_layout(seed_block):
    """Random crowds, then rounds of changes as the canvas makes them: tags scrolled out of
    view or hidden by the threshold, boxes scrolled in or edited, a Tab's new priority and
    wider tag; after each round the placer agrees with a layout from scratch."""
    for seed in range(seed_block * 60, seed_block * 60 + 60):
        rng = random.Random(seed)
        specs = {k: (_box(rng), _size(rng), rng.random()) for k in range(rng.randint(5, 40))}
        placer = TagPlacer()
        for _ in range(4):
            expected = place_tags(_requests(specs))
            assert placer.place(_requests(specs)) == expected, seed
            for _ in range(rng.randint(1, 4)):
                key = rng.randint(0, 45)
                if rng.random() < 0.3:
                    specs.pop(key, None)
                    continue
                box = _box(rng) if key not in specs or rng.random() < 0.5 else specs[key][0]
                specs[key] = (box, _size(rng), rng.random() * 3)


def test_selecting_one_tag_places_it_first_and_keeps_the_others_where_they_were():
    specs = {
        1: (QRectF(0, 0, 100, 60), QSizeF(30, 14), 0.9),
        2: (QRectF(4, 2, 100, 60), QSizeF(30, 14), 0.8),
        3: (QRectF(400, 300, 80, 50), QSizeF(30, 14), 0.7),
    }
    placer = TagPlacer()
    before = placer.place(_requests(specs))
    specs[2] = (QRectF(4, 2, 100, 60), QSizeF(58, 14), 2.8)  # Tab: selected, name and score
    after = placer.place(_requests(specs))
    assert after == place_tags(_requests(specs))
    assert after[2] is not None and (after[2].x(), after[2].y()) == (0, 0)
    assert after[1] != before[1]  # moved aside for the selection's wider tag
    assert after[3] == before[3]
