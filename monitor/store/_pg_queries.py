"""Snapshots, account bookkeeping and key/values on PostgreSQL: async functions of one connection.

Each gets an autocommit connection from the pool; a write of several statements opens its
own transaction. Batches travel as arrays through ``unnest``: one statement per few
thousand rows instead of one round trip per row. The outbox lives in ``_pg_outbox``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from psycopg import AsyncConnection

from monitor.events import Event
from monitor.models import Kind, SnapshotRow, Stored
from monitor.store import AccountState, Snapshot, SnapshotInfo
from monitor.store._pg_outbox import insert_events
from monitor.store._ranges import length_spans

Conn = AsyncConnection[Any]

#: Rows per upsert statement: big enough to amortise the round trip, small enough that
#: one statement's parameters stay a few megabytes.
_CHUNK: Final = 5_000

_UPSERT_ENTITIES: Final = """
    INSERT INTO entities AS t
        (account_id, kind, entity_id, updated_time, rev, blob, meta, removed, raw_hash)
    SELECT %(account_id)s, %(kind)s, *
    FROM unnest(%(ids)s::text[], %(times)s::bigint[], %(revs)s::bigint[], %(blobs)s::bytea[],
                %(metas)s::bytea[], %(removed)s::boolean[], %(hashes)s::bigint[])
    ON CONFLICT (account_id, kind, entity_id) DO UPDATE SET
        updated_time = excluded.updated_time, rev = excluded.rev, blob = excluded.blob,
        -- Snapshots are loaded without meta (see load_snapshot): an empty one keeps the stored.
        meta = CASE WHEN length(excluded.meta) = 0 THEN t.meta ELSE excluded.meta END,
        removed = excluded.removed, raw_hash = excluded.raw_hash"""
_UPSERT_SNAPSHOT: Final = """
    INSERT INTO snapshots (account_id, kind, fields, taken_at) VALUES (%s, %s, %s::text[], %s)
    ON CONFLICT (account_id, kind) DO UPDATE SET
        fields = excluded.fields, taken_at = excluded.taken_at"""
_ACCOUNT_COLUMNS: Final = """account_id, name, last_success_at, last_attempt_at, last_error,
    consecutive_failures"""
# A failed poll keeps the last known name and success time; see `record_poll`.
_RECORD_POLL: Final = f"""
    INSERT INTO accounts AS a ({_ACCOUNT_COLUMNS})
    VALUES (%(account_id)s, %(name)s::text,
            CASE WHEN %(ok)s THEN %(at)s::double precision END, %(at)s::double precision,
            CASE WHEN %(ok)s THEN NULL ELSE %(error)s::text END, CASE WHEN %(ok)s THEN 0 ELSE 1 END)
    ON CONFLICT (account_id) DO UPDATE SET
        name = coalesce(excluded.name, a.name),
        last_success_at = coalesce(excluded.last_success_at, a.last_success_at),
        last_attempt_at = excluded.last_attempt_at,
        last_error = excluded.last_error,
        consecutive_failures = CASE WHEN %(ok)s THEN 0 ELSE a.consecutive_failures + 1 END
    RETURNING {_ACCOUNT_COLUMNS}"""


async def load_snapshot(conn: Conn, account_id: str, kind: Kind) -> Snapshot:
    """See :meth:`monitor.store.StateStore.load_snapshot`."""
    async with conn.transaction():
        # One snapshot of the database for both reads: the field set and the blobs
        # encoded with it must match.
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cur = await conn.execute(
            "SELECT fields, taken_at FROM snapshots WHERE account_id = %s AND kind = %s",
            (account_id, str(kind)),
        )
        fields_row = await cur.fetchone()
        # A server-side cursor fetched in batches keeps one batch of rows in memory at a
        # time: the dict of Stored is the only thing that grows with the account. Meta (a
        # third of a row) stays in the database; entity_meta() fetches what is needed.
        async with conn.cursor(name="snapshot", binary=True) as rows:
            rows.itersize = 10_000
            await rows.execute(
                "SELECT entity_id, updated_time, rev, blob, removed, raw_hash FROM entities"
                " WHERE account_id = %s AND kind = %s",
                (account_id, str(kind)),
            )
            entities = {
                entity_id: Stored(updated_time, rev, blob, b"", removed, raw_hash)
                async for entity_id, updated_time, rev, blob, removed, raw_hash in rows
            }
    if fields_row is None:
        return Snapshot(entities, None)
    return Snapshot(entities, tuple(fields_row[0]))


async def snapshot_info(conn: Conn, account_id: str, kind: Kind) -> SnapshotInfo:
    """See :meth:`monitor.store.StateStore.snapshot_info`."""
    cur = await conn.execute(
        "SELECT s.fields, s.taken_at, e.n, e.shortest, e.longest"
        " FROM (SELECT count(*) AS n, min(length(entity_id)) AS shortest,"
        "       max(length(entity_id)) AS longest"
        "       FROM entities WHERE account_id = %(a)s AND kind = %(k)s) AS e"
        " LEFT JOIN snapshots AS s ON s.account_id = %(a)s AND s.kind = %(k)s",
        {"a": account_id, "k": str(kind)},
    )
    row = await cur.fetchone()
    assert row is not None  # the aggregate always yields one row
    fields, taken_at, count, shortest, longest = row
    return SnapshotInfo(
        fields=None if fields is None else tuple(fields),
        taken_at=taken_at,
        count=count,
        lengths=None if not count else (shortest, longest),
    )


_RANGE_SELECT: Final = (
    "SELECT entity_id, updated_time, rev, blob, removed, raw_hash FROM entities"
    " WHERE account_id = %(a)s AND kind = %(k)s AND length(entity_id) = %(n)s"
)
_RANGE_ORDER: Final = " ORDER BY length(entity_id), entity_id LIMIT %(limit)s"
_RANGE_BY_BOUNDS: Final = {
    (False, False): _RANGE_SELECT + _RANGE_ORDER,
    (True, False): _RANGE_SELECT + " AND entity_id > %(low)s" + _RANGE_ORDER,
    (False, True): _RANGE_SELECT + " AND entity_id <= %(high)s" + _RANGE_ORDER,
    (True, True): _RANGE_SELECT
    + " AND entity_id > %(low)s AND entity_id <= %(high)s"
    + _RANGE_ORDER,
}


async def load_range(
    conn: Conn,
    account_id: str,
    kind: Kind,
    after: str | None,
    upto: str | None,
    limit: int | None,
    lengths: tuple[int, int] | None,
) -> list[tuple[str, Stored]]:
    """See :meth:`monitor.store.StateStore.load_range`."""
    out: list[tuple[str, Stored]] = []
    for length, low, high in length_spans(after, upto, lengths):
        # Bounds spelled out, not "IS NULL OR ...": a generic plan could not use them to
        # seek the index, and would read every id of that length.
        query = _RANGE_BY_BOUNDS[(low is not None, high is not None)]
        cur = await conn.execute(
            query,
            {
                "a": account_id,
                "k": str(kind),
                "n": length,
                "low": low,
                "high": high,
                "limit": None if limit is None else limit - len(out),
            },
        )
        out += [
            (entity_id, Stored(updated_time, rev, blob, b"", removed, raw_hash))
            for entity_id, updated_time, rev, blob, removed, raw_hash in await cur.fetchall()
        ]
        if limit is not None and len(out) >= limit:
            break
    return out


async def entity_meta(
    conn: Conn, account_id: str, kind: Kind, entity_ids: Sequence[str]
) -> dict[str, bytes]:
    """See :meth:`monitor.store.StateStore.entity_meta`."""
    cur = await conn.execute(
        "SELECT entity_id, meta FROM entities"
        " WHERE account_id = %s AND kind = %s AND entity_id = ANY(%s::text[])",
        (account_id, str(kind), list(entity_ids)),
        binary=True,
    )
    return {entity_id: meta for entity_id, meta in await cur.fetchall()}


async def write_rows(conn: Conn, account_id: str, kind: Kind, rows: Sequence[SnapshotRow]) -> None:
    """See :meth:`monitor.store.StateStore.write_rows`."""
    async with conn.transaction():
        await _upsert_rows(conn, account_id, str(kind), rows)


async def _upsert_rows(
    conn: Conn, account_id: str, kind_value: str, rows: Sequence[SnapshotRow]
) -> None:
    # ON CONFLICT DO UPDATE may not touch a row twice in one statement; SQLite applies
    # repeats in order, so fold them first: the last wins, and its empty meta keeps the
    # meta an earlier repeat carried.
    latest: dict[str, Stored] = {}
    for row in rows:
        earlier = latest.get(row.entity_id)
        stored = row.stored
        if earlier is not None and not stored.meta and earlier.meta:
            stored = Stored(
                stored.updated_time,
                stored.rev,
                stored.blob,
                earlier.meta,
                stored.removed,
                stored.raw_hash,
            )
        latest[row.entity_id] = stored
    items = list(latest.items())
    for start in range(0, len(items), _CHUNK):
        chunk = items[start : start + _CHUNK]
        await conn.execute(
            _UPSERT_ENTITIES,
            {
                "account_id": account_id,
                "kind": kind_value,
                "ids": [entity_id for entity_id, _ in chunk],
                "times": [s.updated_time for _, s in chunk],
                "revs": [s.rev for _, s in chunk],
                "blobs": [s.blob for _, s in chunk],
                "metas": [s.meta for _, s in chunk],
                "removed": [s.removed for _, s in chunk],
                "hashes": [s.raw_hash for _, s in chunk],
            },
        )


async def commit_cycle(
    conn: Conn,
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
    async with conn.transaction():
        await _upsert_rows(conn, account_id, kind_value, rows)
        await conn.execute(_UPSERT_SNAPSHOT, (account_id, kind_value, list(fields), at))
        return await insert_events(conn, events, deliveries, at)


async def record_events(
    conn: Conn, events: Sequence[Event], deliveries: Sequence[tuple[str, str, str]], at: float
) -> int:
    """See :meth:`monitor.store.StateStore.record_events`."""
    async with conn.transaction():
        return await insert_events(conn, events, deliveries, at)


async def record_poll(
    conn: Conn, account_id: str, name: str | None, ok: bool, at: float, error: str | None
) -> AccountState:
    """See :meth:`monitor.store.StateStore.record_poll`."""
    params = {"account_id": account_id, "name": name, "ok": ok, "at": at, "error": error}
    cur = await conn.execute(_RECORD_POLL, params)
    row = await cur.fetchone()
    assert row is not None  # an upsert with RETURNING always returns its row
    return AccountState(*row)


async def record_successes(
    conn: Conn, polls: Sequence[tuple[str, str | None]], at: float
) -> None:
    """See :meth:`monitor.store.StateStore.record_successes`."""
    async with conn.transaction(), conn.cursor() as cur:
        await cur.executemany(
            _RECORD_POLL,
            [{"account_id": a, "name": n, "ok": True, "at": at, "error": None} for a, n in polls],
        )


async def accounts(conn: Conn) -> list[AccountState]:
    """See :meth:`monitor.store.StateStore.accounts`."""
    cur = await conn.execute(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts ORDER BY account_id")
    return [AccountState(*row) for row in await cur.fetchall()]


async def get_value(conn: Conn, key: str) -> str | None:
    """See :meth:`monitor.store.StateStore.get_value`."""
    cur = await conn.execute("SELECT value FROM kv WHERE key = %s", (key,))
    row = await cur.fetchone()
    return None if row is None else str(row[0])


async def set_values(conn: Conn, values: dict[str, str]) -> None:
    """See :meth:`monitor.store.StateStore.set_values`; one statement, so all or nothing."""
    await conn.execute(
        "INSERT INTO kv (key, value) SELECT * FROM unnest(%s::text[], %s::text[])"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (list(values), list(values.values())),
    )


async def clear_prefix(conn: Conn, prefix: str) -> int:
    """See :meth:`monitor.store.StateStore.clear_prefix`."""
    # starts_with, not LIKE: '_' and '%' in keys are literal.
    cur = await conn.execute("DELETE FROM kv WHERE starts_with(key, %s)", (prefix,))
    return cur.rowcount


async def get_prefix(conn: Conn, prefix: str) -> dict[str, str]:
    """See :meth:`monitor.store.StateStore.get_prefix`."""
    cur = await conn.execute(
        "SELECT key, value FROM kv WHERE starts_with(key, %s) ORDER BY key", (prefix,)
    )
    return {key: value for key, value in await cur.fetchall()}


async def delete_keys(conn: Conn, keys: Sequence[str]) -> int:
    """See :meth:`monitor.store.StateStore.delete_keys`; one statement, so all or nothing."""
    cur = await conn.execute("DELETE FROM kv WHERE key = ANY(%s::text[])", (list(keys),))
    return cur.rowcount
