"""PostgreSQL only: the SQL that lets replicas share the work — account leases, delivery
claims, a shared request budget and heartbeats, each one short statement or transaction.

Every row lock taken while claiming is taken with ``SKIP LOCKED``: a replica never waits
for another one's claim, so concurrent claims cannot deadlock, and what one skips the
other is taking. Times are the callers' (injected) clocks, compared only with each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from monitor.store._db import Db
from monitor.store.outbox import DELIVERY_COLUMNS, delivery_rows
from monitor.store.records import Delivery

# Sorted, so that two replicas inserting overlapping new rows lock them in one order.
_SEED_LEASES: Final = """
    INSERT INTO account_leases (account_id)
    SELECT id FROM unnest(?::text[]) AS id ORDER BY id
    ON CONFLICT (account_id) DO NOTHING"""
# Renewals come first, so a replica keeps what it holds (its caches stay warm) and takes
# free accounts only up to the limit; what it holds beyond the limit it lets go, for a
# replica that just joined. LIMIT applies after SKIP LOCKED: skipped rows do not count.
_CLAIM_LEASES: Final = """
    WITH wanted AS (
        SELECT account_id FROM account_leases
        WHERE account_id = ANY(:ids::text[])
          AND (replica = :replica OR expires_at <= :now)
        ORDER BY (replica = :replica) IS TRUE DESC, account_id
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE account_leases AS l SET replica = :replica, expires_at = :until
        FROM wanted WHERE l.account_id = wanted.account_id
        RETURNING l.account_id
    ), excess AS (
        SELECT account_id FROM account_leases
        WHERE replica = :replica AND account_id = ANY(:ids::text[])
          AND account_id NOT IN (SELECT account_id FROM wanted)
        FOR UPDATE SKIP LOCKED
    ), released AS (
        UPDATE account_leases AS l SET replica = NULL, expires_at = '-infinity'
        FROM excess WHERE l.account_id = excess.account_id
    )
    SELECT account_id FROM claimed ORDER BY account_id"""
# A probe (see monitor.pacing) takes the oldest queued rows whatever their retry slots.
_CLAIM_DELIVERIES: Final = f"""
    WITH due AS (
        SELECT id FROM deliveries
        WHERE status = 'pending' AND target = :target
          AND (:probe OR next_attempt_at <= :now)
          AND (claimed_until IS NULL OR claimed_until <= :now)
        ORDER BY CASE WHEN :probe THEN 0 ELSE next_attempt_at END, id
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    ), d AS (
        UPDATE deliveries AS d SET claimed_by = :replica, claimed_until = :until
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
    VALUES (:key, :limit - 1, :now, true)
    ON CONFLICT (key) DO UPDATE SET (tokens, updated_at, granted) = (
        SELECT CASE WHEN level >= 1 THEN level - 1 ELSE level END,
               greatest(b.updated_at, :now),
               level >= 1
        FROM (SELECT least(:limit::double precision,
                           b.tokens + greatest(0, :now - b.updated_at) * :rate) AS level) AS r
    )
    RETURNING tokens, granted"""
# The count cannot see this statement's own upsert, so it counts the others and adds one.
_HEARTBEAT: Final = """
    WITH beat AS (
        INSERT INTO replicas (replica, seen_at) VALUES (:replica, :now)
        ON CONFLICT (replica) DO UPDATE SET seen_at = excluded.seen_at
    ), stale AS (
        SELECT replica FROM replicas
        WHERE replica <> :replica AND seen_at < :now - :forget_s
        FOR UPDATE SKIP LOCKED
    ), forgotten AS (
        DELETE FROM replicas WHERE replica IN (SELECT replica FROM stale)
    )
    SELECT 1 + count(*) FROM replicas
    WHERE replica <> :replica AND seen_at >= :now - :live_s"""


def lease_accounts(
    db: Db,
    replica: str,
    account_ids: Sequence[str],
    ttl_s: float,
    now: float,
    limit: int | None,
) -> list[str]:
    """See :meth:`monitor.store.postgres.PostgresStore.lease_accounts`."""
    if ttl_s <= 0 or (limit is not None and limit < 0):
        raise ValueError("a lease needs a positive ttl_s and a limit of at least 0")
    ids = sorted(set(account_ids))
    with db.transaction():
        # A lease row must exist before it can be locked: the first replica to see an
        # account creates it free, whoever then claims it wins.
        db.execute(_SEED_LEASES, (ids,))
        rows = db.all(
            _CLAIM_LEASES,
            {"ids": ids, "replica": replica, "now": now, "until": now + ttl_s, "limit": limit},
        )
        return [account_id for (account_id,) in rows]


def release_accounts(db: Db, replica: str, account_ids: Sequence[str]) -> None:
    """See :meth:`monitor.store.postgres.PostgresStore.release_accounts`."""
    db.execute(
        "UPDATE account_leases SET replica = NULL, expires_at = '-infinity'"
        " WHERE replica = ? AND account_id = ANY(?::text[])",
        (replica, list(account_ids)),
    )


def claim_deliveries(
    db: Db,
    replica: str,
    now: float,
    target: str,
    limit: int,
    lease_s: float,
    probe: bool = False,
) -> list[Delivery]:
    """See :meth:`monitor.store.postgres.PostgresStore.claim_deliveries`."""
    if limit <= 0 or lease_s <= 0:
        raise ValueError("a claim needs a positive limit and lease_s")
    params = {
        "replica": replica,
        "now": now,
        "probe": probe,
        "until": now + lease_s,
        "target": target,
        "limit": limit,
    }
    return delivery_rows(db.all(_CLAIM_DELIVERIES, params))


def take_budget(db: Db, key: str, limit: int, window_s: float, now: float) -> float:
    """See :meth:`monitor.store.postgres.PostgresStore.take_budget`."""
    if limit < 1 or window_s <= 0:
        raise ValueError("a budget needs a positive limit and window")
    rate = limit / window_s
    row = db.one(_TAKE_BUDGET, {"key": key, "limit": limit, "now": now, "rate": rate})
    assert row is not None  # an upsert with RETURNING always returns its row
    tokens, granted = row
    return 0.0 if granted else (1.0 - float(tokens)) / rate


def heartbeat(db: Db, replica: str, now: float, ttl_s: float) -> int:
    """See :meth:`monitor.store.postgres.PostgresStore.heartbeat`."""
    live_s = 2 * ttl_s
    # Rows of replicas long gone (a restarted pod gets a new name) are dropped, late
    # enough that a replica stalled for a while is not forgotten while it still runs.
    params = {"replica": replica, "now": now, "live_s": live_s, "forget_s": 10 * live_s}
    row = db.one(_HEARTBEAT, params)
    assert row is not None  # an aggregate always returns one row
    return int(row[0])
