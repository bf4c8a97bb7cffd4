"""Slack threads: which root message each ad's trouble went out as, per slack-bot target.

Synchronous functions of a :class:`~monitor.store._db.Db`; see
:class:`monitor.store.core.Store` and :mod:`monitor.notify.slack`.
"""

from __future__ import annotations

from typing import Final

from monitor.store._db import Db
from monitor.store.records import SlackThread

_FIELDS: Final = (
    "target, account_id, ad_id, channel, ts, resolved, opened_at, updated_at, last_event_id"
)


def slack_thread(db: Db, target: str, account_id: str, ad_id: str) -> SlackThread | None:
    """The ad's latest thread on the target, open or resolved; None if it never had one."""
    row = db.one(
        f"SELECT {_FIELDS} FROM slack_threads WHERE target = ? AND account_id = ? AND ad_id = ?",
        (target, account_id, ad_id),
    )
    if row is None:
        return None
    target, account_id, ad_id, channel, ts, resolved, opened, updated, last = row
    return SlackThread(
        target, account_id, ad_id, channel, ts, bool(resolved), opened, updated, last
    )


def save_slack_thread(db: Db, thread: SlackThread) -> None:
    """Write the ad's thread whole: a new root replaces the one before (one per ad)."""
    t = thread
    db.execute(
        f"INSERT INTO slack_threads ({_FIELDS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (target, account_id, ad_id) DO UPDATE SET channel = excluded.channel,"
        " ts = excluded.ts, resolved = excluded.resolved, opened_at = excluded.opened_at,"
        " updated_at = excluded.updated_at, last_event_id = excluded.last_event_id",
        (t.target, t.account_id, t.ad_id, t.channel, t.ts, int(t.resolved), t.opened_at,
         t.updated_at, t.last_event_id),
    )  # fmt: skip
