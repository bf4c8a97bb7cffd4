"""Small durable key/values in the SQLite store: OAuth tokens, mutes, reminders, flags."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from monitor.store._schema import transaction


def get_value(conn: sqlite3.Connection, key: str) -> str | None:
    """See :meth:`monitor.store.StateStore.get_value`."""
    row = conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def set_values(conn: sqlite3.Connection, values: dict[str, str]) -> None:
    """See :meth:`monitor.store.StateStore.set_values`."""
    with transaction(conn):
        conn.executemany(
            "INSERT INTO kv (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            values.items(),
        )


def clear_prefix(conn: sqlite3.Connection, prefix: str) -> int:
    """See :meth:`monitor.store.StateStore.clear_prefix`."""
    with transaction(conn):
        # GLOB, not LIKE: '_' and '%' in keys are literal; '*?[' cannot occur in our prefixes.
        return conn.execute("DELETE FROM kv WHERE key GLOB ?", (prefix + "*",)).rowcount


def get_prefix(conn: sqlite3.Connection, prefix: str) -> dict[str, str]:
    """See :meth:`monitor.store.StateStore.get_prefix`."""
    rows = conn.execute("SELECT key, value FROM kv WHERE key GLOB ?", (prefix + "*",))
    return dict(rows.fetchall())


def delete_keys(conn: sqlite3.Connection, keys: Sequence[str]) -> int:
    """See :meth:`monitor.store.StateStore.delete_keys`."""
    with transaction(conn):
        return conn.executemany("DELETE FROM kv WHERE key = ?", ((k,) for k in keys)).rowcount
