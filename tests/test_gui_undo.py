"""Reviewing proposals on the canvas (accept, reject, accept all, threshold) and undoing it."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from core.errors import ProjectError  # noqa: E402
from core.records import ReviewState, Source  # noqa: E402
from tests._gui_helpers import (  # noqa: E402
    drag,
    make_canvas,
    mask_annotation,
    proposal,
    rect_mask,
)


def _proposal_canvas(qtbot, tmp_path, scores=(0.9, 0.6, 0.3)):
    boxes = [proposal(1, (10 + 50 * i, 20, 40, 40), s) for i, s in enumerate(scores)]
    canvas = make_canvas(qtbot, tmp_path, boxes)
    return canvas, canvas.stored()


def test_accept_selected_sets_accepted_keeping_source_and_score(qtbot, tmp_path):
    canvas, (high, *_) = _proposal_canvas(qtbot, tmp_path)
    canvas.view.select_annotation(high.id)
    canvas.view.edits.accept_selected()
    stored = canvas.stored_one(high.id)
    assert stored.state == ReviewState.ACCEPTED
    assert stored.source == Source.MODEL and stored.score == pytest.approx(0.9)


def test_undo_of_accept_makes_it_a_proposal_again(qtbot, tmp_path):
    canvas, (high, *_) = _proposal_canvas(qtbot, tmp_path)
    canvas.view.select_annotation(high.id)
    canvas.view.edits.accept_selected()
    canvas.doc.undo_stack.undo()
    assert canvas.stored_one(high.id).state == ReviewState.PROPOSED
    assert canvas.doc.annotation(high.id).state == ReviewState.PROPOSED
    canvas.doc.undo_stack.redo()
    assert canvas.stored_one(high.id).state == ReviewState.ACCEPTED


def test_delete_key_on_proposal_rejects_and_hides_it(qtbot, tmp_path):
    canvas, (high, mid, low) = _proposal_canvas(qtbot, tmp_path)
    canvas.view.select_annotation(mid.id)
    qtbot.keyClick(canvas.view, Qt.Key.Key_Delete)
    assert canvas.stored_one(mid.id).state == ReviewState.REJECTED
    assert canvas.view.item_for(mid.id) is None
    assert [a.id for a in canvas.doc.annotations()] == [high.id, low.id]
    canvas.doc.undo_stack.undo()
    assert canvas.stored_one(mid.id).state == ReviewState.PROPOSED
    assert canvas.view.item_for(mid.id) is not None


def test_reject_selected_ignores_human_labels(qtbot, tmp_path):
    human = mask_annotation(1, rect_mask(100, 100, 120, 120))
    canvas = make_canvas(qtbot, tmp_path, [proposal(1, (10, 10, 30, 30), 0.8), human])
    prop, label = canvas.stored()
    canvas.view.select_annotation(prop.id)
    canvas.view.edits.reject_selected()
    canvas.view.select_annotation(label.id)
    canvas.view.edits.reject_selected()
    states = {a.id: a.state for a in canvas.stored(include_rejected=True)}
    assert states == {prop.id: ReviewState.REJECTED, label.id: ReviewState.ACCEPTED}


def test_threshold_hides_low_proposals_but_not_accepted_ones(qtbot, tmp_path):
    canvas, (high, mid, low) = _proposal_canvas(qtbot, tmp_path)
    canvas.view.select_annotation(low.id)
    canvas.view.edits.accept_selected()
    canvas.view.set_score_threshold(0.7)
    visible = {i: canvas.view.item_for(i).isVisible() for i in (high.id, mid.id, low.id)}
    assert visible == {high.id: True, mid.id: False, low.id: True}
    canvas.view.set_score_threshold(0.0)
    assert canvas.view.item_for(mid.id).isVisible()


def test_tab_skips_hidden_proposals(qtbot, tmp_path):
    canvas, (high, mid, low) = _proposal_canvas(qtbot, tmp_path)
    canvas.view.set_score_threshold(0.5)
    seen = []
    for _ in range(3):
        qtbot.keyClick(canvas.view, Qt.Key.Key_Tab)
        seen.extend(canvas.view.selected_ids())
    assert seen == [high.id, mid.id, high.id]


def test_accept_all_above_threshold_is_one_undo_step(qtbot, tmp_path):
    canvas, (high, mid, low) = _proposal_canvas(qtbot, tmp_path)
    canvas.view.set_score_threshold(0.5)
    canvas.view.edits.accept_all_above_threshold()
    states = {a.id: a.state for a in canvas.stored()}
    assert states == {
        high.id: ReviewState.ACCEPTED,
        mid.id: ReviewState.ACCEPTED,
        low.id: ReviewState.PROPOSED,
    }
    assert canvas.doc.undo_stack.count() == 1
    canvas.doc.undo_stack.undo()
    assert {a.state for a in canvas.stored()} == {ReviewState.PROPOSED}


def test_accept_all_failing_part_way_changes_nothing_and_leaves_no_step(
    qtbot, tmp_path, monkeypatch
):
    canvas, (high, mid, _low) = _proposal_canvas(qtbot, tmp_path)
    canvas.view.set_score_threshold(0.5)
    store, real = canvas.store, canvas.store.set_annotation_state
    calls: list[int] = []

    def fail_on_second(ann_id, state):
        calls.append(ann_id)
        if len(calls) == 2:
            raise ProjectError("Cannot write p.maskloop: the disk is full.")
        real(ann_id, state)

    monkeypatch.setattr(store, "set_annotation_state", fail_on_second)
    with qtbot.waitSignal(canvas.doc.editFailed):
        canvas.view.edits.accept_all_above_threshold()
    assert len(calls) == 2
    assert {a.state for a in canvas.stored()} == {ReviewState.PROPOSED}
    assert {a.state for a in canvas.doc.annotations()} == {ReviewState.PROPOSED}
    assert canvas.doc.undo_stack.count() == 0
    assert store.instance_origin_ids(canvas.image_id) == set()  # provenance rolled back too
    monkeypatch.undo()
    canvas.view.edits.accept_all_above_threshold()
    assert {a.id for a in canvas.stored() if a.state == ReviewState.ACCEPTED} == {high.id, mid.id}
    assert store.instance_origin_ids(canvas.image_id) == {high.id, mid.id}


def test_editing_a_proposal_keeps_it_a_proposal_until_accepted(qtbot, tmp_path):
    prop = mask_annotation(
        1, rect_mask(20, 20, 60, 60), source=Source.MODEL, state=ReviewState.PROPOSED, score=0.7
    )
    canvas = make_canvas(qtbot, tmp_path, [prop])
    (stored,) = canvas.stored()
    canvas.view.select_annotation(stored.id)
    canvas.view.set_tool("brush")
    drag(canvas.view, (60, 40), (100, 40))
    edited = canvas.stored_one(stored.id)
    assert edited.segmentation != stored.segmentation
    assert (edited.state, edited.source, edited.score) == (ReviewState.PROPOSED, Source.MODEL, 0.7)
    canvas.view.edits.accept_selected()
    accepted = canvas.stored_one(stored.id)
    assert (accepted.state, accepted.segmentation) == (ReviewState.ACCEPTED, edited.segmentation)


def test_enter_on_canvas_accepts_selected_proposal(qtbot, tmp_path):
    canvas, (high, *_) = _proposal_canvas(qtbot, tmp_path)
    canvas.view.select_annotation(high.id)
    qtbot.keyClick(canvas.view, Qt.Key.Key_Return)
    assert canvas.stored_one(high.id).state == ReviewState.ACCEPTED


def test_proposals_reload_replaces_items_and_clears_history(qtbot, tmp_path):
    canvas, (high, mid, low) = _proposal_canvas(qtbot, tmp_path)
    canvas.view.select_annotation(high.id)
    canvas.view.edits.accept_selected()
    canvas.store.replace_proposals(canvas.image_id, [proposal(1, (5, 5, 10, 10), 0.99)], "m2")
    canvas.doc.reload_proposals()
    ids = sorted(a.id for a in canvas.doc.annotations())
    assert high.id in ids and mid.id not in ids and len(ids) == 2
    assert all(canvas.view.item_for(i) is not None for i in ids)
    assert canvas.doc.undo_stack.count() == 0


def test_own_drawing_stays_undoable_when_proposals_arrive(qtbot, tmp_path):
    canvas = make_canvas(qtbot, tmp_path)
    canvas.view.set_tool("box")
    drag(canvas.view, (10, 10), (60, 40))  # drawn while the model is still working
    (drawn,) = canvas.stored()
    canvas.store.replace_proposals(canvas.image_id, [proposal(1, (80, 80, 20, 20), 0.9)], "m")
    canvas.doc.reload_proposals()
    assert canvas.doc.undo_stack.count() == 1
    (arrived,) = [a for a in canvas.stored() if a.source == Source.MODEL]
    assert canvas.view.item_for(arrived.id) is not None

    canvas.doc.undo_stack.undo()
    assert [a.id for a in canvas.stored()] == [arrived.id]
    assert canvas.view.item_for(drawn.id) is None
    canvas.doc.undo_stack.redo()
    assert sorted(a.id for a in canvas.stored()) == sorted([drawn.id, arrived.id])
    assert canvas.stored_one(drawn.id).bbox == drawn.bbox


def test_rejecting_then_new_proposals_clears_history(qtbot, tmp_path):
    canvas, (high, *_) = _proposal_canvas(qtbot, tmp_path)
    canvas.view.set_tool("box")
    drag(canvas.view, (5, 100), (40, 130))
    assert canvas.doc.undo_stack.count() == 1
    canvas.view.set_tool("select")
    canvas.view.select_annotation(high.id)
    canvas.view.edits.reject_selected()
    canvas.store.replace_proposals(canvas.image_id, [proposal(1, (5, 5, 10, 10), 0.99)], "m2")
    canvas.doc.reload_proposals()
    # Undoing the reject would bring back a proposal the model has since replaced.
    assert canvas.doc.undo_stack.count() == 0
