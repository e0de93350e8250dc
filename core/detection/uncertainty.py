"""How unsure the current model is about each image, for "unsure images first" review order.

Unsure images first. MaskLoop can sort the image list so that the images the current
model is least sure about come first: labelling those teaches the next fine-tuning run the
most (uncertainty sampling, the simplest form of active learning). The measure is the
*mean score margin* of an image's pending proposals: a proposal with confidence score s
counts as 1 - |2s - 1|, which is 1 for s = 0.5 (the model cannot decide whether the object
is there) and 0 for s = 0 or s = 1 (it is sure either way); an image's uncertainty is the
mean over its pending proposals. Proposals are stored down to a low score (0.05), so the
faint, doubtful detections that make an image informative are counted. An image the model
has run on but where it found nothing even at that threshold scores 1.0, the most unsure:
in a project of images chosen for their objects, an empty result most often means objects
the model cannot see yet. An image the model has not run on yet has no score and comes
after every scored one. Ties are broken by image id. Reviewed images are never re-ranked:
they follow all unreviewed ones, in id order.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.store import ProjectStore

NO_PROPOSALS_UNCERTAINTY = 1.0
"""Score of an image the model ran on without proposing anything (see the module docstring)."""


def proposal_uncertainty(score: float) -> float:
    """1 - |2s - 1|: 1 for a coin-flip score of 0.5, 0 for a certain 0 or 1 (s clamped to [0, 1])."""
    s = min(max(float(score), 0.0), 1.0)
    return 1.0 - abs(2.0 * s - 1.0)


def image_uncertainties(
    store: ProjectStore, image_ids: Iterable[int] | None = None
) -> dict[int, float]:
    """Uncertainty in [0, 1] of each image the model has run on (of `image_ids`, or all).

    Images the model has not run on yet are absent from the result. One SQL query (per
    chunk of 500 ids when ids are given), reading the store's stored proposal scores.
    """
    return {
        image_id: score
        for image_id, _reviewed, score in _scored_rows(store, image_ids)
        if score is not None
    }


def unsure_first_order(store: ProjectStore) -> list[int]:
    """Every image id: unreviewed images most unsure first, then unscored unreviewed images,
    then reviewed images; each group's ties in id order."""
    return unsure_first_ranking(store)[0]


def unsure_first_ranking(store: ProjectStore) -> tuple[list[int], dict[int, float]]:
    """`unsure_first_order` and `image_uncertainties` from one read of the store (the app
    shows both, and re-takes them whenever proposals arrive)."""
    rows = sorted(_scored_rows(store, None))  # id order
    scored = sorted(
        (
            (image_id, score)
            for image_id, reviewed, score in rows
            if not reviewed and score is not None
        ),
        key=lambda item: (-item[1], item[0]),
    )
    unscored = [image_id for image_id, reviewed, score in rows if not reviewed and score is None]
    reviewed_ids = [image_id for image_id, reviewed, _score in rows if reviewed]
    order = [image_id for image_id, _ in scored] + unscored + reviewed_ids
    scores = {image_id: score for image_id, _reviewed, score in rows if score is not None}
    return order, scores


def _scored_rows(
    store: ProjectStore, image_ids: Iterable[int] | None
) -> list[tuple[int, bool, float | None]]:
    """(image id, reviewed, uncertainty or None when the model has not run on it)."""
    rows = []
    for image_id, reviewed, proposed, margin in store.proposal_margins(image_ids):
        if margin is not None:
            score: float | None = float(margin)
        elif proposed:
            score = NO_PROPOSALS_UNCERTAINTY
        else:
            score = None
        rows.append((image_id, reviewed, score))
    return rows
