"""The state store: snapshots, the event history and delivery outbox, account bookkeeping,
and settings (mutes, reminders, targets, credentials, a small key/value table).

One implementation, :class:`~monitor.store.core.Store`, over two backends: SQLite (the
embedded default, ``store/sqlite.py``) and PostgreSQL for replicas (``store/postgres.py``).
See docs/storage.md.

:class:`Store` is imported on first use: it stands on anyio, which the read-only
commands (``store/direct.py``) never load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from monitor.store.records import (
    LISTED,
    STATUSES,
    AccountState,
    AdReview,
    AdSpend,
    Credentials,
    Delivery,
    Mute,
    Reminder,
    Settlement,
    SlackThread,
    Snapshot,
    SnapshotInfo,
    StateGroups,
    StateLoss,
)

if TYPE_CHECKING:
    from monitor.store.core import Store

    #: What callers type the store as (either backend).
    StateStore = Store


def __getattr__(name: str) -> Any:
    if name in ("Store", "StateStore"):
        from monitor.store.core import Store

        return Store
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "LISTED",
    "STATUSES",
    "AccountState",
    "AdReview",
    "AdSpend",
    "Credentials",
    "Delivery",
    "Mute",
    "Reminder",
    "Settlement",
    "SlackThread",
    "Snapshot",
    "SnapshotInfo",
    "StateGroups",
    "StateLoss",
    "StateStore",
    "Store",
]
