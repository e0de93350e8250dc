"""ProjectStore: the project file's contract, one behaviour per test."""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

from core.errors import ProjectError
from core.palette import PALETTE
from core.records import Annotation, ImageStatus, ReviewState, Source
from core.store import schema as store_schema
from core.store.project_store import ProjectStore, RecordNotFound


@pytest.fixture
def store(tmp_path: Path):
    (tmp_path / "images").mkdir()
    with ProjectStore.create(tmp_path / "p.maskloop", tmp_path / "images") as s:
        yield s


def _ann(image_id: int, category_id: int, **kw) -> Annotation:
    return Annotation(image_id=image_id, category_id=category_id, bbox=(1.0, 2.0, 3.0, 4.0), **kw)


def _proposal(image_id: int, category_id: int, score: float = 0.9) -> Annotation:
    return _ann(image_id, category_id, source=Source.MODEL, state=ReviewState.PROPOSED, score=score)


def test_project_file_uses_wal_full_sync_and_foreign_keys(store: ProjectStore) -> None:
    conn = store._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA user_version").fetchone()[0] == store_schema.SCHEMA_VERSION


def test_project_and_images_folder_can_move_together(tmp_path: Path) -> None:
    root = tmp_path / "old"
    (root / "imgs" / "sub").mkdir(parents=True)
    (root / "imgs" / "sub" / "x.png").write_bytes(b"png")
    with ProjectStore.create(root / "p.maskloop", root / "imgs") as s:
        image = s.add_image("sub/x.png", 4, 3)
    shutil.move(root, tmp_path / "new")
    with ProjectStore.open(tmp_path / "new" / "p.maskloop") as s:
        assert s.images_dir == (tmp_path / "new" / "imgs").resolve()
        assert s.image_path(image.id).read_bytes() == b"png"


def test_create_refuses_to_overwrite_an_existing_file(store: ProjectStore) -> None:
    with pytest.raises(ProjectError, match="already exists"):
        ProjectStore.create(store.path, store.images_dir)


@pytest.mark.parametrize("content", [b"", b"this is not a database at all" * 100])
def test_opening_a_file_that_is_not_a_project_raises_project_error(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "junk.maskloop"
    path.write_bytes(content)
    with pytest.raises(ProjectError):
        ProjectStore.open(path)


def test_opening_a_foreign_sqlite_file_raises_project_error(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    sqlite3.connect(path).execute("CREATE TABLE t(x)").connection.commit()
    with pytest.raises(ProjectError, match="not a MaskLoop project"):
        ProjectStore.open(path)


def test_opening_a_missing_project_raises_project_error(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="No project file"):
        ProjectStore.open(tmp_path / "missing.maskloop")


def test_project_from_a_newer_version_is_refused(store: ProjectStore) -> None:
    store._conn.execute("PRAGMA user_version = 99")
    with pytest.raises(ProjectError, match="newer MaskLoop"):
        ProjectStore.open(store.path)


def test_open_runs_missing_migrations_and_keeps_data(
    store: ProjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = store.add_image("a.png", 4, 3)
    store.close()
    current = store_schema.SCHEMA_VERSION
    add_note = {current: lambda c: c.execute("ALTER TABLE images ADD note")}
    monkeypatch.setattr(store_schema, "MIGRATIONS", {**store_schema.MIGRATIONS, **add_note})
    monkeypatch.setattr(store_schema, "SCHEMA_VERSION", current + 1)
    with ProjectStore.open(store.path) as reopened:
        assert reopened._conn.execute("PRAGMA user_version").fetchone()[0] == current + 1
        assert reopened._conn.execute("SELECT note FROM images").fetchall() == [(None,)]
        assert reopened.get_image(image.id) == image


def test_failed_migration_leaves_the_file_unchanged(store: ProjectStore) -> None:
    store.add_image("a.png", 4, 3)

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE images ADD note")
        raise RuntimeError("disk pulled mid-migration")

    current = store_schema.SCHEMA_VERSION
    with pytest.raises(RuntimeError):
        store_schema.migrate(store._conn, target=current + 1, migrations={current: broken})
    assert store_schema.schema_version(store._conn) == current
    columns = [r[1] for r in store._conn.execute("PRAGMA table_info(images)")]
    assert "note" not in columns


def test_missing_image_raises_a_key_error_like_project_error(store: ProjectStore) -> None:
    with pytest.raises(RecordNotFound) as info:
        store.get_image(404)
    assert isinstance(info.value, KeyError) and isinstance(info.value, ProjectError)
    assert str(info.value) == "The project has no image with id 404."


def test_image_fields_round_trip(store: ProjectStore) -> None:
    image = store.add_image("sub dir/ünï.png", 40, 30, image_id=7, extra={"license": 1})
    assert image.id == 7 and image.extra == {"license": 1} and not image.size_checked
    assert store.image_by_file_name("sub dir/ünï.png") == image
    assert store.image_by_file_name("nope.png") is None
    store.set_image_size(7, 41, 31)
    store.set_reviewed(7)
    again = store.get_image(7)
    assert (again.width, again.height, again.size_checked, again.reviewed) == (41, 31, True, True)


def test_add_images_adds_a_batch_once_and_skips_names_already_there(store: ProjectStore) -> None:
    assert store.add_images([("a.png", 10, 20), ("b/c.png", 30, 40)], size_checked=True) == 2
    assert store.add_images([("a.png", 10, 20), ("d.png", 5, 6)]) == 1
    b = store.image_by_file_name("b/c.png")
    assert b is not None and (b.width, b.height, b.size_checked) == (30, 40, True)
    assert store.image_count() == 3
    with pytest.raises(ProjectError, match="Cannot add image"):
        store.add_images([("ok.png", 1, 1), ("../escape.png", 1, 1)])
    assert store.image_by_file_name("ok.png") is None


@pytest.mark.parametrize("name", ["../x.png", "/etc/passwd", "a/../../b.png", "C:\\x.png"])
def test_image_names_leading_outside_the_images_folder_are_refused(
    store: ProjectStore, name: str
) -> None:
    with pytest.raises(ProjectError, match="Cannot add image"):
        store.add_image(name, 4, 3)
    assert store.image_count() == 0


def test_image_path_refuses_a_symlink_out_of_the_images_folder(
    store: ProjectStore, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"x")
    os.symlink(secret, store.images_dir / "link.png")
    image = store.add_image("link.png", 1, 1)
    with pytest.raises(ProjectError, match="outside the images folder"):
        store.image_path(image.id)


def test_image_status_follows_reviewed_flag_then_pending_proposals(store: ProjectStore) -> None:
    cat = store.add_category("cat")
    empty, human, proposed, reviewed = (store.add_image(f"{i}.png", 4, 4) for i in range(4))
    store.add_annotation(_ann(human.id, cat.id))
    store.replace_proposals(proposed.id, [_proposal(proposed.id, cat.id)], "lite")
    store.replace_proposals(reviewed.id, [_proposal(reviewed.id, cat.id)], "lite")
    store.set_reviewed(reviewed.id)
    expected = {
        empty.id: ImageStatus.UNLABELLED,
        human.id: ImageStatus.UNLABELLED,  # human work not marked reviewed is not finished
        proposed.id: ImageStatus.PROPOSED,
        reviewed.id: ImageStatus.REVIEWED,
    }
    assert store.image_statuses([*expected, 999]) == expected
    assert store.image_ids(status=ImageStatus.UNLABELLED) == [empty.id, human.id]
    assert store.image_count(ImageStatus.PROPOSED) == 1
    assert store.image_count(ImageStatus.REVIEWED) == 1
    # accepting the only proposal ends the PROPOSED state
    (pending,) = store.annotations(proposed.id)
    store.set_annotation_state(pending.id, ReviewState.ACCEPTED)
    assert store.image_statuses([proposed.id]) == {proposed.id: ImageStatus.UNLABELLED}


def test_status_queries_use_the_partial_proposal_index(store: ProjectStore) -> None:
    plan = " ".join(
        str(row)
        for row in store._conn.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM images WHERE reviewed = 0 AND EXISTS (SELECT 1 "
            "FROM annotations a WHERE a.image_id = images.id AND a.source = 'model' "
            "AND a.state = 'proposed')"
        )
    )
    assert "annotations_proposed" in plan


def test_list_images_pages_in_id_order_with_search(store: ProjectStore) -> None:
    names = ["b/Ärger.png", "a.png", "c/ärger 2.png", "d.jpg"]
    for i, name in enumerate(names):
        store.add_image(name, 4, 4, image_id=10 + i)
    assert [im.id for im in store.list_images(1, 2)] == [11, 12]
    assert [im.id for im in store.list_images(3)] == [13]
    assert store.image_ids(search="ÄRGER") == [10, 12]
    assert [im.file_name for im in store.list_images(search=".png", limit=1)] == ["b/Ärger.png"]
    assert store.image_count() == 4


def test_a_transaction_inside_another_joins_it(store: ProjectStore) -> None:
    first, second = store.add_image("a.png", 4, 4), store.add_image("b.png", 4, 4)
    with ProjectStore.open(store.path) as other:
        with store.transaction():
            store.set_reviewed(first.id)
            store.set_reviewed(second.id)
            assert not other.get_image(first.id).reviewed  # nothing committed yet
        assert other.get_image(first.id).reviewed and other.get_image(second.id).reviewed
        with pytest.raises(RecordNotFound), store.transaction():
            store.set_reviewed(first.id, False)
            store.set_reviewed(999)  # fails: the change before it is rolled back too
        assert other.get_image(first.id).reviewed
    store.set_reviewed(first.id, False)  # a later transaction commits on its own again
    with ProjectStore.open(store.path) as other:
        assert not other.get_image(first.id).reviewed
    with store.transaction():  # a refused change inside is a ProjectError the caller can catch
        with pytest.raises(ProjectError, match="refused"):
            store.add_image("a.png", 4, 4)
        store.add_image("c.png", 4, 4)
    assert store.image_by_file_name("c.png") is not None


def test_image_names_reads_any_ids_and_leaves_out_unknown_ones(store: ProjectStore) -> None:
    with store.transaction() as tx:  # more ids than one IN (...) chunk holds
        tx.executemany(
            "INSERT INTO images(id, file_name, width, height) VALUES (?, ?, 4, 4)",
            ((n, f"f{n}.png") for n in range(1, 1201)),
        )
    wanted = [1200, 3, 999_999, *range(400, 1100)]
    names = store.image_names(wanted)
    assert names == {n: f"f{n}.png" for n in wanted if n != 999_999}
    assert store.image_names([]) == {}


def test_categories_get_distinct_palette_colours_unless_given(store: ProjectStore) -> None:
    a = store.add_category("a", category_id=5, supercategory="x")
    b = store.add_category("b")
    c = store.add_category("c", color="#123456")
    assert (a.id, a.supercategory, b.id) == (5, "x", 6)
    assert a.color == PALETTE[0] and b.color == PALETTE[1]
    assert c.color == "#123456"
    store.rename_category(a.id, "alpha")
    store.set_category_color(a.id, "#abcdef")
    assert store.get_category(a.id).name == "alpha"
    assert store.get_category(a.id).color == "#abcdef"


def test_merge_categories_moves_annotations_and_deletes_source(store: ProjectStore) -> None:
    image = store.add_image("a.png", 4, 4)
    a, b = store.add_category("a"), store.add_category("b")
    moved = store.add_annotation(_ann(image.id, a.id))
    store.merge_categories(a.id, b.id)
    assert store.get_annotation(moved.id).category_id == b.id
    assert [c.id for c in store.categories()] == [b.id]


def test_annotation_fields_round_trip_exactly(store: ProjectStore) -> None:
    image = store.add_image("a.png", 4, 4)
    cat = store.add_category("a")
    ann = _ann(
        image.id,
        cat.id,
        segmentation={"size": [4, 4], "counts": "04L4"},
        iscrowd=True,
        area=12.5,
        extra={"attributes": {"occluded": False}},
    )
    stored = store.add_annotation(ann)
    assert stored.id == 1
    assert store.get_annotation(1) == stored
    assert store.annotation_count() == 1


def test_new_ids_never_reuse_a_deleted_id_so_undo_can_restore_it(store: ProjectStore) -> None:
    image = store.add_image("a.png", 4, 4)
    cat = store.add_category("a")
    first = store.add_annotation(_ann(image.id, cat.id))
    last = store.add_annotation(_ann(image.id, cat.id, segmentation=[[0, 0, 3, 0, 3, 3]]))
    store.delete_annotation(last.id)
    newer = store.add_annotation(_ann(image.id, cat.id))
    assert newer.id == last.id + 1
    restored = store.add_annotation(last)  # undo of the delete
    assert store.get_annotation(last.id) == restored == last
    with pytest.raises(ProjectError, match="already exists"):
        store.add_annotation(first)


def test_annotation_with_unknown_category_is_refused(store: ProjectStore) -> None:
    image = store.add_image("a.png", 4, 4)
    with pytest.raises(ProjectError):
        store.add_annotation(_ann(image.id, 12345))
    assert store.annotation_count() == 0


def test_update_annotation_clears_an_area_made_stale_by_a_mask_edit(store: ProjectStore) -> None:
    image = store.add_image("a.png", 4, 4)
    cat = store.add_category("a")
    ann = store.add_annotation(_ann(image.id, cat.id, segmentation=[[0, 0, 3, 0, 3, 3]], area=4.5))
    ann.bbox = (0.0, 0.0, 2.0, 2.0)
    store.update_annotation(ann)
    assert store.get_annotation(ann.id).area == 4.5  # geometry of the mask unchanged
    ann.segmentation = {"size": [4, 4], "counts": "05K4"}
    store.update_annotation(ann)
    edited = store.get_annotation(ann.id)
    assert edited.segmentation == {"size": [4, 4], "counts": "05K4"} and edited.area is None


def test_rejected_annotations_are_hidden_unless_asked_for(store: ProjectStore) -> None:
    image = store.add_image("a.png", 4, 4)
    cat = store.add_category("a")
    ann = store.add_annotation(_ann(image.id, cat.id))
    store.set_annotation_state(ann.id, ReviewState.REJECTED)
    assert store.annotations(image.id) == []
    assert [a.state for a in store.annotations(image.id, include_rejected=True)] == ["rejected"]


def test_replace_proposals_never_touches_human_accepted_or_rejected(store: ProjectStore) -> None:
    image = store.add_image("a.png", 4, 4)
    cat = store.add_category("a")
    human = store.add_annotation(_ann(image.id, cat.id))
    accepted, rejected, _ = store.replace_proposals(
        image.id, [_proposal(0, cat.id), _proposal(0, cat.id), _proposal(0, cat.id)], "old"
    )
    store.set_annotation_state(accepted.id, ReviewState.ACCEPTED)
    store.set_annotation_state(rejected.id, ReviewState.REJECTED)
    (fresh,) = store.replace_proposals(image.id, [_ann(0, cat.id, score=0.3)], "new")
    assert (fresh.source, fresh.state, fresh.image_id) == (Source.MODEL, "proposed", image.id)
    kept = {a.id for a in store.annotations(image.id, include_rejected=True)}
    assert kept == {human.id, accepted.id, rejected.id, fresh.id}
    assert store.proposals_model(image.id) == "new"


def test_settings_info_licenses_and_model_runs_persist(store: ProjectStore) -> None:
    store.set_setting("model", {"spec": "lite", "threshold": 0.5})
    store.set_info({"year": 2024})
    store.set_licenses([{"id": 1}])
    run = store.add_model_run(
        base_model="lite",
        checkpoint_path="runs/1/model.pt",
        train_images=8,
        val_images=2,
        ap_before=None,
        ap_after=0.42,
        extra={"epochs": 3},
    )
    store.close()
    with ProjectStore.open(store.path) as s:
        assert s.get_setting("model") == {"spec": "lite", "threshold": 0.5}
        assert s.get_setting("absent", 7) == 7
        assert (s.info(), s.licenses()) == ({"year": 2024}, [{"id": 1}])
        assert s.model_runs() == [run]
        assert run.ap_after == 0.42 and run.extra == {"epochs": 3} and run.created_at


def test_a_worker_thread_store_and_the_gui_store_can_both_write(store: ProjectStore) -> None:
    image = store.add_image("a.png", 4, 4)
    cat = store.add_category("a")
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with ProjectStore.open(store.path) as own:  # each thread its own store
                for _ in range(40):
                    own.replace_proposals(image.id, [_proposal(image.id, cat.id)], "w")
                    own.add_annotation(_ann(image.id, cat.id, extra={"by": "worker"}))
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    for _ in range(40):
        store.add_annotation(_ann(image.id, cat.id, extra={"by": "gui"}))
    thread.join()
    assert errors == []
    by = [a.extra.get("by") for a in store.annotations(image.id)]
    assert by.count("worker") == 40 and by.count("gui") == 40 and by.count(None) == 1
