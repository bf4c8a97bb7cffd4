"""The state opened synchronously, for the read-only commands: one connection, no event loop.

`pinmon status`, `events`, `deliveries` and `mutes` make a handful of queries and exit.
Through :class:`~monitor.store.core.Store` each would also import anyio, start an event
loop and hand every query to a worker thread: more than the queries cost (issue #13).
Here the same concept functions (``snapshots``, ``outbox``, ``settings``, ...) run on a
connection opened and migrated by the same code as the store's (``_schema.connect``,
``_pg_schema.connect_one``), and fail with the same errors (``_db.call``). Only
``sqlite3`` is imported for a SQLite file; psycopg only for a PostgreSQL URL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TypeVar, TypeVarTuple

from monitor.errors import StoreError
from monitor.store._db import Db, call
from monitor.store.factory import is_postgres_url, sqlite_path

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")

#: How long one statement may run, as for the daemon's store (``open_postgres``).
_PG_TIMEOUT_S = 60.0


class Direct:
    """One open connection to the state; create it with :func:`open_direct`."""

    def __init__(
        self,
        db: Db,
        *,
        where: str,
        errors: tuple[type[Exception], ...],
        close: Callable[[], None],
    ) -> None:
        self._db: Db | None = db
        self._where = where
        self._errors = errors
        self._close = close

    def call(self, op: str, func: Callable[[Db, *_Ts], _T], *args: *_Ts) -> _T:
        """``func(db, *args)`` (StoreError naming the database and ``op`` if it fails)."""
        return call(self._lend, op, func, args, where=self._where, errors=self._errors)

    @contextmanager
    def _lend(self, op: str) -> Iterator[Db]:
        if self._db is None:
            raise StoreError(f"{self._where}: {op} on a closed store")
        yield self._db

    def close(self) -> None:
        """Close the connection; closing again does nothing.

        Unlike the daemon's store, no checkpoint is forced: the file is the daemon's to
        fold, and a checkpoint waits out (busy_timeout) a daemon that is writing.
        """
        db, self._db = self._db, None
        if db is not None:
            try:
                self._close()
            except self._errors as exc:
                raise StoreError(f"{self._where}: close failed: {exc}") from exc

    def __enter__(self) -> Direct:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_direct(spec: str | Path) -> Direct:
    """Open the state that ``spec`` names, as :func:`~monitor.store.factory.open_state`
    does (a SQLite file is created on first run; an older schema is migrated, a newer one
    refused), for synchronous calls in this thread.

    Raises:
        StoreError: The state cannot be opened (see ``open_state``).
    """
    if is_postgres_url(spec):
        return _open_postgres(spec)
    import sqlite3

    from monitor.store._schema import SqliteDb, connect

    path = sqlite_path(spec)
    conn = connect(path)
    return Direct(SqliteDb(conn), where=str(path), errors=(sqlite3.Error,), close=conn.close)


def _open_postgres(url: str) -> Direct:
    import psycopg

    from monitor.store._pg_schema import PostgresDb, connect_one, describe

    conn = connect_one(url, timeout_s=_PG_TIMEOUT_S)
    return Direct(PostgresDb(conn), where=describe(url), errors=(psycopg.Error,), close=conn.close)
