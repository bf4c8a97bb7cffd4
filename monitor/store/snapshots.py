"""Snapshots: each account's stored entities per kind, and the mark of a completed baseline.

Synchronous functions of a :class:`~monitor.store._db.Db`, run in the store's worker
threads; see :class:`monitor.store.core.Store` for the contract of each.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Final

from monitor.events import Event
from monitor.hashindex import HashIndex
from monitor.models import Kind, SnapshotRow, Stored, StoredRow, from_row
from monitor.store._db import Column, Db, Row
from monitor.store._ranges import length_spans
from monitor.store.outbox import insert_events
from monitor.store.records import Snapshot, SnapshotInfo, StateGroups

#: A ``LIMIT`` that limits nothing (SQLite and PostgreSQL spell "no limit" differently).
_NO_LIMIT: Final = 2**62

_ENTITY_COLUMNS: Final[tuple[Column, ...]] = (
    ("account_id", "text"),
    ("kind", "text"),
    ("entity_id", "text"),
    ("updated_time", "bigint"),
    ("rev", "bigint"),
    ("blob", "bytea"),
    ("meta", "bytea"),
    ("removed", "boolean"),
    ("raw_hash", "bigint"),
)
_UPSERT_ENTITY: Final = """
    ON CONFLICT (account_id, kind, entity_id) DO UPDATE SET
        updated_time = excluded.updated_time, rev = excluded.rev, blob = excluded.blob,
        -- Snapshots are loaded without meta (see load_snapshot): an empty one keeps the stored.
        meta = CASE WHEN length(excluded.meta) = 0 THEN entities.meta ELSE excluded.meta END,
        removed = excluded.removed, raw_hash = excluded.raw_hash"""
_UPSERT_SNAPSHOT: Final = """
    INSERT INTO snapshots (account_id, kind, fields, taken_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (account_id, kind) DO UPDATE SET
        fields = excluded.fields, taken_at = excluded.taken_at"""
_ENTITY_SELECT: Final = (
    "SELECT entity_id, updated_time, rev, blob, removed, raw_hash FROM entities"
    " WHERE account_id = :a AND kind = :k"
)
# The hot path's rows: a tombstone reads with raw hash -1, which no item hashes to (they
# are 63-bit, >= 0), so a page compares hashes alone, never the flag of each row.
_ROW_SELECT: Final = (
    "SELECT entity_id, updated_time, rev, blob, removed,"
    " CASE WHEN removed THEN -1 ELSE raw_hash END FROM entities"
    " WHERE account_id = :a AND kind = :k"
)
# Within one length, text order is numeric order; SQLite reads it off the primary key.
_RANGE_ORDER: Final = " ORDER BY entity_id LIMIT :limit"
# Bounds spelled out, not "IS NULL OR ...": a generic plan could not use them to seek
# the index, and would read every id of that length.
_RANGE_BY_BOUNDS: Final = {
    (select, low, high): select
    + " AND length(entity_id) = :n"
    + (" AND entity_id > :low" if low else "")
    + (" AND entity_id <= :high" if high else "")
    + _RANGE_ORDER
    for select in (_ENTITY_SELECT, _ROW_SELECT)
    for low in (False, True)
    for high in (False, True)
}
_BUMP: Final = "UPDATE snapshots SET version = version + 1 WHERE account_id = ? AND kind = ?"
_VERSION: Final = "SELECT version FROM snapshots WHERE account_id = :a AND kind = :k"
# Only an index stamped with the snapshot's current version describes the rows.
_HASH_INDEX: Final = """
    SELECT h.version, h.ids, h.hashes FROM hash_index AS h
    JOIN snapshots AS s ON s.account_id = h.account_id AND s.kind = h.kind
        AND s.version = h.version
    WHERE h.account_id = :a AND h.kind = :k"""
_PUT_INDEX: Final = """
    INSERT INTO hash_index (account_id, kind, version, ids, hashes) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (account_id, kind) DO UPDATE SET
        version = excluded.version, ids = excluded.ids, hashes = excluded.hashes"""
_DROP_INDEX: Final = "DELETE FROM hash_index WHERE account_id = ? AND kind = ?"
# Each part off an index: the count walks at most ``:cap`` entries of one, the lengths
# are the first and last entries of entities_by_number (an exact count of a 200,000-ad
# kind and its lengths by aggregate read every entry: ~55 ms, at every cycle's start).
_INFO: Final = """
    SELECT s.fields, s.taken_at, s.version,
        (SELECT count(*) FROM (SELECT 1 FROM entities WHERE account_id = :a AND kind = :k
                               LIMIT :cap) AS c),
        (SELECT length(entity_id) FROM entities WHERE account_id = :a AND kind = :k
         ORDER BY length(entity_id) LIMIT 1),
        (SELECT length(entity_id) FROM entities WHERE account_id = :a AND kind = :k
         ORDER BY length(entity_id) DESC LIMIT 1)
    FROM (SELECT 1) AS one
    LEFT JOIN snapshots AS s ON s.account_id = :a AND s.kind = :k"""


def _stored(row: Row) -> tuple[str, Stored]:
    return from_row(row)  # the columns of _ENTITY_SELECT, in StoredRow order


def load_snapshot(db: Db, account_id: str, kind: Kind) -> Snapshot:
    """The stored snapshot of one account and kind, without ``meta``."""
    key = {"a": account_id, "k": str(kind)}
    # One read transaction: the field set and the blobs encoded with it must match.
    with db.transaction(write=False):
        marker = db.one("SELECT fields FROM snapshots WHERE account_id = :a AND kind = :k", key)
        # Streaming keeps one batch of rows alive at a time: the dict of Stored is the only
        # thing that grows with the account's size. Meta (ids and name, a third of a row)
        # stays in the database: only removed entities need it, and entity_meta() fetches
        # just those.
        entities = dict(_stored(row) for row in db.stream(_ENTITY_SELECT, key))
    return Snapshot(entities, None if marker is None else tuple(json.loads(marker[0])))


def snapshot_info(
    db: Db, account_id: str, kind: Kind, count_upto: int | None = None
) -> SnapshotInfo:
    """The snapshot's fields, version, size (counted up to ``count_upto``; None: all)
    and id lengths, without its entities."""
    cap = _NO_LIMIT if count_upto is None else count_upto
    row = db.one(_INFO, {"a": account_id, "k": str(kind), "cap": cap})
    assert row is not None  # the join always yields one row
    fields, taken_at, version, count, shortest, longest = row
    return SnapshotInfo(
        fields=None if fields is None else tuple(json.loads(fields)),
        taken_at=taken_at,
        count=count,
        lengths=None if not count else (shortest, longest),
        version=version,
    )


def load_range(
    db: Db,
    account_id: str,
    kind: Kind,
    after: str | None,
    upto: str | None,
    limit: int | None,
    lengths: tuple[int, int] | None,
) -> list[tuple[str, Stored]]:
    """Stored entities with ids in ``(after, upto]`` as numbers, in that order."""
    rows = _read_range(db, _ENTITY_SELECT, account_id, kind, after, upto, limit, lengths)
    return [from_row(row) for row in rows]


def load_range_rows(
    db: Db,
    account_id: str,
    kind: Kind,
    after: str | None,
    upto: str | None,
    limit: int | None,
    lengths: tuple[int, int] | None,
) -> list[StoredRow]:
    """:func:`load_range` as the driver's row tuples (see :data:`~monitor.models.StoredRow`)."""
    return _read_range(db, _ROW_SELECT, account_id, kind, after, upto, limit, lengths)


def _read_range(
    db: Db,
    select: str,
    account_id: str,
    kind: Kind,
    after: str | None,
    upto: str | None,
    limit: int | None,
    lengths: tuple[int, int] | None,
) -> list[StoredRow]:
    spans = length_spans(after, upto, lengths)
    # One statement reads one snapshot by itself; several need a read transaction.
    with db.transaction(write=False) if len(spans) > 1 else nullcontext():
        return _load_spans(db, select, account_id, kind, spans, limit)


def _load_spans(
    db: Db,
    select: str,
    account_id: str,
    kind: Kind,
    spans: list[tuple[int, str | None, str | None]],
    limit: int | None,
) -> list[StoredRow]:
    out: list[StoredRow] = []
    for length, low, high in spans:
        params = {"a": account_id, "k": str(kind), "n": length, "low": low, "high": high}
        params["limit"] = _NO_LIMIT if limit is None else limit - len(out)
        query = _RANGE_BY_BOUNDS[(select, low is not None, high is not None)]
        # The driver's tuples as they are: building objects per row is what this saves.
        out += db.all(query, params)  # the columns of _ENTITY_SELECT, in StoredRow order
        if limit is not None and len(out) >= limit:
            break
    return out


#: The covering index ``entities_by_state`` (SQLite) answers this without reading a row;
#: ``removed = :r`` rather than ``NOT removed``, so that SQLite can seek on it.
_STATE_GROUPS: Final = """
    SELECT blob, count(*) FROM entities WHERE account_id = :a AND kind = :k AND removed = :r
    GROUP BY blob"""


def state_groups(db: Db, account_id: str, kind: Kind) -> StateGroups:
    """The live entities counted by their stored state, with the fields it is encoded with."""
    key = {"a": account_id, "k": str(kind), "r": False}
    with db.transaction(write=False):
        marker = db.one("SELECT fields FROM snapshots WHERE account_id = :a AND kind = :k", key)
        groups = [(bytes(blob), n) for blob, n in db.all(_STATE_GROUPS, key)]
    return StateGroups(None if marker is None else tuple(json.loads(marker[0])), groups)


def entities_in_states(
    db: Db, account_id: str, kind: Kind, blobs: Sequence[bytes]
) -> list[tuple[str, bytes, bytes]]:
    """``(entity_id, blob, meta)`` of the live entities whose stored state is one of these."""
    rows = db.any_of(
        "SELECT entity_id, blob, meta FROM entities"
        " WHERE account_id = ? AND kind = ? AND removed = ? AND blob IN ({marks})",
        blobs,
        (account_id, str(kind), False),
    )
    return [(entity_id, bytes(blob), bytes(meta)) for entity_id, blob, meta in rows]


def stamped_or_in_states(
    db: Db, account_id: str, kind: Kind, after: float, blobs: Sequence[bytes]
) -> dict[str, tuple[bytes, int | None]]:
    """``entity_id -> (blob, updated_time)`` of the live entities stamped later than
    ``after`` or stored in one of these states: a superset of the review lane, which the
    caller narrows with the lane's own rule (``monitor.lane``).
    """
    # ORDER BY the primary key: SQLite then walks the table in key order, one pass that
    # reads updated_time in place, instead of seeking every row from entities_by_state
    # (which lacks the column): ~18 ms against ~300 ms for 100,000 ads.
    sql = (
        "SELECT entity_id, blob, updated_time FROM entities"
        " WHERE account_id = ? AND kind = ? AND removed = ?"
        " AND (updated_time > ? OR blob IN ({marks})) ORDER BY entity_id"
    )
    params = (account_id, str(kind), False, after)
    if blobs:
        rows = db.any_of(sql, blobs, params)  # a chunk at a time: stamped rows repeat
    else:
        rows = db.all(sql.replace(" OR blob IN ({marks})", ""), params)
    return {entity_id: (bytes(blob), stamp) for entity_id, blob, stamp in rows}


def entity_meta(db: Db, account_id: str, kind: Kind, entity_ids: Sequence[str]) -> dict[str, bytes]:
    """The stored ``meta`` of these entities."""
    rows = db.any_of(
        "SELECT entity_id, meta FROM entities"
        " WHERE account_id = ? AND kind = ? AND entity_id IN ({marks})",
        entity_ids,
        (account_id, str(kind)),
    )
    return {entity_id: bytes(meta) for entity_id, meta in rows}


def write_rows(db: Db, account_id: str, kind: Kind, rows: Sequence[SnapshotRow]) -> None:
    """Upsert rows of a baseline ahead of its commit."""
    with db.transaction():
        upsert_rows(db, account_id, kind, rows)


def upsert_rows(
    db: Db, account_id: str, kind: Kind, rows: Sequence[SnapshotRow]
) -> int | None:
    """Upsert entity rows in the caller's transaction; a repeated id acts as applied in order.

    Every write of a kind's entities bumps its snapshot's version (this is the one place
    they are written), which retires its hash index; returns the version after the write
    (None before a baseline's mark). The bump comes first: on PostgreSQL its row lock
    orders two writers of one kind (a lease that moved mid-cycle) before either touches
    an entity.
    """
    if not rows:
        return _version(db, account_id, kind)
    db.execute(_BUMP, (account_id, str(kind)))
    version = _version(db, account_id, kind)
    # PostgreSQL's ON CONFLICT DO UPDATE may not touch a row twice in one statement, so
    # repeats are folded first: the last wins, and its empty meta keeps the meta an
    # earlier repeat carried (as applying them in order would).
    latest: dict[str, Stored] = {}
    for row in rows:
        stored, earlier = row.stored, latest.get(row.entity_id)
        if earlier is not None and not stored.meta and earlier.meta:
            stored = Stored(
                stored.updated_time, stored.rev, stored.blob, earlier.meta, stored.removed,
                stored.raw_hash,
            )  # fmt: skip
        latest[row.entity_id] = stored
    kind_value = str(kind)
    db.insert_many(
        "entities",
        _ENTITY_COLUMNS,
        [
            (account_id, kind_value, entity_id, s.updated_time, s.rev, s.blob, s.meta,
             s.removed, s.raw_hash)
            for entity_id, s in latest.items()
        ],
        _UPSERT_ENTITY,
    )  # fmt: skip
    return version


def _version(db: Db, account_id: str, kind: Kind) -> int | None:
    row = db.one(_VERSION, {"a": account_id, "k": str(kind)})
    return None if row is None else int(row[0])


def load_hash_index(db: Db, account_id: str, kind: Kind) -> HashIndex | None:
    """The kind's hash index if it describes the stored entities as they are now (its
    stamp is the snapshot's version), else None."""
    row = db.one(_HASH_INDEX, {"a": account_id, "k": str(kind)})
    return None if row is None else HashIndex.unpack(int(row[0]), bytes(row[1]), bytes(row[2]))


def save_hash_index(db: Db, account_id: str, kind: Kind, index: HashIndex) -> bool:
    """Store ``index`` (collected by a cycle that wrote nothing) if no write of the kind's
    entities came between its reading and now; whether it was stored."""
    with db.transaction():
        if _version(db, account_id, kind) != index.version:
            return False
        _put_index(db, account_id, kind, index)
        return True


def _put_index(db: Db, account_id: str, kind: Kind, index: HashIndex) -> None:
    ids, hashes = index.pack()
    db.execute(_PUT_INDEX, (account_id, str(kind), index.version, ids, hashes))


def mark_snapshot(db: Db, account_id: str, kind: Kind, fields: tuple[str, ...], at: float) -> None:
    """Record ``fields`` as the snapshot's field set (the mark of a baseline) and its time."""
    db.execute(_UPSERT_SNAPSHOT, (account_id, str(kind), json.dumps(list(fields)), at))


def commit_cycle(
    db: Db,
    account_id: str,
    kind: Kind,
    fields: tuple[str, ...],
    rows: Sequence[SnapshotRow],
    events: Sequence[Event],
    deliveries: Sequence[tuple[str, str, str]],
    at: float,
    mark: bool = True,
    index: HashIndex | None = None,
    refresh_index: bool = False,
) -> int:
    """A completed listing's rows, field set, events and outbox rows, in one transaction
    (``mark=False``: a lookup of some entities, which neither takes nor dates a snapshot).

    ``index``: the kind's hash index as the cycle read (or collected) it; with the rows
    applied it is stored under the new version, unless another write came in between or
    a row's id is not one an index holds (then the kind has none until a cycle collects
    one again). ``refresh_index``: the same with the index as stored (a write of some
    entities, such as the fast lane's, which read no index of its own).
    """
    with db.transaction():
        if refresh_index and index is None and rows:
            index = load_hash_index(db, account_id, kind)
        version = upsert_rows(db, account_id, kind, rows)
        if index is not None and version is not None:
            fresh = index.applied(version, rows) if version == index.version + 1 else None
            if fresh is not None:
                _put_index(db, account_id, kind, fresh)
            elif version != index.version:
                db.execute(_DROP_INDEX, (account_id, str(kind)))
        if mark:
            mark_snapshot(db, account_id, kind, fields, at)
        return insert_events(db, events, deliveries, at)


def load_entities(
    db: Db, account_id: str, kind: Kind, entity_ids: Sequence[str]
) -> dict[str, Stored]:
    """The stored state (without meta) of these entities, those that are stored."""
    rows = db.any_of(
        "SELECT entity_id, updated_time, rev, blob, removed, raw_hash FROM entities"
        " WHERE account_id = ? AND kind = ? AND entity_id IN ({marks})",
        entity_ids,
        (account_id, str(kind)),
    )
    return dict(from_row(row) for row in rows)  # the columns of _ENTITY_SELECT
