"""Read-only projects and two windows on one project, in core.

Tests run as root in CI containers, where file permissions do not stop a write; a file or
folder that cannot be written is therefore simulated through `os.access`, while the
read-only connection itself is SQLite's real `mode=ro`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import ProjectError
from core.records import Annotation
from core.store import ProjectStore
from core.store.project_lock import ProjectInUse, ProjectLock, lock_path, read_holder


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "p.maskloop"
    with ProjectStore.create(path, tmp_path) as store:
        image = store.add_image("a.png", 10, 10)
        category = store.add_category("x")
        store.add_annotation(Annotation(image.id, category.id, (1, 1, 2, 2)))
    return path


def _pretend_unwritable(monkeypatch: pytest.MonkeyPatch, unwritable: Path) -> None:
    real = os.access

    def access(path: object, mode: int, *args: object, **kwargs: object) -> bool:
        if Path(str(path)) == unwritable and mode & os.W_OK:
            return False
        return real(path, mode, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", access)


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_project_that_cannot_be_written_opens_read_only_and_refuses_edits(
    project: Path, monkeypatch: pytest.MonkeyPatch, what: str
) -> None:
    before = project.read_bytes()
    _pretend_unwritable(monkeypatch, project if what == "file" else project.parent)
    with ProjectStore.open(project) as store:
        assert store.read_only_reason is not None and what in store.read_only_reason
        assert [a.bbox for a in store.annotations(1)] == [(1.0, 1.0, 2.0, 2.0)]
        with pytest.raises(ProjectError, match="This project is read-only: .*not saved"):
            store.add_annotation(Annotation(1, 1, (5, 5, 1, 1)))
        with pytest.raises(ProjectError, match="read-only"):
            store.set_reviewed(1)
        # SQLite itself refuses too: the connection is opened with mode=ro.
        with pytest.raises(Exception, match="readonly"):
            store._conn.execute("DELETE FROM annotations")
    assert project.read_bytes() == before


def test_a_read_only_store_sees_edits_made_by_a_writer(project: Path) -> None:
    with (
        ProjectStore.open(project) as writer,
        ProjectStore.open(project, read_only="shown") as reader,
    ):
        added = writer.add_annotation(Annotation(1, 1, (3, 3, 1, 1)))
        assert added.id in {a.id for a in reader.annotations(1)}
        assert reader.read_only_reason == "shown"


def test_a_second_window_is_told_the_project_is_open_elsewhere(project: Path) -> None:
    with ProjectLock.acquire(project):
        holder = read_holder(lock_path(project))
        assert holder is not None and holder.pid == os.getpid()
        with pytest.raises(ProjectInUse, match=f"open in another window .*process {os.getpid()}"):
            ProjectLock.acquire(project)
    assert not lock_path(project).exists()
    ProjectLock.acquire(project).release()  # free again


def test_a_lock_left_by_a_killed_process_is_stale_and_taken_over(project: Path) -> None:
    script = (
        "import sys, time; sys.path.insert(0, sys.argv[2]);"
        "from core.store.project_lock import ProjectLock;"
        "ProjectLock.acquire(sys.argv[1]); print('locked', flush=True); time.sleep(60)"
    )
    repo = str(Path(__file__).resolve().parents[1])
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(project), repo], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "locked"
    with pytest.raises(ProjectInUse, match=f"process {child.pid}"):
        ProjectLock.acquire(project)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    with ProjectLock.acquire(project):
        holder = read_holder(lock_path(project))
        assert holder is not None and holder.pid == os.getpid()


@pytest.mark.parametrize("content", ["", "{not json", '{"pid": "x"}'])
def test_an_unreadable_lock_file_counts_as_stale(project: Path, content: str) -> None:
    lock_path(project).write_text(content)
    ProjectLock.acquire(project).release()
    assert not lock_path(project).exists()
