"""The embedded SQLite state store: one file, one connection, every call in a worker thread."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar, TypeVarTuple

import anyio
import anyio.to_thread

from monitor.errors import StoreError
from monitor.events import Event
from monitor.models import Kind, SnapshotRow, Stored
from monitor.store import AccountState, Delivery, Snapshot, SnapshotInfo, StateLoss
from monitor.store import _queries as q
from monitor.store._guard import check, identity, recover
from monitor.store._schema import connect

__all__ = ["STATUSES", "SqliteStore", "StateLoss", "open_store"]

STATUSES = q.STATUSES

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")


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


class SqliteStore:
    """:class:`monitor.store.StateStore` on SQLite; create it with :func:`open_store`.

    The stdlib driver blocks, so every call runs in a worker thread. One connection serves
    them all: a capacity limiter of one queues calls without parking a thread per waiting
    task, and a lock guards the connection itself. Calls are not abandoned on cancellation:
    a cancelled task waits for its transaction to commit or roll back, never half-way.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn: sqlite3.Connection | None = conn
        self._path = path
        self._identity = identity(conn, path)
        self._lock = threading.Lock()
        self._limiter = anyio.CapacityLimiter(1)

    async def verify(self) -> StateLoss | None:
        """Check that the path still names the database this store has open; if it was
        deleted, replaced or truncated, put a state file back there (see ``_guard``).

        Returns:
            None when all is well, else what happened and whether the data survived.
        """
        return await anyio.to_thread.run_sync(self._verify, limiter=self._limiter)

    def _verify(self) -> StateLoss | None:
        with self._lock:
            conn = self._conn
            if conn is None:
                return None
            reason = check(conn, self._path, self._identity)
            if reason is None:
                return None
            self._conn = None
            try:
                conn, loss = recover(conn, self._path, reason)
            except (OSError, sqlite3.Error) as exc:
                raise StoreError(f"{self._path}: the state file is {reason}: {exc}") from exc
            self._conn = conn
            self._identity = identity(conn, self._path)
            return loss

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    async def load_snapshot(self, account_id: str, kind: Kind) -> Snapshot:
        """The stored snapshot of one account and kind (a fresh dict the caller may consume)."""
        return await self._run("load_snapshot", q.load_snapshot, account_id, kind)

    async def commit_cycle(
        self,
        account_id: str,
        kind: Kind,
        *,
        fields: tuple[str, ...],
        rows: Sequence[SnapshotRow],
        events: Sequence[Event],
        deliveries: Sequence[tuple[str, str, str]],
        at: float,
    ) -> int:
        """Atomically write a completed listing's outcome; returns how many events were new.

        Raises:
            StoreError: The transaction failed (nothing was written), e.g. a delivery
                naming an event that is neither in ``events`` nor already stored.
        """
        return await self._run(
            "commit_cycle",
            q.commit_cycle,
            account_id,
            kind,
            fields,
            rows,
            events,
            deliveries,
            at,
        )

    async def snapshot_info(self, account_id: str, kind: Kind) -> SnapshotInfo:
        """The snapshot's fields, version, size and id lengths, without its entities."""
        return await self._run("snapshot_info", q.snapshot_info, account_id, kind)

    async def load_range(
        self,
        account_id: str,
        kind: Kind,
        *,
        after: str | None,
        upto: str | None,
        limit: int | None = None,
        lengths: tuple[int, int] | None = None,
    ) -> list[tuple[str, Stored]]:
        """Stored entities with ids in (after, upto], in numeric id order."""
        args = (account_id, kind, after, upto, limit, lengths)
        return await self._run("load_range", q.load_range, *args)

    async def entity_meta(
        self, account_id: str, kind: Kind, entity_ids: Sequence[str]
    ) -> dict[str, bytes]:
        """The stored meta of some entities (not loaded with the snapshot)."""
        return await self._run("entity_meta", q.entity_meta, account_id, kind, entity_ids)

    async def write_rows(self, account_id: str, kind: Kind, rows: Sequence[SnapshotRow]) -> None:
        """Upsert snapshot rows ahead of a baseline's commit (see the protocol)."""
        await self._run("write_rows", q.write_rows, account_id, kind, rows)

    async def record_events(
        self,
        events: Sequence[Event],
        *,
        deliveries: Sequence[tuple[str, str, str]],
        at: float,
    ) -> int:
        """Insert events and their outbox rows in one transaction; returns how many were new."""
        return await self._run("record_events", q.record_events, events, deliveries, at)

    async def record_poll(
        self, account_id: str, *, name: str | None, ok: bool, at: float, error: str | None = None
    ) -> AccountState:
        """Record an account's cycle outcome; returns the updated bookkeeping.

        A success resets the failure count and error; a failure increments the count and
        keeps the last success time. ``name=None`` keeps the name already known.
        """
        return await self._run("record_poll", q.record_poll, account_id, name, ok, at, error)

    async def record_successes(
        self, polls: Sequence[tuple[str, str | None]], *, at: float
    ) -> None:
        """Record several accounts' successful cycles in one transaction."""
        if polls:
            await self._run("record_successes", q.record_successes, polls, at)

    async def accounts(self) -> list[AccountState]:
        """Every account the store has bookkeeping for, by account id."""
        return await self._run("accounts", q.accounts)

    async def due_deliveries(
        self, now: float, *, limit: int = 100, target: str | None = None
    ) -> list[Delivery]:
        """Pending deliveries whose next attempt is due, oldest first (of one target)."""
        return await self._run("due_deliveries", q.due_deliveries, now, limit, target)

    async def get_prefix(self, prefix: str) -> dict[str, str]:
        """Every key/value whose key starts with ``prefix``."""
        return await self._run("get_prefix", q.get_prefix, prefix)

    async def delete_keys(self, keys: Sequence[str]) -> int:
        """Delete these keys in one transaction; returns how many existed."""
        return await self._run("delete_keys", q.delete_keys, keys)

    async def clear_prefix(self, prefix: str) -> int:
        """Delete the key/values whose key starts with ``prefix``; returns how many."""
        return await self._run("clear_prefix", q.clear_prefix, prefix)

    async def outbox_depth(self) -> tuple[int, float | None]:
        """Pending deliveries, and when the oldest of them was queued."""
        return await self._run("outbox_depth", q.oldest_pending)

    async def mark_delivered(self, delivery_id: int, *, at: float) -> None:
        """A delivery succeeded.

        Raises:
            StoreError: No delivery has this id.
        """
        await self._settle(delivery_id, status="delivered", at=at)

    async def mark_failed(
        self, delivery_id: int, *, error: str, at: float, retry_at: float | None
    ) -> None:
        """A delivery attempt failed: retry at ``retry_at``, or give up (``dead``) when None.

        Raises:
            StoreError: No delivery has this id.
        """
        status = "dead" if retry_at is None else "pending"
        await self._settle(delivery_id, status=status, at=at, error=error, retry_at=retry_at)

    async def mark_rejected(self, delivery_id: int, *, error: str, at: float) -> None:
        """The target refused the delivery for good (e.g. HTTP 400): ``failed``, no retry.

        Raises:
            StoreError: No delivery has this id.
        """
        await self._settle(delivery_id, status="failed", at=at, error=error)

    async def deliveries(self, *, statuses: Sequence[str], limit: int = 1000) -> list[Delivery]:
        """Deliveries in the given statuses, newest first (for `pinmon deliveries`).

        Raises:
            ValueError: A status is not one of :data:`STATUSES`.
        """
        return await self._run("deliveries", q.deliveries, statuses, limit)

    async def shift_pending(self, delta_s: float) -> int:
        """Move every pending delivery's times by ``delta_s`` (the wall clock stepped)."""
        return await self._run("shift_pending", q.shift_pending, delta_s)

    async def clamp_pending(self, now: float, max_wait_s: float) -> int:
        """Bring pending deliveries due after ``now + max_wait_s`` (or queued after
        ``now``) back within it: their times were set by a clock that was ahead."""
        return await self._run("clamp_pending", q.clamp_pending, now, max_wait_s)

    async def requeue(self, *, event_id: str | None = None, failed: bool = False) -> int:
        """Queue deliveries again, due at once; returns the count.

        ``event_id`` selects every delivery of that event whatever its status (a resend);
        ``failed=True`` selects every ``failed`` and ``dead`` one; both select the failed and
        dead deliveries of that event. Attempt counts are kept.

        Raises:
            ValueError: Neither ``event_id`` nor ``failed`` was given.
        """
        return await self._run("requeue", q.requeue, event_id, failed)

    async def events(
        self, *, since: float | None = None, types: Sequence[str] = (), limit: int = 1000
    ) -> list[Event]:
        """Event history, newest first; ``since`` is inclusive, ``types`` are fnmatch globs."""
        return await self._run("events", q.events, since, types, limit)

    async def prune_events(self, *, before: float) -> int:
        """Drop history older than ``before`` whose deliveries are all settled; returns the count.

        The deliveries of a dropped event go with it; an event with any pending delivery
        is kept whatever its age.
        """
        return await self._run("prune_events", q.prune_events, before)

    async def get_value(self, key: str) -> str | None:
        """Small durable state (e.g. OAuth tokens)."""
        return await self._run("get_value", q.get_value, key)

    async def set_values(self, values: dict[str, str]) -> None:
        """Write several keys in one transaction."""
        await self._run("set_values", q.set_values, values)

    async def close(self) -> None:
        """Checkpoint the WAL into the database file and close; later calls do nothing."""
        await anyio.to_thread.run_sync(self._close, limiter=self._limiter)

    async def _settle(
        self,
        delivery_id: int,
        *,
        status: str,
        at: float,
        error: str | None = None,
        retry_at: float | None = None,
    ) -> None:
        await self._run(f"mark_{status}", q.settle, delivery_id, status, at, error, retry_at)

    async def _run(
        self,
        op: str,
        func: Callable[[sqlite3.Connection, *_Ts], _T],
        *args: *_Ts,
    ) -> _T:
        return await anyio.to_thread.run_sync(self._call, op, func, args, limiter=self._limiter)

    def _call(
        self,
        op: str,
        func: Callable[[sqlite3.Connection, *_Ts], _T],
        args: tuple[*_Ts],
    ) -> _T:
        with self._lock:
            if self._conn is None:
                raise StoreError(f"{self._path}: {op} on a closed store")
            try:
                return func(self._conn, *args)
            except sqlite3.Error as exc:
                raise StoreError(f"{self._path}: {op} failed: {exc}") from exc

    def _close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                try:
                    q.close(conn)
                except sqlite3.Error as exc:
                    raise StoreError(f"{self._path}: close failed: {exc}") from exc
