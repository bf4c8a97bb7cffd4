"""``monitor.*`` events: what pinmon reports about itself, routed like any other event.

Users route ``monitor.*`` to an ops channel: a revoked token, an account that keeps
failing or a target that is gone must reach a person, not only a log file.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from monitor.errors import AccessLostError, AuthError, RateLimitedError
from monitor.events import Event, event_id
from monitor.store import AccountState


class OpsChange(enum.StrEnum):
    """The ``monitor.*`` event types."""

    AUTH_FAILED = "auth_failed"
    RATE_LIMITED = "rate_limited"
    ACCOUNT_FAILING = "account_failing"
    ACCOUNT_RECOVERED = "account_recovered"
    ACCOUNT_ACCESS_LOST = "account_access_lost"
    TARGET_DISABLED = "target_disabled"
    STATE_LOST = "state_lost"
    DELIVERY_DEAD = "delivery_dead"
    RECAP = "recap"


def ops_event(
    change: OpsChange,
    *,
    subject: str,
    at: float,
    occurrence: str,
    account_id: str = "",
    detail: Mapping[str, Any] | None = None,
) -> Event:
    """A ``monitor.<change>`` event.

    Args:
        change: What happened.
        subject: What it is about: an account id, a target's masked label, ``token``.
        at: When it was detected.
        occurrence: Distinguishes one episode from the next (e.g. when a failure streak
            began), so that the same episode always has the same id.
        account_id: The ad account concerned, if any.
        detail: Facts for the message: the error, the number of failures, ...
    """
    return Event(
        id=event_id("monitor", f"{change.value}:{subject}", 0, occurrence.encode()),
        type=f"monitor.{change.value}",
        entity="monitor",
        entity_id=subject,
        ad_account_id=account_id,
        detected_at=at,
        state=dict(detail or {}),
    )


def account_ops_events(
    prev: AccountState | None,
    new: AccountState,
    error: Exception | None,
    *,
    failing_after: int,
    at: float,
) -> list[Event]:
    """The ``monitor.*`` events one account's cycle outcome calls for: pure.

    A failure streak is identified by the last success before it, so the events of one
    streak keep their ids across cycles and restarts and the store's de-duplication
    sends each once: ``account_failing`` when the streak reaches ``failing_after``,
    ``account_recovered`` when a streak that long ends, ``account_access_lost`` on a 403,
    ``auth_failed`` when the token was refused, ``rate_limited`` at most once an hour.
    """
    account = new.account_id
    streak = f"{new.last_success_at}"
    out: list[Event] = []
    if error is None:
        if prev is not None and prev.consecutive_failures >= failing_after:
            out.append(
                ops_event(
                    OpsChange.ACCOUNT_RECOVERED,
                    subject=account,
                    account_id=account,
                    at=at,
                    occurrence=f"{prev.last_success_at}",
                    detail={"failed_cycles": prev.consecutive_failures},
                )
            )
        return out
    detail = {
        "error": str(error) or type(error).__name__,
        "failed_cycles": new.consecutive_failures,
    }
    if isinstance(error, AuthError):
        out.append(
            ops_event(
                OpsChange.AUTH_FAILED, subject="token", at=at, occurrence=streak, detail=detail
            )
        )
    elif isinstance(error, AccessLostError):
        out.append(
            ops_event(
                OpsChange.ACCOUNT_ACCESS_LOST,
                subject=account,
                account_id=account,
                at=at,
                occurrence=streak,
                detail=detail,
            )
        )
    elif isinstance(error, RateLimitedError):
        out.append(
            ops_event(
                OpsChange.RATE_LIMITED,
                subject="token",
                at=at,
                occurrence=str(int(at // 3600)),
                detail={**detail, "retry_after_s": error.retry_after_s},
            )
        )
    if new.consecutive_failures >= failing_after:
        out.append(
            ops_event(
                OpsChange.ACCOUNT_FAILING,
                subject=account,
                account_id=account,
                at=at,
                occurrence=streak,
                detail=detail,
            )
        )
    return out
