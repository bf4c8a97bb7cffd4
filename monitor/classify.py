"""Name a change after its most significant transition, and build its event: pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, NamedTuple

from monitor.events import Change, Event, FieldChange, event_id
from monitor.models import Kind
from monitor.normal import cap_text

_REJECTED: Final = "REJECTED"
_APPROVED: Final = "APPROVED"
_REASON_FIELDS: Final = ("rejected_reasons", "rejection_labels")


def classify(kind: Kind, changes: Mapping[str, FieldChange], state: Mapping[str, Any]) -> Change:
    """Name a change after its most significant transition.

    Args:
        kind: The entity's kind (campaigns and ad groups have no review fields).
        changes: The watched fields that changed.
        state: The entity's new normalised watched values.
    """

    def became(name: str, value: object) -> bool:
        c = changes.get(name)
        return c is not None and c.new == value

    if kind is Kind.AD:
        reasons_moved = any(name in changes for name in _REASON_FIELDS)
        if (
            became("review_status", _REJECTED)
            or became("summary_status", _REJECTED)
            or (reasons_moved and state.get("review_status") == _REJECTED)
        ):
            return Change.REJECTED
        summary = changes.get("summary_status")
        if became("review_status", _APPROVED) or (
            summary is not None
            and summary.new == _APPROVED
            and summary.old in (_REJECTED, "PENDING")
        ):
            return Change.APPROVED
        if became("is_pin_deleted", True):
            return Change.PIN_DELETED
    if "status" in changes:
        return Change.STATUS_CHANGED
    if kind is Kind.AD and "review_status" in changes:
        return Change.REVIEW_STATUS_CHANGED
    if "summary_status" in changes:
        return Change.SUMMARY_STATUS_CHANGED
    return Change.UPDATED


def standing(state: Mapping[str, Any], updated: int | None, before: float | None) -> Change | None:
    """What the start-up report says about an ad already in this state, if anything."""
    if _REJECTED in (state.get("review_status"), state.get("summary_status")):
        return Change.ALREADY_REJECTED
    if (
        state.get("review_status") == "PENDING"
        and before is not None
        and updated is not None
        and updated < before
    ):
        return Change.PENDING_REVIEW
    return None


class EntityIds(NamedTuple):
    """What an event says about its entity besides the change: parents, pin, name."""

    campaign_id: str | None = None
    ad_group_id: str | None = None
    pin_id: str | None = None
    name: str | None = None
    updated_time: int | None = None


def entity_event(
    kind: Kind,
    entity_id: str,
    change: Change,
    *,
    rev: int,
    blob: bytes,
    account_id: str,
    ids: EntityIds,
    detected_at: float,
    changes: dict[str, FieldChange],
    state: dict[str, Any],
) -> Event:
    """The event of one entity's change, with its deterministic id (see ``event_id``)."""
    campaign_id = entity_id if kind is Kind.CAMPAIGN else ids.campaign_id
    ad_group_id = entity_id if kind is Kind.AD_GROUP else ids.ad_group_id
    return Event(
        id=event_id(kind.value, entity_id, rev, blob if change is not Change.REMOVED else b"-"),
        type=f"{kind.value}.{change.value}",
        entity=kind.value,
        entity_id=entity_id,
        ad_account_id=account_id,
        campaign_id=campaign_id,
        ad_group_id=ad_group_id,
        ad_id=entity_id if kind is Kind.AD else None,
        pin_id=ids.pin_id,
        name=cap_text(ids.name),
        updated_time=ids.updated_time,
        detected_at=detected_at,
        changes=changes,
        state=state,
    )
