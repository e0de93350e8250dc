"""What the loop saves the annotator: active time per image and model, and where each
instance came from. Recorded in the project file only; nothing leaves the machine.

**Time.** `ActiveClock` counts the time an image is open and the annotator is acting on it:
opening the image starts it, and every user action (a key, a click, a wheel turn, an edit)
adds the gap since the previous action or the opening, unless that gap is longer than
`IDLE_LIMIT_S` (then the gap counts for nothing: the annotator was away, not looking).
Time is stored per (image, model), the model being the one whose proposals the image held
while the time was spent (`images.proposals_model`; "" when no model had run on it).

**Instances.** An instance's outcome is not logged keystroke by keystroke; it is derived
from the store when a report is made, from a small provenance row written the first time
the instance is touched: its origin (a proposal, drawn by hand, box-to-mask), the model,
and for a proposal a fingerprint of its box and mask as the model gave them. So an undo
moves the instance back by itself: undoing an accept makes it a pending proposal again;
undoing a brush stroke makes its geometry match the fingerprint again.
"""

from __future__ import annotations

import enum
import hashlib
import sqlite3
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from core.records import Annotation, ReviewState

IDLE_LIMIT_S = 60.0
"""A gap between two actions longer than this is idle time and counts for nothing."""


class Origin(str, enum.Enum):
    """Where an instance came from."""

    PROPOSAL = "proposal"
    DRAWN = "drawn"  # box, polygon or brush by hand
    BOX_TO_MASK = "box_to_mask"


class Outcome(str, enum.Enum):
    """What happened to an instance, as far as the store says now."""

    ACCEPTED = "accepted"  # a proposal accepted with the box and mask the model gave
    EDITED = "edited"  # a proposal accepted after its box or mask was changed
    REJECTED = "rejected"
    DRAWN = "drawn"
    BOX_TO_MASK = "box_to_mask"


class ActiveClock:
    """Active seconds on one image: the sum of the gaps between consecutive actions, each gap
    over `idle_limit_s` left out. `clock` is injectable (tests); monotonic by default."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, idle_limit_s: float = IDLE_LIMIT_S
    ) -> None:
        self.clock = clock
        self.idle_limit_s = idle_limit_s
        self._last: float | None = None
        self._seconds = 0.0
        self._actions = 0

    @property
    def running(self) -> bool:
        return self._last is not None

    def start(self) -> None:
        """The image opened: the first gap starts now. Pending time is kept (see `take`)."""
        self._last = self.clock()

    def action(self) -> None:
        """The annotator did something on the open image."""
        if self._last is None:
            return
        now = self.clock()
        gap = now - self._last
        if 0.0 <= gap <= self.idle_limit_s:
            self._seconds += gap
        self._actions += 1
        self._last = now

    def stop(self) -> None:
        """The image closed (leaving it is itself the last action)."""
        self.action()
        self._last = None

    def take(self) -> tuple[float, int]:
        """(active seconds, actions) counted since the last take; the counters restart."""
        taken = (self._seconds, self._actions)
        self._seconds, self._actions = 0.0, 0
        return taken


@dataclass(frozen=True)
class TimeRow:
    image_id: int
    model: str
    active_s: float
    actions: int
    since: float  # epoch seconds of the first record: orders model versions


@dataclass(frozen=True)
class InstanceRow:
    annotation_id: int
    image_id: int
    model: str
    origin: Origin
    outcome: Outcome | None  # None: still a pending proposal
    since: float


_GEOMETRY_COLUMNS = "bbox_x, bbox_y, bbox_w, bbox_h, segmentation"


def geometry_fingerprint(
    x: float, y: float, w: float, h: float, segmentation_json: str | None
) -> str:
    """A short digest of an annotation's box and mask as stored (the segmentation's JSON text).

    The stored text, not the parsed mask: a report over 100,000 instances must not parse
    100,000 RLEs. The store writes a mask it re-saves unchanged as the same text (one JSON
    encoder, insertion-ordered keys), so an unedited proposal keeps its fingerprint.
    """
    text = f"{float(x)!r},{float(y)!r},{float(w)!r},{float(h)!r}|{segmentation_json or ''}"
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def outcome_of(
    origin: Origin, state: ReviewState, proposed: str | None, current: str
) -> Outcome | None:
    """The outcome of an instance from its provenance and its state now (None: pending)."""
    if origin is Origin.DRAWN:
        return Outcome.DRAWN if state == ReviewState.ACCEPTED else None
    if origin is Origin.BOX_TO_MASK:
        return Outcome.BOX_TO_MASK if state == ReviewState.ACCEPTED else None
    if state == ReviewState.REJECTED:
        return Outcome.REJECTED
    if state == ReviewState.ACCEPTED:
        return Outcome.ACCEPTED if current == proposed else Outcome.EDITED
    return None


class EffortMixin:
    """The effort tables of a `ProjectStore` (schema version 2); relies on its connection."""

    _conn: sqlite3.Connection

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def image_proposals_model(self, image_id: int) -> str:
        """The model whose proposals the image holds now; "" when none has run on it."""
        row = self._conn.execute(
            "SELECT proposals_model FROM images WHERE id = ?", (image_id,)
        ).fetchone()
        return "" if row is None or row[0] is None else str(row[0])

    def add_active_time(self, image_id: int, model: str, seconds: float, actions: int) -> None:
        """Add active seconds spent on an image while `model`'s proposals were on it."""
        if seconds <= 0.0 and actions <= 0:
            return
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO effort_time(image_id, model, active_s, actions, since) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(image_id, model) DO UPDATE SET "
                "active_s = active_s + excluded.active_s, actions = actions + excluded.actions",
                (image_id, model, float(seconds), int(actions), time.time()),
            )

    def record_instance_origin(
        self, ann: Annotation, origin: Origin, model: str | None = None
    ) -> None:
        """Remember where a stored annotation came from; the first record of an id wins.

        For a proposal, call this before its first change: the fingerprint is taken from
        the store, where it is still as the model gave it. `model` defaults to the model
        whose proposals the image holds.
        """
        if ann.id is None:
            return
        row = self._conn.execute(
            f"SELECT image_id, {_GEOMETRY_COLUMNS} FROM annotations WHERE id = ?", (ann.id,)
        ).fetchone()
        if row is None:
            return
        image_id, *geometry = row
        fingerprint = geometry_fingerprint(*geometry) if origin is Origin.PROPOSAL else None
        if model is None:
            model = self.image_proposals_model(image_id)
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO effort_instances(annotation_id, image_id, model, origin, "
                "geometry, since) VALUES (?, ?, ?, ?, ?, ?)",
                (ann.id, image_id, model, origin.value, fingerprint, time.time()),
            )

    def instance_origin_ids(self, image_id: int) -> set[int]:
        rows = self._conn.execute(
            "SELECT annotation_id FROM effort_instances WHERE image_id = ?", (image_id,)
        )
        return {int(r[0]) for r in rows}

    def effort_time(self) -> list[TimeRow]:
        rows = self._conn.execute(
            "SELECT image_id, model, active_s, actions, since FROM effort_time "
            "ORDER BY since, image_id"
        )
        return [TimeRow(int(i), str(m), float(s), int(a), float(t)) for i, m, s, a, t in rows]

    def effort_instances(self) -> list[InstanceRow]:
        """Every recorded instance that still exists, with its outcome derived from the store
        now (an annotation deleted since, e.g. a drawing undone, is left out)."""
        geometry = ", ".join(f"a.{c.strip()}" for c in _GEOMETRY_COLUMNS.split(","))
        rows = self._conn.execute(
            "SELECT p.annotation_id, a.image_id, p.model, p.origin, p.geometry, p.since, "
            f"a.state, {geometry} FROM effort_instances p "
            "JOIN annotations a ON a.id = p.annotation_id ORDER BY p.since, p.annotation_id"
        )
        result = []
        for ann_id, image_id, model, origin_text, proposed, since, state, *now in rows:
            origin, review = Origin(origin_text), ReviewState(state)
            current = (
                geometry_fingerprint(*now)
                if origin is Origin.PROPOSAL and review is ReviewState.ACCEPTED
                else ""
            )
            outcome = outcome_of(origin, review, proposed, current)
            result.append(
                InstanceRow(int(ann_id), int(image_id), str(model), origin, outcome, float(since))
            )
        return result
