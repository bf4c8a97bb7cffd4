"""The state store: snapshots, the event history and delivery outbox, account bookkeeping,
and settings (mutes, reminders, targets, credentials, a small key/value table).

One implementation, :class:`~monitor.store.core.Store`, over two backends: SQLite (the
embedded default, ``store/sqlite.py``) and PostgreSQL for replicas (``store/postgres.py``).
See docs/storage.md.
"""

from __future__ import annotations

from monitor.store.core import Store
from monitor.store.records import (
    STATUSES,
    AccountState,
    AdReview,
    Credentials,
    Delivery,
    Mute,
    Reminder,
    Settlement,
    Snapshot,
    SnapshotInfo,
    StateGroups,
    StateLoss,
)

#: What callers type the store as (either backend).
StateStore = Store

__all__ = [
    "STATUSES",
    "AccountState",
    "AdReview",
    "Credentials",
    "Delivery",
    "Mute",
    "Reminder",
    "Settlement",
    "Snapshot",
    "SnapshotInfo",
    "StateGroups",
    "StateLoss",
    "StateStore",
    "Store",
]
