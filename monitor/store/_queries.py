"""The SQL behind :class:`SqliteStore`: synchronous functions of one connection.

Each runs in a worker thread under the store's lock; each write is one short transaction.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from typing import Final

from monitor.errors import StoreError
from monitor.events import Event, from_json, to_json
from monitor.models import Kind, SnapshotRow, Stored
from monitor.store import AccountState, Delivery, Snapshot, SnapshotInfo
from monitor.store._glob import glob_pattern
from monitor.store._kv import clear_prefix, delete_keys, get_prefix, get_value, set_values
from monitor.store._ranges import length_spans
from monitor.store._schema import transaction

#: Every delivery status; ``failed`` is a permanent refusal, ``dead`` means retries ran out.
STATUSES: Final = ("pending", "delivered", "failed", "dead")

_UPSERT_ENTITY: Final = """
    INSERT INTO entities
        (account_id, kind, entity_id, updated_time, rev, blob, meta, removed, raw_hash)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (account_id, kind, entity_id) DO UPDATE SET
        updated_time = excluded.updated_time, rev = excluded.rev, blob = excluded.blob,
        -- Snapshots are loaded without meta (see load_snapshot): an empty one keeps the stored.
        meta = CASE WHEN length(excluded.meta) = 0 THEN entities.meta ELSE excluded.meta END,
        removed = excluded.removed, raw_hash = excluded.raw_hash"""
_UPSERT_SNAPSHOT: Final = """
    INSERT INTO snapshots (account_id, kind, fields, taken_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (account_id, kind) DO UPDATE SET
        fields = excluded.fields, taken_at = excluded.taken_at"""
_INSERT_EVENT: Final = """
    INSERT OR IGNORE INTO events (id, type, account_id, entity_id, detected_at, body)
    VALUES (?, ?, ?, ?, ?, ?)"""
_INSERT_DELIVERY: Final = """
    INSERT OR IGNORE INTO deliveries
        (event_id, route, target, status, attempts, next_attempt_at, created_at, updated_at)
    VALUES (?, ?, ?, 'pending', 0, ?, ?, ?)"""
# A failed poll keeps the last known name and success time; see `record_poll`.
_RECORD_POLL: Final = """
    INSERT INTO accounts
        (account_id, name, last_success_at, last_attempt_at, last_error, consecutive_failures)
    VALUES (:account_id, :name, CASE WHEN :ok THEN :at END, :at,
            CASE WHEN :ok THEN NULL ELSE :error END, CASE WHEN :ok THEN 0 ELSE 1 END)
    ON CONFLICT (account_id) DO UPDATE SET
        name = coalesce(excluded.name, name),
        last_success_at = coalesce(excluded.last_success_at, last_success_at),
        last_attempt_at = excluded.last_attempt_at,
        last_error = excluded.last_error,
        consecutive_failures = CASE WHEN :ok THEN 0 ELSE consecutive_failures + 1 END"""
_ACCOUNT_COLUMNS: Final = """account_id, name, last_success_at, last_attempt_at, last_error,
    consecutive_failures"""
_DELIVERY_SELECT: Final = """
    SELECT d.id, d.route, d.target, d.attempts, d.status, d.next_attempt_at, d.last_error,
           d.created_at, e.id, e.body
    FROM deliveries AS d JOIN events AS e ON e.id = d.event_id"""


def load_snapshot(conn: sqlite3.Connection, account_id: str, kind: Kind) -> Snapshot:
    """See :meth:`monitor.store.StateStore.load_snapshot`."""
    # One read transaction: the field set and the blobs encoded with it must match.
    with transaction(conn, write=False):
        fields_row = conn.execute(
            "SELECT fields, taken_at FROM snapshots WHERE account_id = ? AND kind = ?",
            (account_id, str(kind)),
        ).fetchone()
        cursor = conn.execute(
            "SELECT entity_id, updated_time, rev, blob, removed, raw_hash FROM entities"
            " WHERE account_id = ? AND kind = ?",
            (account_id, str(kind)),
        )
        # Iterating the cursor (not fetchall) keeps one row tuple alive at a time: the
        # dict of Stored is the only thing that grows with the account's size. Meta (ids
        # and name, a third of a row) stays on disk: only removed entities need it, and
        # entity_meta() fetches just those.
        entities = {
            entity_id: Stored(updated_time, rev, blob, b"", removed != 0, raw_hash)
            for entity_id, updated_time, rev, blob, removed, raw_hash in cursor
        }
    if fields_row is None:
        return Snapshot(entities, None)
    return Snapshot(entities, tuple(json.loads(fields_row[0])))


def snapshot_info(conn: sqlite3.Connection, account_id: str, kind: Kind) -> SnapshotInfo:
    """See :meth:`monitor.store.StateStore.snapshot_info`."""
    key = (account_id, str(kind))
    with transaction(conn, write=False):
        row = conn.execute(
            "SELECT fields, taken_at FROM snapshots WHERE account_id = ? AND kind = ?", key
        ).fetchone()
        count, shortest, longest = conn.execute(
            "SELECT count(*), min(length(entity_id)), max(length(entity_id)) FROM entities"
            " WHERE account_id = ? AND kind = ?",
            key,
        ).fetchone()
    return SnapshotInfo(
        fields=None if row is None else tuple(json.loads(row[0])),
        taken_at=None if row is None else row[1],
        count=count,
        lengths=None if not count else (shortest, longest),
    )


def load_range(
    conn: sqlite3.Connection,
    account_id: str,
    kind: Kind,
    after: str | None,
    upto: str | None,
    limit: int | None,
    lengths: tuple[int, int] | None,
) -> list[tuple[str, Stored]]:
    """See :meth:`monitor.store.StateStore.load_range`."""
    out: list[tuple[str, Stored]] = []
    with transaction(conn, write=False):
        for length, low, high in length_spans(after, upto, lengths):
            where = "account_id = ? AND kind = ? AND length(entity_id) = ?"
            params: list[object] = [account_id, str(kind), length]
            if low is not None:
                where += " AND entity_id > ?"
                params.append(low)
            if high is not None:
                where += " AND entity_id <= ?"
                params.append(high)
            params.append(-1 if limit is None else limit - len(out))
            out += [
                (entity_id, Stored(updated_time, rev, blob, b"", removed != 0, raw_hash))
                for entity_id, updated_time, rev, blob, removed, raw_hash in conn.execute(
                    "SELECT entity_id, updated_time, rev, blob, removed, raw_hash FROM entities"
                    f" WHERE {where} ORDER BY entity_id LIMIT ?",
                    params,
                )
            ]
            if limit is not None and len(out) >= limit:
                break
    return out


def entity_meta(
    conn: sqlite3.Connection, account_id: str, kind: Kind, entity_ids: Sequence[str]
) -> dict[str, bytes]:
    """See :meth:`monitor.store.StateStore.entity_meta`."""
    out: dict[str, bytes] = {}
    # Chunks stay under SQLite's host-parameter limit.
    for start in range(0, len(entity_ids), 500):
        chunk = list(entity_ids[start : start + 500])
        marks = ",".join("?" * len(chunk))
        for entity_id, meta in conn.execute(
            f"SELECT entity_id, meta FROM entities WHERE account_id = ? AND kind = ?"
            f" AND entity_id IN ({marks})",
            (account_id, str(kind), *chunk),
        ):
            out[entity_id] = meta
    return out


def write_rows(
    conn: sqlite3.Connection, account_id: str, kind: Kind, rows: Sequence[SnapshotRow]
) -> None:
    """See :meth:`monitor.store.StateStore.write_rows`."""
    with transaction(conn):
        _upsert_rows(conn, account_id, str(kind), rows)


def _upsert_rows(
    conn: sqlite3.Connection, account_id: str, kind_value: str, rows: Sequence[SnapshotRow]
) -> None:
    conn.executemany(
        _UPSERT_ENTITY,
        (
            (account_id, kind_value, row.entity_id, s.updated_time, s.rev, s.blob, s.meta,
             s.removed, s.raw_hash)
            for row in rows
            for s in (row.stored,)
        ),
    )  # fmt: skip


def commit_cycle(
    conn: sqlite3.Connection,
    account_id: str,
    kind: Kind,
    fields: tuple[str, ...],
    rows: Sequence[SnapshotRow],
    events: Sequence[Event],
    deliveries: Sequence[tuple[str, str, str]],
    at: float,
) -> int:
    """See :meth:`monitor.store.StateStore.commit_cycle`."""
    kind_value = str(kind)
    with transaction(conn):
        _upsert_rows(conn, account_id, kind_value, rows)
        conn.execute(_UPSERT_SNAPSHOT, (account_id, kind_value, json.dumps(list(fields)), at))
        return _insert_events(conn, events, deliveries, at)


def _insert_events(
    conn: sqlite3.Connection,
    events: Sequence[Event],
    deliveries: Sequence[tuple[str, str, str]],
    at: float,
) -> int:
    before = conn.total_changes
    conn.executemany(
        _INSERT_EVENT,
        ((e.id, e.type, e.ad_account_id, e.entity_id, e.detected_at, to_json(e)) for e in events),
    )
    # Ignored duplicates change nothing, so the difference counts only new events.
    new_events = conn.total_changes - before
    # A pair naming an unknown event violates the foreign key (OR IGNORE does not cover
    # foreign keys), which rolls the whole transaction back.
    conn.executemany(
        _INSERT_DELIVERY, ((event_id, route, target, at, at, at)
                           for event_id, route, target in deliveries)
    )  # fmt: skip
    return new_events


def record_events(
    conn: sqlite3.Connection,
    events: Sequence[Event],
    deliveries: Sequence[tuple[str, str, str]],
    at: float,
) -> int:
    """See :meth:`monitor.store.StateStore.record_events`."""
    with transaction(conn):
        return _insert_events(conn, events, deliveries, at)


def record_poll(
    conn: sqlite3.Connection,
    account_id: str,
    name: str | None,
    ok: bool,
    at: float,
    error: str | None,
) -> AccountState:
    """See :meth:`monitor.store.StateStore.record_poll`."""
    params = {"account_id": account_id, "name": name, "ok": ok, "at": at, "error": error}
    with transaction(conn):
        conn.execute(_RECORD_POLL, params)
        row = conn.execute(
            f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE account_id = ?", (account_id,)
        ).fetchone()
    return AccountState(*row)


def record_successes(
    conn: sqlite3.Connection, polls: Sequence[tuple[str, str | None]], at: float
) -> None:
    """See :meth:`monitor.store.StateStore.record_successes`."""
    with transaction(conn):
        conn.executemany(
            _RECORD_POLL,
            ({"account_id": a, "name": n, "ok": True, "at": at, "error": None} for a, n in polls),
        )


def accounts(conn: sqlite3.Connection) -> list[AccountState]:
    """See :meth:`monitor.store.StateStore.accounts`."""
    cursor = conn.execute(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts ORDER BY account_id")
    return [AccountState(*row) for row in cursor]


def due_deliveries(
    conn: sqlite3.Connection, now: float, limit: int, target: str | None = None
) -> list[Delivery]:
    """See :meth:`monitor.store.StateStore.due_deliveries`."""
    where = " AND d.target = ?" if target is not None else ""
    params: tuple[object, ...] = (now, target, limit) if target is not None else (now, limit)
    return _deliveries(
        conn.execute(
            f"{_DELIVERY_SELECT} WHERE d.status = 'pending' AND d.next_attempt_at <= ?{where}"
            " ORDER BY d.next_attempt_at, d.id LIMIT ?",
            params,
        )
    )


def oldest_pending(conn: sqlite3.Connection) -> tuple[int, float | None]:
    """See :meth:`monitor.store.StateStore.outbox_depth`."""
    count, oldest = conn.execute(
        "SELECT count(*), min(created_at) FROM deliveries WHERE status = 'pending'"
    ).fetchone()
    return int(count), oldest


def deliveries(conn: sqlite3.Connection, statuses: Sequence[str], limit: int) -> list[Delivery]:
    """See :meth:`monitor.store.StateStore.deliveries`."""
    unknown = set(statuses) - set(STATUSES)
    if unknown:
        raise ValueError(f"unknown delivery status {sorted(unknown)}; known: {STATUSES}")
    marks = ", ".join("?" * len(statuses))
    return _deliveries(
        conn.execute(
            f"{_DELIVERY_SELECT} WHERE d.status IN ({marks})"
            " ORDER BY d.created_at DESC, d.id DESC LIMIT ?",
            (*statuses, limit),
        )
    )


def settle(
    conn: sqlite3.Connection,
    delivery_id: int,
    status: str,
    at: float,
    error: str | None,
    retry_at: float | None,
) -> None:
    """Record one delivery attempt's outcome: ``status``, and the next try when pending."""
    cursor = conn.execute(
        "UPDATE deliveries SET status = ?, attempts = attempts + 1, last_error = ?,"
        " next_attempt_at = coalesce(?, next_attempt_at), updated_at = ? WHERE id = ?",
        (status, error, retry_at, at, delivery_id),
    )
    if cursor.rowcount == 0:
        # Rows are only deleted once settled, so a miss is a caller bug, not a race.
        raise StoreError(f"no delivery with id {delivery_id}")


def shift_pending(conn: sqlite3.Connection, delta_s: float) -> int:
    """See :meth:`monitor.store.StateStore.shift_pending`."""
    with transaction(conn):
        return conn.execute(
            "UPDATE deliveries SET next_attempt_at = next_attempt_at + ?,"
            " created_at = created_at + ? WHERE status = 'pending'",
            (delta_s, delta_s),
        ).rowcount


def clamp_pending(conn: sqlite3.Connection, now: float, max_wait_s: float) -> int:
    """See :meth:`monitor.store.StateStore.clamp_pending`."""
    latest = now + max_wait_s
    with transaction(conn):
        return conn.execute(
            "UPDATE deliveries SET next_attempt_at = min(next_attempt_at, ?),"
            " created_at = min(created_at, ?)"
            " WHERE status = 'pending' AND (next_attempt_at > ? OR created_at > ?)",
            (latest, now, latest, now),
        ).rowcount


def requeue(conn: sqlite3.Connection, event_id: str | None, failed: bool) -> int:
    """See :meth:`monitor.store.StateStore.requeue`."""
    conditions, params = [], []
    if event_id is not None:
        conditions.append("event_id = ?")
        params.append(event_id)
    if failed:
        conditions.append("status IN ('failed', 'dead')")
    if not conditions:
        raise ValueError("requeue needs an event_id, failed=True, or both")
    # Due at 0 rather than at time.time(): the daemon's clock is injected, and a wall-clock
    # time could lie in a test clock's far future. Attempts are kept as history.
    cursor = conn.execute(
        "UPDATE deliveries SET status = 'pending', next_attempt_at = 0, updated_at = ?"
        f" WHERE {' AND '.join(conditions)}",
        (time.time(), *params),
    )
    return cursor.rowcount


def events(
    conn: sqlite3.Connection, since: float | None, types: Sequence[str], limit: int
) -> list[Event]:
    """See :meth:`monitor.store.StateStore.events`."""
    conditions, params = ["1"], list[object]()
    if since is not None:
        conditions.append("detected_at >= ?")
        params.append(since)
    if types:
        conditions.append("(" + " OR ".join("type GLOB ?" for _ in types) + ")")
        params.extend(glob_pattern(pattern) for pattern in types)
    cursor = conn.execute(
        f"SELECT body FROM events WHERE {' AND '.join(conditions)}"
        " ORDER BY detected_at DESC, id DESC LIMIT ?",
        (*params, limit),
    )
    return [from_json(body) for (body,) in cursor]


def prune_events(conn: sqlite3.Connection, before: float) -> int:
    """See :meth:`monitor.store.StateStore.prune_events`; settled deliveries go by cascade."""
    cursor = conn.execute(
        "DELETE FROM events WHERE detected_at < ? AND NOT EXISTS (SELECT 1 FROM deliveries"
        " WHERE deliveries.event_id = events.id AND deliveries.status = 'pending')",
        (before,),
    )
    # changes() counts the events only, not the deliveries the cascade removed.
    return cursor.rowcount


def close(conn: sqlite3.Connection) -> None:
    """Fold the WAL back into the database file and close."""
    try:
        # optimize refreshes planner statistics cheaply; TRUNCATE leaves no WAL behind.
        conn.execute("PRAGMA optimize")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.OperationalError as exc:
        # A read-only file (`pinmon status` on a copy) was only read: nothing to fold.
        if "readonly" not in str(exc):
            raise
    finally:
        conn.close()


def _deliveries(cursor: sqlite3.Cursor) -> list[Delivery]:
    # Several targets usually share one event: decode each body once.
    decoded: dict[str, Event] = {}
    result = []
    for row in cursor:
        delivery_id, route, target, attempts, status, next_at, error, created, event_id, body = row
        event = decoded.get(event_id)
        if event is None:
            event = decoded[event_id] = from_json(body)
        result.append(
            Delivery(delivery_id, event, route, target, attempts, status, next_at, error, created)
        )
    return result


__all__ = ["clear_prefix", "delete_keys", "get_prefix", "get_value", "set_values"]
