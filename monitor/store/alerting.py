"""Mutes and reminders: what operators and routes ask of alerting beyond the events.

Synchronous functions of a :class:`~monitor.store._db.Db`; see
:class:`monitor.store.core.Store`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import msgspec

from monitor.events import from_json, to_json
from monitor.store._db import Column, Db
from monitor.store.records import Mute, Reminder

_MUTE_FIELDS: Final = "scope, entity_id, until, created_at, reason"
_REMINDER_COLUMNS: Final[tuple[Column, ...]] = (
    ("route", "text"),
    ("account_id", "text"),
    ("ad_id", "text"),
    ("event", "bytea"),
    ("next_at", "double precision"),
    ("count", "integer"),
)


def mutes(db: Db, now: float | None) -> list[Mute]:
    """The mutes still in force at ``now`` (every one stored when None), soonest to end first."""
    where, params = ("", ()) if now is None else (" WHERE until > ?", (now,))
    rows = db.all(f"SELECT {_MUTE_FIELDS} FROM mutes{where} ORDER BY until, scope, entity_id",
                  params)  # fmt: skip
    return [Mute(*row) for row in rows]


def set_mute(db: Db, mute: Mute) -> None:
    """Add a mute, or replace the one on the same scope and id."""
    db.execute(
        f"INSERT INTO mutes ({_MUTE_FIELDS}) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (scope, entity_id) DO UPDATE SET until = excluded.until,"
        " created_at = excluded.created_at, reason = excluded.reason",
        (mute.scope, mute.entity_id, mute.until, mute.created_at, mute.reason),
    )


def delete_mute(db: Db, scope: str, entity_id: str) -> bool:
    """Lift a mute; whether there was one."""
    cursor = db.execute("DELETE FROM mutes WHERE scope = ? AND entity_id = ?", (scope, entity_id))
    return cursor.rowcount > 0


def reminders(db: Db) -> list[Reminder]:
    """Every reminder, by route, account and ad."""
    out = []
    for route, account_id, ad_id, body, next_at, count in db.all(
        "SELECT route, account_id, ad_id, event, next_at, count FROM reminders"
        " ORDER BY route, account_id, ad_id"
    ):
        try:
            event = from_json(bytes(body))
        except msgspec.MsgspecError:
            # Written by a pinmon whose events this one cannot read: it ends with the
            # rejection (delete_reminders), like any other. structlog is imported here
            # only: `pinmon mutes` reads this module and must not pay for it.
            import structlog

            structlog.get_logger("monitor.store").warning(
                "store.reminder_unreadable", route=route, ad_id=ad_id
            )
            continue
        out.append(Reminder(route, account_id, ad_id, event, next_at, count))
    return out


def save_reminders(db: Db, entries: Sequence[Reminder]) -> None:
    """Start or update reminders, in one transaction."""
    with db.transaction():
        db.insert_many(
            "reminders",
            _REMINDER_COLUMNS,
            [(r.route, r.account_id, r.ad_id, to_json(r.event), r.next_at, r.count)
             for r in entries],
            "ON CONFLICT (route, account_id, ad_id) DO UPDATE SET event = excluded.event,"
            " next_at = excluded.next_at, count = excluded.count",
        )  # fmt: skip


def delete_reminders(db: Db, keys: Sequence[tuple[str, str, str]]) -> None:
    """End the reminders of these ``(route, account_id, ad_id)``, in one transaction."""
    with db.transaction():
        db.execute_many(
            "DELETE FROM reminders WHERE route = ? AND account_id = ? AND ad_id = ?", keys
        )
