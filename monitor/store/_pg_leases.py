"""The SQL that lets replicas share the work: account leases, delivery claims, a shared
request budget and heartbeats, each one short statement or transaction on PostgreSQL.

Every row lock taken while claiming is taken with ``SKIP LOCKED``: a replica never waits
for another one's claim, so concurrent claims cannot deadlock, and what one skips the
other is taking. Times are the callers' (injected) clocks, compared only with each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from psycopg import AsyncConnection

from monitor.store import Delivery
from monitor.store._pg_outbox import DELIVERY_COLUMNS, delivery_rows

Conn = AsyncConnection[Any]

# Sorted, so that two replicas inserting overlapping new rows lock them in one order.
_SEED_LEASES: Final = """
    INSERT INTO account_leases (account_id)
    SELECT id FROM unnest(%s::text[]) AS id ORDER BY id
    ON CONFLICT (account_id) DO NOTHING"""
# Renewals come first, so a replica keeps what it holds (its caches stay warm) and takes
# free accounts only up to the limit; what it holds beyond the limit it lets go, for a
# replica that just joined. LIMIT applies after SKIP LOCKED: skipped rows do not count.
_CLAIM_LEASES: Final = """
    WITH wanted AS (
        SELECT account_id FROM account_leases
        WHERE account_id = ANY(%(ids)s::text[])
          AND (replica = %(replica)s OR expires_at <= %(now)s)
        ORDER BY (replica = %(replica)s) IS TRUE DESC, account_id
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE account_leases AS l SET replica = %(replica)s, expires_at = %(until)s
        FROM wanted WHERE l.account_id = wanted.account_id
        RETURNING l.account_id
    ), excess AS (
        SELECT account_id FROM account_leases
        WHERE replica = %(replica)s AND account_id = ANY(%(ids)s::text[])
          AND account_id NOT IN (SELECT account_id FROM wanted)
        FOR UPDATE SKIP LOCKED
    ), released AS (
        UPDATE account_leases AS l SET replica = NULL, expires_at = '-infinity'
        FROM excess WHERE l.account_id = excess.account_id
    )
    SELECT account_id FROM claimed ORDER BY account_id"""
_CLAIM_DELIVERIES: Final = f"""
    WITH due AS (
        SELECT id FROM deliveries
        WHERE status = 'pending' AND target = %(target)s AND next_attempt_at <= %(now)s
          AND (claimed_until IS NULL OR claimed_until <= %(now)s)
        ORDER BY next_attempt_at, id
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ), d AS (
        UPDATE deliveries AS d SET claimed_by = %(replica)s, claimed_until = %(until)s
        FROM due WHERE d.id = due.id
        RETURNING d.*
    )
    SELECT {DELIVERY_COLUMNS}, e.body FROM d JOIN events AS e ON e.id = d.event_id
    ORDER BY d.next_attempt_at, d.id"""
# One statement, so one round trip: the upsert locks the key's row, refills it for the
# time since its last use (never more than the limit, never backwards when clocks
# disagree), spends a token if a whole one is there, and returns the outcome.
_TAKE_BUDGET: Final = """
    INSERT INTO budgets AS b (key, tokens, updated_at, granted)
    VALUES (%(key)s, %(limit)s - 1, %(now)s, true)
    ON CONFLICT (key) DO UPDATE SET (tokens, updated_at, granted) = (
        SELECT CASE WHEN level >= 1 THEN level - 1 ELSE level END,
               greatest(b.updated_at, %(now)s),
               level >= 1
        FROM (SELECT least(%(limit)s::double precision,
                           b.tokens + greatest(0, %(now)s - b.updated_at) * %(rate)s) AS level) AS r
    )
    RETURNING tokens, granted"""
# The count cannot see this statement's own upsert, so it counts the others and adds one.
_HEARTBEAT: Final = """
    WITH beat AS (
        INSERT INTO replicas (replica, seen_at) VALUES (%(replica)s, %(now)s)
        ON CONFLICT (replica) DO UPDATE SET seen_at = excluded.seen_at
    ), stale AS (
        SELECT replica FROM replicas
        WHERE replica <> %(replica)s AND seen_at < %(now)s - %(forget_s)s
        FOR UPDATE SKIP LOCKED
    ), forgotten AS (
        DELETE FROM replicas WHERE replica IN (SELECT replica FROM stale)
    )
    SELECT 1 + count(*) FROM replicas
    WHERE replica <> %(replica)s AND seen_at >= %(now)s - %(live_s)s"""


async def lease_accounts(
    conn: Conn,
    replica: str,
    account_ids: Sequence[str],
    ttl_s: float,
    now: float,
    limit: int | None,
) -> list[str]:
    """See :meth:`monitor.store._pg_replicas.ReplicaWork.lease_accounts`."""
    if ttl_s <= 0 or (limit is not None and limit < 0):
        raise ValueError("a lease needs a positive ttl_s and a limit of at least 0")
    ids = sorted(set(account_ids))
    async with conn.transaction():
        # A lease row must exist before it can be locked: the first replica to see an
        # account creates it free, whoever then claims it wins.
        await conn.execute(_SEED_LEASES, (ids,))
        cur = await conn.execute(
            _CLAIM_LEASES,
            {"ids": ids, "replica": replica, "now": now, "until": now + ttl_s, "limit": limit},
        )
        return [account_id for (account_id,) in await cur.fetchall()]


async def release_accounts(conn: Conn, replica: str, account_ids: Sequence[str]) -> None:
    """See :meth:`monitor.store._pg_replicas.ReplicaWork.release_accounts`."""
    await conn.execute(
        "UPDATE account_leases SET replica = NULL, expires_at = '-infinity'"
        " WHERE replica = %s AND account_id = ANY(%s::text[])",
        (replica, list(account_ids)),
    )


async def claim_deliveries(
    conn: Conn, replica: str, now: float, target: str, limit: int, lease_s: float
) -> list[Delivery]:
    """See :meth:`monitor.store._pg_replicas.ReplicaWork.claim_deliveries`."""
    if limit <= 0 or lease_s <= 0:
        raise ValueError("a claim needs a positive limit and lease_s")
    params = {
        "replica": replica,
        "now": now,
        "until": now + lease_s,
        "target": target,
        "limit": limit,
    }
    cur = await conn.execute(_CLAIM_DELIVERIES, params, binary=True)
    return delivery_rows(await cur.fetchall())


async def take_budget(conn: Conn, key: str, limit: int, window_s: float, now: float) -> float:
    """See :meth:`monitor.store._pg_replicas.ReplicaWork.take_budget`."""
    if limit < 1 or window_s <= 0:
        raise ValueError("a budget needs a positive limit and window")
    rate = limit / window_s
    cur = await conn.execute(_TAKE_BUDGET, {"key": key, "limit": limit, "now": now, "rate": rate})
    row = await cur.fetchone()
    assert row is not None  # an upsert with RETURNING always returns its row
    tokens, granted = row
    return 0.0 if granted else (1.0 - float(tokens)) / rate


async def heartbeat(conn: Conn, replica: str, now: float, ttl_s: float) -> int:
    """See :meth:`monitor.store._pg_replicas.ReplicaWork.heartbeat`."""
    live_s = 2 * ttl_s
    # Rows of replicas long gone (a restarted pod gets a new name) are dropped, late
    # enough that a replica stalled for a while is not forgotten while it still runs.
    params = {"replica": replica, "now": now, "live_s": live_s, "forget_s": 10 * live_s}
    cur = await conn.execute(_HEARTBEAT, params)
    row = await cur.fetchone()
    assert row is not None  # an aggregate always returns one row
    return int(row[0])
