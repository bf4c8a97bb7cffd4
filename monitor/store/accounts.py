"""Account bookkeeping: each account's last poll, last success and run of failures.

Synchronous functions of a :class:`~monitor.store._db.Db`; see
:class:`monitor.store.core.Store`. What replicas share on top (leases, claims, the
request budget, heartbeats) is PostgreSQL's alone: ``_leases``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from monitor.store._db import Db
from monitor.store.records import AccountState

_ACCOUNT_COLUMNS: Final = """account_id, name, last_success_at, last_attempt_at, last_error,
    consecutive_failures"""
# A failed poll keeps the last known name and success time; see `record_poll`.
_RECORD_POLL: Final = f"""
    INSERT INTO accounts ({_ACCOUNT_COLUMNS})
    VALUES (:account_id, CAST(:name AS TEXT),
            CASE WHEN :ok THEN CAST(:at AS DOUBLE PRECISION) END, :at,
            CASE WHEN :ok THEN NULL ELSE CAST(:error AS TEXT) END,
            CASE WHEN :ok THEN 0 ELSE 1 END)
    ON CONFLICT (account_id) DO UPDATE SET
        name = coalesce(excluded.name, accounts.name),
        last_success_at = coalesce(excluded.last_success_at, accounts.last_success_at),
        last_attempt_at = excluded.last_attempt_at,
        last_error = excluded.last_error,
        consecutive_failures = CASE WHEN :ok THEN 0 ELSE accounts.consecutive_failures + 1 END"""


def _poll(
    account_id: str, name: str | None, ok: bool, at: float, error: str | None
) -> dict[str, object]:
    return {"account_id": account_id, "name": name, "ok": ok, "at": at, "error": error}


def record_poll(
    db: Db, account_id: str, name: str | None, ok: bool, at: float, error: str | None
) -> AccountState:
    """Record an account's cycle outcome; returns the updated bookkeeping."""
    with db.transaction():
        db.execute(_RECORD_POLL, _poll(account_id, name, ok, at, error))
        row = db.one(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE account_id = ?", (account_id,))
    assert row is not None  # just written
    return AccountState(*row)


def record_successes(db: Db, polls: Sequence[tuple[str, str | None]], at: float) -> None:
    """Record several accounts' successful cycles in one transaction."""
    with db.transaction():
        db.execute_many(_RECORD_POLL, [_poll(a, name, True, at, None) for a, name in polls])


def accounts(db: Db) -> list[AccountState]:
    """Every account the store has bookkeeping for, by account id."""
    rows = db.all(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts ORDER BY account_id")
    return [AccountState(*row) for row in rows]
