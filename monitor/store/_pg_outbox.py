"""The event history and the delivery outbox on PostgreSQL: async functions of one connection."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any, Final, LiteralString

from psycopg import AsyncConnection

from monitor.errors import StoreError
from monitor.events import Event, from_json, to_json
from monitor.store import Delivery
from monitor.store._pg_glob import fnmatch_regex

Conn = AsyncConnection[Any]

#: Every delivery status; ``failed`` is a permanent refusal, ``dead`` means retries ran out.
STATUSES: Final = ("pending", "delivered", "failed", "dead")

# DO NOTHING also skips a duplicate within the batch, as INSERT OR IGNORE does row by row.
_INSERT_EVENTS: Final = """
    INSERT INTO events (id, type, account_id, entity_id, detected_at, body)
    SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[],
                         %s::double precision[], %s::bytea[])
    ON CONFLICT (id) DO NOTHING"""
# Only the unique pair is ignored: a pair naming an unknown event violates the foreign
# key, which rolls the whole transaction back.
_INSERT_DELIVERIES: Final = """
    INSERT INTO deliveries
        (event_id, route, target, status, attempts, next_attempt_at, created_at, updated_at)
    SELECT event_id, route, target, 'pending', 0, %(at)s, %(at)s, %(at)s
    FROM unnest(%(events)s::text[], %(routes)s::text[], %(targets)s::text[])
        AS p (event_id, route, target)
    ON CONFLICT (event_id, route, target) DO NOTHING"""
#: The columns :func:`delivery_rows` reads, in order (the event body follows them).
DELIVERY_COLUMNS: Final = """d.id, d.route, d.target, d.attempts, d.status, d.next_attempt_at,
    d.last_error, d.created_at, d.event_id"""
_DELIVERY_SELECT: Final = f"""
    SELECT {DELIVERY_COLUMNS}, e.body FROM deliveries AS d JOIN events AS e ON e.id = d.event_id"""
# A row another replica has claimed (see _pg_leases.claim_deliveries) is being sent.
_DUE: Final = """d.status = 'pending' AND d.next_attempt_at <= %(now)s
    AND (d.claimed_until IS NULL OR d.claimed_until <= %(now)s)"""
_DUE_ANY: Final = (
    f"{_DELIVERY_SELECT} WHERE {_DUE} ORDER BY d.next_attempt_at, d.id LIMIT %(limit)s"
)
_DUE_TARGET: Final = (
    f"{_DELIVERY_SELECT} WHERE {_DUE} AND d.target = %(target)s"
    " ORDER BY d.next_attempt_at, d.id LIMIT %(limit)s"
)
_EVENTS: Final[dict[tuple[bool, bool], LiteralString]] = {
    (since, typed): "SELECT body FROM events WHERE true"
    + (" AND detected_at >= %(since)s" if since else "")
    + (" AND type ~ ANY(%(types)s::text[])" if typed else "")
    + " ORDER BY detected_at DESC, id DESC LIMIT %(limit)s"
    for since in (False, True)
    for typed in (False, True)
}


async def insert_events(
    conn: Conn, events: Sequence[Event], deliveries: Sequence[tuple[str, str, str]], at: float
) -> int:
    """Insert events (ignoring known ids) and their pending outbox rows (ignoring known
    pairs) in the caller's transaction; returns how many events were new."""
    new_events = 0
    if events:
        cur = await conn.execute(
            _INSERT_EVENTS,
            (
                [e.id for e in events],
                [e.type for e in events],
                [e.ad_account_id for e in events],
                [e.entity_id for e in events],
                [e.detected_at for e in events],
                [to_json(e) for e in events],
            ),
        )
        # Skipped duplicates are not counted: the row count is the new events.
        new_events = max(cur.rowcount, 0)
    if deliveries:
        await conn.execute(
            _INSERT_DELIVERIES,
            {
                "at": at,
                "events": [event_id for event_id, _, _ in deliveries],
                "routes": [route for _, route, _ in deliveries],
                "targets": [target for _, _, target in deliveries],
            },
        )
    return new_events


async def due_deliveries(conn: Conn, now: float, limit: int, target: str | None) -> list[Delivery]:
    """See :meth:`monitor.store.StateStore.due_deliveries`."""
    params = {"now": now, "limit": limit, "target": target}
    cur = await conn.execute(_DUE_ANY if target is None else _DUE_TARGET, params, binary=True)
    return delivery_rows(await cur.fetchall())


async def oldest_pending(conn: Conn) -> tuple[int, float | None]:
    """See :meth:`monitor.store.StateStore.outbox_depth`."""
    cur = await conn.execute(
        "SELECT count(*), min(created_at) FROM deliveries WHERE status = 'pending'"
    )
    row = await cur.fetchone()
    assert row is not None  # an aggregate always returns one row
    return int(row[0]), row[1]


async def deliveries(conn: Conn, statuses: Sequence[str], limit: int) -> list[Delivery]:
    """See :meth:`monitor.store.StateStore.deliveries`."""
    unknown = set(statuses) - set(STATUSES)
    if unknown:
        raise ValueError(f"unknown delivery status {sorted(unknown)}; known: {STATUSES}")
    cur = await conn.execute(
        f"{_DELIVERY_SELECT} WHERE d.status = ANY(%s::text[])"
        " ORDER BY d.created_at DESC, d.id DESC LIMIT %s",
        (list(statuses), limit),
        binary=True,
    )
    return delivery_rows(await cur.fetchall())


async def settle(
    conn: Conn,
    delivery_id: int,
    status: str,
    at: float,
    error: str | None,
    retry_at: float | None,
) -> None:
    """Record one delivery attempt's outcome, releasing any replica's claim on it."""
    cur = await conn.execute(
        "UPDATE deliveries SET status = %s, attempts = attempts + 1, last_error = %s::text,"
        " next_attempt_at = coalesce(%s::double precision, next_attempt_at), updated_at = %s,"
        " claimed_by = NULL, claimed_until = NULL WHERE id = %s",
        (status, error, retry_at, at, delivery_id),
    )
    if cur.rowcount == 0:
        # Rows are only deleted once settled, so a miss is a caller bug, not a race.
        raise StoreError(f"no delivery with id {delivery_id}")


async def shift_pending(conn: Conn, delta_s: float) -> int:
    """See :meth:`monitor.store.StateStore.shift_pending`."""
    cur = await conn.execute(
        "UPDATE deliveries SET next_attempt_at = next_attempt_at + %(d)s,"
        " created_at = created_at + %(d)s WHERE status = 'pending'",
        {"d": delta_s},
    )
    return cur.rowcount


async def clamp_pending(conn: Conn, now: float, max_wait_s: float) -> int:
    """See :meth:`monitor.store.StateStore.clamp_pending`."""
    cur = await conn.execute(
        "UPDATE deliveries SET next_attempt_at = LEAST(next_attempt_at, %(latest)s),"
        " created_at = LEAST(created_at, %(now)s)"
        " WHERE status = 'pending' AND (next_attempt_at > %(latest)s OR created_at > %(now)s)",
        {"latest": now + max_wait_s, "now": now},
    )
    return cur.rowcount


async def requeue(conn: Conn, event_id: str | None, failed: bool) -> int:
    """See :meth:`monitor.store.StateStore.requeue`."""
    if event_id is None and not failed:
        raise ValueError("requeue needs an event_id, failed=True, or both")
    # Due at 0 rather than at time.time(): the daemon's clock is injected, and a wall-clock
    # time could lie in a test clock's far future. Attempts are kept as history; a claim
    # is dropped so that the resend is not held back by an old one.
    cur = await conn.execute(
        "UPDATE deliveries SET status = 'pending', next_attempt_at = 0, updated_at = %(now)s,"
        " claimed_by = NULL, claimed_until = NULL"
        " WHERE (%(event_id)s::text IS NULL OR event_id = %(event_id)s::text)"
        " AND (NOT %(failed)s OR status IN ('failed', 'dead'))",
        {"now": time.time(), "event_id": event_id, "failed": failed},
    )
    return cur.rowcount


async def events(conn: Conn, since: float | None, types: Sequence[str], limit: int) -> list[Event]:
    """See :meth:`monitor.store.StateStore.events`."""
    params = {"since": since, "types": [fnmatch_regex(t) for t in types], "limit": limit}
    cur = await conn.execute(_EVENTS[since is not None, bool(types)], params, binary=True)
    return [from_json(body) for (body,) in await cur.fetchall()]


async def prune_events(conn: Conn, before: float) -> int:
    """See :meth:`monitor.store.StateStore.prune_events`; settled deliveries go by cascade."""
    cur = await conn.execute(
        "DELETE FROM events WHERE detected_at < %s AND NOT EXISTS (SELECT 1 FROM deliveries"
        " WHERE deliveries.event_id = events.id AND deliveries.status = 'pending')",
        (before,),
    )
    # The row count is the events only, not the deliveries the cascade removed.
    return cur.rowcount


def delivery_rows(rows: Iterable[tuple[Any, ...]]) -> list[Delivery]:
    """Deliveries from rows of :data:`DELIVERY_COLUMNS` followed by the event body."""
    # Several targets usually share one event: decode each body once.
    decoded: dict[str, Event] = {}
    result = []
    for row in rows:
        delivery_id, route, target, attempts, status, next_at, error, created, event_id, body = row
        event = decoded.get(event_id)
        if event is None:
            event = decoded[event_id] = from_json(body)
        result.append(
            Delivery(delivery_id, event, route, target, attempts, status, next_at, error, created)
        )
    return result
