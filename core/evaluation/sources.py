"""Where the analyst's view gets its ground truth and predictions from.

Ground truth: the project's own accepted labels (on reviewed images, by default).
Predictions: the proposals the project stores (pending, from the model, with scores), or a
COCO results file. Each comes back in the COCO form `EvaluationData.from_coco` takes; the
conversion of annotations is the exporter's, so evaluation sees what an export would write.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from core.store.project_store import ProjectStore


def project_ground_truth(store: ProjectStore, *, reviewed_only: bool = True) -> dict[str, Any]:
    """A COCO dataset of the project's accepted (human or accepted model) labels.

    With `reviewed_only`, only reviewed images (all of them, labelled or not: an empty
    reviewed image is ground truth too); else every image with an accepted label.
    """
    raise NotImplementedError


def project_proposals(
    store: ProjectStore, image_ids: Iterable[int] | None = None
) -> list[dict[str, Any]]:
    """A COCO results list of the stored pending proposals (state PROPOSED, source MODEL)."""
    raise NotImplementedError


def load_results(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """A COCO results file, or a COCO dataset whose annotations carry scores, as a list."""
    raise NotImplementedError
