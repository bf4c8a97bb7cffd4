"""The PostgreSQL backend: several pinmon replicas sharing one database.

The same :class:`~monitor.store.core.Store` as SQLite, on a pool of connections, plus
what replicas need to split the work: account leases, delivery claims, a shared request
budget and heartbeats (``_leases``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Final

import anyio
import anyio.to_thread
import psycopg
from psycopg_pool import ConnectionPool

from monitor.store import _leases as leases
from monitor.store._db import Db
from monitor.store._pg_schema import Conn, PostgresDb, connect, describe
from monitor.store.core import Store
from monitor.store.records import Delivery, StateLoss

__all__ = ["DEFAULT_TTL_S", "PostgresStore", "describe", "open_postgres"]

#: The lease time-to-live ``heartbeat`` assumes when it is not told one.
DEFAULT_TTL_S: Final = 60.0


async def open_postgres(
    url: str, *, max_connections: int = 8, timeout_s: float = 60.0
) -> PostgresStore:
    """Connect to the database at ``url`` and migrate it to the current schema.

    Tables live in the connection's default schema (the first of its ``search_path``);
    add ``?options=-csearch_path%3Dpinmon`` to the URL to use another.

    Args:
        url: A libpq URL (``postgresql://user@host/db``) or ``key=value`` string.
        max_connections: The pool's size: calls beyond it queue for a connection.
        timeout_s: How long a call may wait for a connection, and one statement may run.

    Raises:
        StoreError: The server cannot be reached, refuses the login, or holds a schema
            written by a newer pinmon.
    """

    def start() -> ConnectionPool[Conn]:
        return connect(url, max_connections=max_connections, timeout_s=timeout_s)

    pool = await anyio.to_thread.run_sync(start)
    return PostgresStore(pool, describe(url), connections=max_connections, timeout_s=timeout_s)


class PostgresStore(Store):
    """:class:`~monitor.store.core.Store` on PostgreSQL; create it with :func:`open_postgres`.

    Calls borrow a connection from a pool, so up to its size run at once, each in a
    worker thread (psycopg's synchronous driver, like SQLite's).

    Times given to the replica methods are the callers' clocks (injected, like everywhere
    in pinmon); replicas' clocks are compared with each other, so keep them in sync (NTP)
    to well under ``ttl_s``.
    """

    errors = (psycopg.Error,)

    def __init__(
        self, pool: ConnectionPool[Conn], where: str, *, connections: int, timeout_s: float
    ) -> None:
        super().__init__(where, connections=connections)
        self._pool: ConnectionPool[Conn] | None = pool
        self._timeout_s = timeout_s

    @property
    def where(self) -> str:
        """The database, as a URL without password."""
        return self._where

    @contextmanager
    def _connection(self, op: str) -> Iterator[Db]:
        pool = self._pool
        if pool is None:
            raise self._closed(op)
        with pool.connection(timeout=self._timeout_s) as conn:
            yield PostgresDb(conn)

    async def verify(self) -> StateLoss | None:
        """Nothing to check: a server's database cannot be deleted from under a client
        unnoticed (its queries fail instead)."""
        return None

    async def close(self) -> None:
        """Close the pool's connections; later calls fail, closing again does nothing."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await anyio.to_thread.run_sync(pool.close)

    # -- sharing the work between replicas -------------------------------------------------

    async def lease_accounts(
        self,
        replica: str,
        account_ids: Sequence[str],
        *,
        ttl_s: float,
        now: float,
        limit: int | None = None,
    ) -> list[str]:
        """Claim or renew accounts for ``replica``; returns those it now holds, sorted.

        An account is taken when it is free, its lease expired, or ``replica`` holds it
        already (the lease is renewed to ``now + ttl_s``). Held accounts are renewed
        before free ones are taken, and at most ``limit`` are held: those held beyond it
        are released for another replica. Accounts locked by a concurrent claim are
        skipped, not waited for; the next call sees them. Accounts held but not named in
        ``account_ids`` keep their lease until it expires.

        Raises:
            ValueError: ``ttl_s`` is not positive or ``limit`` is negative.
        """
        args = (replica, account_ids, ttl_s, now, limit)
        return await self._run("lease_accounts", leases.lease_accounts, *args)

    async def release_accounts(self, replica: str, account_ids: Sequence[str]) -> None:
        """Give up ``replica``'s leases on these accounts (at shutdown), for others to take."""
        await self._run("release_accounts", leases.release_accounts, replica, account_ids)

    async def claim_deliveries(
        self,
        replica: str,
        now: float,
        *,
        target: str,
        limit: int,
        lease_s: float,
        probe: bool = False,
    ) -> list[Delivery]:
        """Due deliveries of ``target``, oldest first, claimed by ``replica`` for ``lease_s``.

        ``probe``: pending ones whatever their retry slot, in the order they were queued
        (a probe of a down target takes the oldest).

        Until the claim runs out no other call (of this replica or another) returns them,
        nor does :meth:`due_deliveries`; ``mark_delivered``/``mark_failed``/``mark_rejected``
        and ``requeue`` release it. A replica that dies mid-send leaves the row to be
        claimed again after ``lease_s``: delivery stays at least once.

        Raises:
            ValueError: ``limit`` or ``lease_s`` is not positive.
        """
        args = (replica, now, target, limit, lease_s, probe)
        return await self._run("claim_deliveries", leases.claim_deliveries, *args)

    async def take_budget(self, key: str, *, limit: int, window_s: float, now: float) -> float:
        """Spend one request from the token bucket ``key``, shared by every replica.

        The bucket holds at most ``limit`` tokens and refills at ``limit / window_s`` a
        second, like :class:`monitor.pinterest.budget.RateBudget`: a burst of ``limit``,
        then ``limit`` per window sustained. One statement, so one round trip.

        Returns:
            0.0 when a request may be sent now (its token is spent), else the seconds
            until a token will be there (nothing is spent or reserved).

        Raises:
            ValueError: ``limit`` or ``window_s`` is not positive.
        """
        return await self._run("take_budget", leases.take_budget, key, limit, window_s, now)

    async def heartbeat(self, replica: str, *, now: float, ttl_s: float = DEFAULT_TTL_S) -> int:
        """Record that ``replica`` is alive; returns how many replicas are (itself included).

        A replica is live when its last heartbeat is within ``2 * ttl_s`` of ``now``;
        pass the ``ttl_s`` given to :meth:`lease_accounts`.
        """
        return await self._run("heartbeat", leases.heartbeat, replica, now, ttl_s)
