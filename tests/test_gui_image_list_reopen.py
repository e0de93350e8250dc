"""Reopening a project in unsure-first order shows the image last looked at in the list."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from _window_helpers import make_project, shown_window, wait_until  # noqa: E402

from core.records import Annotation, ReviewState, Source  # noqa: E402
from core.store import ProjectStore  # noqa: E402
from core.store.setting_keys import IMAGE_ORDER, LAST_IMAGE  # noqa: E402

IMAGES = 150


def _proposal(image_id: int, category_id: int, score: float) -> Annotation:
    return Annotation(
        image_id,
        category_id,
        (2, 2, 10, 10),
        source=Source.MODEL,
        score=score,
        state=ReviewState.PROPOSED,
    )


@pytest.mark.parametrize("order", ["unsure_first", "id"])
def test_reopening_scrolls_the_list_to_an_image_beyond_the_first_layout_batch(
    qtbot, tmp_path: Path, order: str
) -> None:
    """The image last looked at is far down the list: in unsure-first order the surest image
    (first by id) is last; in id order the last image is. The list lays its rows out in
    batches of 100, so that row had no place yet when the project opened on it."""
    path = make_project(tmp_path, IMAGES, size=(32, 32))
    with ProjectStore.open(path) as store:
        ids = store.image_ids()
        category = store.categories()[0].id
        for n, image_id in enumerate(ids):
            score = 0.99 if n == 0 else 0.5 + 0.4 * n / IMAGES
            store.replace_proposals(image_id, [_proposal(image_id, category, score)], "m")
        target = ids[0] if order == "unsure_first" else ids[-1]
        store.set_setting(IMAGE_ORDER, order)
        store.set_setting(LAST_IMAGE, target)
    window = shown_window(qtbot, tmp_path)
    assert window.open_project(path)
    wait_until(qtbot, lambda: window.current_image_id == target)
    view, model = window.image_list.view, window.image_list.model
    assert model.image_ids()[-1] == target  # the last row
    index = view.currentIndex()
    assert model.image_id_at(index.row()) == target
    wait_until(qtbot, lambda: view.viewport().rect().contains(view.visualRect(index)))
    qtbot.wait(300)  # and it stays there (the first-run dock layout comes at 200 ms)
    assert view.viewport().rect().contains(view.visualRect(view.currentIndex()))
