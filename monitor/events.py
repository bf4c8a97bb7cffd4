"""The typed events pinmon emits, and their documented JSON form (schema version 1)."""

from __future__ import annotations

import enum
import hashlib
from typing import Any, Final

import msgspec

#: Bumped on any incompatible change of the event JSON; consumers should check it.
SCHEMA_VERSION: Final = 1

#: The ``entity`` of pinmon's reports about itself (``monitor.*`` events).
MONITOR: Final = "monitor"


class Change(enum.StrEnum):
    """Entity transitions, most significant first: an event is named after the first that
    applies."""

    REMOVED = "removed"
    CREATED = "created"
    REJECTED = "rejected"
    APPROVED = "approved"
    PIN_DELETED = "pin_deleted"
    STATUS_CHANGED = "status_changed"
    REVIEW_STATUS_CHANGED = "review_status_changed"
    SUMMARY_STATUS_CHANGED = "summary_status_changed"
    UPDATED = "updated"
    # Not transitions: reports about a state that lasts (docs/events.md).
    ALREADY_REJECTED = "already_rejected"
    PENDING_REVIEW = "pending_review"
    STILL_REJECTED = "still_rejected"
    REVIEW_STUCK = "review_stuck"
    LANDING_PAGE_DOWN = "landing_page_down"


#: Every entity event type, e.g. ``ad.rejected``; campaigns and ad groups share the
#: transitions that apply to them (they have no review fields and no pin).
EVENT_TYPES: Final[frozenset[str]] = frozenset(
    {f"ad.{c}" for c in Change}
    | {
        f"{kind}.{c}"
        for kind in ("campaign", "ad_group")
        for c in (
            Change.REMOVED,
            Change.CREATED,
            Change.STATUS_CHANGED,
            Change.SUMMARY_STATUS_CHANGED,
            Change.UPDATED,
        )
    }
)


class FieldChange(msgspec.Struct, frozen=True):
    """One watched field's old and new value (normalised: absent, null and [] are null)."""

    old: Any
    new: Any


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """One detected change of one entity.

    The JSON encoding of this struct is the documented event format (docs/events.md).
    """

    version: int = SCHEMA_VERSION
    id: str
    type: str
    entity: str
    entity_id: str
    ad_account_id: str
    campaign_id: str | None = None
    ad_group_id: str | None = None
    ad_id: str | None = None
    pin_id: str | None = None
    name: str | None = None
    updated_time: int | None = None
    detected_at: float
    changes: dict[str, FieldChange] = {}
    state: dict[str, Any] = {}
    campaign_name: str | None = None
    ad_group_name: str | None = None
    # Added within version 1 by the review clock (monitor.review_clock).
    in_review_since: float | None = None
    rejected_before_at: float | None = None
    # Added within version 1 by the landing-page check (monitor.landing).
    landing_page: dict[str, Any] | None = None
    # Added within version 1 by the spend figures (monitor.analytics).
    spend: dict[str, Any] | None = None

    @property
    def change(self) -> str:
        """The transition part of the type: ``rejected`` for ``ad.rejected`` (compare it
        with :class:`Change` or ``OpsChange`` members, which are strings)."""
        return self.type.partition(".")[2]

    @property
    def is_report(self) -> bool:
        """One of pinmon's reports about itself (``monitor.*``), not an entity's change."""
        return self.entity == MONITOR


def event_id(kind: str, entity_id: str, rev: int, blob: bytes) -> str:
    """A deterministic event id: the same change of the same entity always gets the same id.

    ``rev`` is the entity's change counter, committed with the snapshot: after a crash the
    cycle is re-run from the same stored state, so the same change hashes to the same id,
    while an entity that flips back and forth gets a new id for every flip.
    """
    digest = hashlib.blake2b(
        b"\0".join((kind.encode(), entity_id.encode(), str(rev).encode(), blob)), digest_size=12
    ).hexdigest()
    return f"evt_{digest}"


_encoder = msgspec.json.Encoder()


def to_json(event: Event) -> bytes:
    """The event's documented JSON encoding."""
    return _encoder.encode(event)


def from_json(data: bytes | str) -> Event:
    """Decode an event from its JSON encoding."""
    return msgspec.json.decode(data, type=Event)
