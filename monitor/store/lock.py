"""One writer per SQLite state file: an OS lock on a sidecar file, released by the kernel.

Two daemons on one state file both poll, both diff against the same snapshot and both
send: every alert and reminder goes out twice. ``flock`` on ``<state>.lock`` makes the
second one fail at start, naming the process that holds it; the kernel drops the lock
when its holder exits, however it exits (kill -9 included), so a crash never leaves a
stale lock behind. A sidecar rather than the database file itself: SQLite takes POSIX
record locks on the database, and on some systems ``flock`` is emulated with those.
Read-only commands never take it.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Final

from monitor.errors import StoreError
from monitor.store._schema import make_private_directory

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no lock, as before
    fcntl = None  # type: ignore[assignment]

#: Appended to the state file's name.
SUFFIX: Final = ".lock"


class StateLockedError(StoreError):
    """Another pinmon process holds the state file."""


class StateLock:
    """The exclusive lock of one state file, held from :meth:`acquire` to :meth:`release`."""

    def __init__(self, state: Path) -> None:
        self.path = state.with_name(state.name + SUFFIX)
        self._state = state
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock at once, or fail naming its holder.

        Raises:
            StateLockedError: Another process holds it.
            StoreError: The lock file cannot be created (an unwritable directory, ...).
        """
        try:
            make_private_directory(self.path.parent)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(
                f"{self._state}: cannot create its lock file {self.path}: {exc.strerror or exc}"
            ) from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read_holder(fd)
                os.close(fd)
                raise StateLockedError(
                    f"{self._state} is in use by another pinmon ({holder}); "
                    "stop it first, or give this one its own state file"
                ) from None
        # Who holds it, for the message the next one prints; written only once locked.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Let go of the lock (the file stays: removing it would race a new holder)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text or "its process id is unknown"
