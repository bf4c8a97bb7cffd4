"""The state store: snapshots, event history, the delivery outbox and small key/value state.

Backends implement :class:`StateStore`; SQLite is the embedded default (``store/sqlite.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from monitor.events import Event
from monitor.models import Kind, SnapshotRow, Stored


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An account's stored snapshot of one entity kind.

    Attributes:
        entities: Entity id to its stored state (tombstones included, flagged ``removed``).
        fields: The watched fields the blobs were encoded with; ``None`` when this account
            and kind have never completed a cycle (the next one is a silent baseline).
    """

    entities: dict[str, Stored]
    fields: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """What a cycle needs to know of a snapshot before reading it.

    Attributes:
        fields: The watched fields it was encoded with; None before the first baseline.
        taken_at: The ``at`` of the commit that wrote it (a version).
        count: Entities stored, tombstones included.
        lengths: The shortest and longest id stored (ids order as numbers), if any.
    """

    fields: tuple[str, ...] | None
    taken_at: float | None = None
    count: int = 0
    lengths: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One (event, target) pair in the outbox."""

    id: int
    event: Event
    route: str
    target: str
    attempts: int
    status: str  # pending | delivered | failed | dead
    next_attempt_at: float
    last_error: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class AccountState:
    """Bookkeeping per account for `pinmon status` and health."""

    account_id: str
    name: str | None
    last_success_at: float | None
    last_attempt_at: float | None
    last_error: str | None
    consecutive_failures: int


@dataclass(frozen=True, slots=True)
class StateLoss:
    """The state was found changed under the running daemon (SQLite: the file).

    Attributes:
        reason: ``deleted``, ``replaced`` (another file at the path), ``truncated`` or
            ``overwritten`` (the same file, other contents), ``unreadable``.
        restored: The running state was written back: nothing was lost.
        kept_as: Where the file found at the path was moved, so nothing is destroyed.
    """

    reason: str
    restored: bool
    kept_as: Path | None = None


class StateStore(Protocol):
    """What the daemon needs from persistent state. Every method is safe to call concurrently."""

    async def load_snapshot(self, account_id: str, kind: Kind) -> Snapshot:
        """The stored snapshot of one account and kind, without ``meta`` (see entity_meta)."""
        ...

    async def snapshot_info(self, account_id: str, kind: Kind) -> SnapshotInfo:
        """The snapshot's fields, version, size and id lengths, without its entities."""
        ...

    async def load_range(
        self,
        account_id: str,
        kind: Kind,
        *,
        after: str | None,
        upto: str | None,
        limit: int | None = None,
        lengths: tuple[int, int] | None = None,
    ) -> list[tuple[str, Stored]]:
        """Stored entities (tombstones included, without meta) with ids in ``(after, upto]``
        compared as numbers (None: unbounded), in that order, at most ``limit``.

        ``lengths`` (from :meth:`snapshot_info`) bounds the id lengths searched: each
        length is one index seek.

        How a cycle reads the snapshot page by page, alongside a listing in ascending id
        order, so that its memory does not grow with the account.
        """
        ...

    async def entity_meta(
        self, account_id: str, kind: Kind, entity_ids: Sequence[str]
    ) -> dict[str, bytes]:
        """The stored ``meta`` of these entities (msgpack ``[campaign_id, ad_group_id,
        pin_id, name]``), which :meth:`load_snapshot` leaves out to save memory."""
        ...

    async def write_rows(self, account_id: str, kind: Kind, rows: Sequence[SnapshotRow]) -> None:
        """Upsert rows of a *baseline* before its commit, to bound its memory.

        Only for a baseline (no snapshot marker yet): it reports nothing, so rows written
        by a baseline that then fails are harmless; the next cycle is a baseline again.
        """
        ...

    async def commit_cycle(
        self,
        account_id: str,
        kind: Kind,
        *,
        fields: tuple[str, ...],
        rows: Sequence[SnapshotRow],
        events: Sequence[Event],
        deliveries: Sequence[tuple[str, str, str]],
        at: float,
    ) -> int:
        """Atomically write a completed listing's outcome; returns how many events were new.

        In one transaction: upsert ``rows``, record ``fields`` as the snapshot's field set
        (which also marks the baseline as taken), insert ``events`` into the history
        (ignoring ids already present), and insert one pending outbox row per
        ``(event_id, route, target)`` in ``deliveries`` (ignoring pairs already present).
        A crash before the commit leaves the previous snapshot and outbox untouched.
        """
        ...

    async def record_events(
        self,
        events: Sequence[Event],
        *,
        deliveries: Sequence[tuple[str, str, str]],
        at: float,
    ) -> int:
        """Insert events not tied to a snapshot (``monitor.*``) with their outbox rows,
        atomically, ignoring ids already present; returns how many were new."""
        ...

    async def record_poll(
        self, account_id: str, *, name: str | None, ok: bool, at: float, error: str | None = None
    ) -> AccountState:
        """Record an account's cycle outcome; returns the updated bookkeeping."""
        ...

    async def record_successes(
        self, polls: Sequence[tuple[str, str | None]], *, at: float
    ) -> None:
        """Record several accounts' successful cycles (``(account_id, name)``) at once:
        one transaction a cycle rather than one per account."""
        ...

    async def accounts(self) -> list[AccountState]:
        """Every account the store has bookkeeping for."""
        ...

    async def due_deliveries(
        self, now: float, *, limit: int = 100, target: str | None = None
    ) -> list[Delivery]:
        """Pending deliveries whose next attempt is due, oldest first; of one target if given."""
        ...

    async def outbox_depth(self) -> tuple[int, float | None]:
        """Pending deliveries, and when the oldest of them was queued (for metrics)."""
        ...

    async def mark_delivered(self, delivery_id: int, *, at: float) -> None:
        """A delivery succeeded."""
        ...

    async def mark_failed(
        self, delivery_id: int, *, error: str, at: float, retry_at: float | None
    ) -> None:
        """A delivery attempt failed: retry at ``retry_at``, or give up (``dead``) when None."""
        ...

    async def mark_rejected(self, delivery_id: int, *, error: str, at: float) -> None:
        """A delivery failed for good (the target refused it): status ``failed``."""
        ...

    async def deliveries(self, *, statuses: Sequence[str], limit: int = 1000) -> list[Delivery]:
        """Deliveries in the given statuses, newest first (for `pinmon deliveries`)."""
        ...

    async def shift_pending(self, delta_s: float) -> int:
        """Move the times of every pending delivery by ``delta_s``, in one transaction:
        the wall clock stepped while the daemon ran, and retries and group waits keep
        their distance from now. Returns how many moved."""
        ...

    async def clamp_pending(self, now: float, max_wait_s: float) -> int:
        """Pending deliveries due after ``now + max_wait_s`` become due then, and any queued
        after ``now`` count as queued now: at start, a clock that was ahead when they were
        scheduled must not stall them. Returns how many changed."""
        ...

    async def requeue(self, *, event_id: str | None = None, failed: bool = False) -> int:
        """Queue deliveries again: of one event, or every failed and dead one. Returns the count."""
        ...

    async def events(
        self, *, since: float | None = None, types: Sequence[str] = (), limit: int = 1000
    ) -> list[Event]:
        """Event history, newest first; ``types`` are globs like ``ad.*``."""
        ...

    async def prune_events(self, *, before: float) -> int:
        """Drop history older than ``before`` whose deliveries are all settled."""
        ...

    async def get_value(self, key: str) -> str | None:
        """Small durable state (e.g. OAuth tokens)."""
        ...

    async def set_values(self, values: dict[str, str]) -> None:
        """Write several keys in one transaction."""
        ...

    async def get_prefix(self, prefix: str) -> dict[str, str]:
        """Every key/value whose key starts with ``prefix`` (mutes, reminders)."""
        ...

    async def delete_keys(self, keys: Sequence[str]) -> int:
        """Delete these keys in one transaction; returns how many existed."""
        ...

    async def clear_prefix(self, prefix: str) -> int:
        """Delete the key/values whose key starts with ``prefix``; returns how many."""
        ...

    async def verify(self) -> StateLoss | None:
        """Whether the state is still the one opened; recover it when it is not."""
        ...

    async def close(self) -> None:
        """Flush and close."""
        ...
