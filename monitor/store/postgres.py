"""The PostgreSQL state store: several pinmon replicas sharing one database.

Same contract as the SQLite store (``StateStore``), plus what replicas need to split the
work: account leases, delivery claims, a shared request budget and heartbeats.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, TypeVarTuple

import anyio
import psycopg
from psycopg_pool import AsyncConnectionPool

from monitor.errors import StoreError
from monitor.events import Event
from monitor.models import Kind, SnapshotRow, Stored
from monitor.store import AccountState, Delivery, Snapshot, SnapshotInfo, StateLoss
from monitor.store import _pg_outbox as outbox
from monitor.store import _pg_queries as q
from monitor.store._pg_replicas import DEFAULT_TTL_S, ReplicaWork
from monitor.store._pg_schema import connect, describe

__all__ = ["DEFAULT_TTL_S", "PostgresStore", "describe", "open_postgres"]

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")
_Conn = psycopg.AsyncConnection[Any]


async def open_postgres(
    url: str, *, max_connections: int = 8, timeout_s: float = 60.0
) -> PostgresStore:
    """Connect to the database at ``url`` and migrate it to the current schema.

    Tables live in the connection's default schema (the first of its ``search_path``);
    add ``?options=-csearch_path%3Dpinmon`` to the URL to use another.

    Args:
        url: A libpq URL (``postgresql://user@host/db``) or ``key=value`` string.
        max_connections: The pool's size: calls beyond it queue for a connection.
        timeout_s: How long one call may take, waiting for a connection included.

    Raises:
        StoreError: The server cannot be reached, refuses the login, or holds a schema
            written by a newer pinmon.
    """
    pool = await connect(url, max_connections=max_connections, timeout_s=timeout_s)
    return PostgresStore(pool, describe(url), timeout_s=timeout_s)


class PostgresStore(ReplicaWork):
    """:class:`monitor.store.StateStore` on PostgreSQL; create it with :func:`open_postgres`.

    Calls borrow a connection from a pool, so they run concurrently. As with the SQLite
    store, a call is not abandoned on cancellation: a cancelled task waits (at most
    ``timeout_s``) for its transaction to commit or roll back, so a delivery that was
    sent is not left pending for want of its last round trip.
    """

    def __init__(
        self, pool: AsyncConnectionPool[_Conn], where: str, *, timeout_s: float = 60.0
    ) -> None:
        self._pool: AsyncConnectionPool[_Conn] | None = pool
        self._where = where
        self._timeout_s = timeout_s

    @property
    def where(self) -> str:
        """The database, as a URL without password."""
        return self._where

    async def load_snapshot(self, account_id: str, kind: Kind) -> Snapshot:
        """The stored snapshot of one account and kind (a fresh dict the caller may consume)."""
        return await self._run("load_snapshot", q.load_snapshot, account_id, kind)

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
        args = (account_id, kind, fields, rows, events, deliveries, at)
        return await self._run("commit_cycle", q.commit_cycle, *args)

    async def record_events(
        self, events: Sequence[Event], *, deliveries: Sequence[tuple[str, str, str]], at: float
    ) -> int:
        """Insert events and their outbox rows in one transaction; returns how many were new."""
        return await self._run("record_events", q.record_events, events, deliveries, at)

    async def record_poll(
        self, account_id: str, *, name: str | None, ok: bool, at: float, error: str | None = None
    ) -> AccountState:
        """Record an account's cycle outcome; returns the updated bookkeeping.

        A success resets the failure count and error; a failure counts up and keeps the
        last success time. ``name=None`` keeps the name already known.
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
        """Pending deliveries whose next attempt is due, oldest first (of one target).

        Rows another replica holds a live claim on (:meth:`claim_deliveries`) are left out.
        """
        return await self._run("due_deliveries", outbox.due_deliveries, now, limit, target)

    async def outbox_depth(self) -> tuple[int, float | None]:
        """Pending deliveries, and when the oldest of them was queued."""
        return await self._run("outbox_depth", outbox.oldest_pending)

    async def mark_delivered(self, delivery_id: int, *, at: float) -> None:
        """A delivery succeeded; its claim is released. StoreError if the id is unknown."""
        await self._settle(delivery_id, status="delivered", at=at)

    async def mark_failed(
        self, delivery_id: int, *, error: str, at: float, retry_at: float | None
    ) -> None:
        """A delivery attempt failed: retry at ``retry_at``, or give up (``dead``) when None.

        The claim is released. Raises StoreError if no delivery has this id.
        """
        status = "dead" if retry_at is None else "pending"
        await self._settle(delivery_id, status=status, at=at, error=error, retry_at=retry_at)

    async def mark_rejected(self, delivery_id: int, *, error: str, at: float) -> None:
        """The target refused the delivery for good (e.g. HTTP 400): ``failed``, no retry.

        The claim is released. Raises StoreError if no delivery has this id.
        """
        await self._settle(delivery_id, status="failed", at=at, error=error)

    async def deliveries(self, *, statuses: Sequence[str], limit: int = 1000) -> list[Delivery]:
        """Deliveries in the given statuses, newest first; ValueError for an unknown status."""
        return await self._run("deliveries", outbox.deliveries, statuses, limit)

    async def shift_pending(self, delta_s: float) -> int:
        """Move every pending delivery's times by ``delta_s`` (the wall clock stepped)."""
        return await self._run("shift_pending", outbox.shift_pending, delta_s)

    async def clamp_pending(self, now: float, max_wait_s: float) -> int:
        """Bring pending deliveries due after ``now + max_wait_s`` back within it."""
        return await self._run("clamp_pending", outbox.clamp_pending, now, max_wait_s)

    async def requeue(self, *, event_id: str | None = None, failed: bool = False) -> int:
        """Queue deliveries again, due at once and unclaimed; returns the count.

        ``event_id`` selects every delivery of that event whatever its status (a resend);
        ``failed=True`` every ``failed`` and ``dead`` one; both, those of that event.
        Attempt counts are kept. ValueError when neither is given.
        """
        return await self._run("requeue", outbox.requeue, event_id, failed)

    async def events(
        self, *, since: float | None = None, types: Sequence[str] = (), limit: int = 1000
    ) -> list[Event]:
        """Event history, newest first; ``since`` is inclusive, ``types`` are fnmatch globs."""
        return await self._run("events", outbox.events, since, types, limit)

    async def prune_events(self, *, before: float) -> int:
        """Drop history older than ``before`` whose deliveries are all settled; returns the count.

        The deliveries of a dropped event go with it; one with a pending delivery stays.
        """
        return await self._run("prune_events", outbox.prune_events, before)

    async def get_value(self, key: str) -> str | None:
        """Small durable state (e.g. OAuth tokens)."""
        return await self._run("get_value", q.get_value, key)

    async def set_values(self, values: dict[str, str]) -> None:
        """Write several keys in one transaction."""
        await self._run("set_values", q.set_values, values)

    async def get_prefix(self, prefix: str) -> dict[str, str]:
        """Every key/value whose key starts with ``prefix``."""
        return await self._run("get_prefix", q.get_prefix, prefix)

    async def delete_keys(self, keys: Sequence[str]) -> int:
        """Delete these keys in one transaction; returns how many existed."""
        return await self._run("delete_keys", q.delete_keys, keys)

    async def clear_prefix(self, prefix: str) -> int:
        """Delete the key/values whose key starts with ``prefix``; returns how many."""
        return await self._run("clear_prefix", q.clear_prefix, prefix)

    async def verify(self) -> StateLoss | None:
        """Nothing to check: a server's database cannot be deleted from under a client
        unnoticed (its queries fail instead)."""
        return None

    async def close(self) -> None:
        """Close the pool's connections; later calls fail, closing again does nothing."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def _settle(
        self,
        delivery_id: int,
        *,
        status: str,
        at: float,
        error: str | None = None,
        retry_at: float | None = None,
    ) -> None:
        await self._run(f"mark_{status}", outbox.settle, delivery_id, status, at, error, retry_at)

    async def _run(self, op: str, func: Callable[[_Conn, *_Ts], Awaitable[_T]], *args: *_Ts) -> _T:
        pool = self._pool
        if pool is None:
            raise StoreError(f"{self._where}: {op} on a closed store")
        try:
            with anyio.CancelScope(shield=True), anyio.fail_after(self._timeout_s):
                async with pool.connection() as conn:
                    result = await func(conn, *args)
        except TimeoutError as exc:
            raise StoreError(f"{self._where}: {op} took over {self._timeout_s:g} s") from exc
        except psycopg.Error as exc:
            raise StoreError(f"{self._where}: {op} failed: {exc}") from exc
        return result
