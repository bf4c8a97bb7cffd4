"""Schema migrations: forward only, from an empty file and from earlier versions, both backends."""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from monitor.events import Event, to_json
from monitor.models import Kind, SnapshotRow, Stored
from monitor.store import Credentials, Mute, Reminder, StateStore
from monitor.store._schema import INSTANCE_KEY, MIGRATIONS, SCHEMA_VERSION
from monitor.store.sqlite import open_store
from tests.test_store import PG_SKIP, PG_URL, pg_schema

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def _indexes(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}


async def test_empty_file_gets_the_current_schema(tmp_path: Path) -> None:
    """A new state file is created at the newest schema version."""
    path = tmp_path / "state.db"
    store = await open_store(path)
    await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert "deliveries_due_target" in _indexes(path)


async def test_version_2_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    """A file written at version 2 opens, migrates, and keeps every row."""
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as conn:
        for statements in MIGRATIONS[:2]:
            for sql in statements:
                conn.execute(sql)
        conn.execute("PRAGMA user_version = 2")
        conn.execute(
            "INSERT INTO entities (account_id, kind, entity_id, updated_time, rev, blob, meta,"
            " removed) VALUES ('acc', 'ad', 'a1', 5, 2, x'01', x'02', 0)"
        )
        conn.execute("INSERT INTO snapshots VALUES ('acc', 'ad', '[\"status\"]', 9.0)")
        conn.execute("INSERT INTO kv VALUES ('oauth.refresh_token', 'rotated')")
    assert "entities_by_number" not in _indexes(path)
    store = await open_store(path)
    try:
        snapshot = await store.load_snapshot("acc", Kind.AD)
        assert snapshot.entities == {"a1": Stored(5, 2, b"\x01", b"", False)}
        assert snapshot.fields == ("status",)
        # The token moved out of the key/value table with schema 4 (see below).
        assert (await store.credentials()) == Credentials("", None, None, "rotated")
        await store.commit_cycle(
            "acc", Kind.AD, fields=("status",),
            rows=[SnapshotRow("a2", Stored(6, 1, b"\x03"))], events=[], deliveries=[], at=10.0,
        )
    finally:
        await store.close()
    assert {"deliveries_due_target", "entities_by_number"} <= _indexes(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


# -- version 3 -> 4: the key/value rows that were tables move into tables -------------------

REJECTION = Event(
    id="evt_rej", type="ad.rejected", entity="ad", entity_id="ad9", ad_account_id="acc",
    detected_at=50.0,
)  # fmt: skip
#: The key/values a version-3 database holds, as the previous pinmon wrote them.
V3_ROWS: list[tuple[str, str]] = [
    (
        "remind:slack:acc:ad9",
        json.dumps({"event": to_json(REJECTION).decode(), "next_at": 86450.0, "count": 2}),
    ),
    ("remind:slack:acc:ad8", "not json"),
    ("mute:campaign:c1", '{"until": 9000.0, "created_at": 100.0, "reason": "launch week"}'),
    ("mute:ad:a7", '{"until": 500.0}'),
    ("mute:planet:p1", '{"until": 9000.0}'),
    ("target:apprise:abc", "slack://T...2/#ads"),
    ("target:webhook:def", "https://hooks.example.com/in/****"),
    ("disabled:webhook:def", "HTTP 410: gone"),
    ("oauth.origin", "0f" * 16),
    ("oauth.access_token", "acc-token"),
    ("oauth.access_expires_at", "123.5"),
    ("oauth.refresh_token", "ref-token"),
    ("oauth.refresh_expires_at", ""),
    ("removal_hold:acc:ad", "abcd:1"),
]


def _v3_sqlite(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        for statements in MIGRATIONS[:3]:
            for sql in statements:
                conn.execute(sql)
        conn.execute("PRAGMA user_version = 3")
        conn.execute("""INSERT INTO snapshots VALUES ('acc', 'ad', '["status", "name"]', 1)""")
        conn.executemany("INSERT INTO kv VALUES (?, ?)", V3_ROWS)
    conn.close()


def _v3_postgres(url: str) -> None:
    import psycopg

    from monitor.store import _pg_schema

    with psycopg.connect(url, autocommit=True) as conn:
        _pg_schema.migrate(conn, "test", target=3)
        conn.execute("INSERT INTO snapshots VALUES ('acc', 'ad', '{status,name}', 1)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO kv VALUES (%s, %s)", V3_ROWS)


@pytest.fixture(params=["sqlite", "postgres"])
def version_3(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], Awaitable[StateStore]]]:
    """A database at schema version 3 holding :data:`V3_ROWS`; yields how to open it."""
    if request.param == "sqlite":
        path = tmp_path / "state.db"
        _v3_sqlite(path)
        yield lambda: open_store(path)
        return
    if PG_URL is None:
        pytest.skip(PG_SKIP)
    from monitor.store.postgres import open_postgres

    with pg_schema(f"t_v3_{secrets.token_hex(6)}") as url:
        _v3_postgres(url)
        yield lambda: open_postgres(url)


async def test_version_3_key_values_move_into_their_tables(
    version_3: Callable[[], Awaitable[StateStore]],
) -> None:
    """Reminders, mutes, target labels, disabled targets and the OAuth tokens stored as
    key/values come back from their own tables; settings stay; unreadable entries go."""
    store = await version_3()
    try:
        assert await store.reminders() == [
            Reminder("slack", "acc", "ad9", REJECTION, next_at=86450.0, count=2)
        ]
        assert await store.mutes() == [
            Mute("ad", "a7", until=500.0, created_at=0.0),
            Mute("campaign", "c1", until=9000.0, created_at=100.0, reason="launch week"),
        ]
        assert await store.mutes(now=600.0) == [
            Mute("campaign", "c1", until=9000.0, created_at=100.0, reason="launch week")
        ]
        assert await store.labels() == {
            "apprise:abc": "slack://T...2/#ads",
            "webhook:def": "https://hooks.example.com/in/****",
        }
        assert await store.disabled_targets() == {"webhook:def": "HTTP 410: gone"}
        assert await store.credentials() == Credentials(
            "0f" * 16, "acc-token", 123.5, "ref-token", None
        )
        # The store's own settings stay (SQLite also keeps its instance id there).
        left = await store.get_prefix("")
        left.pop(INSTANCE_KEY, None)
        assert left == {"removal_hold:acc:ad": "abcd:1"}
        # PostgreSQL's field sets became JSON text, as SQLite's are.
        assert (await store.snapshot_info("acc", Kind.AD)).fields == ("status", "name")
    finally:
        await store.close()


async def test_version_4_gains_the_state_index_and_keeps_its_entities(tmp_path: Path) -> None:
    """A SQLite file at version 4 gains ``entities_by_state`` (schema 5), which `status`
    counts off; its rows are the ones counted, tombstones apart."""
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as conn:
        for statements in MIGRATIONS[:4]:
            for sql in statements:
                conn.execute(sql)
        conn.execute("PRAGMA user_version = 4")
        conn.execute("""INSERT INTO snapshots VALUES ('acc', 'ad', '["status"]', 1)""")
        conn.executemany(
            "INSERT INTO entities (account_id, kind, entity_id, rev, blob, removed)"
            " VALUES ('acc', 'ad', ?, 1, ?, ?)",
            [("1", b"\x91\xa6ACTIVE", 0), ("2", b"\x91\xa6ACTIVE", 0), ("3", b"\x91\xa6PAUSED", 1)],
        )
    conn.close()
    assert "entities_by_state" not in _indexes(path)
    store = await open_store(path)
    try:
        groups = await store.state_groups("acc", Kind.AD)
    finally:
        await store.close()
    assert "entities_by_state" in _indexes(path)
    assert (groups.fields, groups.groups) == (("status",), [(b"\x91\xa6ACTIVE", 2)])
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT blob, count(*) FROM entities WHERE account_id = 'acc'"
            " AND kind = 'ad' AND removed = 0 GROUP BY blob"
        ).fetchall()
    conn.close()
    assert "COVERING INDEX entities_by_state" in str(plan)


async def test_version_5_gains_the_review_clock_and_keeps_its_rows(tmp_path: Path) -> None:
    """A SQLite file at version 5 gains ``ad_reviews`` (schema 6) and keeps what it held;
    the review clock reads and writes the new table."""
    from monitor.store import AdReview

    path = tmp_path / "state.db"
    with sqlite3.connect(path) as conn:
        for statements in MIGRATIONS[:5]:
            for sql in statements:
                conn.execute(sql)
        conn.execute("PRAGMA user_version = 5")
        conn.execute("""INSERT INTO snapshots VALUES ('acc', 'ad', '["status"]', 1)""")
    conn.close()
    store = await open_store(path)
    try:
        assert (await store.snapshot_info("acc", Kind.AD)).fields == ("status",)
        await store.save_ad_reviews([AdReview("acc", "1", pending_since=10.0)])
        assert await store.stuck_reviews(11.0) == [AdReview("acc", "1", pending_since=10.0)]
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
