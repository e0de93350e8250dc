"""`core` is a Qt-free library: every module imports with PySide6 made unimportable."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PROBE = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys

    class NoQt:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("PySide6", "shiboken6"):
                raise ImportError(f"{name} is blocked: core must not import Qt")
            return None

    sys.meta_path.insert(0, NoQt())
    import core
    names, failures = [], {}
    for info in pkgutil.walk_packages(core.__path__, "core."):
        names.append(info.name)
        try:
            importlib.import_module(info.name)
        except Exception as exc:
            failures[info.name] = f"{type(exc).__name__}: {exc}"
    loaded = [m for m in sys.modules if m.split(".")[0] in ("PySide6", "shiboken6", "gui")]
    print(json.dumps({"names": names, "failures": failures, "loaded": loaded}))
    """
)


def test_every_core_module_imports_without_qt_or_gui() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert (
        "core.store.project_store" in report["names"] and "core.cli.import_cmd" in report["names"]
    )
    assert report["failures"] == {}
    assert report["loaded"] == []
