"""Box-to-mask requests from the canvas, served in the proposal worker's thread.

The model lives in the proposal worker (gui/workers/proposal_worker.py), so box-to-mask runs
there too, between two proposal images, never on the UI thread. A box being dragged sends a
request on every move; `BoxMaskRequests` keeps only the newest of those, so a request the box
has already moved away from is dropped without reaching the model, and the worker answers the
latest box as soon as it is free. A released box's request is never dropped.

The image's backbone features are computed once (`BoxSegmenter.prepare`) and cached per
image and model, so every later request for that image costs only the RoI heads. A huge image
(above the tiling threshold) is read from its tile pyramid's memory-mapped level 0, never
decoded whole, and the segmenter runs the backbone on a window around each box at the model's
scale, cached per window (core/detection/box_to_mask.py).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.categories import category_key
from core.mask_crops import tight
from core.mask_pixels import MaskCrop

if TYPE_CHECKING:
    from core.detection.box_to_mask import BoxSegmenter
    from core.store import ProjectStore


@dataclass(frozen=True)
class BoxMaskRequest:
    request_id: int
    image_id: int
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in image pixels
    category_id: int | None  # the project category the user picked, None: the model's choice
    final: bool  # the mouse was released: the answer becomes an annotation


@dataclass(frozen=True)
class Choice:
    name: str  # the model's category name
    score: float  # the box head's probability
    category_id: int | None  # the project's category of that name, None when it has none


@dataclass(frozen=True)
class BoxMaskResult:
    request: BoxMaskRequest
    crop: MaskCrop | None  # the mask cut to its tight box; None: the model found no pixel
    category_id: int | None  # the project category to use; None: the project lacks the model's
    category_name: str  # the model's name for the category whose mask channel was used
    choices: tuple[Choice, ...]  # the box head's top three, best first
    mask_score: float
    thread_id: int  # the thread that ran the model (tests check it is not the UI's)


class BoxMaskRequests:
    """Pending requests, shared by the UI thread (submit) and the worker (take).

    A preview (a box still being dragged) replaces the pending preview: only the newest box
    matters. A final request (the mouse was released) is never dropped: each one becomes an
    annotation, even when the next box is started before the model has answered.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._finals: deque[BoxMaskRequest] = deque()
        self._preview: BoxMaskRequest | None = None
        self._prepare: int | None = None  # an image whose features to compute ahead
        self._next_id = 0
        self.dropped = 0  # previews replaced before the worker took them (tests read it)

    def submit(
        self,
        image_id: int,
        box: tuple[float, float, float, float],
        category_id: int | None,
        *,
        final: bool,
    ) -> BoxMaskRequest:
        with self._lock:
            self._next_id += 1
            request = BoxMaskRequest(self._next_id, image_id, box, category_id, final)
            if self._preview is not None:  # superseded by a newer box either way
                self.dropped += 1
                self._preview = None
            if final:
                self._finals.append(request)
            else:
                self._preview = request
            return request

    def take(self) -> BoxMaskRequest | None:
        with self._lock:
            if self._finals:
                return self._finals.popleft()
            request, self._preview = self._preview, None
            return request

    def ask_prepare(self, image_id: int) -> None:
        """Compute this image's features before the first box, when the worker is free."""
        with self._lock:
            self._prepare = image_id

    def take_prepare(self) -> int | None:
        with self._lock:
            image_id, self._prepare = self._prepare, None
            return image_id


def prepare_image(segmenter: BoxSegmenter, store: ProjectStore, image_id: int) -> tuple:
    """Make sure the image's backbone features are cached (for a huge image: its pixels,
    memory-mapped from the tile pyramid); returns their cache key."""
    from core.detection.proposals import model_pixels

    key = (segmenter.detector.model_key, image_id)
    if not segmenter.is_prepared(key):
        segmenter.prepare(key, model_pixels(store, image_id, segmenter.tiling))
    return key


def run_request(
    segmenter: BoxSegmenter, store: ProjectStore, request: BoxMaskRequest
) -> BoxMaskResult:
    """Segment one box of a project image (features cached per image and model)."""
    key = prepare_image(segmenter, store, request.image_id)
    project_by_name = {category_key(c.name): c for c in store.categories()}
    model_names = {c.id: c.name for c in segmenter.detector.categories}
    model_by_name = {category_key(name): cid for cid, name in model_names.items()}
    picked_model_id = None
    if request.category_id is not None:
        picked = next((c for c in store.categories() if c.id == request.category_id), None)
        if picked is not None:
            picked_model_id = model_by_name.get(category_key(picked.name))
    (result,) = segmenter.segment(key, np.array([request.box]), category_id=picked_model_id)

    def project_id(name: str) -> int | None:
        category = project_by_name.get(category_key(name))
        return None if category is None else category.id

    chosen_name = model_names[result.category_id]
    # A picked category the model does not know keeps the user's choice; its mask channel is
    # the model's best guess, which is the most one can get from it.
    chosen_id = request.category_id if request.category_id is not None else project_id(chosen_name)
    return BoxMaskResult(
        request=request,
        crop=tight(result.crop),
        category_id=chosen_id,
        category_name=chosen_name,
        choices=tuple(
            Choice(model_names[cid], score, project_id(model_names[cid]))
            for cid, score in result.choices
        ),
        mask_score=result.mask_score,
        thread_id=threading.get_ident(),
    )
