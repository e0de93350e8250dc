"""ImageDocument: every mutation is in the project file before its signal fires, and the
undo commands restore stored annotations field by field."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from core.errors import ProjectError  # noqa: E402
from core.records import Annotation, ReviewState  # noqa: E402
from core.store import ProjectStore  # noqa: E402
from gui.commands import AddAnnotation, DeleteAnnotation, EditAnnotation  # noqa: E402
from gui.document import ImageDocument  # noqa: E402
from tests._gui_helpers import CAT_A, CAT_B, make_store, proposal  # noqa: E402


@pytest.fixture
def doc(qtbot, tmp_path):
    store, image_id = make_store(tmp_path)
    document = ImageDocument(store, image_id)
    yield document
    store.close()


def _reopened(doc: ImageDocument, **kw) -> list[Annotation]:
    with ProjectStore.open(doc.store.path) as other:
        return other.annotations(doc.image_id, **kw)


def _box(doc, **fields) -> Annotation:
    return Annotation(image_id=doc.image_id, category_id=CAT_A, bbox=(1, 2, 3, 4), **fields)


def test_add_is_in_the_file_when_the_signal_fires(qtbot, doc):
    seen = []
    doc.annotationAdded.connect(lambda ann_id: seen.append((ann_id, _reopened(doc))))
    stored = doc.add(_box(doc))
    assert seen == [(stored.id, [stored])]
    assert doc.annotations() == [stored]


def test_update_and_remove_write_through(qtbot, doc):
    stored = doc.add(_box(doc))
    stored.category_id = CAT_B
    with qtbot.waitSignal(doc.annotationChanged):
        doc.update(stored)
    assert _reopened(doc)[0].category_id == CAT_B
    with qtbot.waitSignal(doc.annotationRemoved):
        doc.remove(stored.id)
    assert _reopened(doc, include_rejected=True) == []


def test_rejecting_removes_from_view_but_keeps_it_stored(qtbot, doc):
    stored = doc.add(proposal(doc.image_id, (5, 5, 5, 5), 0.5))
    with qtbot.waitSignal(doc.annotationRemoved):
        doc.set_state(stored.id, ReviewState.REJECTED)
    assert doc.annotations() == []
    assert _reopened(doc, include_rejected=True)[0].state == ReviewState.REJECTED
    with qtbot.waitSignal(doc.annotationAdded):
        doc.set_state(stored.id, ReviewState.PROPOSED)
    assert doc.annotation(stored.id).state == ReviewState.PROPOSED


def test_annotation_of_another_image_is_refused(qtbot, doc):
    with pytest.raises(ProjectError):
        doc.add(Annotation(image_id=doc.image_id + 1, category_id=CAT_A, bbox=(0, 0, 1, 1)))
    with pytest.raises(ProjectError):
        doc.annotation(12345)


def test_returned_annotations_are_copies(qtbot, doc):
    stored = doc.add(_box(doc))
    doc.annotation(stored.id).category_id = CAT_B
    assert doc.annotation(stored.id).category_id == CAT_A


def test_add_command_redo_reuses_the_id(qtbot, doc):
    command = AddAnnotation(doc, _box(doc))
    doc.undo_stack.push(command)
    ann_id = command.annotation_id
    doc.undo_stack.undo()
    assert _reopened(doc) == []
    doc.undo_stack.redo()
    assert [a.id for a in _reopened(doc)] == [ann_id]


def test_delete_command_undo_restores_every_field(qtbot, doc):
    stored = doc.add(_box(doc, extra={"attributes": {"occluded": True}}, iscrowd=False, area=12.0))
    doc.undo_stack.push(DeleteAnnotation(doc, stored.id))
    doc.undo_stack.undo()
    assert _reopened(doc) == [stored]


def test_edit_command_swaps_whole_annotations(qtbot, doc):
    old = doc.add(_box(doc))
    new = _box(doc, id=old.id)
    new.bbox = (10.0, 20.0, 30.0, 40.0)
    doc.undo_stack.push(EditAnnotation(doc, old, new))
    assert tuple(_reopened(doc)[0].bbox) == (10, 20, 30, 40)
    doc.undo_stack.undo()
    assert _reopened(doc) == [old]


def test_reload_sees_another_connections_proposals(qtbot, doc):
    with ProjectStore.open(doc.store.path) as worker_store:
        worker_store.replace_proposals(
            doc.image_id, [proposal(doc.image_id, (1, 1, 9, 9), 0.8)], "m"
        )
    with qtbot.waitSignal(doc.reset):
        doc.reload_proposals()
    assert [a.score for a in doc.annotations()] == [0.8]
