"""One window edits a project at a time: a lock file beside it names who holds it.

SQLite alone keeps two writers from corrupting the file, but two windows on one project
would each show a snapshot the other silently makes stale (an undo in one brings back a
label the other deleted). So the app takes `NAME.maskloop.lock`, a small JSON file with the
holder's process id, host name and start time, while a project is open in a window; a
second window finds it and offers to open the project read-only instead.

A lock whose process is gone (the app was killed, the machine restarted) is stale and is
taken over. A lock from another host cannot be checked and counts as held; its message
names the host so the user can decide.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from core.errors import ProjectError

LOCK_SUFFIX = ".lock"


class ProjectInUse(ProjectError):
    """The project is open in another MaskLoop window (the message says which)."""


@dataclass(frozen=True)
class LockHolder:
    pid: int
    host: str
    since: float

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.since))
        where = "this computer" if self.host == socket.gethostname() else f"host {self.host}"
        return f"MaskLoop process {self.pid} on {where}, since {when}"


def lock_path(project: Path) -> Path:
    return project.with_name(project.name + LOCK_SUFFIX)


class ProjectLock:
    """The lock of one open project; `release()` (or `with`) gives it back."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def acquire(cls, project: str | os.PathLike[str]) -> ProjectLock:
        """Take the lock of `project`, or raise ProjectInUse naming the live holder.

        A lock that cannot be written (a read-only folder) raises ProjectError: such a
        project opens read-only anyway, and nobody can be writing to it.
        """
        path = lock_path(Path(project).absolute())
        me = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()})
        for _ in range(3):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = read_holder(path)
                if holder is not None and _alive(holder):
                    raise ProjectInUse(
                        f"{Path(project).name} is open in another window ({holder.describe()})."
                    ) from None
                with contextlib.suppress(FileNotFoundError):  # stale: take it over
                    path.unlink()
                continue
            except OSError as exc:
                raise ProjectError(f"Cannot lock {project}: {exc.strerror or exc}") from exc
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(me)
            return cls(path)
        raise ProjectInUse(f"{Path(project).name} is being opened by another window; try again.")

    def release(self) -> None:
        """Remove the lock file if it is still ours (a stale-lock takeover replaced it)."""
        holder = read_holder(self.path)
        if holder is not None and holder.pid == os.getpid() and holder.host == socket.gethostname():
            with contextlib.suppress(OSError):
                self.path.unlink()

    def __enter__(self) -> ProjectLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def read_holder(path: Path) -> LockHolder | None:
    """Who the lock file at `path` names; None when it is missing or unreadable (a crash
    between creating and writing it leaves it empty: stale)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return LockHolder(int(data["pid"]), str(data["host"]), float(data["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(holder: LockHolder) -> bool:
    if holder.host != socket.gethostname():
        return True  # cannot look into another machine: assume it is still open there
    if holder.pid == os.getpid():
        return True  # another window of this very process
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # a process of another user: it exists
    return True
