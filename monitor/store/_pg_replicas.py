"""The half of :class:`~monitor.store.postgres.PostgresStore` that lets replicas share the work.

Account leases, delivery claims, a shared request budget and heartbeats; the SQL is in
``_pg_leases``. Kept apart from the ``StateStore`` contract, which SQLite implements too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, TypeVar, TypeVarTuple

from psycopg import AsyncConnection

from monitor.store import Delivery
from monitor.store import _pg_leases as leases

#: The lease time-to-live ``heartbeat`` assumes when it is not told one.
DEFAULT_TTL_S: Final = 60.0

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")


class ReplicaWork:
    """Coordination between pinmon replicas sharing one PostgreSQL database.

    Times are the callers' clocks (injected, like everywhere in pinmon); replicas' clocks
    are compared with each other, so keep them in sync (NTP) to well under ``ttl_s``.
    """

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
        self, replica: str, now: float, *, target: str, limit: int, lease_s: float
    ) -> list[Delivery]:
        """Due deliveries of ``target``, oldest first, claimed by ``replica`` for ``lease_s``.

        Until the claim runs out no other call (of this replica or another) returns them,
        nor does :meth:`due_deliveries`; ``mark_delivered``/``mark_failed``/``mark_rejected``
        and ``requeue`` release it. A replica that dies mid-send leaves the row to be
        claimed again after ``lease_s``: delivery stays at least once.

        Raises:
            ValueError: ``limit`` or ``lease_s`` is not positive.
        """
        args = (replica, now, target, limit, lease_s)
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

    async def _run(
        self,
        op: str,
        func: Callable[[AsyncConnection[Any], *_Ts], Awaitable[_T]],
        *args: *_Ts,
    ) -> _T:
        """Run ``func`` on a pooled connection (provided by the store)."""
        raise NotImplementedError
