"""Lock files: one process at a time works in a run folder, and a lock left by a dead process is taken over.

A lock is a file created with ``O_CREAT | O_EXCL`` (atomic, also on NFS v3+) holding ``{pid, host, started}``.
It is stale when its process is gone: on this host, when the pid no longer exists; on another host (a shared
runs folder), when it is older than a day, since the pid cannot be checked from here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from augdiff.errors import AugdiffError
from augdiff.progress import note as _note

OTHER_HOST_STALE_AFTER = dt.timedelta(days=1)
# A lock file whose JSON is not written yet: its creator is between open() and write(), give it this long.
_UNWRITTEN_GRACE_S = 10.0


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (a zombie counts as alive until it is reaped)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except OSError:
        return False
    return True


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def _holder(text: str) -> dict[str, Any] | None:
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) and isinstance(record.get("pid"), int) else None


def _age_s(path: Path) -> float:
    try:
        return _now().timestamp() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def stale_reason(holder: dict[str, Any] | None, path: Path) -> str | None:
    """Why the lock at ``path`` (holding ``holder``) is stale, or None while its process may still run."""
    if holder is None:
        return None if _age_s(path) < _UNWRITTEN_GRACE_S else "it holds no readable owner"
    pid = holder["pid"]
    if holder.get("host") == socket.gethostname():
        return None if pid_alive(pid) else f"pid {pid} is no longer running"
    try:
        started = dt.datetime.fromisoformat(str(holder.get("started")))
    except ValueError:
        return f"pid {pid} on host {holder.get('host')} has no valid start time"
    if started.tzinfo is None:
        started = started.replace(tzinfo=dt.timezone.utc)
    if _now() - started > OTHER_HOST_STALE_AFTER:
        return f"pid {pid} on host {holder.get('host')} took it more than a day ago"
    return None


class LockHeld(AugdiffError):
    """Another live process holds the lock: callers that can do other work meanwhile (benchmark shards) catch this."""

    def __init__(self, message: str, *, path: Path, what: str, who: str) -> None:
        super().__init__(message)
        self.path, self.what, self.who = path, what, who


def _in_use(path: Path, what: str, holder: dict[str, Any] | None) -> LockHeld:
    if holder is None:
        who = "another process (its lock is being written)"
    else:
        host = holder.get("host")
        where = "" if host == socket.gethostname() else f" on host {host}"
        who = f"pid {holder['pid']}{where} since {holder.get('started')}"
    return LockHeld(
        f"{what} is in use by {who} (lock {path}); wait for it to finish, or delete {path} if that process is gone",
        path=path, what=what, who=who,
    )


def _take_over(path: Path, text: str) -> bool:
    """Remove the stale lock holding ``text``; False if another process replaced it first (then look again)."""
    moved = path.with_name(f"{path.name}.{uuid.uuid4().hex}.stale")
    try:
        os.rename(path, moved)  # atomic: of two processes taking over, only one moves this file
    except FileNotFoundError:
        return False
    if _read(moved) != text:  # a live lock created since we read the stale one: put it back
        with contextlib.suppress(OSError):  # FileExistsError: yet another process holds it now
            os.link(moved, path)
        moved.unlink(missing_ok=True)
        return False
    moved.unlink(missing_ok=True)
    return True


def acquire(path: Path, what: str, *, note: Callable[[str], None] = _note) -> dict[str, Any]:
    """Create the lock file ``path`` for this process, or raise AugdiffError naming the live holder."""
    path = Path(path)
    mine = {"pid": os.getpid(), "host": socket.gethostname(), "started": _now().isoformat(timespec="seconds")}
    for _ in range(10):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            text = _read(path)
            if text is None:
                continue  # released between our open and read
            holder = _holder(text)
            reason = stale_reason(holder, path)
            if reason is None:
                raise _in_use(path, what, holder) from None
            if _take_over(path, text):
                note(f"took over the stale lock {path} of {what}: {reason}")
            continue
        with os.fdopen(fd, "w") as fh:
            json.dump(mine, fh)
        return mine
    raise AugdiffError(f"{what}: could not take the lock {path}, other processes keep changing it; try again")


def is_held(path: Path) -> bool:
    """Whether the lock file ``path`` exists and its process may still be running."""
    text = _read(Path(path))
    return text is not None and stale_reason(_holder(text), Path(path)) is None


def ensure_free(path: Path, what: str) -> None:
    """Raise :class:`LockHeld` naming the holder when a live process holds ``path`` (a check before opening a run
    record that would then only fail on the lock)."""
    text = _read(Path(path))
    if text is not None:
        holder = _holder(text)
        if stale_reason(holder, Path(path)) is None:
            raise _in_use(Path(path), what, holder)


def release(path: Path, mine: dict[str, Any]) -> None:
    """Remove ``path`` if it is still this process's lock (a process that took it over keeps its own)."""
    text = _read(Path(path))
    if text is not None and _holder(text) == mine:
        Path(path).unlink(missing_ok=True)


@contextlib.contextmanager
def hold(path: Path, what: str) -> Iterator[dict[str, Any]]:
    """Hold the lock file ``path`` for the block; ``what`` names the locked thing in messages ("run DIR")."""
    mine = acquire(path, what)
    try:
        yield mine
    finally:
        release(path, mine)
