"""Counts kept beside the store: live entities by summary_status, the outbox by status.

The poll loop keeps the entity counts for ``/metrics`` and the delivery loop the outbox
depth; `pinmon status` reports them. They live here, not in the CLI's report module, so
that polling does not depend on how a report is printed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import msgspec

from monitor.events import Change, Event
from monitor.models import Stored
from monitor.store import Delivery

if TYPE_CHECKING:
    from monitor.store import StateStore

#: Outbox statuses that `status` counts (delivered ones are history, not state).
OUTBOX_STATUSES: Final = ("pending", "failed", "dead")

#: How far the outbox rows of one status are counted; the count says ``N+`` past it.
OUTBOX_SCAN_LIMIT: Final = 100_000

_decode_list = msgspec.msgpack.Decoder(list[Any]).decode


def summary_counts(entities: Iterable[Stored], fields: Sequence[str]) -> dict[str, int]:
    """Count live entities by ``summary_status`` (``UNKNOWN`` when unset or not watched).

    Args:
        entities: Stored states; tombstones are skipped.
        fields: The watched fields the blobs were encoded with (``Snapshot.fields``).
    """
    return summary_counts_of(((s.blob, 1) for s in entities if not s.removed), fields)


def summary_counts_of(groups: Iterable[tuple[bytes, int]], fields: Sequence[str]) -> dict[str, int]:
    """Count by ``summary_status`` from ``(blob, count)`` groups of live entities (what
    ``Store.state_groups`` reads): each distinct blob is decoded once."""
    index = list(fields).index("summary_status") if "summary_status" in fields else None
    counts: dict[str, int] = {}
    for blob, n in groups:
        values = _decode_list(blob) if index is not None and blob else []
        status = values[index] if index is not None and index < len(values) else None
        key = status if isinstance(status, str) and status else "UNKNOWN"
        counts[key] = counts.get(key, 0) + n
    return counts


def summary_counts_after(before: Mapping[str, int], events: Iterable[Event]) -> dict[str, int]:
    """Counts by ``summary_status`` after a cycle: ``before`` moved by the cycle's events.

    Every change of a watched field is an event, and ``summary_status`` is always watched,
    so the events carry every move; the poller counts the snapshot it loads (before the
    differ consumes it) and applies them, instead of keeping a second copy of the snapshot.
    """
    counts = dict(before)

    def move(status: object, by: int) -> None:
        key = status if isinstance(status, str) and status else "UNKNOWN"
        counts[key] = counts.get(key, 0) + by
        if counts[key] <= 0:
            del counts[key]

    for event in events:
        if event.is_report:
            continue
        if event.change == Change.CREATED:
            move(event.state.get("summary_status"), +1)
        elif event.change == Change.REMOVED:
            move(event.state.get("summary_status"), -1)
        elif (change := event.changes.get("summary_status")) is not None:
            move(change.old, -1)
            move(change.new, +1)
    return counts


@dataclass(frozen=True, slots=True)
class OutboxSummary:
    """Delivery counts by status, and the oldest pending delivery."""

    counts: Mapping[str, int]
    capped: frozenset[str]
    oldest_pending: Delivery | None
    oldest_pending_age_s: float | None

    @property
    def pending(self) -> int:
        """Deliveries waiting to be sent (or retried)."""
        return self.counts.get("pending", 0)


async def outbox_summary(
    store: StateStore,
    *,
    now: float,
    statuses: Sequence[str] = OUTBOX_STATUSES,
    limit: int = OUTBOX_SCAN_LIMIT,
) -> OutboxSummary:
    """Count the outbox by status; the metrics loop passes ``statuses=("pending",)``.

    Args:
        store: The state store.
        now: Wall-clock Unix seconds, for the oldest pending delivery's age.
        statuses: Which statuses to count.
        limit: Deliveries counted per status; a status with more is reported as ``capped``.
    """
    # Counted in the database: status and the metrics loop need the numbers, not the rows.
    counts = await store.count_deliveries(statuses=statuses, limit=limit)
    oldest = await store.first_pending() if counts.get("pending") else None
    return summarize_outbox(counts, oldest, now=now, limit=limit)


def summarize_outbox(
    counts: Mapping[str, int], oldest: Delivery | None, *, now: float, limit: int
) -> OutboxSummary:
    """The summary of ``counts`` (each counted up to ``limit``) and the first pending
    delivery: :func:`outbox_summary`'s, and `pinmon status`'s, which reads them itself."""
    capped = {status for status, n in counts.items() if n >= limit}
    age = None if oldest is None else max(0.0, now - oldest.created_at)
    return OutboxSummary(counts, frozenset(capped), oldest, age)
