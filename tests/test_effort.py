"""What the loop saves the annotator: active time, instance outcomes, the Loop report (core)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core import masks
from core.evaluation.loop_report import loop_report, model_name
from core.records import Annotation, ReviewState, Source
from core.store import schema as store_schema
from core.store.effort import ActiveClock, Origin, Outcome
from core.store.project_store import ProjectStore, _connect


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def store(tmp_path: Path):
    (tmp_path / "images").mkdir()
    with ProjectStore.create(tmp_path / "p.maskloop", tmp_path / "images") as s:
        s.add_category("shape", category_id=1)
        yield s


def _proposal(image_id: int, x: float, score: float = 0.9) -> Annotation:
    return Annotation(
        image_id=image_id,
        category_id=1,
        bbox=(x, 1.0, 5.0, 5.0),
        source=Source.MODEL,
        state=ReviewState.PROPOSED,
        score=score,
    )


def test_idle_gaps_over_a_minute_are_not_counted() -> None:
    clock = FakeClock()
    active = ActiveClock(clock)
    active.start()
    clock.advance(5.0)
    active.action()  # 5 s counted
    clock.advance(61.0)
    active.action()  # away for 61 s: nothing counted
    clock.advance(60.0)
    active.action()  # exactly a minute still counts
    clock.advance(2.5)
    active.stop()  # leaving the image is the last action
    assert active.take() == (67.5, 4)
    assert active.take() == (0.0, 0)
    clock.advance(10.0)
    active.action()  # stopped: an action with no image open counts nothing
    assert active.take() == (0.0, 0)


def test_active_time_adds_up_per_image_and_model(store: ProjectStore) -> None:
    image = store.add_image("a.png", 20, 20)
    store.add_active_time(image.id, "", 3.0, 2)
    store.add_active_time(image.id, "lite", 4.0, 1)
    store.add_active_time(image.id, "lite", 1.5, 3)
    rows = {(r.image_id, r.model): (r.active_s, r.actions) for r in store.effort_time()}
    assert rows == {(image.id, ""): (3.0, 2), (image.id, "lite"): (5.5, 4)}


def test_outcomes_follow_the_store_so_undoing_an_accept_moves_the_instance_back(
    store: ProjectStore,
) -> None:
    image = store.add_image("a.png", 20, 20)
    accepted, edited, rejected, pending = store.replace_proposals(
        image.id, [_proposal(image.id, x) for x in (0.0, 5.0, 10.0, 15.0)], "m1"
    )
    for ann in (accepted, edited, rejected, pending):
        store.record_instance_origin(ann, Origin.PROPOSAL)
    store.set_annotation_state(accepted.id, ReviewState.ACCEPTED)
    store.update_annotation(replace(edited, bbox=(6.0, 1.0, 5.0, 5.0), state=ReviewState.ACCEPTED))
    store.set_annotation_state(rejected.id, ReviewState.REJECTED)
    drawn = store.add_annotation(Annotation(image.id, 1, (2.0, 2.0, 3.0, 3.0)))
    store.record_instance_origin(drawn, Origin.DRAWN)
    outcomes = {row.annotation_id: row.outcome for row in store.effort_instances()}
    assert outcomes == {
        accepted.id: Outcome.ACCEPTED,
        edited.id: Outcome.EDITED,
        rejected.id: Outcome.REJECTED,
        pending.id: None,
        drawn.id: Outcome.DRAWN,
    }
    assert {row.model for row in store.effort_instances()} == {"m1"}

    store.set_annotation_state(accepted.id, ReviewState.PROPOSED)  # the undo of the accept
    store.update_annotation(replace(edited, state=ReviewState.ACCEPTED))  # the edit undone
    store.delete_annotation(drawn.id)  # the drawing undone
    outcomes = {row.annotation_id: row.outcome for row in store.effort_instances()}
    assert outcomes == {
        accepted.id: None,
        edited.id: Outcome.ACCEPTED,
        rejected.id: Outcome.REJECTED,
        pending.id: None,
    }


def test_the_first_record_of_an_instance_wins(store: ProjectStore) -> None:
    image = store.add_image("a.png", 20, 20)
    (proposal,) = store.replace_proposals(image.id, [_proposal(image.id, 0.0)], "m1")
    store.record_instance_origin(proposal, Origin.PROPOSAL)
    moved = replace(proposal, bbox=(9.0, 9.0, 2.0, 2.0), state=ReviewState.ACCEPTED)
    store.update_annotation(moved)
    store.record_instance_origin(moved, Origin.PROPOSAL, model="m2")  # a later touch
    (row,) = store.effort_instances()
    assert (row.model, row.outcome) == ("m1", Outcome.EDITED)


def test_report_equals_a_hand_count(store: ProjectStore) -> None:
    first, second, unreviewed = (store.add_image(f"{n}.png", 20, 20) for n in "abc")
    for image in (first, second, unreviewed):
        proposals = store.replace_proposals(
            image.id, [_proposal(image.id, 0.0), _proposal(image.id, 8.0)], "/runs/a.pt#123"
        )
        for ann in proposals:
            store.record_instance_origin(ann, Origin.PROPOSAL)
        store.set_annotation_state(proposals[0].id, ReviewState.ACCEPTED)
        store.set_annotation_state(proposals[1].id, ReviewState.REJECTED)
        store.add_active_time(image.id, "/runs/a.pt#123", 12.0, 4)
    drawn = store.add_annotation(Annotation(second.id, 1, (2.0, 2.0, 3.0, 3.0)))
    store.record_instance_origin(drawn, Origin.BOX_TO_MASK)
    store.add_active_time(second.id, "", 6.0, 2)  # before any model had run on it
    store.set_reviewed(first.id)
    store.set_reviewed(second.id)

    report = {entry.model: entry for entry in loop_report(store)}
    assert set(report) == {"/runs/a.pt#123", ""}
    model = report["/runs/a.pt#123"]
    assert model.name == "a.pt"
    assert (model.images_reviewed, model.active_s) == (2, 24.0)
    # the box-to-mask instance was made while a.pt's proposals were on the image
    assert model.outcomes == {
        Outcome.ACCEPTED: 2,
        Outcome.EDITED: 0,
        Outcome.REJECTED: 2,
        Outcome.DRAWN: 0,
        Outcome.BOX_TO_MASK: 1,
    }
    assert model.seconds_per_image == 12.0
    assert model.seconds_per_instance == 24.0 / 5
    assert model.accepted_share == 2 / 5
    none = report[""]
    assert (none.name, none.images_reviewed, none.active_s, none.instances) == (
        "no model",
        1,
        6.0,
        0,
    )
    assert none.seconds_per_instance is None and none.accepted_share is None


def test_model_names_in_the_report() -> None:
    assert model_name("") == "no model"
    assert model_name("lite") == "lite"
    assert model_name("/p/x.runs/run-3.pt#abc123") == "run-3.pt"


def test_a_project_from_before_the_effort_tables_opens_and_records(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    path = tmp_path / "old.maskloop"
    conn = _connect(path)
    store_schema.migrate(
        conn,
        target=1,
        then=lambda c: c.execute("INSERT INTO meta(key, value) VALUES ('images_dir', 'images')"),
    )
    conn.execute("INSERT INTO images(id, file_name, width, height) VALUES (7, 'a.png', 9, 8)")
    conn.close()

    with ProjectStore.open(path) as store:
        assert store_schema.schema_version(store._conn) == store_schema.SCHEMA_VERSION == 2
        assert store.get_image(7).file_name == "a.png"
        store.add_active_time(7, "", 2.0, 1)
        assert [(r.image_id, r.active_s) for r in store.effort_time()] == [(7, 2.0)]
    raw = sqlite3.connect(path)
    tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    raw.close()
    assert {"effort_time", "effort_instances"} <= tables


def test_a_mask_edited_and_edited_back_counts_as_accepted_as_proposed(store: ProjectStore) -> None:
    image = store.add_image("a.png", 20, 20)
    mask = np.zeros((20, 20), bool)
    mask[2:9, 3:12] = True
    proposal = replace(_proposal(image.id, 3.0), segmentation=masks.encode_mask(mask))
    (stored,) = store.replace_proposals(image.id, [proposal], "m1")
    store.record_instance_origin(stored, Origin.PROPOSAL)
    original = store.get_annotation(stored.id)  # as the window's document holds it
    painted = mask.copy()
    painted[10:14, 3:6] = True  # a brush stroke
    store.update_annotation(replace(original, segmentation=masks.encode_mask(painted)))
    store.set_annotation_state(stored.id, ReviewState.ACCEPTED)
    assert [row.outcome for row in store.effort_instances()] == [Outcome.EDITED]
    store.update_annotation(replace(original, state=ReviewState.ACCEPTED))  # stroke undone
    assert [row.outcome for row in store.effort_instances()] == [Outcome.ACCEPTED]
