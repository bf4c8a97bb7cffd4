"""Several pinmon replicas on one PostgreSQL: leases split the accounts, claims the outbox.

No home-made cluster protocol: the database coordinates. Each replica heartbeats, leases
its share of the accounts (``ceil(accounts / live replicas)``) before every cycle and
renews the leases in the background; a replica that dies stops renewing, its leases
expire within ``ttl_s`` (a fraction of the interval) and the others take the accounts at
their next cycle. Outbox rows are claimed the same way, so each is sent by one replica,
and the request budget of a token is one row shared by every replica that uses it.
"""

from __future__ import annotations

import math
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import anyio
import structlog

from monitor.store import Delivery

if TYPE_CHECKING:
    from monitor.pinterest.retry import RateLimit

log = structlog.get_logger("monitor.replicas")

#: Fetches a target's pending deliveries: (now, target, limit, probe); see
#: :meth:`monitor.store.core.Store.due_deliveries` for ``probe``.
FetchDue = Callable[[float, str, int, bool], Awaitable[list[Delivery]]]


@runtime_checkable
class ReplicaCoordinator(Protocol):
    """What a store offers replicas (PostgreSQL does; a SQLite file has one process)."""

    async def lease_accounts(
        self,
        replica: str,
        account_ids: Sequence[str],
        *,
        ttl_s: float,
        now: float,
        limit: int | None = None,
    ) -> list[str]: ...

    async def release_accounts(self, replica: str, account_ids: Sequence[str]) -> None: ...

    async def claim_deliveries(
        self,
        replica: str,
        now: float,
        *,
        target: str,
        limit: int,
        lease_s: float,
        probe: bool = False,
    ) -> list[Delivery]: ...

    async def take_budget(self, key: str, *, limit: int, window_s: float, now: float) -> float: ...

    async def heartbeat(self, replica: str, *, now: float, ttl_s: float = ...) -> int: ...


def replica_id() -> str:
    """Unique per process, readable in the database: host, pid and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Replica:
    """One replica's side of the coordination.

    Args:
        store: The shared database.
        interval_s: The poll interval. Leases live ``ttl_s = interval / 3`` (at least
            1 s) and are renewed every third of that; a dead replica's accounts are
            leased by the others within about ``ttl_s`` of its death and polled at once,
            so none waits more than two intervals.
        now: Wall clock shared by the replicas (keep them NTP-synced).
    """

    def __init__(
        self,
        store: ReplicaCoordinator,
        *,
        interval_s: float,
        now: Callable[[], float] = time.time,
        ident: str | None = None,
    ) -> None:
        self.store = store
        self.id = ident or replica_id()
        self.ttl_s = max(1.0, interval_s / 3)
        self._now = now
        self.held: list[str] = []
        self.known: list[str] = []
        self.live = 1

    async def accounts_to_poll(self, account_ids: Sequence[str]) -> list[str]:
        """Lease this replica's share of ``account_ids`` for the cycle about to start."""
        self.known = list(account_ids)
        self.held = await self._lease()
        log.info("replica.leased", replica=self.id, live=self.live, accounts=len(self.held))
        return self.held

    async def _lease(self) -> list[str]:
        now = self._now()
        # heartbeat() counts replicas seen within twice the TTL it is given: half ours
        # makes a dead replica drop out of the count when its leases expire.
        live = await self.store.heartbeat(self.id, now=now, ttl_s=self.ttl_s / 2)
        self.live = max(1, live)
        share = math.ceil(len(self.known) / self.live) if self.known else 0
        return await self.store.lease_accounts(
            self.id, self.known, ttl_s=self.ttl_s, now=now, limit=share
        )

    async def keep_alive(
        self, on_gained: Callable[[list[str]], Awaitable[None]] | None = None
    ) -> None:
        """Renew heartbeat and leases every third of the TTL, until cancelled.

        Accounts freed by a dead replica are leased as soon as their leases expire and
        handed to ``on_gained`` to be polled at once, not at the next cycle.
        """
        while True:
            await anyio.sleep(self.ttl_s / 3)
            try:
                before = set(self.held)
                self.held = await self._lease()
                gained = [a for a in self.held if a not in before]
                if gained:
                    log.info("replica.took_over", replica=self.id, accounts=len(gained))
                    if on_gained is not None:
                        await on_gained(gained)
            except Exception:
                # The database may be briefly away; the next round tries again, and the
                # leases' TTL is what keeps two replicas off one account meanwhile.
                log.exception("replica.renew_failed", replica=self.id)

    async def release(self) -> None:
        """Hand the accounts back at shutdown, so others need not wait for the TTL."""
        if self.held:
            with anyio.CancelScope(shield=True):
                await self.store.release_accounts(self.id, self.held)
            self.held = []

    def claimer(self, *, lease_s: float) -> FetchDue:
        """A due-deliveries fetcher that claims rows, so no two replicas send one."""

        async def claim(now: float, target: str, limit: int, probe: bool) -> list[Delivery]:
            return await self.store.claim_deliveries(
                self.id, now, target=target, limit=limit, lease_s=lease_s, probe=probe
            )

        return claim


class SharedBudget:
    """A token's request budget shared through the database by every replica using it.

    Same interface as :class:`~monitor.pinterest.budget.RateBudget`; the server's
    rate-limit headers and 429 pauses correct the local budget it wraps as well.
    """

    def __init__(
        self,
        store: ReplicaCoordinator,
        key: str,
        *,
        limit: int,
        window_s: float = 60.0,
        local: object | None = None,
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        from monitor.pinterest.budget import RateBudget

        self._sleep = sleep
        self._store = store
        self._key = key
        self._limit = limit
        self._window_s = window_s
        self._now = now
        # Server corrections (remaining, 429 pauses) are applied locally.
        self._local = (
            local
            if isinstance(local, RateBudget)
            else RateBudget(limit, window_s, now=now, sleep=sleep)
        )
        self.limit = limit

    async def acquire(self) -> None:
        """Wait for a request slot in the shared bucket (and the local pause, if any)."""
        from monitor.pinterest.budget import bucket_shape

        await self._local.acquire()
        # The database keeps a bucket of `capacity` refilled at capacity/window: choose
        # the window so that its rate is the one that never exceeds the limit.
        capacity, rate = bucket_shape(self._limit, self._window_s)
        while True:
            wait = await self._store.take_budget(
                self._key, limit=capacity, window_s=capacity / rate, now=self._now()
            )
            if wait <= 0:
                return
            await self._sleep(wait)

    def release(self, seen: RateLimit | None) -> None:
        """Apply the server's view to the local budget."""
        self._local.release(seen)

    def pause(self, seconds: float) -> None:
        """Pause this replica's requests (a 429 seen here)."""
        self._local.pause(seconds)
