"""Noticing that the SQLite state file was deleted, replaced or truncated under the daemon.

The daemon holds its database open, so ``rm pinmon-state.db`` goes unnoticed until the
next start, which then baselines silently: every change in between is lost without a
word. Each cycle checks that the path still names the file it opened (same inode, a
SQLite header, the same instance id inside). When it does not, the state still open is
written back to the path (SQLite's online backup), so a deleted or swapped file costs
nothing; only when the data itself is gone (truncated or overwritten in place) does the
daemon start over, and then loudly (``monitor.state_lost``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from monitor.store import StateLoss
from monitor.store._schema import connect, instance_of

_HEADER: Final = b"SQLite format 3\x00"


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """What names one database file: its inode and the instance id written inside."""

    device: int
    inode: int
    instance: str | None


def identity(conn: sqlite3.Connection, path: Path) -> FileIdentity:
    """The identity of the file ``conn`` has open at ``path``."""
    st = os.stat(path)
    return FileIdentity(st.st_dev, st.st_ino, instance_of(conn))


def check(conn: sqlite3.Connection, path: Path, known: FileIdentity) -> str | None:
    """Why ``path`` is no longer the state ``conn`` opened, or None when it still is."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "deleted"
    if (st.st_dev, st.st_ino) != (known.device, known.inode):
        return "replaced"
    try:
        with open(path, "rb") as f:
            header = f.read(len(_HEADER))
    except OSError:
        return "unreadable"
    if header != _HEADER:
        return "truncated"
    try:
        instance = instance_of(conn)
    except sqlite3.DatabaseError:
        return "overwritten"
    return None if instance == known.instance else "overwritten"


def recover(
    conn: sqlite3.Connection, path: Path, reason: str
) -> tuple[sqlite3.Connection, StateLoss]:
    """Put a state file back at ``path``; returns the connection to use from now on.

    For ``deleted`` and ``replaced`` the data ``conn`` holds is intact: it is copied to a
    new file at the path (the file found there, if any, is kept beside it). Otherwise,
    or when the copy fails, a fresh, empty state is created and the loss is reported.
    ``conn`` is closed either way.
    """
    stamp = time.strftime("%Y%m%dT%H%M%S")
    if reason in ("deleted", "replaced"):
        restoring = path.with_name(path.name + ".restoring")
        try:
            _backup(conn, restoring)
        except (OSError, sqlite3.Error):
            restoring.unlink(missing_ok=True)
        else:
            kept = _move_aside(path, f"replaced-{stamp}") if reason == "replaced" else None
            _close(conn)  # its WAL goes into the orphaned file, and the sidecars go away
            os.replace(restoring, path)
            return connect(path), StateLoss(reason, restored=True, kept_as=kept)
    kept = _move_aside(path, f"broken-{stamp}")
    _close(conn)
    return connect(path), StateLoss(reason, restored=False, kept_as=kept)


def _backup(conn: sqlite3.Connection, target: Path) -> None:
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    copy = sqlite3.connect(target, isolation_level=None)
    try:
        conn.backup(copy)
        copy.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        copy.close()
    with open(target, "rb") as f:
        os.fsync(f.fileno())


def _move_aside(path: Path, suffix: str) -> Path | None:
    aside = path.with_name(f"{path.name}.{suffix}")
    try:
        os.replace(path, aside)
    except FileNotFoundError:
        return None
    # The -wal and -shm beside it belong to the running connection: they go when it closes.
    return aside


def _close(conn: sqlite3.Connection) -> None:
    # Best effort: what matters (the copy, or the fresh file) does not depend on it.
    with contextlib.suppress(sqlite3.Error):
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with contextlib.suppress(sqlite3.Error):
        conn.close()
