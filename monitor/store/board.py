"""The web board's reads: bounded queries over the history and the outbox, off indexes.

Synchronous functions of a :class:`~monitor.store._db.Db`; see
:class:`monitor.store.core.Store` for the contract of each. Each one answers in SQL what
a page shows (a page of rows, a count, a per-day tally), so that no page reads the whole
history into Python, however long it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from monitor.events import Event, from_json
from monitor.store._db import Db, marks
from monitor.store.outbox import DELIVERY_COLUMNS, delivery_rows
from monitor.store.records import STATUSES, Delivery

#: Seconds in a day: the charts' bucket.
DAY_S: Final = 86400


def latest_of(db: Db, entity_ids: Sequence[str], types: Sequence[str]) -> dict[str, float]:
    """The newest ``detected_at`` of an event of one of ``types``, per entity that has one."""
    if not types:
        return {}
    # events_by_entity (entity_id, type, detected_at) answers each (entity, type) with
    # one seek; the maximum over the few types is taken here.
    rows = db.any_of(
        f"SELECT entity_id, max(detected_at) FROM events WHERE type IN ({marks(len(types))})"
        " AND entity_id IN ({marks}) GROUP BY entity_id",
        entity_ids,
        types,
    )
    return {entity_id: float(at) for entity_id, at in rows if at is not None}


def newest_events(db: Db, entity_ids: Sequence[str]) -> dict[str, Event]:
    """The newest event of each entity that has one (for the names events carry)."""
    found: dict[str, Event] = {}
    with db.transaction(write=False):
        for entity_id in entity_ids:
            row = db.one(
                "SELECT body FROM events WHERE entity_id = ? ORDER BY detected_at DESC LIMIT 1",
                (entity_id,),
            )
            if row is not None:
                found[entity_id] = from_json(row[0])
    return found


def _check(statuses: Sequence[str]) -> None:
    unknown = set(statuses) - set(STATUSES)
    if unknown or not statuses:
        raise ValueError(f"unknown delivery status {sorted(unknown)}; known: {STATUSES}")


def _open_rows(
    columns: str, statuses: Sequence[str], target: str | None, route: str | None
) -> tuple[str, list[object]]:
    """A subquery of the deliveries in these statuses (and of a target and route): one
    branch per status, each a seek of ``deliveries_due``. With statistics that say four
    statuses share the rows evenly, SQLite would scan the table for an ``IN`` of three,
    though nearly every row is ``delivered``."""
    extra, extra_params = "", list[object]()
    for column, value in (("target", target), ("route", route)):
        if value is not None:
            extra += f" AND {column} = ?"
            extra_params.append(value)
    branches, params = [], list[object]()
    for status in statuses:
        branches.append(f"SELECT {columns} FROM deliveries WHERE status = ?{extra}")
        params += [status, *extra_params]
    return " UNION ALL ".join(branches), params


#: What :func:`monitor.store.outbox.delivery_rows` reads of a delivery, unqualified.
_COLUMNS: Final = DELIVERY_COLUMNS.replace("d.", "")


def filtered_deliveries(
    db: Db,
    statuses: Sequence[str],
    target: str | None,
    route: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Delivery], int]:
    """One page of deliveries in these statuses (newest first), of one target and route
    when given, and how many there are in all."""
    _check(statuses)
    counted, count_params = _open_rows("1", statuses, target, route)
    selected, params = _open_rows(_COLUMNS, statuses, target, route)
    with db.transaction(write=False):
        row = db.one(f"SELECT count(*) FROM ({counted}) AS d", count_params)
        rows = db.all(
            f"SELECT {DELIVERY_COLUMNS}, e.body FROM ({selected}) AS d"
            " JOIN events AS e ON e.id = d.event_id"
            " ORDER BY d.created_at DESC, d.id DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
    return delivery_rows(rows), 0 if row is None else int(row[0])


def delivery_facets(db: Db, statuses: Sequence[str]) -> list[tuple[str, str]]:
    """The distinct ``(target, route)`` of the deliveries in these statuses."""
    _check(statuses)
    selected, params = _open_rows("target, route", statuses, None, None)
    rows = db.all(
        f"SELECT DISTINCT target, route FROM ({selected}) AS d ORDER BY target, route", params
    )
    return [(str(t), str(r)) for t, r in rows]


def per_day(db: Db, types: Sequence[str], since: float, until: float) -> list[tuple[int, str, int]]:
    """``(day, type, count)`` of the events of these types from ``since`` to ``until``; a
    day is the number of whole days since the epoch (UTC)."""
    # One range count per day and type off the covering index events_type (type,
    # detected_at): no grouping of a quarter of a million rows in a temporary b-tree.
    first, last = int(since // DAY_S), int(until // DAY_S)
    out = []
    with db.transaction(write=False):
        for day in range(first, last + 1):
            low, high = max(since, day * DAY_S), (day + 1) * DAY_S
            for t in types:
                row = db.one(
                    "SELECT count(*) FROM events WHERE type = ?"
                    " AND detected_at >= ? AND detected_at < ?",
                    (t, low, high),
                )
                if row is not None and row[0]:
                    out.append((day, t, int(row[0])))
    return out


def review_spans(
    db: Db, decisions: Sequence[str], entries: Sequence[str], since: float, limit: int
) -> list[float]:
    """Seconds from entering review to the decision, for the newest ``limit`` decisions
    of each type since ``since`` whose entry into review is in the history."""
    # One branch per decision type, each read backwards off events_type (type,
    # detected_at); then one seek of events_by_entity per decision and entry type.
    newest = " UNION ALL ".join(
        "SELECT * FROM (SELECT entity_id, detected_at FROM events"
        " WHERE type = ? AND detected_at >= ? ORDER BY detected_at DESC LIMIT ?) AS n"
        for _ in decisions
    )
    rows = db.all(
        "SELECT d.detected_at - (SELECT max(p.detected_at) FROM events AS p"
        f"   WHERE p.entity_id = d.entity_id AND p.type IN ({marks(len(entries))})"
        "    AND p.detected_at <= d.detected_at)"
        f" FROM ({newest}) AS d",
        (*entries, *(v for t in decisions for v in (t, since, limit))),
    )
    return [float(span) for (span,) in rows if span is not None]


def state_version(db: Db) -> tuple[object, ...]:
    """A value that moves whenever a commit adds an event or takes a snapshot: the
    newest event (off ``events_detected_at``) and the newest snapshot time."""
    with db.transaction(write=False):
        newest = db.one(
            "SELECT detected_at, id FROM events ORDER BY detected_at DESC, id DESC LIMIT 1"
        )
        taken = db.one("SELECT max(taken_at), count(*) FROM snapshots")
    return (*(newest or (None, None)), *(taken or (None, 0)))
