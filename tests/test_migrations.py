"""SQLite schema migrations: forward only, from an empty file and from the previous version."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from monitor.models import Kind, SnapshotRow, Stored
from monitor.store._schema import MIGRATIONS, SCHEMA_VERSION
from monitor.store.sqlite import open_store

pytestmark = [pytest.mark.anyio]


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


async def test_previous_version_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    """A file written by the previous version opens, migrates, and keeps every row."""
    assert SCHEMA_VERSION >= 2
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as conn:
        for statements in MIGRATIONS[: SCHEMA_VERSION - 1]:
            for sql in statements:
                conn.execute(sql)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")
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
        assert await store.get_value("oauth.refresh_token") == "rotated"
        await store.commit_cycle(
            "acc", Kind.AD, fields=("status",),
            rows=[SnapshotRow("a2", Stored(6, 1, b"\x03"))], events=[], deliveries=[], at=10.0,
        )
    finally:
        await store.close()
    assert {"deliveries_due_target", "entities_by_number"} <= _indexes(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
