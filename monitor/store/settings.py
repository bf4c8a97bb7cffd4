"""Settings: the small key/value table, the OAuth credentials and the delivery targets.

Synchronous functions of a :class:`~monitor.store._db.Db`; see
:class:`monitor.store.core.Store`. The key/value table holds only what is a setting of
the store itself (its instance id, the removal holds); everything with a shape of its
own has a table of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from monitor.store._db import CHUNK, Column, Db, marks
from monitor.store.records import Credentials

_KV_COLUMNS: Final[tuple[Column, ...]] = (("key", "text"), ("value", "text"))
_LABEL_COLUMNS: Final[tuple[Column, ...]] = (("key", "text"), ("label", "text"))
#: The one row of ``credentials`` pinmon uses: its Pinterest app's token state.
_PINTEREST: Final = "pinterest"
_CREDENTIAL_FIELDS: Final = (
    "origin, access_token, access_expires_at, refresh_token, refresh_expires_at"
)


def get_value(db: Db, key: str) -> str | None:
    """The value of ``key``, or None."""
    row = db.one("SELECT value FROM kv WHERE key = ?", (key,))
    return None if row is None else str(row[0])


def set_values(db: Db, values: Mapping[str, str]) -> None:
    """Write several keys in one transaction."""
    with db.transaction():
        db.insert_many(
            "kv", _KV_COLUMNS, list(values.items()),
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )  # fmt: skip


# substr, not LIKE or GLOB: '_', '%' and '*' in a prefix are literal, in either database.
_PREFIXED: Final = "substr(key, 1, ?) = ?"


def get_prefix(db: Db, prefix: str) -> dict[str, str]:
    """Every key/value whose key starts with ``prefix``, by key."""
    rows = db.all(
        f"SELECT key, value FROM kv WHERE {_PREFIXED} ORDER BY key", (len(prefix), prefix)
    )
    return {key: value for key, value in rows}


def delete_keys(db: Db, keys: Sequence[str]) -> int:
    """Delete these keys in one transaction; returns how many existed."""
    count = 0
    with db.transaction():
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start : start + CHUNK]
            count += db.execute(
                f"DELETE FROM kv WHERE key IN ({marks(len(chunk))})", chunk
            ).rowcount
    return count


def clear_prefix(db: Db, prefix: str) -> int:
    """Delete the key/values whose key starts with ``prefix``; returns how many."""
    return db.execute(f"DELETE FROM kv WHERE {_PREFIXED}", (len(prefix), prefix)).rowcount


def credentials(db: Db) -> Credentials | None:
    """The persisted OAuth token state, if any."""
    row = db.one(f"SELECT {_CREDENTIAL_FIELDS} FROM credentials WHERE name = ?", (_PINTEREST,))
    return None if row is None else Credentials(*row)


def save_credentials(db: Db, state: Credentials) -> None:
    """Replace the persisted OAuth token state (one statement: all of it or none)."""
    db.execute(
        f"INSERT INTO credentials (name, {_CREDENTIAL_FIELDS}) VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET origin = excluded.origin,"
        " access_token = excluded.access_token, access_expires_at = excluded.access_expires_at,"
        " refresh_token = excluded.refresh_token,"
        " refresh_expires_at = excluded.refresh_expires_at",
        (_PINTEREST, state.origin, state.access_token, state.access_expires_at,
         state.refresh_token, state.refresh_expires_at),
    )  # fmt: skip


def save_labels(db: Db, labels: Mapping[str, str]) -> None:
    """Record each target's masked label by outbox key, keeping its disabled state."""
    with db.transaction():
        db.insert_many(
            "targets", _LABEL_COLUMNS, list(labels.items()),
            "ON CONFLICT (key) DO UPDATE SET label = excluded.label",
        )  # fmt: skip


def labels(db: Db) -> dict[str, str]:
    """Every recorded label, by outbox key."""
    rows = db.all("SELECT key, label FROM targets WHERE label IS NOT NULL ORDER BY key")
    return {key: label for key, label in rows}


def disable_target(db: Db, key: str, reason: str, at: float) -> None:
    """Stop deliveries to the target with outbox key ``key`` (it answered 410 Gone)."""
    db.execute(
        "INSERT INTO targets (key, disabled_reason, disabled_at) VALUES (?, ?, ?)"
        " ON CONFLICT (key) DO UPDATE SET disabled_reason = excluded.disabled_reason,"
        " disabled_at = excluded.disabled_at",
        (key, reason, at),
    )


def disabled_targets(db: Db) -> dict[str, str]:
    """The disabled targets' reasons, by outbox key."""
    rows = db.all("SELECT key, disabled_reason FROM targets WHERE disabled_reason IS NOT NULL")
    return {key: reason for key, reason in rows}


def enable_targets(db: Db) -> int:
    """Enable every disabled target again; returns how many were disabled."""
    return db.execute(
        "UPDATE targets SET disabled_reason = NULL, disabled_at = NULL"
        " WHERE disabled_reason IS NOT NULL"
    ).rowcount
