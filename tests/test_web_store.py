"""The board's store reads, on both backends: one ad's dates, a page of deliveries, the
per-day counts and the time in review, the state's version."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from monitor.events import Event
from monitor.store import StateStore
from tests.test_store import db_path, opener, store  # noqa: F401  (fixtures)

pytestmark = pytest.mark.anyio

DAY = 86400.0


def _event(n: int, ad: str, type_: str, at: float) -> Event:
    return Event(
        id=f"evt_{n:04d}", type=type_, entity="ad", entity_id=ad, ad_account_id="acc",
        detected_at=at,
    )  # fmt: skip


async def test_board_reads_agree_on_both_backends(store: StateStore) -> None:  # noqa: F811
    """Dates of rejection and review per ad, decisions per day, time in review, a
    filtered page of open deliveries with its total, and a version that moves."""
    history = [
        _event(1, "a1", "ad.created", 10 * DAY + 100),
        _event(2, "a1", "ad.rejected", 10 * DAY + 3700),  # 1 h in review
        _event(3, "a2", "ad.review_status_changed", 11 * DAY),
        _event(4, "a2", "ad.approved", 12 * DAY),  # 1 day in review
        _event(5, "a2", "ad.rejected", 12 * DAY + 50),  # no entry between: from 3 too
        _event(6, "a3", "ad.updated", 12 * DAY + 60),
    ]
    before = await store.state_version()
    pairs = [(e.id, "r1" if n % 2 else "r2", f"webhook:{n % 3}") for n, e in enumerate(history)]
    await store.record_events(history, deliveries=pairs, at=12 * DAY)
    assert await store.state_version() != before
    latest = await store.latest_of(["a1", "a2", "a3"], types=["ad.rejected"])
    assert latest == {"a1": 10 * DAY + 3700, "a2": 12 * DAY + 50}
    assert await store.latest_of(["a3"], types=["ad.created"]) == {}
    counted = await store.per_day(
        types=["ad.rejected", "ad.approved"], since=10 * DAY, until=13 * DAY
    )
    assert sorted(counted) == [
        (10, "ad.rejected", 1),
        (12, "ad.approved", 1),
        (12, "ad.rejected", 1),
    ]
    spans = await store.review_spans(
        decisions=["ad.rejected", "ad.approved"],
        entries=["ad.created", "ad.review_status_changed"],
        since=0.0,
        limit=10,
    )
    assert sorted(spans) == [3600.0, DAY, DAY + 50]
    newest = await store.newest_events(["a2", "zz"])
    assert list(newest) == ["a2"]
    assert newest["a2"].id == "evt_0005"
    rows, total = await store.filtered_deliveries(
        statuses=["pending", "failed", "dead"], route="r1", limit=2, offset=0
    )
    assert total == 3
    assert [d.route for d in rows] == ["r1", "r1"]
    rest, _ = await store.filtered_deliveries(
        statuses=["pending", "failed", "dead"], route="r1", limit=2, offset=2
    )
    assert len(rest) == 1
    assert {d.id for d in rows}.isdisjoint(d.id for d in rest)
    facets = await store.delivery_facets(statuses=["pending"])
    assert ("webhook:0", "r2") in facets
    assert len(facets) == len(set(facets))
    with pytest.raises(ValueError, match="unknown delivery status"):
        await store.filtered_deliveries(statuses=["lost"])


async def test_a_version_5_file_gains_the_entity_index_and_keeps_its_events(
    tmp_path: Path,
) -> None:
    """A SQLite file at version 5 gains ``events_by_entity`` (migration 6) and keeps its
    events: an ad's timeline and dates read them."""
    from monitor.events import to_json
    from monitor.store._schema import MIGRATIONS
    from monitor.store.sqlite import open_store

    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    with conn:
        for statements in MIGRATIONS[:5]:
            for sql in statements:
                conn.execute(sql)
        conn.execute("PRAGMA user_version = 5")
        conn.executemany(
            "INSERT INTO events (id, type, account_id, entity_id, detected_at, body)"
            " VALUES (?, ?, 'acc', ?, ?, ?)",
            [(e.id, e.type, e.entity_id, e.detected_at, to_json(e))
             for e in (_event(1, "a1", "ad.created", 1.0), _event(2, "a1", "ad.rejected", 2.0),
                       _event(3, "a2", "ad.updated", 3.0))],
        )  # fmt: skip
    conn.close()
    opened = await open_store(path)
    try:
        timeline = await opened.events(entity_id="a1")
        assert await opened.latest_of(["a1"], types=["ad.created"]) == {"a1": 1.0}
    finally:
        await opened.close()
    assert [e.id for e in timeline] == ["evt_0002", "evt_0001"]
    conn = sqlite3.connect(path)
    try:
        columns = [r[2] for r in conn.execute("PRAGMA index_info(events_by_entity)")]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()
    assert version >= 6
    assert columns == ["entity_id", "type", "detected_at"]
