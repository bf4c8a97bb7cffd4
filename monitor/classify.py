"""Name a change after its most significant transition: pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from monitor.events import Change, FieldChange
from monitor.models import Kind

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
