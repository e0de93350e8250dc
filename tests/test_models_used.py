"""The project's model records: the active model and run checkpoints stored relative to the
project (a copied or moved project uses its own files), and the models that loaded."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from core.errors import MaskLoopError, ModelFileMissing
from core.store import ProjectStore


@pytest.fixture
def store(tmp_path):
    folder = tmp_path / "old" / "project"
    (folder / "images").mkdir(parents=True)
    with ProjectStore.create(folder / "p.maskloop", folder / "images") as s:
        yield s


def _checkpoint(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"checkpoint " + path.name.encode())
    return path


def _raw_setting(store: ProjectStore, key: str):
    row = store._conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    return json.loads(row[0])


def test_architecture_names_are_stored_and_returned_as_they_are(store):
    assert store.active_model() is None
    store.set_active_model("lite")
    assert store.active_model() == "lite" == _raw_setting(store, "model")
    assert store.active_model(must_exist=True) == "lite"


def test_model_files_are_stored_relative_to_the_project_and_returned_absolute(store, tmp_path):
    folder = store.path.parent
    inside = _checkpoint(folder / "p.runs" / "ft-001" / "ft-001.pt")
    beside = _checkpoint(tmp_path / "old" / "models" / "demo-lite.pt")  # ../ from the project
    store.set_active_model(str(inside))
    assert _raw_setting(store, "model") == "p.runs/ft-001/ft-001.pt"
    assert store.active_model() == str(inside)
    store.set_active_model(str(beside))
    assert _raw_setting(store, "model") == "../models/demo-lite.pt"
    assert store.active_model() == str(beside)


def test_a_copied_project_uses_its_own_checkpoints_after_the_old_folder_is_gone(store, tmp_path):
    old_root = tmp_path / "old"
    folder = store.path.parent
    base = _checkpoint(old_root / "models" / "demo-lite.pt")
    first = _checkpoint(folder / "p.runs" / "ft-001" / "ft-001.pt")
    second = _checkpoint(folder / "p.runs" / "ft-002" / "ft-002.pt")
    store.add_model_run(
        base_model=str(base), checkpoint_path=str(first), train_images=4, val_images=1,
        ap_before=0.1, ap_after=0.3,
    )  # fmt: skip
    store.add_model_run(
        base_model=str(first), checkpoint_path=str(second), train_images=5, val_images=1,
        ap_before=0.3, ap_after=0.4,
    )  # fmt: skip
    store.record_model_loaded(str(second))
    store.close()

    shutil.copytree(old_root, tmp_path / "new")
    shutil.rmtree(old_root)
    new_folder = tmp_path / "new" / "project"
    with ProjectStore.open(new_folder / "p.maskloop") as moved:
        assert moved.active_model(must_exist=True) == str(new_folder / "p.runs/ft-002/ft-002.pt")
        runs = moved.model_runs()
        assert [(r.base_model, r.checkpoint_path) for r in runs] == [
            (str(tmp_path / "new/models/demo-lite.pt"), str(new_folder / "p.runs/ft-001/ft-001.pt")),
            (str(new_folder / "p.runs/ft-001/ft-001.pt"), str(new_folder / "p.runs/ft-002/ft-002.pt")),
        ]  # fmt: skip
        assert all(Path(r.checkpoint_path).read_bytes().startswith(b"checkpoint") for r in runs)
        assert [u.model for u in moved.models_used()] == [
            str(new_folder / "p.runs/ft-002/ft-002.pt")
        ]
        assert moved.last_working_model() == str(new_folder / "p.runs/ft-002/ft-002.pt")


def test_old_absolute_paths_are_still_read(store, tmp_path):
    model = _checkpoint(tmp_path / "elsewhere" / "model.pt")
    with store.transaction() as conn:  # as an earlier version wrote them
        conn.execute(
            "INSERT INTO settings(key, value) VALUES ('model', ?)", (json.dumps(str(model)),)
        )
        conn.execute(
            "INSERT INTO model_runs(created_at, base_model, checkpoint_path, train_images, "
            "val_images) VALUES ('2026-01-01T00:00:00+00:00', 'lite', ?, 3, 1)",
            (str(model),),
        )
    assert store.active_model(must_exist=True) == str(model)
    (run,) = store.model_runs()
    assert (run.base_model, run.checkpoint_path) == ("lite", str(model))


def test_a_missing_model_file_says_which_file_where_and_what_to_do(store):
    expected = store.path.parent / "p.runs" / "ft-001" / "ft-001.pt"
    _checkpoint(expected)
    store.set_active_model(str(expected))
    expected.unlink()
    assert store.active_model() == str(expected)  # the record itself is kept
    with pytest.raises(ModelFileMissing) as caught:
        store.active_model(must_exist=True)
    message = str(caught.value)
    assert isinstance(caught.value, MaskLoopError)
    assert "ft-001.pt" in message and str(expected) in message
    assert "Model > Choose…" in message


def test_models_that_loaded_are_remembered_and_the_last_working_one_survives_a_bad_choice(
    store, tmp_path
):
    good = _checkpoint(store.path.parent / "good.pt")
    deleted = _checkpoint(store.path.parent / "deleted.pt")
    t = [datetime(2026, 11, 29, 19, m, tzinfo=timezone.utc) for m in range(4)]
    store.record_model_loaded("lite", now=t[0])
    store.record_model_loaded(str(good), now=t[1])
    store.record_model_loaded(str(deleted), now=t[2])
    store.record_model_loaded(str(good), now=t[3])  # used again: moves to the end
    deleted.unlink()
    assert [(u.model, u.first_used, u.last_used) for u in store.models_used()] == [
        ("lite", t[0].isoformat(), t[0].isoformat()),
        (str(deleted), t[2].isoformat(), t[2].isoformat()),
        (str(good), t[1].isoformat(), t[3].isoformat()),
    ]
    assert store.active_model() == str(good)

    # the annotator picks a model that then fails to load: the window falls back
    store.set_active_model(str(tmp_path / "broken.pt"))
    assert store.active_model() == str(tmp_path / "broken.pt")
    assert store.last_working_model() == str(good)
    assert store.last_working_model(exclude=str(good)) == "lite"  # the deleted one is skipped
    assert [u.model for u in store.models_used()][-1] == str(good)  # a failure is not recorded


def test_a_project_without_history_has_no_last_working_model(store):
    store.set_active_model("lite")  # chosen, but never recorded as loaded
    assert store.models_used() == []
    assert store.last_working_model() is None
