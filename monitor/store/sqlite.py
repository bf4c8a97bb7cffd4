"""The embedded SQLite backend: one file, one connection, every call in a worker thread."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import anyio.to_thread

from monitor.errors import StoreError
from monitor.store._db import Db
from monitor.store._guard import check, identity, recover
from monitor.store._schema import SqliteDb, connect
from monitor.store.core import Store
from monitor.store.records import STATUSES, StateLoss

__all__ = ["STATUSES", "SqliteDb", "SqliteStore", "StateLoss", "open_store"]


async def open_store(path: str | Path) -> SqliteStore:
    """Open the state database at ``path``, creating it (and its directory) on first run.

    The file is created owner-only (0o600), since it holds OAuth tokens, and is migrated
    to the current schema.

    Raises:
        StoreError: The file cannot be opened, is not a SQLite database, or was written by
            a newer pinmon.
    """
    path = Path(path)
    conn = await anyio.to_thread.run_sync(connect, path)
    return SqliteStore(conn, path)


class SqliteStore(Store):
    """:class:`~monitor.store.core.Store` on SQLite; create it with :func:`open_store`.

    The stdlib driver blocks, so every call runs in a worker thread. One connection serves
    them all: a capacity limiter of one queues the calls, a lock guards the connection.
    """

    errors = (sqlite3.Error,)

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        super().__init__(str(path), connections=1)
        self._db: SqliteDb | None = SqliteDb(conn)
        self._path = path
        self._identity = identity(conn, path)
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    @contextmanager
    def _connection(self, op: str) -> Iterator[Db]:
        with self._lock:
            if self._db is None:
                raise self._closed(op)
            yield self._db

    async def verify(self) -> StateLoss | None:
        """Check that the path still names the database this store has open; if it was
        deleted, replaced or truncated, put a state file back there (see ``_guard``).

        Returns:
            None when all is well, else what happened and whether the data survived.
        """
        return await anyio.to_thread.run_sync(self._verify, limiter=self._limiter)

    def _verify(self) -> StateLoss | None:
        with self._lock:
            if self._db is None:
                return None
            conn = self._db.conn
            reason = check(conn, self._path, self._identity)
            if reason is None:
                return None
            self._db = None
            try:
                conn, loss = recover(conn, self._path, reason)
            except (OSError, sqlite3.Error) as exc:
                raise StoreError(f"{self._path}: the state file is {reason}: {exc}") from exc
            self._db = SqliteDb(conn)
            self._identity = identity(conn, self._path)
            return loss

    async def close(self) -> None:
        """Checkpoint the WAL into the database file and close; later calls fail."""
        await anyio.to_thread.run_sync(self._close, limiter=self._limiter)

    def _close(self) -> None:
        with self._lock:
            db, self._db = self._db, None
            if db is None:
                return
            try:
                # optimize refreshes planner statistics cheaply; TRUNCATE leaves no WAL.
                db.conn.execute("PRAGMA optimize")
                db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.OperationalError as exc:
                # A read-only file (`pinmon status` on a copy) was only read: nothing to fold.
                if "readonly" not in str(exc):
                    raise StoreError(f"{self._path}: close failed: {exc}") from exc
            except sqlite3.Error as exc:
                raise StoreError(f"{self._path}: close failed: {exc}") from exc
            finally:
                db.conn.close()
