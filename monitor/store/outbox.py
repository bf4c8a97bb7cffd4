"""The event history and the delivery outbox: one pending row per (event, route, target).

Synchronous functions of a :class:`~monitor.store._db.Db`; see
:class:`monitor.store.core.Store` for the contract of each. The claim columns are set by
PostgreSQL replicas only (``_leases``); on SQLite they stay NULL and cost nothing.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Iterable, Sequence
from typing import Final

from monitor.errors import StoreError
from monitor.events import Event, from_json, to_json
from monitor.store._db import Column, Db, Row, marks
from monitor.store.records import STATUSES, Delivery, Settlement

_EVENT_COLUMNS: Final[tuple[Column, ...]] = (
    ("id", "text"),
    ("type", "text"),
    ("account_id", "text"),
    ("entity_id", "text"),
    ("detected_at", "double precision"),
    ("body", "bytea"),
)
_DELIVERY_COLUMNS: Final[tuple[Column, ...]] = (
    ("event_id", "text"),
    ("route", "text"),
    ("target", "text"),
    ("next_attempt_at", "double precision"),
    ("created_at", "double precision"),
    ("updated_at", "double precision"),
)
#: The columns :func:`delivery_rows` reads, in order (the event body follows them).
DELIVERY_COLUMNS: Final = """d.id, d.route, d.target, d.attempts, d.status, d.next_attempt_at,
    d.last_error, d.created_at, d.event_id"""
_DELIVERY_SELECT: Final = f"""
    SELECT {DELIVERY_COLUMNS}, e.body FROM deliveries AS d JOIN events AS e ON e.id = d.event_id"""
# A row a replica has claimed (see _leases.claim_deliveries) is being sent.
_DUE: Final = f"""{_DELIVERY_SELECT}
    WHERE d.status = 'pending' AND d.next_attempt_at <= :now
      AND (d.claimed_until IS NULL OR d.claimed_until <= :now)"""
_DUE_ORDER: Final = " ORDER BY d.next_attempt_at, d.id LIMIT :limit"
# A probe (see monitor.pacing) takes the oldest queued rows whatever their retry slots.
_PROBE: Final = f"""{_DELIVERY_SELECT}
    WHERE d.status = 'pending' AND (d.claimed_until IS NULL OR d.claimed_until <= :now)"""
_PROBE_ORDER: Final = " ORDER BY d.id LIMIT :limit"


def insert_events(
    db: Db, events: Sequence[Event], deliveries: Sequence[tuple[str, str, str]], at: float
) -> int:
    """Insert events (ignoring known ids) and their pending outbox rows (ignoring known
    pairs) in the caller's transaction; returns how many events were new."""
    new_events = 0
    if events:
        # DO NOTHING also skips a repeat within the batch; skipped rows are not counted.
        new_events = db.insert_many(
            "events",
            _EVENT_COLUMNS,
            [(e.id, e.type, e.ad_account_id, e.entity_id, e.detected_at, to_json(e))
             for e in events],
            "ON CONFLICT (id) DO NOTHING",
        )  # fmt: skip
    if deliveries:
        # Only the unique pair is ignored: a pair naming an unknown event violates the
        # foreign key, which rolls the whole transaction back.
        db.insert_many(
            "deliveries",
            _DELIVERY_COLUMNS,
            [(event_id, route, target, at, at, at) for event_id, route, target in deliveries],
            "ON CONFLICT (event_id, route, target) DO NOTHING",
        )
    return new_events


def record_events(
    db: Db, events: Sequence[Event], deliveries: Sequence[tuple[str, str, str]], at: float
) -> int:
    """Insert events and their outbox rows in one transaction; returns how many were new."""
    with db.transaction():
        return insert_events(db, events, deliveries, at)


def due_deliveries(
    db: Db, now: float, limit: int, target: str | None, probe: bool = False
) -> list[Delivery]:
    """Pending deliveries whose next attempt is due and that nobody claims, oldest first;
    with ``probe``, whatever their next attempt, in the order they were queued."""
    params = {"now": now, "limit": limit, "target": target}
    where = "" if target is None else " AND d.target = :target"
    select, order = (_PROBE, _PROBE_ORDER) if probe else (_DUE, _DUE_ORDER)
    return delivery_rows(db.all(select + where + order, params))


def oldest_pending(db: Db) -> tuple[int, float | None]:
    """Pending deliveries, and when the oldest of them was queued."""
    row = db.one("SELECT count(*), min(created_at) FROM deliveries WHERE status = 'pending'")
    assert row is not None  # an aggregate always returns one row
    return int(row[0]), row[1]


def deliveries(
    db: Db, statuses: Sequence[str], limit: int, event_id: str | None = None
) -> list[Delivery]:
    """Deliveries in the given statuses (of one event when given), newest first."""
    unknown = set(statuses) - set(STATUSES)
    if unknown:
        raise ValueError(f"unknown delivery status {sorted(unknown)}; known: {STATUSES}")
    of_event = "" if event_id is None else " AND d.event_id = ?"
    return delivery_rows(
        db.all(
            f"{_DELIVERY_SELECT} WHERE d.status IN ({marks(len(statuses))}){of_event}"
            " ORDER BY d.created_at DESC, d.id DESC LIMIT ?",
            (*statuses, *([] if event_id is None else [event_id]), limit),
        )
    )


def count_by_status(db: Db, statuses: Sequence[str], limit: int) -> dict[str, int]:
    """Deliveries of each status, each counted up to ``limit``: in SQL, off the status
    index, so that no row is read into Python."""
    unknown = set(statuses) - set(STATUSES)
    if unknown:
        raise ValueError(f"unknown delivery status {sorted(unknown)}; known: {STATUSES}")
    counts: dict[str, int] = {}
    with db.transaction(write=False):
        for status in statuses:
            row = db.one(
                "SELECT count(*) FROM (SELECT 1 FROM deliveries WHERE status = ? LIMIT ?) AS d",
                (status, limit),
            )
            counts[status] = 0 if row is None else int(row[0])
    return counts


def first_pending(db: Db) -> Delivery | None:
    """The pending delivery queued first (ties: the lower id)."""
    rows = delivery_rows(
        db.all(f"{_DELIVERY_SELECT} WHERE d.status = 'pending' ORDER BY d.created_at, d.id LIMIT 1")
    )
    return rows[0] if rows else None


def settle(
    db: Db, delivery_id: int, status: str, at: float, error: str | None, retry_at: float | None
) -> None:
    """Record one delivery attempt's outcome, releasing any replica's claim on it."""
    cursor = db.execute(
        "UPDATE deliveries SET status = ?, attempts = attempts + 1,"
        " last_error = CAST(? AS TEXT),"
        " next_attempt_at = coalesce(CAST(? AS DOUBLE PRECISION), next_attempt_at),"
        " updated_at = ?, claimed_by = NULL, claimed_until = NULL WHERE id = ?",
        (status, error, retry_at, at, delivery_id),
    )
    if cursor.rowcount == 0:
        # Rows are only deleted once settled, so a miss is a caller bug, not a race.
        raise StoreError(f"no delivery with id {delivery_id}")


def settle_many(db: Db, outcomes: Sequence[Settlement]) -> int:
    """Record many attempts' outcomes in one transaction, releasing any claims; returns
    how many rows were settled (an outcome whose row no longer names its event and target
    settles nothing)."""
    with db.transaction():
        return db.execute_many(
            "UPDATE deliveries SET status = ?, attempts = attempts + ?,"
            " last_error = CAST(? AS TEXT),"
            " next_attempt_at = coalesce(CAST(? AS DOUBLE PRECISION), next_attempt_at),"
            " updated_at = ?, claimed_by = NULL, claimed_until = NULL"
            " WHERE id = ? AND event_id = ? AND target = ?",
            [(o.status, o.attempted, o.error, o.retry_at, o.at, o.delivery_id, o.event_id,
              o.target) for o in outcomes],
        )  # fmt: skip


def shift_pending(db: Db, delta_s: float) -> int:
    """Move every pending delivery's times by ``delta_s``, in one statement."""
    return db.execute(
        "UPDATE deliveries SET next_attempt_at = next_attempt_at + :d,"
        " created_at = created_at + :d WHERE status = 'pending'",
        {"d": delta_s},
    ).rowcount


def expedite(db: Db, target: str, now: float) -> int:
    """Make every pending delivery of ``target`` due at ``now``, so they go in the order
    they were queued (a target back from an outage); returns the count."""
    return db.execute(
        "UPDATE deliveries SET next_attempt_at = ? WHERE status = 'pending' AND target = ?",
        (now, target),
    ).rowcount


def clamp_pending(db: Db, now: float, max_wait_s: float) -> int:
    """Bring pending deliveries due after ``now + max_wait_s`` (or queued after ``now``)
    back within it."""
    return db.execute(
        "UPDATE deliveries SET"
        " next_attempt_at = CASE WHEN next_attempt_at > :latest THEN :latest"
        "                   ELSE next_attempt_at END,"
        " created_at = CASE WHEN created_at > :now THEN :now ELSE created_at END"
        " WHERE status = 'pending' AND (next_attempt_at > :latest OR created_at > :now)",
        {"latest": now + max_wait_s, "now": now},
    ).rowcount


def requeue(db: Db, event_id: str | None, failed: bool) -> int:
    """Queue deliveries again, due at once and unclaimed; returns the count."""
    conditions, params = [], []
    if event_id is not None:
        conditions.append("event_id = ?")
        params.append(event_id)
    if failed:
        conditions.append("status IN ('failed', 'dead')")
    if not conditions:
        raise ValueError("requeue needs an event_id, failed=True, or both")
    # Due at 0 rather than at time.time(): the daemon's clock is injected, and a wall-clock
    # time could lie in a test clock's far future. Attempts are kept as history; a claim
    # is dropped so that the resend is not held back by an old one.
    return db.execute(
        "UPDATE deliveries SET status = 'pending', next_attempt_at = 0, updated_at = ?,"
        f" claimed_by = NULL, claimed_until = NULL WHERE {' AND '.join(conditions)}",
        (time.time(), *params),
    ).rowcount


def events(
    db: Db,
    since: float | None,
    types: Sequence[str],
    limit: int,
    entity_id: str | None = None,
    event_id: str | None = None,
) -> list[Event]:
    """Event history, newest first; ``since`` inclusive, ``types`` fnmatch globs; of one
    entity (an ad's timeline) or one event when given."""
    conditions, params = ["1 = 1"], list[object]()
    if since is not None:
        conditions.append("detected_at >= ?")
        params.append(since)
    for column, value in (("entity_id", entity_id), ("id", event_id)):
        if value is not None:
            conditions.append(f"{column} = ?")
            params.append(value)
    if types:
        # The globs are matched by fnmatch itself against the few distinct types stored,
        # rather than translated into each database's pattern language.
        stored = [t for (t,) in db.all("SELECT DISTINCT type FROM events")]
        wanted = [t for t in stored if any(fnmatch.fnmatchcase(t, p) for p in types)]
        if not wanted:
            return []
        conditions.append(f"type IN ({marks(len(wanted))})")
        params += wanted
    rows = db.all(
        f"SELECT body FROM events WHERE {' AND '.join(conditions)}"
        " ORDER BY detected_at DESC, id DESC LIMIT ?",
        (*params, limit),
    )
    return [from_json(body) for (body,) in rows]


def prune_events(db: Db, before: float) -> int:
    """Drop history older than ``before`` whose deliveries are all settled (by cascade)."""
    # The row count is the events only, not the deliveries the cascade removed.
    return db.execute(
        "DELETE FROM events WHERE detected_at < ? AND NOT EXISTS (SELECT 1 FROM deliveries"
        " WHERE deliveries.event_id = events.id AND deliveries.status = 'pending')",
        (before,),
    ).rowcount


def delivery_rows(rows: Iterable[Row]) -> list[Delivery]:
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
