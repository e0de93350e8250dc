"""The "unsure images first" measure and order, on hand-built stores with known scores."""

from __future__ import annotations

import pytest

from core.detection.uncertainty import (
    NO_PROPOSALS_UNCERTAINTY,
    image_uncertainties,
    proposal_uncertainty,
    unsure_first_order,
)
from core.records import Annotation, ReviewState, Source
from core.store import ProjectStore


@pytest.fixture
def store(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    with ProjectStore.create(tmp_path / "p.maskloop", images) as s:
        s.add_category("thing", category_id=1)
        yield s


def _proposal(image_id: int, score: float) -> Annotation:
    return Annotation(
        image_id=image_id,
        category_id=1,
        bbox=(1.0, 1.0, 4.0, 4.0),
        source=Source.MODEL,
        score=score,
        state=ReviewState.PROPOSED,
    )


def _image(store: ProjectStore, image_id: int, scores: list[float] | None, *, reviewed=False):
    """An image; scores None = the model never ran on it, [] = it ran and found nothing."""
    store.add_image(f"img{image_id}.png", 10, 10, image_id=image_id)
    if scores is not None:
        store.replace_proposals(image_id, [_proposal(image_id, s) for s in scores], "model-a")
    if reviewed:
        store.set_reviewed(image_id)


@pytest.mark.parametrize(
    ("score", "expected"),
    [(0.5, 1.0), (0.0, 0.0), (1.0, 0.0), (0.25, 0.5), (0.9, 0.2), (1.7, 0.0), (-0.3, 0.0)],
)
def test_proposal_uncertainty_is_one_minus_margin_from_a_coin_flip(score, expected):
    assert proposal_uncertainty(score) == pytest.approx(expected)


def test_image_uncertainty_is_mean_over_its_pending_proposals(store):
    _image(store, 1, [0.5, 0.9])  # (1.0 + 0.2) / 2
    _image(store, 2, [0.05])  # 0.1
    _image(store, 3, [0.99, 0.01, 0.75])  # (0.02 + 0.02 + 0.5) / 3
    scores = image_uncertainties(store)
    assert scores == pytest.approx({1: 0.6, 2: 0.1, 3: 0.18})


def test_accepted_rejected_and_human_annotations_do_not_count(store):
    _image(store, 1, [0.5, 0.95])
    first, second = store.annotations(1)
    store.set_annotation_state(first.id, ReviewState.ACCEPTED)  # resolved: no longer unsure
    store.add_annotation(Annotation(image_id=1, category_id=1, bbox=(0, 0, 2, 2)))
    rejected = store.add_annotation(_proposal(1, 0.5))
    store.set_annotation_state(rejected.id, ReviewState.REJECTED)
    assert image_uncertainties(store) == pytest.approx({1: proposal_uncertainty(0.95)})


def test_image_the_model_ran_on_without_finding_anything_is_most_unsure(store):
    _image(store, 1, [])
    _image(store, 2, [0.5])
    _image(store, 3, None)  # never proposed: no score at all
    assert image_uncertainties(store) == {1: NO_PROPOSALS_UNCERTAINTY, 2: 1.0}


def test_image_ids_restrict_the_result_and_unknown_ids_are_ignored(store):
    for image_id, score in ((1, 0.5), (2, 0.9), (3, 0.1)):
        _image(store, image_id, [score])
    assert image_uncertainties(store, [3, 1, 1, 999]) == pytest.approx({1: 1.0, 3: 0.2})
    assert image_uncertainties(store, []) == {}


def test_uncertainties_of_all_images_take_one_sql_query(store):
    for image_id in range(1, 21):
        _image(store, image_id, [image_id / 21, 0.5])
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    try:
        scores = image_uncertainties(store)
    finally:
        store._conn.set_trace_callback(None)
    assert len(scores) == 20
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1


def test_unsure_first_orders_unreviewed_by_uncertainty_then_unscored_then_reviewed(store):
    _image(store, 1, [0.95])  # 0.1
    _image(store, 2, [0.5])  # 1.0
    _image(store, 3, None)  # not proposed yet
    _image(store, 4, [0.75])  # 0.5
    _image(store, 5, [0.5], reviewed=True)  # reviewed: last, whatever its score
    _image(store, 6, [0.25])  # 0.5, ties with 4: id order
    _image(store, 7, [])  # ran, found nothing: 1.0, ties with 2
    _image(store, 8, None, reviewed=True)
    _image(store, 9, None)
    assert unsure_first_order(store) == [2, 7, 4, 6, 1, 3, 9, 5, 8]


def test_new_proposals_change_the_order(store):
    _image(store, 1, [0.5])
    _image(store, 2, [0.99])
    assert unsure_first_order(store) == [1, 2]
    store.replace_proposals(1, [_proposal(1, 0.98)], "model-b")
    store.replace_proposals(2, [_proposal(2, 0.45)], "model-b")
    assert unsure_first_order(store) == [2, 1]


def test_the_ranking_gives_the_order_and_the_scores_of_one_read(tmp_path):
    from core.detection.uncertainty import (
        image_uncertainties,
        unsure_first_order,
        unsure_first_ranking,
    )
    from core.records import Annotation, ReviewState, Source
    from core.store import ProjectStore

    with ProjectStore.create(tmp_path / "p.maskloop", tmp_path) as store:
        store.add_category("a")
        for n, score in enumerate((0.9, 0.5, None, 0.7), start=1):
            store.add_image(f"{n}.png", 8, 8, image_id=n)
            if score is not None:
                proposal = Annotation(
                    n, 1, (0, 0, 2, 2), source=Source.MODEL, score=score,
                    state=ReviewState.PROPOSED,
                )  # fmt: skip
                store.replace_proposals(n, [proposal], "m")
        order, scores = unsure_first_ranking(store)
        assert order == unsure_first_order(store) == [2, 4, 1, 3]
        assert scores == image_uncertainties(store)
        assert scores[2] == 1.0 and 3 not in scores
