"""Exported files get the user's usual permissions, not tempfile's private 0600."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
from conftest import TinyCoco

from core.coco.exporter import export_coco
from core.coco.importer import import_coco
from core.files.atomic import write_json_atomically
from core.store import ProjectStore

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask():
    """Set the process umask for a test, restored afterwards."""
    old = os.umask(0o022)
    yield lambda value: os.umask(value)
    os.umask(old)


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_a_new_file_gets_0666_less_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    write_json_atomically(tmp_path / "out.json", {"a": 1})
    assert _mode(tmp_path / "out.json") == expected


def test_replacing_a_file_keeps_its_mode(tmp_path, umask):
    umask(0o022)
    target = tmp_path / "out.json"
    target.write_text("{}")
    os.chmod(target, 0o640)
    write_json_atomically(target, {"a": 2})
    assert _mode(target) == 0o640 and json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temp file left


def test_an_exported_coco_file_is_readable_by_others(tiny_coco: TinyCoco, umask):
    umask(0o022)
    with ProjectStore.create(tiny_coco.json_path.parent / "p.maskloop", tiny_coco.images_dir) as s:
        import_coco(tiny_coco.json_path, s)
        out = tiny_coco.json_path.parent / "export.json"
        export_coco(s, out)
    assert _mode(out) == 0o644  # 0o600 before the fix


def test_a_saved_checkpoint_gets_the_umask_mode_too(tmp_path, umask):
    import torch

    from core.detection.checkpoint import CheckpointMeta, save_checkpoint

    umask(0o022)
    meta = CheckpointMeta("lite", [0, 1], [{"id": 1, "name": "a"}], 64, 128)
    path = save_checkpoint(tmp_path / "m.pt", {"w": torch.zeros(2)}, meta)
    assert _mode(path) == 0o644  # tempfile.mkstemp's 0o600 before
